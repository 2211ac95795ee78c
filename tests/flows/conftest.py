"""Prefect's test harness, started once for the few whole-flow tests (it takes ~9 s)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.conftest import database_url, pg_template  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield

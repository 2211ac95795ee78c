"""The checkpoint and time-stamp settings read from the environment: defaults, values, and a
clear error naming the variable for a value that is not one (never the URL's password)."""

from __future__ import annotations

from pathlib import Path

import pytest

from procedures.errors import InputError
from store.settings import CheckpointSettings, Settings


def test_defaults_sign_hourly_or_every_thousand_events_without_a_tsa(tmp_path: Path):
    every = Settings.from_env({"DECIDE_HOME": str(tmp_path)}).checkpoints
    assert every == CheckpointSettings(60.0, 1000, None, None, 10.0)


def test_values_are_read(tmp_path: Path):
    every = CheckpointSettings.from_env(
        {
            "DECIDE_CHECKPOINT_MINUTES": "0",
            "DECIDE_CHECKPOINT_EVENTS": "50",
            "DECIDE_TSA_URL": " https://tsa.example.gov.cn/tsr ",
            "DECIDE_TSA_ROOTS": str(tmp_path / "roots.pem"),
            "DECIDE_TSA_TIMEOUT": "2.5",
        }
    )
    assert every == CheckpointSettings(
        0.0, 50, "https://tsa.example.gov.cn/tsr", tmp_path / "roots.pem", 2.5
    )


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("DECIDE_CHECKPOINT_MINUTES", "hourly", "is not a number (0 or more"),
        ("DECIDE_CHECKPOINT_MINUTES", "-5", "is not a number (0 or more"),
        ("DECIDE_CHECKPOINT_EVENTS", "1.5", "is not a whole number"),
        ("DECIDE_TSA_TIMEOUT", "0", "is not a number (more than 0"),
        ("DECIDE_TSA_URL", "ftp://user:pa55@tsa.example", "is not an http:// or https:// URL"),
        ("DECIDE_TSA_URL", "tsa.example.gov.cn", "is not an http:// or https:// URL"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, said: str):
    with pytest.raises(InputError) as info:
        CheckpointSettings.from_env({name: value})
    assert str(info.value).startswith(name) and said in str(info.value)
    assert "pa55" not in str(info.value)

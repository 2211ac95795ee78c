"""Shared fixtures. ``Run`` drives one decision through the pure planner."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date

import pytest

from procedures import (
    Attempt,
    Complete,
    Extend,
    MeetingRecord,
    Procedure,
    RuleViolation,
    Skip,
    Start,
    WorkCalendar,
    apply,
    check_flags,
    load_procedure,
    plan,
    register,
)
from procedures.planner import Plan

# Argon2id with cheaper parameters for the suite's hundreds of passwords (the same code path; a
# hash keeps its own parameters): 1 MiB and one pass instead of 64 MiB and three
os.environ.setdefault("DECIDE_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("DECIDE_ARGON2_TIME_COST", "1")
from procedures.state import Action, Reuse


class Run:
    """A decision in memory: its attempts, changed only through ``procedures.apply``."""

    def __init__(
        self,
        proc: Procedure,
        flags: Iterable[str] = (),
        on: date = date(2025, 3, 3),
        cal: WorkCalendar | None = None,
    ) -> None:
        self.proc = proc
        self.flags = check_flags(proc, flags)
        self.cal = cal or WorkCalendar.official()
        self.attempts: tuple[Attempt, ...] = register(proc, on)

    def start(
        self,
        step: str,
        on: date,
        shorten_reason: str | None = None,
        respond_by: date | None = None,
        **kw: object,
    ) -> Run:
        return self._do(
            Start(step=step, on=on, shorten_reason=shorten_reason, respond_by=respond_by, **kw)  # type: ignore[arg-type]
        )

    def complete(self, step: str, on: date, outcome: str | None = None, **kw: object) -> Run:
        """Complete ``step``; unless ``documents`` is given, with the Art. 29 package documents
        the step produces (as an office files them), so that the package gate is met."""
        if "documents" not in kw:
            kw["documents"] = filed(self.proc, step)
        return self._do(Complete(step=step, on=on, outcome=outcome, **kw))  # type: ignore[arg-type]

    def skip(self, step: str, on: date, reason: str | None = None) -> Run:
        return self._do(Skip(step=step, on=on, reason=reason))

    def extend(self, step: str, on: date, reason: str | None = None) -> Run:
        return self._do(Extend(step=step, on=on, reason=reason))

    def reuse(self, step: str, on: date, reason: str | None = None) -> Run:
        return self._do(Reuse(step=step, on=on, reason=reason))

    def refused(self, action: Action) -> RuleViolation:
        before = self.attempts
        with pytest.raises(RuleViolation) as info:
            self._do(action)
        assert self.attempts is before
        return info.value

    def _do(self, action: Action) -> Run:
        self.attempts = apply(self.proc, self.flags, self.attempts, action, self.cal)
        return self

    def plan(self, as_of: date, target_on: date | None = None) -> Plan:
        return plan(self.proc, self.flags, self.attempts, as_of, self.cal, target_on=target_on)

    def status(self, step: str, as_of: date = date(2030, 1, 1)) -> str:
        return self.plan(as_of).step(step).status

    def to_legality_review(self, on: date = date(2025, 3, 3), review: bool = True) -> Run:
        """Draft, run every required parallel step to the end, open the legality review (on
        2025-04-15, unless ``review`` is false)."""
        self.start("drafting", on).complete("drafting", date(2025, 3, 10))
        for step in ("public_participation", "expert_review", "risk_assessment"):
            if self.status(step) == "ready":
                self.start(step, date(2025, 3, 11))
        for step in ("public_participation", "expert_review"):
            if self.status(step) == "open":
                self.complete(step, date(2025, 4, 14))
        if self.status("risk_assessment") == "open":
            self.complete("risk_assessment", date(2025, 4, 14), "controllable")
        if review:
            self.start("legality_review", date(2025, 4, 15))
        return self

    def to_discussion(self) -> Run:
        self.to_legality_review()
        self.complete("legality_review", date(2025, 4, 30), "lawful")
        self.start("collective_discussion", date(2025, 5, 6))
        return self


def filed(proc: Procedure, step: str) -> tuple[str, ...]:
    """The package document kinds (Decree 713 Art. 29) that ``step`` produces."""
    made = proc.step(step)
    kinds = {rule.kind for rule in proc.package}
    return tuple(k for k in (made.documents if made else ()) if k in kinds)


def meeting(outcome: str, **overrides: object) -> MeetingRecord:
    """An executive meeting of four members and the chair, all agreeing with ``outcome``."""
    members = ["王副区长", "李副区长", "赵秘书长", "陈副区长"]
    data: dict[str, object] = {
        "meeting_type": "executive",
        "chair": "张区长",
        "attendees": ["张区长", *members],
        "positions": {m: outcome for m in members},
    }
    data.update(overrides)
    return MeetingRecord.model_validate(data)


@pytest.fixture(scope="session")
def national() -> Procedure:
    return load_procedure("national-2019")


@pytest.fixture(scope="session")
def cal() -> WorkCalendar:
    return WorkCalendar.official()


# The longest tests start first, so that the two xdist workers finish together instead of one
# idling while the other runs a 30-second test collected last; and the tests under Prefect's
# harness (about 10 s to start, once per worker process) share one worker (``xdist_group``, run
# with ``--dist loadgroup``: the Makefile).  The order within a file is kept.
_FIRST = (
    "tests/e2e/test_serve.py",
    "tests/flows/",
    "tests/integration/test_alert_index.py",
    "tests/web/test_browser.py",
    "tests/unit/test_properties.py",
    "tests/integration/test_audit_split.py",
    "tests/integration/test_deep_verify.py",
    "tests/e2e/test_cli.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, p in enumerate(_FIRST) if item.nodeid.startswith(p)), len(_FIRST))

    items.sort(key=rank)
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("prefect"))

"""The submission package for the collective discussion (Decree 713 Art. 29), as a pure answer.

Which documents the package needs, given where the decision stands: each kind the procedure
lists in ``package`` whose step ran (done; a skipped or not-required step needs none), and what
the legality review's outcome adds (the revised draft, Art. 28; the statement of legal risk,
Art. 25).  Each is present (the attempt's latest document of that kind), missing (the step is
done without it), or pending (the step has still to run).  The package builder and
``decide documents`` both ask this; neither reads files here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from procedures.model import Procedure
from procedures.planner import current_attempt, situation
from procedures.state import Attempt

__all__ = ["Filed", "PackageEntry", "PackageState", "package_state"]


class Filed(Protocol):
    """A document attached to a step attempt (what the store keeps; only these three count)."""

    @property
    def step(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def kind(self) -> str: ...


D = TypeVar("D", bound=Filed)


@dataclass(frozen=True)
class PackageEntry(Generic[D]):
    step: str
    attempt: int
    kind: str
    zh: str
    document: D | None = None  # the attached document, when present


@dataclass(frozen=True)
class PackageState(Generic[D]):
    review: Attempt | None  # the legality review attempt the package is for
    present: tuple[PackageEntry[D], ...]
    missing: tuple[PackageEntry[D], ...]  # the step is done without it: a refusal names these
    pending: tuple[PackageEntry[D], ...]  # the step has still to run

    @property
    def complete(self) -> bool:
        return not self.missing and not self.pending


def package_state(
    proc: Procedure, flags: frozenset[str], attempts: Sequence[Attempt], documents: Sequence[D]
) -> PackageState[D]:
    """What the Art. 29 package holds and lacks for the decision's current attempts."""
    present: list[PackageEntry[D]] = []
    missing: list[PackageEntry[D]] = []
    pending: list[PackageEntry[D]] = []
    where = situation(proc, flags, attempts)

    def file(step: str, number: int, kind: str) -> None:
        found = [d for d in documents if (d.step, d.attempt, d.kind) == (step, number, kind)]
        label = proc.document(kind)
        entry = PackageEntry(
            step, number, kind, label.zh if label else kind, found[-1] if found else None
        )
        (present if found else missing).append(entry)

    for kind in proc.package:
        producer = next(s for s in proc.steps if kind in s.documents)
        sit = where[producer.id]
        if sit.status == "done":
            file(producer.id, sit.number, kind)
        elif sit.status != "skipped":  # a skipped step needs no document
            label = proc.document(kind)
            pending.append(PackageEntry(producer.id, sit.number, kind, label.zh if label else kind))
    deciding = next((s for s in proc.steps if s.decides), None)
    review = None
    for pre in deciding.after if deciding else ():
        gate = proc.step(pre.step)
        attempt = current_attempt(attempts, pre.step)
        if gate is None or attempt is None:
            continue
        review = attempt
        outcome = gate.outcome(attempt.outcome or "")
        for kind in outcome.requires_documents if outcome else ():
            file(gate.id, attempt.number, kind)
    return PackageState(review, tuple(present), tuple(missing), tuple(pending))

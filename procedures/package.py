"""The submission package for the collective discussion (Decree 713 Art. 29), as a pure answer.

Which documents the package needs, given where the decision stands: each kind the procedure
lists in ``package`` whose step ran (done; a skipped or not-required step needs none), and what
the legality review's outcome adds (the revised draft, Art. 28; the statement of legal risk,
Art. 25).  Each is present (the attempt's latest document of that kind), missing (the step is
done without it), or pending (the step has still to run).  The package builder and
``decide documents`` both ask this; neither reads files here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from procedures.model import Procedure
from procedures.planner import current_attempt, situation
from procedures.state import Attempt

__all__ = ["Filed", "PackageEntry", "PackageState", "package_gaps", "package_state"]


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
    article: str | None = None  # the package rule's article (Decree 713 Art. 29(1)-(5), Art. 28)
    reused_from: int | None = None  # the attempt whose document stands (沿用前次结果)


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
    """What the Art. 29 package holds and lacks for the decision's current attempts, with the
    documents the store keeps."""

    def found(step: str, numbers: tuple[int, ...], kind: str) -> D | None:
        # the first filed of that kind on the newest attempt that has one (a package document
        # is filed once: ``attach`` refuses a second)
        for number in numbers:
            hits = [d for d in documents if (d.step, d.attempt, d.kind) == (step, number, kind)]
            if hits:
                return hits[0]
        return None

    return _state(proc, flags, attempts, found)


@dataclass(frozen=True)
class Recorded:
    """A document kind an attempt records (what the pure gate sees; no file)."""

    step: str
    attempt: int
    kind: str


def package_gaps(
    proc: Procedure, flags: frozenset[str], attempts: Sequence[Attempt]
) -> tuple[PackageEntry[Recorded], ...]:
    """What the package lacks, from the document kinds the attempts record (the pure gate of
    Decree 713 Art. 29: the collective discussion may not start while this is not empty)."""

    def found(step: str, numbers: tuple[int, ...], kind: str) -> Recorded | None:
        for a in attempts:
            if a.step == step and a.number in numbers and kind in a.documents:
                return Recorded(step, a.number, kind)
        return None

    state: PackageState[Recorded] = _state(proc, flags, attempts, found)
    return (*state.missing, *state.pending)


def _state(
    proc: Procedure,
    flags: frozenset[str],
    attempts: Sequence[Attempt],
    found: Callable[[str, tuple[int, ...], str], D | None],
) -> PackageState[D]:
    present: list[PackageEntry[D]] = []
    missing: list[PackageEntry[D]] = []
    pending: list[PackageEntry[D]] = []
    where = situation(proc, flags, attempts)

    def chain(att: Attempt) -> tuple[int, ...]:
        """The attempt and those whose result it keeps (a reuse of a reuse …)."""
        numbers = [att.number]
        by_number = {a.number: a for a in attempts if a.step == att.step}
        nxt = att.reused_from
        while nxt is not None and nxt not in numbers:
            numbers.append(nxt)
            nxt = by_number[nxt].reused_from if nxt in by_number else None
        return tuple(numbers)

    def file(att: Attempt, kind: str, article: str | None) -> None:
        numbers = chain(att)
        doc = found(att.step, numbers, kind)
        label = proc.document(kind)
        entry = PackageEntry(
            att.step,
            att.number,
            kind,
            label.zh if label else kind,
            doc,
            article,
            att.reused_from,
        )
        (present if doc is not None else missing).append(entry)

    for rule in proc.package:
        if not rule.holds(flags):
            continue
        producer = next(s for s in proc.steps if rule.kind in s.documents)
        sit = where[producer.id]
        if sit.status == "done" and sit.attempt is not None:
            file(sit.attempt, rule.kind, rule.article)
        elif sit.status != "skipped":  # a skipped step needs no document
            label = proc.document(rule.kind)
            pending.append(
                PackageEntry(
                    producer.id,
                    sit.number,
                    rule.kind,
                    label.zh if label else rule.kind,
                    article=rule.article,
                )
            )
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
            file(attempt, kind, outcome.article if outcome else None)
    return PackageState(review, tuple(present), tuple(missing), tuple(pending))

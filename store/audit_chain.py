"""The checks of an audit chain that need no database: events in seq order, head, checkpoints.

``ChainCheck`` takes events in seq order (from a raw database cursor or from an export) and finds
what is wrong with them: a gap (deleted events), an inserted or moved event, an edited event, a
link that does not hold, a decision chain that does not hold.  It is written for speed (one
million events in a few seconds): the hashed text is built from the stored columns with the
stored payload text spliced in, and only a bad event takes the slow path that explains it.  The
splice is exact: any byte changed in a payload (even into equivalent, non-canonical JSON) changes
the hash, and the slow path then says which it was.  ``head_problems`` and
``checkpoint_problems`` compare the chain's end with the head row and the signed checkpoints.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple, cast

from store.audit import GENESIS, Problem, canonical_json, event_text
from store.merkle import Range
from store.note import NoteError, Parsed, open_checkpoint
from store.signing import checkpoint_error

__all__ = [
    "MAX_PROBLEMS",
    "ChainCheck",
    "Checkpoint",
    "Row",
    "any_signed",
    "checkpoint_problems",
    "explain_hash",
    "head_problems",
    "signed_upto",
]

MAX_PROBLEMS = 100
# A detached check (one part of a split chain) that finds no clean start within this many rows
# stops there; the rest of its range is then read by whoever absorbs it (see ``ChainCheck``)
PREFIX_LIMIT = 1000


class _Link(enum.Enum):
    UNSEEN = "unseen"  # a decision's link before its first event in a detached part


_UNSEEN = _Link.UNSEEN
# (seq, decision_id, decision_prev_hash, action, actor, effective_on, recorded_at, payload,
#  prev_hash, hash) as the driver returns them, effective_on as text ("YYYY-MM-DD")
Row = tuple[Any, ...]
_encode_str = json.encoder.encode_basestring


class Checkpoint(NamedTuple):
    """A signed head: an old-style ``(seq, hash)`` signature, or (``signature`` holding a C2SP
    signed note, see ``store.note``) a Merkle checkpoint of ``seq`` leaves; ``source`` says
    where it was found (``database``, ``log``: the checkpoint log beside the key, ``witness``:
    a file the verifier brought), ``label`` names it in messages."""

    id: int
    seq: int
    hash: str
    signed_at: str
    public_key: str
    signature: str
    source: str = "database"
    label: str = ""

    @property
    def is_note(self) -> bool:
        return "\n" in self.signature

    def what(self) -> str:
        if self.label:
            return self.label
        return f"checkpoint #{self.id} (event {self.seq}, signed {self.signed_at})"


# Rows gathered before their leaves are hashed (a block-aligned multiple: see store.merkle)
TREE_CHUNK = 4096


def _short(digest: object) -> str:
    return "null" if digest is None else str(digest)[:16] + "…"


def _rehash(row: Row, *, seq: int | None = None, payload: str | None = None) -> str | None:
    """The hash of a row's contents (None for a malformed row: it has no hash to match)."""
    s, did, dph, action, actor, eff, rec, stored, prev_hash, _ = row
    texts = (action, actor, eff, rec, stored, prev_hash)
    if not all(isinstance(v, str) for v in texts) or not all(
        v is None or isinstance(v, str) for v in (did, dph)
    ):
        return None
    body = event_text(
        prev_hash,
        s if seq is None else seq,
        did,
        dph,
        action,
        actor,
        eff,
        rec,
        stored if payload is None else payload,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _hashes_to(row: Row, digest: object, **changes: Any) -> bool:
    """The row's contents (with ``changes``) hash to ``digest`` — never for a malformed row."""
    actual = _rehash(row, **changes)
    return actual is not None and actual == digest


def explain_hash(row: Row) -> tuple[str, str]:
    """Why an event's contents do not match its hash: (kind, message)."""
    seq, digest, payload = row[0], row[9], row[7]
    try:
        canonical = canonical_json(json.loads(payload))
    except (ValueError, TypeError):
        return "payload", f"event {seq}: its payload is not valid JSON (edited)"
    if canonical != payload:
        if _hashes_to(row, digest, payload=canonical):
            return "payload", (
                f"event {seq}: its payload was rewritten into non-canonical form "
                "(same content, different bytes than were hashed)"
            )
        return "payload", f"event {seq}: its payload was edited (and is not canonical JSON)"
    for other in (seq - 1, seq + 1):
        if _hashes_to(row, digest, seq=other):
            return "moved", (
                f"event {seq} carries the contents and hash of event {other}: "
                "rows were reordered or renumbered"
            )
    return "hash", (
        f"event {seq}: its contents do not match its hash (action, actor, dates, "
        "decision fields or payload edited)"
    )


def _link_message(seq: int, did: str, dph: object, link: object) -> str:
    return (
        f"event {seq}: decision {did}'s link {_short(dph)} is not the hash "
        f"of its previous event ({_short(link)})"
    )


def _clean_pair(before: Row, row: Row) -> bool:
    """``row`` follows ``before`` without a fault of its own: no check can depend on earlier rows."""
    return bool(row[0] == before[0] + 1 and row[8] == before[9] and _hashes_to(row, row[9]))


class ChainCheck:
    """Checks events fed in seq order; keeps the first ``MAX_PROBLEMS`` problems found.

    A chain can be checked in parts, each part by its own process: a *detached* check takes the
    events of one seq range without knowing what came before.  It sets aside its first rows (the
    *prefix*) up to the first row that cleanly follows the row before it, so that from there on
    every check depends only on rows it has seen; it records the first link of each decision
    instead of checking it.  ``absorb`` then continues the check of the preceding events with
    such a part: it feeds the prefix through the full checks, checks the recorded decision links
    against the hashes it holds, and takes the part's state and problems (the links that do not
    hold in the places one pass would have found them).  The outcome is that of one pass over
    all events, problem for problem, in the same order.  A detached check that finds no clean start
    within ``PREFIX_LIMIT`` rows stops (``gave_up``): the absorber reads the rest of that range.
    """

    def __init__(
        self,
        checkpoint_seqs: Iterable[int] = (),
        *,
        detached: bool = False,
        tree_sizes: Iterable[int] = (),
    ) -> None:
        self.problems: list[Problem] = []
        self.dropped = 0
        self.count = 0
        self.last_seq = 0
        self.last_hash = GENESIS
        self.wanted = set(checkpoint_seqs)
        self.found: dict[int, str] = {0: GENESIS}  # the hashes of the checkpointed events
        # each checkpoint's signature checked once, however many questions are asked of it
        # (checkpoint_problems, signed_upto, any_signed): Ed25519 is most of their cost
        self.signatures: dict[tuple[object, ...], object] = {}
        self._before_last = GENESIS
        self._last_bad = -1
        self._by_decision: dict[str, str] = {}
        self._first_link: str | _Link = _UNSEEN if detached else GENESIS
        self.started = not detached
        self.prefix: list[Row] = []  # the rows a detached check set aside
        # the decision links to check on absorbing: (problems found before it, seq, decision, link)
        self.deferred: list[tuple[int, int, str, object]] = []
        self.gave_up = False
        # The Merkle tree (store.merkle) over the event hashes up to the largest size asked for:
        # its root at each of ``tree_sizes`` (a detached part keeps its compact ranges instead)
        self.tree_sizes = sorted({s for s in tree_sizes if s > 0})
        self.roots: dict[int, bytes] = {0: Range().root()}
        self.tree_ranges: dict[int, Range] = {}
        self.tree: Range | None = None if detached else Range()
        self._pending: list[str] = []
        self.tree_broken = False

    def _add(self, seq: int | None, kind: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(seq, kind, message))
        else:
            self.dropped += 1

    def feed(self, rows: Iterable[Row]) -> None:
        """Checks the next events (in seq order)."""
        if self.started:
            self._feed(rows)
            return
        it = iter(rows)
        prefix = self.prefix
        for row in it:
            prefix.append(row)
            if len(prefix) >= 2 and _clean_pair(prefix[-2], row):
                break
            if len(prefix) >= PREFIX_LIMIT:
                self.gave_up = True
                return
        else:
            return
        self.started = True  # the rest is checked here as in one pass
        self.last_seq, self.last_hash, self._before_last = row[0], row[9], prefix[-2][9]
        self.tree = Range(row[0] if isinstance(row[0], int) and row[0] >= 0 else 0)
        self._feed(it)

    def absorb(self, part: ChainCheck) -> None:
        """Continues this check with a detached part that checked the events that follow."""
        self.feed(part.prefix)
        if not part.started:
            return  # no clean start (nothing more, or the part gave up): the prefix was all
        by_decision = self._by_decision
        broken = [  # the part's links that do not hold, where one pass would have found them
            (before, Problem(seq, "decision_link", _link_message(seq, did, dph, link)))
            for before, seq, did, dph in part.deferred
            if (link := by_decision.get(did, GENESIS)) != dph
        ]
        links = iter(broken)
        pending = next(links, None)
        for i, problem in enumerate(part.problems):
            while pending is not None and pending[0] <= i:
                self._add(pending[1].seq, pending[1].kind, pending[1].message)
                pending = next(links, None)
            self._add(problem.seq, problem.kind, problem.message)
        while pending is not None:  # after every problem the part kept (the rest are dropped)
            self._add(pending[1].seq, pending[1].kind, pending[1].message)
            pending = next(links, None)
        self.dropped += part.dropped
        self._absorb_tree(part)
        by_decision.update(part._by_decision)
        self.found.update(part.found)
        self.count += part.count
        self.last_seq, self.last_hash = part.last_seq, part.last_hash
        self._before_last, self._last_bad = part._before_last, part._last_bad

    def _feed(self, rows: Iterable[Row]) -> None:
        """The hot loop: one string, one sha256 and a few comparisons per event."""
        enc, sha = _encode_str, hashlib.sha256
        by_decision, wanted, found = self._by_decision, self.wanted, self.found
        first_link = self._first_link
        expected, prev, prev2, count = self.last_seq + 1, self.last_hash, self._before_last, 0
        pending = self._pending
        pend, growing = pending.append, self._growing()
        try:
            for row in rows:
                seq, did, dph, action, actor, eff, rec, payload, prev_hash, digest = row
                count += 1
                try:
                    body = (
                        f'{prev_hash}{{"action":{enc(action)},"actor":{enc(actor)},"decision_id":'
                        f'{"null" if did is None else enc(did)},"decision_prev_hash":'
                        f'{"null" if dph is None else enc(dph)},"effective_on":{enc(eff)},'
                        f'"payload":{payload},"recorded_at":{enc(rec)},"seq":{seq}}}'
                    )
                    hash_ok = sha(body.encode()).hexdigest() == digest
                except TypeError as exc:  # SQLite keeps any type in a column
                    self._add(seq, "malformed", f"event {seq}: a column holds a wrong type ({exc})")
                    self._last_bad, hash_ok = seq, True
                if not hash_ok or seq != expected or prev_hash != prev:
                    self._diagnose(row, expected, prev, prev2, hash_ok)
                if did is not None:
                    if by_decision.get(did, first_link) != dph:
                        link = by_decision.get(did, first_link)
                        if link is _UNSEEN:
                            before = len(self.problems) + self.dropped
                            self.deferred.append((before, seq, did, dph))
                        else:
                            self._add(seq, "decision_link", _link_message(seq, did, dph, link))
                    by_decision[did] = digest
                elif dph is not None:
                    self._add(
                        seq,
                        "decision_link",
                        f"event {seq} has no decision but a decision link {_short(dph)}",
                    )
                if seq in wanted:
                    found[seq] = digest
                if growing:
                    pend(digest)
                    if len(pending) >= TREE_CHUNK:
                        self._grow()
                        growing = self._growing()
                prev2, prev, expected = prev, digest, seq + 1
        finally:  # keep the state even when the cursor fails mid-way
            self.count += count
            self.last_seq, self.last_hash, self._before_last = expected - 1, prev, prev2
            self._grow()

    def _growing(self) -> bool:
        tree = self.tree
        return bool(tree is not None and self.tree_sizes and tree.end < self.tree_sizes[-1])

    def _grow(self) -> None:
        """Hashes the pending event hashes into the tree, noting its root (or, detached, its
        range) at each size asked for on the way."""
        pending, tree = self._pending, self.tree
        if not pending or tree is None:
            pending.clear()
            return
        at = 0
        for size in self.tree_sizes:
            if size <= tree.end:
                continue
            take = min(size - tree.end, len(pending) - at)
            tree.extend_hex(pending[at : at + take])
            at += take
            if tree.end != size:
                break
            if tree.begin == 0:
                self.roots[size] = tree.root()
            else:
                self.tree_ranges[size] = tree.copy()
        pending.clear()

    def _absorb_tree(self, part: ChainCheck) -> None:
        """The part's tree continues this one (when both are whole where they meet)."""
        tree, theirs = self.tree, part.tree
        if tree is None or theirs is None or self.tree_broken or part.tree_broken:
            self.tree_broken = True
            return
        if theirs.begin != tree.end:
            if tree.end < (self.tree_sizes[-1] if self.tree_sizes else 0):
                self.tree_broken = True  # rows missing or repeated: the chain check says where
            return
        for size, ranged in part.tree_ranges.items():
            whole = tree.copy()
            whole.merge(ranged)
            self.roots[size] = whole.root()
        tree.merge(theirs)

    def _diagnose(self, row: Row, expected: int, prev: str, prev2: str, hash_ok: bool) -> None:
        seq, prev_hash = row[0], row[8]
        before = len(self.problems) + self.dropped
        if seq > expected:
            gone = (
                f"event {expected} is"
                if seq == expected + 1
                else f"events {expected}..{seq - 1} are"
            )
            self._add(
                expected,
                "missing",
                f"{gone} missing (deleted): event {seq} follows event {expected - 1}",
            )
        elif seq < expected:
            self._add(
                seq,
                "extra",
                f"event {seq} appears again after event {expected - 1} (inserted or duplicated)",
            )
        elif prev_hash != prev:
            if seq == 1:
                self._add(
                    1, "link", f"event 1 does not start from the genesis hash ({_short(prev_hash)})"
                )
            elif (
                prev_hash == prev2
                and self._last_bad != seq - 1
                and _hashes_to(row, row[9], seq=seq - 1)
            ):
                self._add(
                    seq - 1,
                    "inserted",
                    f"event {seq - 1} was inserted: the event after it links to event "
                    f"{seq - 2} and was renumbered from seq {seq - 1}",
                )
            elif hash_ok and self._last_bad != seq - 1:
                self._add(
                    seq - 1,
                    "rewritten",
                    f"event {seq - 1} was changed and re-hashed: event {seq} links to "
                    f"{_short(prev_hash)} but event {seq - 1} now hashes to {_short(prev)}",
                )
            else:
                self._add(
                    seq,
                    "link",
                    f"event {seq}: its link {_short(prev_hash)} is not the hash "
                    f"of event {seq - 1} ({_short(prev)})",
                )
        if not hash_ok:
            self._add(seq, *explain_hash(row))
        if len(self.problems) + self.dropped > before:
            self._last_bad = seq

    def all_problems(self) -> list[Problem]:
        extra = [Problem(None, "more", f"{self.dropped} further problems in the chain not listed")]
        return self.problems + (extra if self.dropped else [])


def head_problems(head: tuple[int, str] | None, last_seq: int, last_hash: str) -> list[Problem]:
    """The recorded head must be the newest event."""
    if head is None:
        return [Problem(None, "head", "the chain head row (audit_head id 1) is missing")]
    seq, digest = head
    if seq > last_seq:
        return [
            Problem(
                last_seq + 1,
                "truncated",
                f"the head records event {seq} but the chain ends at event {last_seq}: "
                f"events {last_seq + 1}..{seq} were cut off",
            )
        ]
    if seq < last_seq:
        return [
            Problem(
                seq + 1,
                "extra",
                f"events {seq + 1}..{last_seq} lie beyond the recorded head (seq {seq}): "
                "added without moving the head",
            )
        ]
    if digest != last_hash:
        return [
            Problem(
                seq or None,
                "head",
                f"the head's hash {_short(digest)} is not the hash of "
                f"event {seq} ({_short(last_hash)})",
            )
        ]
    return []


class _Judged(NamedTuple):
    error: str | None  # why its signature is not acceptable
    size: int
    matches: bool | None  # None: not comparable (past the end, or the tree could not be built)


def _keys(c: Checkpoint, trusted: Collection[bytes] | None) -> Collection[bytes]:
    if trusted is not None:
        return trusted
    try:
        return [base64.b64decode(c.public_key, validate=True)]
    except ValueError:
        return []


def _signature(c: Checkpoint, chain: ChainCheck, trusted: Collection[bytes] | None) -> object:
    """What checking ``c``'s signature gives — an old-style checkpoint's error (or None), a
    note's parsed checkpoint or its ``NoteError`` — computed once per verification."""
    keys = tuple(_keys(c, trusted))
    key = (c.seq, c.hash, c.signed_at, c.public_key, c.signature, keys, trusted is None)
    if key not in chain.signatures:
        if not c.is_note:
            found: object = checkpoint_error(
                c.seq, c.hash, c.signed_at, c.public_key, c.signature, trusted
            )
        else:
            try:
                found = open_checkpoint(c.signature, keys)[0]
            except NoteError as exc:
                found = exc
        chain.signatures[key] = found
    return chain.signatures[key]


def _judge(c: Checkpoint, chain: ChainCheck, trusted: Collection[bytes] | None) -> _Judged:
    if not c.is_note:
        error = cast("str | None", _signature(c, chain, trusted))
        if c.seq > chain.last_seq or c.seq not in chain.found:
            return _Judged(error, c.seq, None)
        return _Judged(error, c.seq, chain.found[c.seq] == c.hash)
    parsed = _signature(c, chain, trusted)
    if isinstance(parsed, NoteError):
        return _Judged(str(parsed), c.seq, None)
    assert isinstance(parsed, Parsed)
    if parsed.size != c.seq:
        return _Judged(f"its note is for {parsed.size} events, not {c.seq}", c.seq, None)
    root = chain.roots.get(parsed.size)
    if parsed.size > chain.last_seq or root is None:
        return _Judged(None, parsed.size, None)
    return _Judged(None, parsed.size, root == parsed.root)


def signed_upto(
    checkpoints: Sequence[Checkpoint], chain: ChainCheck, trusted: Collection[bytes] | None
) -> int:
    """The largest number of events a validly signed checkpoint vouches for as they are."""
    judged = (_judge(c, chain, trusted) for c in checkpoints)
    return max((j.size for j in judged if j.error is None and j.matches), default=0)


def any_signed(
    checkpoints: Sequence[Checkpoint], chain: ChainCheck, trusted: Collection[bytes] | None
) -> bool:
    """Whether some checkpoint carries an acceptable signature (by a trusted key, if given)."""
    return any(_judge(c, chain, trusted).error is None for c in checkpoints)


def _kind(c: Checkpoint, kind: str) -> str:
    if kind == "truncated":
        return kind
    return {"log": "checkpoint_log", "witness": "witness"}.get(c.source, kind)


def checkpoint_problems(
    checkpoints: Sequence[Checkpoint], chain: ChainCheck, trusted: Collection[bytes] | None
) -> list[Problem]:
    """Every checkpoint must be validly signed and still describe the chain: the event it
    signed (old style) or the Merkle root of the events up to its size (a C2SP checkpoint)."""
    problems: list[Problem] = []
    judged = {id(c): _judge(c, chain, trusted) for c in checkpoints}
    valid = [c for c in checkpoints if judged[id(c)].error is None and judged[id(c)].matches]
    for c in sorted(checkpoints, key=lambda c: (c.seq, c.source, c.id)):
        j, what = judged[id(c)], c.what()
        if j.error is not None:
            problems.append(
                Problem(c.seq, _kind(c, "checkpoint"), f"{what} is not acceptable: {j.error}")
            )
        elif j.size > chain.last_seq:
            problems.append(
                Problem(
                    chain.last_seq + 1,
                    "truncated",
                    f"{what} vouches for event {j.size} but the chain ends at event "
                    f"{chain.last_seq}: events {chain.last_seq + 1}..{j.size} (at least) were "
                    "cut off (tail truncation)",
                )
            )
        elif not c.is_note and c.seq not in chain.found:
            problems.append(
                Problem(c.seq, _kind(c, "missing"), f"event {c.seq}, signed by {what}, is missing")
            )
        elif j.matches is None:
            problems.append(
                Problem(
                    c.seq,
                    _kind(c, "checkpoint"),
                    f"{what} could not be compared with the log: its events are out of order "
                    f"or missing before event {c.seq}",
                )
            )
        elif not j.matches:
            after = max((v.seq for v in valid if v.seq < c.seq), default=0)
            signed = "the hash" if not c.is_note else "the Merkle root of the events up to it"
            newer = [v for v in valid if v.seq > c.seq]
            fork = (
                f"; {newer[-1].what()} matches the log, so the two sign histories that are not "
                "consistent with each other (rewritten and signed again)"
                if newer
                else ""
            )
            problems.append(
                Problem(
                    c.seq,
                    _kind(c, "rewritten"),
                    f"event {c.seq} no longer has {signed} signed by {what}: the chain was "
                    f"rewritten after event {after} (the newest checkpoint that still matches) and "
                    f"at or before event {c.seq}{fork}",
                )
            )
    return problems

"""The Merkle tree of RFC 9162 over the audit log: hashes, proofs and their verification.

The tree is the one of RFC 9162 §2.1 for any number of leaves (not only powers of two): a leaf
hashes to ``SHA-256(0x00 || leaf)``, a node to ``SHA-256(0x01 || left || right)``, the empty tree
to ``SHA-256("")``, and a tree of ``n > 1`` leaves splits at the largest power of two below ``n``.
A leaf of the audit log is **the 32 bytes of an event's stored hash** (``audit_events.hash``,
hex-decoded), leaf index ``seq - 1``: that hash already covers the event's every column and the
hash of the event before it, so the tree commits to exactly the events the chain does, and an
auditor holding one event recomputes its leaf from its contents.

``Range`` is a compact range (the few perfect subtrees that cover leaves ``[begin, end)``): it
takes leaves one by one or in blocks, merges with the range that follows it (a chain checked in
parts, see ``store.audit_chain``) and gives the root of ``[0, end)``.  ``Tree`` keeps the hashes
of every aligned block of ``BLOCK`` leaves and above, reads the few leaves below that from a
loader, and gives any subtree hash, so ``inclusion_proof`` (§2.1.3.1) and ``consistency_proof``
(§2.1.4.1) cost a few database reads each; ``verify_inclusion`` (§2.1.3.2) and
``verify_consistency`` (§2.1.4.2) are the RFC's algorithms as written.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "BLOCK",
    "EMPTY_ROOT",
    "Range",
    "Tree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

_sha = hashlib.sha256
_digest = type(_sha()).digest
_fromhex = bytes.fromhex
_leaf_prefix = b"\x00".__add__
_node_prefix = b"\x01".__add__
EMPTY_ROOT = _sha(b"").digest()
BLOCK_HEIGHT = 8
BLOCK = 1 << BLOCK_HEIGHT  # leaves hashed per block in one pass of C-level maps

# MTH of leaves [a, b): what the proofs are built from
Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def _event_leaf(digest: object) -> bytes:
    """The leaf hash of an event hash as stored (hex); a malformed one hashes its text, which
    matches nothing signed (the chain check names the row)."""
    try:
        data = _fromhex(digest)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        data = str(digest).encode("utf-8", "replace")
    return leaf_hash(data)


def _block_root(hex_digests: Sequence[str]) -> bytes:
    """The root of a perfect subtree of ``BLOCK`` event hashes (one C-level map per level)."""
    try:
        level = list(map(_digest, map(_sha, map(_leaf_prefix, map(_fromhex, hex_digests)))))
    except (TypeError, ValueError):
        level = [_event_leaf(d) for d in hex_digests]
    while len(level) > 1:
        level = list(
            map(_digest, map(_sha, map(operator.add, map(_node_prefix, level[0::2]), level[1::2])))
        )
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1 over leaf hashes."""
    r = Range()
    for leaf in leaves:
        r.append(leaf)
    return r.root()


class Range:
    """A compact range: the perfect subtrees (height, hash) covering leaves ``[begin, end)``,
    left to right."""

    __slots__ = ("begin", "end", "nodes")

    def __init__(self, begin: int = 0) -> None:
        self.begin = begin
        self.end = begin
        self.nodes: list[tuple[int, bytes]] = []

    def copy(self) -> Range:
        other = Range(self.begin)
        other.end, other.nodes = self.end, list(self.nodes)
        return other

    def append(self, leaf: bytes) -> None:
        """Adds the next leaf hash."""
        self.append_node(0, leaf)

    def append_node(self, height: int, digest: bytes) -> None:
        """Adds the perfect subtree of ``height`` that starts at ``end`` (aligned to it)."""
        nodes, start = self.nodes, self.end
        self.end = start + (1 << height)
        # a right child whose left sibling lies in the range merges with it, and so on up
        while (start >> height) & 1 and start - (1 << height) >= self.begin:
            left_height, left = nodes.pop()
            assert left_height == height, "compact range out of order"
            digest = _sha(b"\x01" + left + digest).digest()
            start -= 1 << height
            height += 1
        nodes.append((height, digest))

    def extend_hex(self, hex_digests: Sequence[str]) -> None:
        """Adds event hashes (hex): whole aligned blocks at C speed, the rest one by one."""
        i, n = 0, len(hex_digests)
        while i < n and self.end & (BLOCK - 1):
            self.append(_event_leaf(hex_digests[i]))
            i += 1
        while n - i >= BLOCK:
            self.append_node(BLOCK_HEIGHT, _block_root(hex_digests[i : i + BLOCK]))
            i += BLOCK
        for digest in hex_digests[i:]:
            self.append(_event_leaf(digest))

    def merge(self, other: Range) -> None:
        """Continues this range with ``other``, which starts where this one ends."""
        if other.begin != self.end:
            raise ValueError(f"range [{other.begin}, …) does not follow [{self.begin}, {self.end})")
        for height, digest in other.nodes:
            self.append_node(height, digest)

    def root(self) -> bytes:
        """The root of the tree of the leaves ``[0, end)`` (this range must start at 0)."""
        if self.begin != 0:
            raise ValueError("only a range from leaf 0 has a root")
        if not self.nodes:
            return EMPTY_ROOT
        digest = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            digest = _sha(b"\x01" + left + digest).digest()
        return digest


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1 (leaf index from 0)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index - begin < k:
            path.append(subtree(begin + k, end))
            end = begin + k
        else:
            path.append(subtree(begin, begin + k))
            begin += k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1 (empty for 0 or equal sizes)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    begin, end, m, whole = 0, second, first, True
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            proof.append(subtree(begin + k, end))
            end = begin + k
        else:
            proof.append(subtree(begin, begin + k))
            begin += k
            m -= k
            whole = False
    if not whole:
        proof.append(subtree(begin, end))
    proof.reverse()
    return proof


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: ``leaf`` (a leaf hash) is leaf ``index`` of the tree ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: the tree ``second_root`` of ``second`` leaves extends the tree
    ``first_root`` of ``first`` leaves (equal sizes: equal roots and an empty proof)."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if not path:
        return False
    if first & (first - 1) == 0:  # an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


Loader = Callable[[int, int], list[str]]  # the event hashes (hex) of leaves [a, b)


class Tree:
    """The tree of ``size`` leaves, for proofs: the hashes of every aligned perfect subtree of
    ``BLOCK`` leaves or more (a few thousand for a million events), built in one pass over the
    event hashes; a subtree smaller than a block is hashed from its leaves, which ``load``
    reads again (at most ``BLOCK`` of them)."""

    def __init__(self, hex_digests: Iterable[str], size: int, load: Loader) -> None:
        self.size = size
        self._load = load
        blocks: list[bytes] = []
        pending: list[str] = []
        count = 0
        for digest in hex_digests:
            if count >= size:
                break
            pending.append(digest)
            count += 1
            if len(pending) == BLOCK:
                blocks.append(_block_root(pending))
                pending = []
        if count != size:
            raise ValueError(f"the log holds {count} events, not {size}")
        self._levels = [blocks]  # levels[h]: perfect subtrees of height BLOCK_HEIGHT + h
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append(
                list(
                    map(
                        _digest,
                        map(_sha, map(operator.add, map(_node_prefix, below[0::2]), below[1::2])),
                    )
                )
            )

    def subtree(self, begin: int, end: int) -> bytes:
        """MTH of leaves ``[begin, end)`` (a subtree of the RFC tree: ``begin`` aligned)."""
        width = end - begin
        if width <= 0 or end > self.size:
            raise ValueError(f"no subtree [{begin}, {end}) in a tree of {self.size}")
        if width < BLOCK:
            r = Range(begin)
            hexes = self._load(begin, end)
            if len(hexes) != width:
                raise ValueError(f"leaves {begin}..{end - 1} could not all be read")
            for digest in hexes:
                r.append(_event_leaf(digest))
            return _fold(r)
        if width & (width - 1) == 0 and begin % width == 0:
            height = width.bit_length() - 1 - BLOCK_HEIGHT
            return self._levels[height][begin >> (height + BLOCK_HEIGHT)]
        k = _split(width)
        return node_hash(self.subtree(begin, begin + k), self.subtree(begin + k, end))

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.subtree(0, self.size)

    def inclusion(self, index: int) -> list[bytes]:
        return inclusion_proof(index, self.size, self.subtree)

    def consistency(self, first: int) -> list[bytes]:
        return consistency_proof(first, self.size, self.subtree)


def _fold(r: Range) -> bytes:
    """The hash of the subtree a compact range covers when it is one RFC subtree."""
    digest = r.nodes[-1][1]
    for _, left in reversed(r.nodes[:-1]):
        digest = node_hash(left, digest)
    return digest

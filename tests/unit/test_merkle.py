"""The RFC 9162 tree: published vectors, and proofs that verify for every size (and fail when
anything is changed)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.merkle import (
    BLOCK,
    EMPTY_ROOT,
    Range,
    Tree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The reference inputs and roots of RFC 6962's test data, as published with
# transparency-dev/merkle (proof/verify_test.go) and the Certificate Transparency code.
INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf index from 1, tree size, proof) and (size1, size2, proof), from the same source
INCLUSION = [
    (
        1,
        8,
        (
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        (
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (3, 3, ("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",)),
    (
        2,
        5,
        (
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]
CONSISTENCY = [
    (
        1,
        8,
        (
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        (
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        (
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        (
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]
LEAVES = [leaf_hash(d) for d in INPUTS]


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 as written (recursive), the reference the fast code is checked against."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def subtree_of(leaves: list[bytes]):
    return lambda a, b: mth(leaves[a:b])


def test_roots_match_the_published_vectors():
    assert (
        root_of([])
        == EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )
    for n, root in enumerate(ROOTS, 1):
        assert root_of(LEAVES[:n]) == root == mth(LEAVES[:n])


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(leaf, size, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(leaf - 1, size, subtree_of(LEAVES[:size])) == expected
    assert verify_inclusion(leaf - 1, size, LEAVES[leaf - 1], expected, ROOTS[size - 1])
    for wrong in (  # another index, size, leaf, root, a shorter or a longer proof
        (leaf % size, size, LEAVES[leaf - 1], expected, ROOTS[size - 1]),
        (leaf - 1, size * 2, LEAVES[leaf - 1], expected, ROOTS[size - 1]),
        (leaf - 1, size, leaf_hash(b"x"), expected, ROOTS[size - 1]),
        (leaf - 1, size, LEAVES[leaf - 1], expected, EMPTY_ROOT),
        (leaf - 1, size, LEAVES[leaf - 1], expected[:-1], ROOTS[size - 1]),
        (leaf - 1, size, LEAVES[leaf - 1], [*expected, EMPTY_ROOT], ROOTS[size - 1]),
    ):
        assert not verify_inclusion(*wrong)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(first, second, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(first, second, subtree_of(LEAVES[:second])) == expected
    r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
    assert verify_consistency(first, second, r1, r2, expected)
    for wrong in (
        (first, second, r2, r1, expected),  # swapped roots
        (first - 1 or 3, second, r1, r2, expected),
        (first, second, r1, r2, expected[:-1]),
        (first, second, r1, r2, [expected[0], *expected]),
        (first, second, r1, r2, []),
    ):
        assert not verify_consistency(*wrong)


def test_trivial_consistency():
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[1], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[2], [ROOTS[0]])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert not verify_consistency(5, 3, ROOTS[4], ROOTS[2], [ROOTS[0]])


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_every_proof_verifies_up_to_40_leaves_and_any_changed_hash_fails():
    for n in range(1, 41):
        leaves = _leaves(n)
        sub, root = subtree_of(leaves), mth(leaves)
        for i in range(n):
            proof = inclusion_proof(i, n, sub)
            assert verify_inclusion(i, n, leaves[i], proof, root), (i, n)
            for j in range(len(proof)):
                bad = [*proof]
                bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
                assert not verify_inclusion(i, n, leaves[i], bad, root)
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, sub)
            old = mth(leaves[:m])
            assert verify_consistency(m, n, old, root, proof), (m, n)
            if m < n:
                other = mth([leaf_hash(b"other"), *leaves[1:m]])
                assert not verify_consistency(m, n, other, root, proof)
                for j in range(len(proof)):
                    bad = [*proof]
                    bad[j] = bytes([bad[j][0] ^ 0x10]) + bad[j][1:]
                    assert not verify_consistency(m, n, old, root, bad)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_ranges_split_anywhere_and_merged_give_the_root(data):
    n = data.draw(st.integers(0, 3 * BLOCK + 7))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    hexes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    leaves = [leaf_hash(bytes.fromhex(h)) for h in hexes]
    whole, begin = Range(), 0
    for cut in [*cuts, n]:
        part = Range(begin)
        part.extend_hex(hexes[begin:cut])
        whole.merge(part)
        assert whole.end == cut and whole.root() == mth(leaves[:cut])
        begin = cut
    assert whole.root() == mth(leaves)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4 * BLOCK + 9), st.data())
def test_a_tree_gives_the_proofs_of_the_whole_log(n, data):
    hexes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    leaves = [leaf_hash(bytes.fromhex(h)) for h in hexes]
    tree = Tree(hexes, n, lambda a, b: hexes[a:b])
    assert tree.root() == mth(leaves)
    i = data.draw(st.integers(0, n - 1))
    assert tree.inclusion(i) == inclusion_proof(i, n, subtree_of(leaves))
    assert verify_inclusion(i, n, leaves[i], tree.inclusion(i), tree.root())
    m = data.draw(st.integers(1, n))
    assert verify_consistency(m, n, mth(leaves[:m]), tree.root(), tree.consistency(m))
    with pytest.raises(ValueError):
        Tree(hexes, n + 1, lambda a, b: hexes[a:b])

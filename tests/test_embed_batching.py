"""Batching by a residue budget, and batch-invariant embeddings."""
import random

import numpy as np
import pytest

from seqvec.embeddings.pipeline import embed_sequences
from seqvec.io.batching import assign_to_ranks, make_batches, make_sequential_chunks


def test_budget_longest_first():
    lengths = {"a": 5, "b": 30, "c": 10, "d": 10, "e": 1, "f": 12}
    batches = make_batches(lengths, max_residues=30)
    assert batches == [["b"], ["f", "c"], ["d", "a", "e"]]  # 3 * 10 = 30 fits


@pytest.mark.parametrize("budget", [1, 7, 50, 400, 10**6])
def test_every_id_once_within_budget(budget):
    rng = random.Random(budget)
    lengths = {f"p{i}": rng.randint(1, 120) for i in range(200)}
    batches = make_batches(lengths, budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(lengths)
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= budget or len(batch) == 1  # only a lone protein may exceed the budget
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


def test_protein_longer_than_budget_is_alone():
    assert make_batches({"titin": 35000, "a": 10, "b": 10}, 4000) == [["titin"], ["a", "b"]]


def test_bad_budget():
    with pytest.raises(ValueError, match="max_residues must be positive"):
        make_batches({"a": 1}, 0)


def test_sequential_chunks_keep_order():
    lengths = {"a": 5, "b": 30, "c": 10, "d": 10, "e": 1}
    assert make_sequential_chunks(lengths, 20) == [["a"], ["b"], ["c", "d"], ["e"]]


def test_assign_to_ranks_balances_and_covers():
    costs = [100, 90, 10, 10, 10, 80, 5]
    shares = assign_to_ranks(costs, 2)
    assert sorted(i for s in shares for i in s) == list(range(len(costs)))
    loads = [sum(costs[i] for i in s) for s in shares]
    assert max(loads) == 170  # the best possible split: {90, 80} against the rest
    assert [len(s) for s in assign_to_ranks([7] * 10, 3)] == [4, 3, 3]
    assert assign_to_ranks(costs, 1) == [list(range(len(costs)))]
    assert assign_to_ranks([], 3) == [[], [], []]


def test_embeddings_do_not_depend_on_batching(tiny_model):
    rng = random.Random(3)
    seqs = {f"s{i}": "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(1, 200)))
            for i in range(12)}
    alone = dict(embed_sequences(seqs, tiny_model, layers="all", max_residues=1))
    together = dict(embed_sequences(seqs, tiny_model, layers="all", max_residues=10**6))
    assert list(together) == sorted(seqs, key=lambda i: -len(seqs[i]))  # yielded longest first
    assert set(alone) == set(together) == set(seqs)
    for record_id, x in alone.items():
        assert x.shape == (3, len(seqs[record_id]), tiny_model.output_dim)
        np.testing.assert_allclose(x, together[record_id], atol=1e-5, rtol=0)

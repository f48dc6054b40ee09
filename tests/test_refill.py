"""Continuous batching and batch-invariant products (seqvec.lm.refill)."""
import random

import h5py
import numpy as np
import pytest
import torch

from seqvec.errors import ConfigError
from seqvec.lm.kernels import KERNEL_ENV, MatrixProduct, available_kernels
from seqvec.lm.pretrained import load_model
from seqvec.lm.refill import PROBE_FULL, InvariantProduct, kernel_floor, reversed_index, spans_of

AA = "ACDEFGHIKLMNPQRSTVWY"


def _proteins(seed: int, n: int, longest: int, titin: int = 0) -> list[str]:
    rng = random.Random(seed)
    seqs = ["".join(rng.choice(AA) for _ in range(rng.randint(1, longest))) for _ in range(n)]
    if titin:  # a long protein in the middle of the list, alone in the rows for most of its steps
        seqs.insert(n // 2, "".join(rng.choice(AA) for _ in range(titin)))
    return seqs


@pytest.fixture
def model(tiny_model_dir, one_thread):
    m = load_model(tiny_model_dir)
    yield m
    m.refill = True


def _embed(model, seqs, refill: bool, rows: int) -> list[torch.Tensor]:
    model.refill = refill
    model.set_rows(rows)
    return model.embed_batch(seqs)


@pytest.mark.parametrize("rows", [1, 3, 8, 64])
def test_refill_is_bit_identical_to_one_padded_batch(model, rows):
    seqs = _proteins(rows, 25, 300, titin=4000)
    padded = _embed(model, seqs, refill=False, rows=rows)
    refilled = _embed(model, seqs, refill=True, rows=rows)
    for s, a, b in zip(seqs, padded, refilled):
        assert b.shape == (3, len(s), model.output_dim)
        assert torch.equal(a, b)


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_a_protein_gets_the_same_bits_in_any_batch(model, precision):
    model.set_precision(precision)
    seqs = _proteins(5, 30, 250)
    whole = _embed(model, seqs, refill=True, rows=8)
    for part in (seqs[3:9], seqs[10:12], seqs[::-1], seqs[:20] + seqs[:3]):
        for s, x in zip(part, _embed(model, part, refill=True, rows=8)):
            assert torch.equal(x, whole[seqs.index(s)])
        for s, x in zip(part, _embed(model, part, refill=False, rows=8)):
            assert torch.equal(x, whole[seqs.index(s)])
    model.set_precision("float32")


def test_refill_matches_allennlp(model, data_dir):
    from Bio import SeqIO

    records = [(r.id, str(r.seq).upper()) for r in SeqIO.parse(data_dir / "test.fasta", "fasta")]
    out = _embed(model, [s for _, s in records], refill=True, rows=3)
    with h5py.File(data_dir / "tiny_fresh.h5") as ref:
        for (rid, _), x in zip(records, out):
            expected = ref["per_residue"][rid.replace("%", "%25").replace("/", "%2F")][...]
            np.testing.assert_allclose(x.numpy(), expected, atol=1e-5, rtol=0)


def test_a_lone_protein_and_empty_input(model):
    seq = _proteins(9, 1, 200)
    assert model.embed_batch([]) == []
    alone = model.embed_batch(seq)[0]
    assert alone.shape == (3, len(seq[0]), model.output_dim)
    # a protein alone runs the one-row products (fast), equal to batched within rounding
    batched = _embed(model, seq + _proteins(10, 4, 100), refill=True, rows=4)[0]
    np.testing.assert_allclose(alone.numpy(), batched.numpy(), atol=1e-5, rtol=0)


def test_rows_must_be_positive(model):
    with pytest.raises(ConfigError, match="rows must be positive"):
        model.set_rows(0)


def test_flat_layout_helpers():
    assert spans_of([3, 1, 2]) == [(0, 3), (3, 1), (4, 2)]
    index = reversed_index(spans_of([3, 1, 2]), torch.device("cpu"))
    assert index.tolist() == [2, 1, 0, 3, 5, 4]
    assert torch.equal(index[index], torch.arange(6))


@pytest.mark.parametrize("kernel", ["mkl", "onednn"])
@pytest.mark.parametrize("add_kind", ["state", "bias", None])
def test_invariant_products_keep_every_row(kernel, add_kind, monkeypatch, one_thread):
    if kernel not in available_kernels(torch.float32, torch.device("cpu")):
        pytest.skip(f"{kernel} is not available in this torch build")
    monkeypatch.setenv(KERNEL_ENV, kernel)
    generator = torch.Generator().manual_seed(0)
    k, n = 48, 160
    weight = torch.randn(k, n, generator=generator)
    product = InvariantProduct(weight, torch.float32, 8, add_kind)
    assert product.kernel == kernel
    floor = kernel_floor(MatrixProduct(weight), kernel, add_kind)
    assert floor is not None and floor <= 16, "no batch-invariant floor: refill would not be bit-identical here"
    assert product.floor == floor
    a = torch.randn(100, k, generator=generator)
    add = {"state": torch.randn(100, n, generator=generator), "bias": torch.randn(n, generator=generator)}.get(
        add_kind or "")
    full = product(a, add)
    np.testing.assert_allclose(full.numpy(), (a @ weight + (0 if add is None else add)).numpy(), atol=1e-4)
    for rows in (1, 2, 3, 5, 7, 16, 33, PROBE_FULL):
        part = add if add is None or add.dim() == 1 else add[:rows]
        assert torch.equal(product(a[:rows], part), full[:rows]), rows


@pytest.mark.skipif("onednn" not in available_kernels(torch.bfloat16, torch.device("cpu")),
                    reason="the choice it checks exists only where oneDNN runs bfloat16 products")
def test_bf16_batches_stay_exact_when_the_timing_prefers_torch_linear(model, monkeypatch):
    """Timing on a busy machine may find the "mkl" kernel (torch's bfloat16 linear) fastest; its
    algorithm changes with the row count on rare inputs, so batched products keep oneDNN's."""
    from seqvec.lm.kernels import CACHE

    monkeypatch.setattr(CACHE, "choose", lambda shape, candidates, remeasure=False: "mkl")
    model.set_precision("bf16")
    seqs = _proteins(5, 30, 250)
    whole = _embed(model, seqs, refill=True, rows=8)
    for part in (seqs[3:9], seqs[10:12]):  # each holds a protein whose bits changed before the fix
        for s, x in zip(part, _embed(model, part, refill=True, rows=8)):
            assert torch.equal(x, whole[seqs.index(s)])
    model.set_precision("float32")

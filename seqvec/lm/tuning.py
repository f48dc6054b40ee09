"""Measuring, ahead of use, the matrix kernels that an LSTM layer of a given shape runs
(``seqvec info --measure``). It stands above :mod:`seqvec.lm.bilstm`, whose time chunk
sets the row counts of the input products, and above :mod:`seqvec.lm.kernels`, which
times and caches each product."""
from __future__ import annotations

import torch

from seqvec.lm.bilstm import TIME_CHUNK
from seqvec.lm.kernels import CACHE, LARGE_ROWS, MatrixProduct, Shape


def measure_lstm_products(input_dim: int, cell_dim: int, proj_dim: int, dtype: torch.dtype,
                          max_proteins: int = 256, remeasure: bool = True) -> dict[str, str]:
    """Measure every product an LSTM layer of this shape runs, for 1 to ``max_proteins`` proteins.

    Random weights and inputs of the real shapes: the recurrent and projection products
    at 1, 2, 4, ... rows, the input products of a chunk of time steps at 1, 2, 4, ...
    proteins times the chunk length. ``remeasure=False`` measures only the shapes that are
    not cached yet. Returns ``str(Shape)`` -> the kernel kept.
    """
    generator = torch.Generator().manual_seed(0)
    proteins = [1 << i for i in range(max_proteins.bit_length())]
    # (K, N, [(rows, the added term: "state" (rows, N), "bias" (N,) or None)])
    plan: list[tuple[int, int, list[tuple[int, str | None]]]] = [
        (proj_dim, 4 * cell_dim, [(p, "state") for p in proteins]),  # recurrent
        (input_dim, 4 * cell_dim, [(p * TIME_CHUNK[dtype], "bias") for p in proteins]),  # a chunk's input
        (cell_dim, proj_dim, [(p, None) for p in proteins])]  # projection
    chosen: dict[str, str] = {}
    for k, n, runs in plan:
        weight = (torch.rand(k, n, generator=generator) - 0.5) / k ** 0.5
        product = MatrixProduct(weight, dtype)
        for rows, add_kind in runs:
            rows = min(rows, LARGE_ROWS)
            shape = str(Shape.of(dtype, rows, k, n))
            cached = CACHE.entries().get(shape)
            if shape in chosen:
                continue
            if cached and not remeasure:
                chosen[shape] = cached["kernel"]
                continue
            a = torch.randn(rows, k, generator=generator)
            add = None
            if add_kind is not None:
                add = torch.randn(*((rows, n) if add_kind == "state" else (n,)), generator=generator)
            chosen[shape] = product.measure(a, add)
    return chosen

"""Measuring, ahead of use, the matrix kernels that an LSTM layer of a given shape runs
(``seqvec info --measure``). It stands above :mod:`seqvec.lm.bilstm`, whose time chunk
sets the row counts of the input products, and above :mod:`seqvec.lm.kernels`, which
times and caches each product; and the report of what the host offers and what is cached
for it (``seqvec info``)."""
from __future__ import annotations

import os
import re

import torch

from seqvec.lm import host, kernels
from seqvec.lm.bilstm import TIME_CHUNK
from seqvec.lm.config import PRESETS
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


def host_report(measure: str | None = None) -> dict:
    """The CPU, the torch build, the thread count and the kernel choices cached for this host, as a dict
    (what ``seqvec info`` prints); ``measure`` names a preset shape (``seqvec``, ``mini``, ``tiny``) to time first."""
    info = host.cpu_info()
    measured = {}
    if measure:
        config = PRESETS[measure]
        dtypes = [torch.float32] + ([torch.bfloat16] if info.bf16_instructions() else [])
        for dtype in dtypes:
            measured.update(measure_lstm_products(config.projection_dim, config.lstm_dim, config.projection_dim, dtype))
    build = torch.__config__.show()
    entries = kernels.CACHE.entries()
    return {
        "cpu": {"model": info.model, "machine": info.machine, "logical_cpus": info.logical_cpus,
                "features": info.features(), "torch_capability": info.capability,
                "bf16_instructions": info.bf16_instructions()},
        "torch": {"version": torch.__version__, "blas": _match(r"BLAS_INFO=(\w+)", build),
                  "mkl": _match(r"Math Kernel Library Version ([\w.]+)", build) if torch.backends.mkl.is_available()
                  else None,
                  "onednn": _match(r"MKL-DNN (v[\w.]+)", build) if torch.backends.mkldnn.is_available() else None,
                  "onednn_packed": {"float32": kernels.onednn_available(torch.float32),
                                    "bfloat16": kernels.onednn_available(torch.bfloat16)},
                  "cuda": torch.version.cuda, "cuda_devices": torch.cuda.device_count()},
        "threads": torch.get_num_threads(),
        "kernel_env": os.environ.get(kernels.KERNEL_ENV, "auto"),
        "kernel_cache": str(kernels.cache_path()),
        "host_key": host.host_key(),
        "kernels": dict(sorted(entries.items(), key=lambda kv: _order(kv[1]))),
        "measured_now": sorted(measured),
    }


def _match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _order(entry: dict) -> tuple:
    return entry.get("dtype", ""), entry.get("k", 0), entry.get("n", 0), entry.get("rows", 0)

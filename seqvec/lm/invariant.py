"""Matrix products whose every row is the same bits whatever the other rows are.

A float32 GEMM may sum a row's products in another order when the number of rows
changes (on an AMD EPYC, torch 2.13: MKL's sgemm rounds rows differently below 4 rows,
and at 5 rows with 2 threads; oneDNN's packed product below 2 rows), and the kernel kept
per row count (:mod:`seqvec.lm.kernels`) may change with it. Then a protein's embedding
depends, in its last bits, on which proteins shared its time steps. Continuous batching
(:mod:`seqvec.lm.refill`) changes exactly that, so the products it and the padded
batch path use are *batch-invariant*:

- one kernel for every row count: the one measured (or cached) fastest at ``rows_hint``
  rows, the rows the product mostly runs at;
- fewer rows than the kernel's *floor* are padded with zero rows up to it. The floor is
  found by a probe on the real weight when the product is built: the least row count
  from which every probed count (up to 64, and rows moved to other positions) gives the
  bits of the 64-row product. A kernel without such a floor in the probe is not used
  (the other one is); if neither has one, products stay as they are and a warning says
  that batching may change the last bits.
"""
from __future__ import annotations

import functools
import logging

import torch

from seqvec.lm.kernels import CACHE, MatrixProduct, Product, Shape

logger = logging.getLogger(__name__)

PROBE_ROWS = (*range(1, 17), 24, 31, 33, 48, 63)
PROBE_FULL = 64


def _probe_floor(run: Product, k: int, n: int, add_kind: str | None) -> int | None:
    """The least row count from which ``run``'s rows do not depend on the other rows (None: none found)."""
    generator = torch.Generator().manual_seed(1234)
    a = torch.randn(PROBE_FULL, k, generator=generator)
    add = None
    if add_kind == "state":
        add = torch.randn(PROBE_FULL, n, generator=generator)
    elif add_kind == "bias":
        add = torch.randn(n, generator=generator)
    full = run(a, add)
    shuffled = torch.randperm(PROBE_FULL, generator=generator)
    moved = run(a[shuffled], add if add is None or add.dim() == 1 else add[shuffled])
    if not torch.equal(moved, full[shuffled]):
        return None
    floor = None
    for rows in reversed(PROBE_ROWS):
        part = add if add is None or add.dim() == 1 else add[:rows]
        if not torch.equal(run(a[:rows], part), full[:rows]):
            break
        floor = rows
    return floor


# (kernel, dtype, K, N, add kind, threads) -> floor: the rounding structure of a kernel does not
# depend on the weight's values, so one probe per shape and process
_FLOORS: dict[tuple, int | None] = {}


def kernel_floor(product: MatrixProduct, kernel: str, add_kind: str | None) -> int | None:
    """The batch-invariance floor of ``kernel`` for ``product``'s shape (probed once per process)."""
    k, n = product.weight.shape
    key = (kernel, product.dtype, k, n, add_kind, torch.get_num_threads())
    if key not in _FLOORS:
        _FLOORS[key] = _probe_floor({"mkl": product._mkl, "onednn": product._onednn}[kernel], k, n, add_kind)
        logger.debug("batch-invariance floor of %s for %s: %s", kernel, key[1:], _FLOORS[key])
    return _FLOORS[key]


class InvariantProduct:
    """``add + a @ W`` whose rows do not depend on the other rows (see the module doc).

    weight : the float32 weight ``(K, N)``; dtype : of the product; rows_hint : the rows the
    product mostly runs at (its kernel is the fastest there); add_kind : what is added,
    ``"state"`` (a ``(rows, N)`` matrix), ``"bias"`` (``(N,)``) or None, as probed.
    """

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype, rows_hint: int, add_kind: str | None):
        self.product = MatrixProduct(weight, dtype)
        k, n = weight.shape
        choice = self._choose(rows_hint, add_kind)
        order = [choice] + [name for name in self.product.available if name != choice]
        self.kernel, self.floor = choice, None
        for name in order:
            if self.product.forced and name != self.product.forced:
                continue
            floor = kernel_floor(self.product, name, add_kind)
            if floor is not None:
                self.kernel, self.floor = name, floor
                break
        if self.floor is None:
            logger.warning("no batch-invariant %s kernel for %s x %s products on this host: batching may change "
                           "the last bits of embeddings", str(dtype).removeprefix("torch."), k, n)
        elif self.kernel != choice:
            logger.debug("%s: %s is not batch-invariant here, using %s", Shape.of(dtype, rows_hint, k, n), choice,
                         self.kernel)
        self._run: Product = {"mkl": self.product._mkl, "onednn": self.product._onednn}[self.kernel]

    def _choose(self, rows: int, add_kind: str | None) -> str:
        """The kernel forced, or cached or measured fastest at ``rows`` rows (on random inputs)."""
        product = self.product
        if product.forced or len(product.available) == 1:
            return product.forced or product.available[0]
        k, n = product.weight.shape
        rows = max(1, rows)
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(rows, k, generator=generator)
        add = {"state": lambda: torch.randn(rows, n, generator=generator),
               "bias": lambda: torch.randn(n, generator=generator)}.get(add_kind or "", lambda: None)()
        calls = {"mkl": functools.partial(product._mkl, a, add), "onednn": functools.partial(product._onednn, a, add)}
        return CACHE.choose(Shape.of(product.dtype, rows, k, n), {name: calls[name] for name in product.available})

    def __call__(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        rows = a.shape[0]
        if self.floor is None or rows >= self.floor:
            return self._run(a, add)
        pad = self.floor - rows
        a = torch.cat([a, a.new_zeros(pad, a.shape[1])])
        if add is not None and add.dim() == 2:
            add = torch.cat([add, add.new_zeros(pad, add.shape[1])])
        return self._run(a, add)[:rows]

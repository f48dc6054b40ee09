"""Continuous batching: the rows of the recurrent products stay full on any length mix.

In a padded batch the recurrent product of a time step has one row per protein still
running, so rows empty out as the shorter proteins of the batch end, and a batch of long
proteins has few rows to begin with. Here each direction and layer runs over its proteins
with up to ``rows`` rows: a row freed by a protein that ended is taken at once by the next
protein of the plan, starting from a zero state, until none is left. Proteins are laid out
one after another in a flat ``(N, features)`` tensor (no padding), each from its first
token (``<S>``) to its last (``</S>``).

Batch-invariant products make that exact. A float32 GEMM may sum a row's products in
another order when the number of rows changes (on an AMD EPYC, torch 2.13: MKL's sgemm
below 4 rows, and at 5 rows with 2 threads; oneDNN's packed product below 2 rows), and the
kernel kept per row count (:mod:`seqvec.lm.kernels`) may change with it, so a protein's
last bits would depend on which proteins shared its time steps. So the products of
several proteins (here and in a padded batch, :class:`~seqvec.lm.bilstm.ProjectedLSTM`):

- use one kernel for every row count: the one measured (or cached) fastest at the rows the
  product mostly runs at; in bfloat16, oneDNN's packed product wherever oneDNN runs it (torch's
  bfloat16 ``linear`` changes its algorithm with the row count on rare inputs);
- pad fewer rows than the kernel's *floor* with zero rows up to it. The floor is found by
  a probe when the product is built: the least row count from which every probed count
  (up to 64, and rows moved to other positions) gives the bits of the 64-row product. A
  kernel without a floor is not used (the other one is); if neither has one, a warning
  says that batching may change the last bits.

Every protein's output is then the same bits in a padded batch or refilled rows of any
composition (the tests check this). A protein embedded alone keeps the one-row products
(fastest for the interactive case), equal to its batched output within rounding.
"""
from __future__ import annotations

import functools
import logging
from collections import deque
from typing import Any, Protocol

import torch

from seqvec.lm.kernels import CACHE, MatrixProduct, Product, Shape

logger = logging.getLogger(__name__)

# Time steps whose input products are one GEMM, by the dtype of the products. Measured on
# the full SeqVec shape (benchmarks/embed_speed.py, 2 cores): float32 ran at 64-256 within
# noise on an Intel Xeon, and 32 within 3% of 128 on an AMD EPYC (Zen 5) while its chunk
# buffer (rows x chunk x 64 KiB) takes 300 MiB less at 32 rows, memory that a larger batch
# budget turns into fuller rows; bfloat16 runs best with short chunks (32 was ~8% faster than
# 128, 16 another ~4% faster than 32 in 8 paired runs: a small chunk output stays in cache
# beside the packed recurrent weights).
TIME_CHUNK = {torch.float32: 32, torch.bfloat16: 16}

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
        # torch's bfloat16 ``linear`` (the "mkl" kernel) picks its own algorithm by shape; on an AMD
        # EPYC (torch 2.13) 1-4 rows sum some products in another order than 5 or more, on rare
        # inputs that random probes do not meet (a refilled protein's bits then changed with its
        # batch). oneDNN's packed product is one algorithm for every row count: no timing needed.
        if dtype == torch.bfloat16 and "onednn" in self.product.available and not self.product.forced:
            choice, order = "onednn", ["onednn"]
        else:
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


class RecurrentLayer(Protocol):
    """What the engine needs of one direction and layer (:class:`~seqvec.lm.bilstm.ProjectedLSTM`)."""

    rows: int
    compute_dtype: torch.dtype
    proj_dim: int
    cell_dim: int
    bias: torch.Tensor
    forget_offset: torch.Tensor

    def _products(self, rows: int | None = None) -> tuple[Product, Product, Product]: ...

    def _step(self, xin: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_rec: Product, w_proj: Product
              ) -> tuple[torch.Tensor, torch.Tensor]: ...


# Rows of the recurrent products when nothing else is asked for: measured on the full SeqVec
# shape (benchmarks/embed_speed.py --rows-profile): the time per residue of a step falls
# steeply up to ~16-32 rows on an Intel Xeon, and on to 64-128 on an AMD EPYC (Zen 5), where a
# step reads its float32 recurrent weight from memory; 64 rows with the default batch budget
# ran 1.13x faster than 32 on 200,000 residues of the DeepLoc mix there, for 110 MiB more
# (the chunk buffer, rows x 32 steps x 64 KiB in float32).
DEFAULT_ROWS = 64


def spans_of(lengths: list[int]) -> list[tuple[int, int]]:
    """(start, length) of each protein in the flat layout, in input order."""
    spans, start = [], 0
    for length in lengths:
        spans.append((start, length))
        start += length
    return spans


def reversed_index(spans: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """Flat index that reverses every protein within its own span (its own inverse), ``(N,)``."""
    index = torch.arange(sum(n for _, n in spans), device=device)
    for start, n in spans:
        index[start:start + n] = torch.arange(start + n - 1, start - 1, -1, device=device)
    return index


class _Rows:
    """The proteins in the rows of one layer's run: flat offset of step 0 and the step each ends at.

    The recurrent state ``h``, ``c`` holds one row per running protein, compacted when proteins
    end (a few KiB per row). The chunk buffer of input products (``rows x chunk x 4D``, hundreds
    of MiB in float32) is never moved: row ``r`` reads its slot ``slot[r]``, and a slot freed by
    a protein that ended is taken by the next one.
    """

    def __init__(self, layer: RecurrentLayer, x: torch.Tensor, proteins: int):
        self.base: list[int] = []  # flat index of the row's token at step t is base + t
        self.end: list[int] = []  # the step at which the row's protein has ended
        self.slot: list[int] = []  # the row's slot in the chunk buffer
        self.h = x.new_zeros(0, layer.proj_dim)
        self.c = x.new_zeros(0, layer.cell_dim)
        slots = min(layer.rows, proteins)
        self.buf = x.new_zeros(slots, TIME_CHUNK[layer.compute_dtype], 4 * layer.cell_dim)
        self.free = list(range(slots))
        self._slots: torch.Tensor | None = None  # slot as a tensor; None: rows 0..n-1 sit in slots 0..n-1

    def __len__(self) -> int:
        return len(self.end)

    def keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long, device=self.h.device)
        self.h, self.c = self.h[index], self.c[index]
        kept = set(rows)
        self.free += [s for r, s in enumerate(self.slot) if r not in kept]
        self.base = [self.base[r] for r in rows]
        self.end = [self.end[r] for r in rows]
        self._set_slots([self.slot[r] for r in rows])

    def grow(self, n: int) -> None:
        self.h = torch.cat([self.h, self.h.new_zeros(n, self.h.shape[1])])
        self.c = torch.cat([self.c, self.c.new_zeros(n, self.c.shape[1])])
        self.free.sort()
        taken, self.free = self.free[:n], self.free[n:]
        self.base += [0] * n
        self.end += [0] * n
        self._set_slots(self.slot + taken)

    def _set_slots(self, slots: list[int]) -> None:
        self.slot = slots
        identity = slots == list(range(len(slots)))
        self._slots = None if identity else torch.tensor(slots, dtype=torch.long, device=self.h.device)

    def inputs(self, step: int) -> torch.Tensor:
        """The input products of every row at chunk step ``step``, ``(rows, 4D)``."""
        if self._slots is None:
            return self.buf[:len(self.slot), step]
        return self.buf[self._slots, step]


def run_layer(layer: RecurrentLayer, x: torch.Tensor, spans: list[tuple[int, int]],
              table: torch.Tensor | None = None) -> torch.Tensor:
    """One direction of one layer over flat proteins with continuous batching, ``layer.rows`` rows.

    x: ``(N, input_dim)``; spans: ``(start, length)`` per protein, in the order they enter
    the rows (longest first keeps the last rows' drain short). Returns ``(N, P)``. With
    ``table`` (the first layer), x holds token types ``(N,)`` and the input products are
    looked up in the table of every type's input products (:func:`input_table`).
    """
    rows = layer.rows
    w_in, w_rec, w_proj = layer._products(rows)
    bias = layer.bias + layer.forget_offset
    if table is not None:
        w_in = _lookup(table)
    like = x if table is None else table  # the dtype and device of the states and outputs
    chunk = TIME_CHUNK[layer.compute_dtype]
    out = like.new_zeros(x.shape[0], layer.proj_dim)
    queue = deque(spans)
    state = _Rows(layer, like, len(spans))
    t = t0 = 0
    while True:
        finished = [r for r, end in enumerate(state.end) if end <= t]
        fresh = finished[:len(queue)]
        gone = set(finished[len(queue):])
        if gone:
            kept = [r for r in range(len(state)) if r not in gone]
            position = {r: i for i, r in enumerate(kept)}
            fresh = [position[r] for r in fresh]
            state.keep(kept)
        if len(state) < rows and len(queue) > len(fresh):
            n = min(rows - len(state), len(queue) - len(fresh))
            fresh += list(range(len(state), len(state) + n))
            state.grow(n)
        if not len(state):
            return out
        for r in fresh:
            start, length = queue.popleft()
            state.base[r], state.end[r] = start - t, t + length
        if fresh:
            index = torch.tensor(fresh, dtype=torch.long, device=x.device)
            state.h[index] = 0.0
            state.c[index] = 0.0
        if t % chunk == 0:  # a new chunk of input products for every row
            t0 = t
            _input_products(state, list(range(len(state))), x, w_in, bias, t, t0 + chunk, t0)
        elif fresh:  # the rest of this chunk for the proteins that just entered
            _input_products(state, fresh, x, w_in, bias, t, t0 + chunk, t0)
        state.h, state.c = layer._step(state.inputs(t - t0), state.h, state.c, w_rec, w_proj)
        out.index_copy_(0, torch.tensor(state.base, dtype=torch.long, device=x.device) + t, state.h)
        t += 1


def _input_products(state: _Rows, rows: list[int], x: torch.Tensor, w_in, bias: torch.Tensor, ta: int, tb: int,
                    t0: int) -> None:
    """``x W_in + b`` of steps ``ta..tb-1`` of the given rows (up to each protein's end) into the chunk buffer."""
    device = x.device
    steps = torch.arange(tb - ta, device=device)
    counts = torch.tensor([min(tb, state.end[r]) - ta for r in rows], device=device)
    valid = steps[None, :] < counts[:, None]  # (rows, steps)
    base = torch.tensor([state.base[r] for r in rows], device=device)
    tokens = (base[:, None] + ta + steps[None, :])[valid]
    chunk = state.buf.shape[1]
    slots = (torch.tensor([state.slot[r] for r in rows], device=device)[:, None] * chunk + (ta - t0)
             + steps[None, :])[valid]
    state.buf.view(-1, state.buf.shape[2]).index_copy_(0, slots, w_in(x[tokens], bias))


def input_table(layer: RecurrentLayer, vectors: torch.Tensor) -> torch.Tensor:
    """The first layer's input products ``x W_in + b`` of every token type, ``(types, 4D)``.

    A residue is one token type, so a protein's first-layer input products are rows of this
    table: the same bits as computing them per residue, because the batch-invariant product
    gives a row the same bits whatever rows it is computed with (a fifth of the model's
    multiply-adds per residue fewer)."""
    w_in = layer._products(layer.rows)[0]
    return w_in(vectors, layer.bias + layer.forget_offset)


def _lookup(table: torch.Tensor):
    def products(types: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return table[types]
    return products


def run_stack(stack: Any, x: torch.Tensor, lengths: list[int], out: torch.Tensor | None = None,
              types: torch.Tensor | None = None, vectors: torch.Tensor | None = None) -> torch.Tensor:
    """Both directions and every layer over flat proteins (each from ``<S>`` to ``</S>``).

    stack: a :class:`~seqvec.lm.bilstm.BiLSTMStack`; x: ``(N, P)`` with ``N = sum(lengths)``. Returns (in ``out`` if given) the layers'
    outputs ``(n_layers, N, 2P)``, ``[forward ; backward]``, skip connections added from
    the second layer on, exactly as :meth:`BiLSTMStack.forward` gives them for a padded batch.
    With ``types`` ``(N,)`` and ``vectors`` (the token encoder's output per type, ``x`` is
    ``vectors[types]``), the first layer looks its input products up (:func:`input_table`).
    """
    spans = spans_of(lengths)
    order = sorted(range(len(spans)), key=lambda i: -lengths[i])  # longest first, stable
    ordered = [spans[i] for i in order]
    back = reversed_index(spans, x.device)
    p = x.shape[1]
    n_layers = len(stack.directions[0])
    result = x.new_empty(n_layers, x.shape[0], 2 * p) if out is None else out
    if types is None or vectors is None:
        vectors = None  # no lookup: the first layer reads x
    first = x if vectors is None or types is None else types  # token types to look up, or vectors
    for d, layers in enumerate(stack.directions):
        inp = first if d == 0 else first[back]
        for li, layer in enumerate(layers):
            o = run_layer(layer, inp, ordered, input_table(layer, vectors) if li == 0 and vectors is not None else None)
            if li > 0:
                o += inp  # skip connection; the recurrent state stays without it
            target = result[li, :, d * p:(d + 1) * p]
            if d == 0:
                target.copy_(o)
            else:
                target.index_copy_(0, back, o)  # back is its own inverse
            inp = o
    return result

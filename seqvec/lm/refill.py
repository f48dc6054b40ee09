"""Continuous batching: the rows of the recurrent products stay full on any length mix.

In a padded batch the recurrent product of a time step has one row per protein still
running, so rows empty out as the shorter proteins of the batch end, and a batch of long
proteins has few rows to begin with. Here each direction and layer runs over its proteins
with up to ``rows`` rows: a row freed by a protein that ended is taken at once by the next
protein of the plan, starting from a zero state, until none is left. Proteins are laid out
one after another in a flat ``(N, features)`` tensor (no padding), each from its first
token (``<S>``) to its last (``</S>``).

The products are batch-invariant (:mod:`seqvec.lm.invariant`), so every protein's output
is the same bits as in a padded batch of any composition (the tests check this).
"""
from __future__ import annotations

import logging
from collections import deque
from typing import cast

import torch
from torch import nn

from seqvec.lm.bilstm import TIME_CHUNK, BiLSTMStack, ProjectedLSTM

logger = logging.getLogger(__name__)

# Rows of the recurrent products when nothing else is asked for: measured on the full SeqVec
# shape (benchmarks/embed_speed.py --rows-profile): the time per residue of a step falls
# steeply up to ~16-32 rows and little beyond, while the input-product buffer grows with rows.
DEFAULT_ROWS = 32


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
    """The proteins in the rows of one layer's run: flat offset of step 0 and the step each ends at."""

    def __init__(self, layer: ProjectedLSTM, x: torch.Tensor):
        self.base: list[int] = []  # flat index of the row's token at step t is base + t
        self.end: list[int] = []  # the step at which the row's protein has ended
        self.h = x.new_zeros(0, layer.proj_dim)
        self.c = x.new_zeros(0, layer.cell_dim)
        self.buf = x.new_zeros(0, TIME_CHUNK[layer.compute_dtype], 4 * layer.cell_dim)

    def __len__(self) -> int:
        return len(self.end)

    def keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long, device=self.h.device)
        self.h, self.c, self.buf = self.h[index], self.c[index], self.buf[index]
        self.base = [self.base[r] for r in rows]
        self.end = [self.end[r] for r in rows]

    def grow(self, n: int) -> None:
        self.h = torch.cat([self.h, self.h.new_zeros(n, self.h.shape[1])])
        self.c = torch.cat([self.c, self.c.new_zeros(n, self.c.shape[1])])
        self.buf = torch.cat([self.buf, self.buf.new_zeros(n, *self.buf.shape[1:])])
        self.base += [0] * n
        self.end += [0] * n


def run_layer(layer: ProjectedLSTM, x: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
    """One direction of one layer over flat proteins with continuous batching, ``layer.rows`` rows.

    x: ``(N, input_dim)``; spans: ``(start, length)`` per protein, in the order they enter
    the rows (longest first keeps the last rows' drain short). Returns ``(N, P)``.
    """
    rows = layer.rows
    w_in, w_rec, w_proj = layer._products(rows)
    bias = layer.bias + layer.forget_offset
    chunk = TIME_CHUNK[layer.compute_dtype]
    out = x.new_zeros(x.shape[0], layer.proj_dim)
    queue = deque(spans)
    state = _Rows(layer, x)
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
        state.h, state.c = layer._step(state.buf[:, t - t0], state.h, state.c, w_rec, w_proj)
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
    slots = (torch.tensor(rows, device=device)[:, None] * chunk + (ta - t0) + steps[None, :])[valid]
    state.buf.view(-1, state.buf.shape[2]).index_copy_(0, slots, w_in(x[tokens], bias))


def run_stack(stack: BiLSTMStack, x: torch.Tensor, lengths: list[int], out: torch.Tensor | None = None
              ) -> torch.Tensor:
    """Both directions and every layer over flat proteins (each from ``<S>`` to ``</S>``).

    x: ``(N, P)`` with ``N = sum(lengths)``. Returns (in ``out`` if given) the layers'
    outputs ``(n_layers, N, 2P)``, ``[forward ; backward]``, skip connections added from
    the second layer on, exactly as :meth:`BiLSTMStack.forward` gives them for a padded batch.
    """
    spans = spans_of(lengths)
    order = sorted(range(len(spans)), key=lambda i: -lengths[i])  # longest first, stable
    ordered = [spans[i] for i in order]
    back = reversed_index(spans, x.device)
    p = x.shape[1]
    n_layers = len(cast(nn.ModuleList, stack.directions[0]))
    result = x.new_empty(n_layers, x.shape[0], 2 * p) if out is None else out
    for d, layers in enumerate(stack.directions):
        inp = x if d == 0 else x[back]
        for li, layer in enumerate(cast(nn.ModuleList, layers)):
            o = run_layer(cast(ProjectedLSTM, layer), inp, ordered)
            if li > 0:
                o = o + inp  # skip connection; the recurrent state stays without it
            result[li, :, d * p:(d + 1) * p] = o if d == 0 else o[back]
            inp = o
    return result

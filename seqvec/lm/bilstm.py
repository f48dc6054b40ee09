"""ELMo's LSTM: projected cells with clipping, stacked per direction with skip connections.

Weights are kept in bilm-tf's layout (``x @ W``; gate blocks ``i, j, f, o``), so loading
a ``weights.hdf5`` is a copy and saving one is exact. TF adds ``forget_bias = 1`` at run
time rather than storing it; so do we.
"""
from __future__ import annotations

import math
from typing import Any, cast

import torch
from torch import nn

from seqvec.lm.kernels import CACHE, MatrixProduct, Product, forced_kernel
from seqvec.lm.refill import TIME_CHUNK, InvariantProduct

# (h, c) of one direction and layer: h (B, P), c (B, D)
CellState = tuple[torch.Tensor, torch.Tensor]
# [direction][layer]; direction 0 = forward, 1 = backward
StackState = list[list[CellState]]
# TIME_CHUNK (time steps whose input products are one GEMM) lives in seqvec.lm.refill


class ProjectedLSTM(nn.Module):
    """One direction of one layer: ``LSTMCellWithProjection`` of allennlp, over time.

    ``z = x W_in + h W_rec + b``; ``c = sig(f + 1) c + sig(i) tanh(j)``, clipped;
    ``h = (sig(o) tanh(c)) W_proj``, clipped. A clip of 0 means no clipping.
    """

    def __init__(self, input_dim: int, cell_dim: int, proj_dim: int, cell_clip: float, proj_clip: float):
        super().__init__()
        self.cell_dim, self.proj_dim = cell_dim, proj_dim
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.input_weight = nn.Parameter(torch.empty(input_dim, 4 * cell_dim))
        self.recurrent_weight = nn.Parameter(torch.empty(proj_dim, 4 * cell_dim))
        self.bias = nn.Parameter(torch.zeros(4 * cell_dim))
        self.projection_weight = nn.Parameter(torch.empty(cell_dim, proj_dim))
        forget = torch.zeros(4 * cell_dim)
        forget[2 * cell_dim: 3 * cell_dim] = 1.0  # TF's forget_bias, block f of i, j, f, o
        self.forget_offset: torch.Tensor
        self.register_buffer("forget_offset", forget, persistent=False)
        self.compute_dtype = torch.float32  # dtype of the matrix products; state stays float32
        self.rows = 32  # the rows batch-invariant products are chosen for (seqvec.lm.refill sets it)
        # (key, {rows or None: inference products}), rebuilt when a weight, the dtype or the threads change
        self._cached: tuple[Any, dict[int | None, tuple[Product, Product, Product]] | None] = (None, None)
        self.reset_parameters()

    def __getstate__(self) -> dict:
        """Pickling and deepcopy leave the products out (oneDNN's packed tensors have no storage)."""
        state = self.__dict__.copy()
        state["_cached"] = (None, None)
        return state

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.cell_dim)
        for w in (self.input_weight, self.recurrent_weight, self.projection_weight):
            nn.init.uniform_(w, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, lengths: list[int], state: CellState | None = None
                ) -> tuple[torch.Tensor, CellState]:
        """Run over left-aligned sequences sorted by length, longest first.

        x: ``(B, T, input_dim)``; lengths: B ints, descending. Returns the outputs
        ``(B, T, P)`` (zeros after each sequence's end) and each sequence's final (h, c).
        """
        batch, total = x.shape[0], x.shape[1]
        if state is None:
            h = x.new_zeros(batch, self.proj_dim)
            c = x.new_zeros(batch, self.cell_dim)
        else:
            h, c = state
        out = x.new_zeros(batch, total, self.proj_dim)
        bias = self.bias + self.forget_offset
        # several proteins: batch-invariant products, so each protein's output is the same bits
        # as in any other batch (and in seqvec.lm.refill's continuous batching)
        w_in, w_rec, w_proj = self._products(self.rows if batch > 1 else None)
        finals_h, finals_c = [], []
        active = batch
        time_chunk = TIME_CHUNK[self.compute_dtype]
        for t0 in range(0, max(lengths, default=0), time_chunk):
            t1 = min(t0 + time_chunk, lengths[0])
            # the input product of the whole chunk as one GEMM, (k, t1 - t0, 4D)
            k0 = sum(1 for n in lengths if n > t0)
            xin = w_in(x[:k0, t0:t1].reshape(-1, x.shape[2]), bias).view(k0, t1 - t0, -1)
            for t in range(t0, t1):
                k = active
                while k > 0 and lengths[k - 1] <= t:
                    k -= 1
                if k < active:  # sequences k..active-1 ended at t - 1
                    finals_h.append(h[k:active])
                    finals_c.append(c[k:active])
                    h, c, active = h[:k], c[:k], k
                h, c = self._step(xin[:k, t - t0], h, c, w_rec, w_proj)
                out[:k, t] = h
        finals_h.append(h)
        finals_c.append(c)
        # finals were collected shortest-last; reverse to batch order
        return out, (torch.cat(finals_h[::-1]), torch.cat(finals_c[::-1]))

    def _products(self, rows: int | None = None) -> tuple[Product, Product, Product]:
        """``x @ W (+ add)`` for the input, recurrent and projection matrices in ``compute_dtype``.

        Training uses the parameters through autograd (``torch.addmm``). Inference keeps one
        :class:`~seqvec.lm.kernels.MatrixProduct` per matrix, whose kernel (MKL or oneDNN's
        packed layout) is chosen by measurement per row count, until a weight changes; with
        ``rows`` given, batch-invariant products (:class:`~seqvec.lm.refill.InvariantProduct`)
        whose kernel is the fastest at ``rows`` rows (the input products at a chunk's rows).
        """
        weights = (self.input_weight, self.recurrent_weight, self.projection_weight)
        if torch.is_grad_enabled():
            return (MatrixProduct(weights[0], kernel="mkl"), MatrixProduct(weights[1], kernel="mkl"),
                    MatrixProduct(weights[2], kernel="mkl"))
        key = (self.compute_dtype, forced_kernel(), torch.get_num_threads(), CACHE.generation,
               *((id(w), w._version, w.device) for w in weights))
        cache = self._cached[1] if self._cached[0] == key else None
        if cache is None:
            cache = {}
            self._cached = (key, cache)
        if rows not in cache:
            if rows is None:
                cache[rows] = (MatrixProduct(weights[0], self.compute_dtype),
                               MatrixProduct(weights[1], self.compute_dtype),
                               MatrixProduct(weights[2], self.compute_dtype))
            else:
                chunk_rows = rows * TIME_CHUNK[self.compute_dtype]
                cache[rows] = (InvariantProduct(weights[0], self.compute_dtype, chunk_rows, "bias"),
                               InvariantProduct(weights[1], self.compute_dtype, rows, "state"),
                               InvariantProduct(weights[2], self.compute_dtype, rows, None))
        return cache[rows]

    def _step(self, xin: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_rec: Product,
              w_proj: Product) -> CellState:
        z = w_rec(h, xin)  # (k, 4D)
        i, j, f, o = z.chunk(4, dim=1)
        if torch.is_grad_enabled():
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
            if self.cell_clip:
                c = c.clamp(-self.cell_clip, self.cell_clip)
            gated = torch.sigmoid(o) * torch.tanh(c)
        else:
            # tanh(x) = 2 sigmoid(2x) - 1: torch's float32 tanh took ~7x its sigmoid per element
            # (torch 2.13, AMD EPYC), and the gates' elementwise work was a fifth of a step at 64
            # rows; so one in-place sigmoid over all four gates, j doubled first. Equal to tanh
            # within 1.8e-7 (absolute, against float64 on [-20, 20]); z is the product's own fresh tensor.
            j.mul_(2)
            z.sigmoid_()
            j.mul_(2).sub_(1)
            c = torch.addcmul(f * c, i, j)
            if self.cell_clip:
                c.clamp_(-self.cell_clip, self.cell_clip)
            gated = (c * 2).sigmoid_().mul_(2).sub_(1).mul_(o)
        h = w_proj(gated)
        if self.proj_clip:
            h = h.clamp(-self.proj_clip, self.proj_clip)
        return h, c


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each left-aligned sequence within its own length; padding stays put.

    x: ``(B, T, ...)``. Its own inverse.
    """
    total = x.shape[1]
    steps = torch.arange(total, device=x.device).expand(len(lengths), total)
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class BiLSTMStack(nn.Module):
    """Two independent stacks (forward, backward); directions never mix between layers."""

    def __init__(self, input_dim: int, cell_dim: int, proj_dim: int, n_layers: int,
                 cell_clip: float, proj_clip: float):
        super().__init__()

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                ProjectedLSTM(input_dim if i == 0 else proj_dim, cell_dim, proj_dim, cell_clip, proj_clip)
                for i in range(n_layers))

        self.directions = nn.ModuleList([stack(), stack()])

    def layers(self) -> list[ProjectedLSTM]:
        """Every direction's layers, forward direction first."""
        return [cast(ProjectedLSTM, layer) for stack in self.directions for layer in cast(nn.ModuleList, stack)]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, state: StackState | None = None
                ) -> tuple[list[torch.Tensor], StackState]:
        """x: ``(B, T, P)`` left-aligned, any order; lengths: ``(B,)``.

        Returns one ``(B, T, 2P)`` tensor per layer (``[forward ; backward]``, skip
        connections added from the second layer on) and the final state of every
        direction and layer (forward: after the last token; backward: after the first).
        """
        order = torch.argsort(lengths, descending=True, stable=True)
        unorder = torch.argsort(order)
        x, lengths = x[order], lengths[order]
        len_list = lengths.tolist()
        halves, finals = [], []
        for d, layers in enumerate(self.directions):
            inp = x if d == 0 else reverse_padded(x, lengths)
            outs, states = [], []
            for li, layer in enumerate(cast(nn.ModuleList, layers)):
                init = None if state is None else tuple(s[order] for s in state[d][li])
                out, final = layer(inp, len_list, init)
                if li > 0:
                    out = out + inp  # skip connection; the recurrent state stays without it
                outs.append(out)
                states.append(tuple(s[unorder] for s in final))
                inp = out
            if d == 1:
                outs = [reverse_padded(o, lengths) for o in outs]
            halves.append(outs)
            finals.append(states)
        layers_out = [torch.cat([f, b], dim=2)[unorder] for f, b in zip(*halves)]
        return layers_out, finals

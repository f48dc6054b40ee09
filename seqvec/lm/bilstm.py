"""ELMo's LSTM: projected cells with clipping, stacked per direction with skip connections.

Weights are kept in bilm-tf's layout (``x @ W``; gate blocks ``i, j, f, o``), so loading
a ``weights.hdf5`` is a copy and saving one is exact. TF adds ``forget_bias = 1`` at run
time rather than storing it; so do we.
"""
from __future__ import annotations

import math
from typing import Any, Protocol, cast

import torch
from torch import nn

# (h, c) of one direction and layer: h (B, P), c (B, D)
CellState = tuple[torch.Tensor, torch.Tensor]
# [direction][layer]; direction 0 = forward, 1 = backward
StackState = list[list[CellState]]
# Time steps whose input products are one GEMM, by the dtype of the products. Measured on
# the full SeqVec shape (benchmarks/embed_speed.py, 2 cores): float32 runs best with long
# chunks (fewer, larger GEMMs; 64-256 within noise), bfloat16 with short ones (32 was ~8%
# faster than 128, 16 another ~4% faster than 32 in 8 paired runs: a small chunk output
# stays in cache beside the packed recurrent weights).
TIME_CHUNK = {torch.float32: 128, torch.bfloat16: 16}


class Product(Protocol):
    """``add + a @ W`` for one weight matrix ``W (K, N)``: float32 in, float32 out."""

    def __call__(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor: ...


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
        # (key, low-precision products of the three matrices)
        self._low: tuple[Any, tuple[Product, Product, Product] | None] = (None, None)
        self.reset_parameters()

    def __getstate__(self) -> dict:
        """Pickling and deepcopy leave the low-precision cache out (oneDNN's packed tensors have no storage)."""
        state = self.__dict__.copy()
        state["_low"] = (None, None)
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
        w_in, w_rec, w_proj = self._products()
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

    def _products(self) -> tuple[Product, Product, Product]:
        """``x @ W (+ add)`` for the input, recurrent and projection matrices in ``compute_dtype``.

        float32 (and training) uses the parameters; bfloat16 uses cached copies, packed for
        oneDNN where it runs (the product alone does not repack the weight at every step).
        """
        weights = (self.input_weight, self.recurrent_weight, self.projection_weight)
        if self.compute_dtype == torch.float32 or torch.is_grad_enabled():
            f32 = [_Float32Product(w) for w in weights]
            return f32[0], f32[1], f32[2]
        key = (self.compute_dtype, *((id(w), w._version, w.device) for w in weights))
        if self._low[0] != key:
            low = [_LowPrecisionProduct(w, self.compute_dtype) for w in weights]
            self._low = (key, (low[0], low[1], low[2]))
        products = self._low[1]
        assert products is not None  # set just above
        return products

    def _step(self, xin: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_rec: Product,
              w_proj: Product) -> CellState:
        z = w_rec(h, xin)  # (k, 4D)
        i, j, f, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
        if self.cell_clip:
            c = c.clamp(-self.cell_clip, self.cell_clip)
        h = w_proj(torch.sigmoid(o) * torch.tanh(c))
        if self.proj_clip:
            h = h.clamp(-self.proj_clip, self.proj_clip)
        return h, c


class _Float32Product:
    """``add + a @ W`` for one weight matrix ``W (K, N)``, in float32."""

    def __init__(self, weight: torch.Tensor):
        self.weight = weight

    def __call__(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        return a @ self.weight if add is None else torch.addmm(add, a, self.weight)


class _LowPrecisionProduct:
    """The product in ``dtype`` (bfloat16): the input is rounded to it, the result comes back float32.

    On CPU the weight is reordered once into oneDNN's blocked layout, which lets small
    products (one row per protein and time step) use the bfloat16 matrix units without
    repacking 16 MB at each call; elsewhere, or where oneDNN lacks the op, a plain product.
    """

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype):
        self.dtype = dtype
        weight_t = weight.detach().t().contiguous().to(dtype)  # (N, K), torch.nn.functional.linear's layout
        self.packed = _onednn_pack(weight_t)
        self.weight_t = None if self.packed is not None else weight_t  # the packed copy replaces it

    def __call__(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        a = a.to(self.dtype)
        if self.weight_t is not None:
            y = torch.nn.functional.linear(a, self.weight_t)
        else:
            y = torch.ops.mkldnn._linear_pointwise(a, self.packed, None, "none", [], "")
        y = y.float()
        return y if add is None else y.add_(add)


def _onednn_pack(weight_t: torch.Tensor) -> torch.Tensor | None:
    """``weight_t`` in oneDNN's packed layout for ``_linear_pointwise``, or None where unavailable."""
    if weight_t.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return None
    try:
        if weight_t.dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return None
        packed = torch.ops.mkldnn._reorder_linear_weight(weight_t, 1)
        probe = torch.zeros(1, weight_t.shape[1], dtype=weight_t.dtype)
        torch.ops.mkldnn._linear_pointwise(probe, packed, None, "none", [], "")
    except (AttributeError, RuntimeError):  # a torch built without these private ops
        return None
    return packed


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

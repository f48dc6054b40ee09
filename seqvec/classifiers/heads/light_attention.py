"""Light attention head (Stärk et al. 2021), with the max pooling masked too."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from seqvec.classifiers.heads.base import Head, TaskModules


class LightAttentionHead(Head):
    """Per-residue input, per-protein output: attention pooling plus max pooling.

    Two convolutions over the residues (kernel 9) give values and attention logits,
    each ``[B, D, L]``. The logits are softmax-normalised over the residues of each
    protein (padding excluded) and weight the values; a max over the residues (padding
    excluded; the original code let padding into the max) is concatenated, and
    ``2D -> hidden`` (dropout, ReLU, batch norm) feeds one linear layer per task.
    Input ``x: [B, L, D]``, ``mask: [B, L]``; returns ``{task: [B, C]}``.
    """

    input_level = "residue"
    output_level = "protein"
    has_attention = True

    def __init__(self, input_dim: int, outputs: Mapping[str, int], hidden_dim: int = 32,
                 kernel_size: int = 9, dropout: float = 0.25, conv_dropout: float = 0.25):
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (keeps length), got {kernel_size}")
        super().__init__(input_dim, outputs, hidden_dim=hidden_dim, kernel_size=kernel_size,
                         dropout=dropout, conv_dropout=conv_dropout)
        pad = kernel_size // 2
        self.values = nn.Conv1d(input_dim, input_dim, kernel_size, padding=pad)
        self.attention = nn.Conv1d(input_dim, input_dim, kernel_size, padding=pad)
        self.conv_dropout = nn.Dropout(conv_dropout)
        self.hidden = nn.Sequential(
            nn.Linear(2 * input_dim, hidden_dim), nn.Dropout(dropout), nn.ReLU(), nn.BatchNorm1d(hidden_dim))
        self.out = TaskModules({task: nn.Linear(hidden_dim, n) for task, n in self.outputs.items()})

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features ``[B, 2D]`` and the attention weights ``[B, D, L]`` (zero at padding)."""
        pad = ~mask[:, None, :]  # (B, 1, L)
        h = x.transpose(1, 2).masked_fill(pad, 0.0)  # (B, D, L), zeros past the end as for a lone protein
        values = self.conv_dropout(self.values(h))  # (B, D, L)
        lowest = torch.finfo(values.dtype).min
        weights = torch.softmax(self.attention(h).masked_fill(pad, lowest), dim=-1)  # (B, D, L)
        attended = (values * weights).sum(dim=-1)  # (B, D)
        maxed = values.masked_fill(pad, lowest).amax(dim=-1)  # (B, D)
        return torch.cat([attended, maxed], dim=1), weights

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mask = self.residue_mask(x, mask)
        pooled, _ = self.pool(x, mask)
        h = self.hidden(pooled)  # (B, hidden)
        return {task: layer(h) for task, layer in self.out.items()}

    def attention_weights(self, x: torch.Tensor, mask: torch.Tensor | None = None
                          ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Logits and the attention per residue ``[B, L]``: the mean over the D feature channels of
        their softmax weights (each channel's weights sum to 1 over the residues, so does the mean)."""
        mask = self.residue_mask(x, mask)
        pooled, weights = self.pool(x, mask)
        h = self.hidden(pooled)
        return {task: layer(h) for task, layer in self.out.items()}, weights.mean(dim=1)

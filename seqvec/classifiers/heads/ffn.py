"""Per-protein feed-forward head (SeqVec, Heinzinger et al. 2019)."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from seqvec.classifiers.heads.base import Head, TaskModules


class FNNHead(Head):
    """``D -> hidden``, dropout, ReLU, batch norm, then one linear layer per task.

    SeqVec used ``1024 -> 32`` (dropout 0.25) with a 10-class location and a 2-class
    membrane output on the per-protein mean embedding. Input ``x: [B, D]``; returns
    ``{task: [B, C]}``.
    """

    input_level = "protein"
    output_level = "protein"

    def __init__(self, input_dim: int, outputs: Mapping[str, int], hidden_dim: int = 32,
                 dropout: float = 0.25):
        super().__init__(input_dim, outputs, hidden_dim=hidden_dim, dropout=dropout)
        self.hidden = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.Dropout(dropout), nn.ReLU(), nn.BatchNorm1d(hidden_dim))
        self.out = TaskModules({task: nn.Linear(hidden_dim, n) for task, n in self.outputs.items()})

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        self.check_input(x, mask)
        h = self.hidden(x)  # (B, hidden)
        return {task: layer(h) for task, layer in self.out.items()}

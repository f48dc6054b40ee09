"""Per-residue convolutional head (SeqVec, Heinzinger et al. 2019)."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from seqvec.classifiers.heads.base import Head, TaskModules


class CNNHead(Head):
    """Conv ``D -> hidden`` (kernel 7), ReLU, dropout, then one conv (kernel 7) per task.

    SeqVec trained one such network for 3-state and 8-state secondary structure and
    disorder at once (multi-task). Input ``x: [B, L, D]``, ``mask: [B, L]``; returns
    ``{task: [B, L, C]}``.
    """

    input_level = "residue"
    output_level = "residue"

    def __init__(self, input_dim: int, outputs: Mapping[str, int], hidden_dim: int = 32,
                 kernel_size: int = 7, dropout: float = 0.25):
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (keeps length), got {kernel_size}")
        super().__init__(input_dim, outputs, hidden_dim=hidden_dim, kernel_size=kernel_size, dropout=dropout)
        pad = kernel_size // 2
        self.conv = nn.Conv1d(input_dim, hidden_dim, kernel_size, padding=pad)
        self.dropout = nn.Dropout(dropout)
        self.out = TaskModules({task: nn.Conv1d(hidden_dim, n, kernel_size, padding=pad)
                                  for task, n in self.outputs.items()})

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mask = self.residue_mask(x, mask)
        keep = mask[:, None, :].to(x.dtype)  # (B, 1, L)
        # zero the padding before each conv, so a residue near the end of a short protein
        # sees zeros past its end exactly as when the protein is alone (conv zero padding)
        h = x.transpose(1, 2) * keep  # (B, D, L)
        h = self.dropout(torch.relu(self.conv(h))) * keep  # (B, hidden, L)
        return {task: conv(h).transpose(1, 2) for task, conv in self.out.items()}  # (B, L, C)

"""Attention along the sequence: where a conv + BiLSTM + attention head looked (one panel per protein)."""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqvec.viz.common import check_output, pyplot, save_figure

logger = logging.getLogger(__name__)


@dataclass
class AttentionTrack:
    """One protein's attention weights and prediction."""

    id: str
    sequence: str
    weights: np.ndarray  # [L], sums to 1; 0 where the head did not read
    predicted: str
    probability: float
    true: str | None = None


def attention_tracks(head, embeddings: dict[str, np.ndarray], sequences: dict[str, str],
                     classes: Sequence[str], task: str = "localization",
                     true: dict[str, str] | None = None) -> list[AttentionTrack]:
    """Run ``head`` (``forward(x, mask, return_attention=True)``) on each protein of ``embeddings``.

    ``embeddings`` maps ids to per-residue arrays ``[L, D]`` made the way the head's
    training inputs were; ``sequences`` maps the same ids to their residues; ``true`` maps
    ids to known classes.
    """
    import torch

    head.eval()
    tracks = []
    for record_id, emb in embeddings.items():
        x = torch.as_tensor(np.asarray(emb, dtype=np.float32))[None]                 # (1, L, D)
        with torch.no_grad():
            logits, attention = head(x, torch.ones(x.shape[:2], dtype=torch.bool), return_attention=True)
        probs = torch.softmax(logits[task][0].double(), dim=-1)
        k = int(probs.argmax())
        tracks.append(AttentionTrack(record_id, sequences[record_id], attention[0].numpy(), classes[k],
                                     float(probs[k]), (true or {}).get(record_id)))
    return tracks


def _peaks(weights: np.ndarray, n: int = 3) -> list[int]:
    """Up to ``n`` highest positions, at least 5% of the length apart, above twice the uniform weight."""
    read = max(int((weights > 0).sum()), 1)
    gap = max(5, len(weights) // 20)
    chosen: list[int] = []
    for i in np.argsort(weights)[::-1]:
        if weights[i] < 2.0 / read or len(chosen) == n:
            break
        if all(abs(int(i) - j) >= gap for j in chosen):
            chosen.append(int(i))
    return chosen


def _title(track: AttentionTrack) -> tuple[str, str]:
    text = f"{track.id} ({len(track.sequence)} aa): predicted {track.predicted} (p = {track.probability:.2f})"
    if track.true is None:
        return text, "black"
    return f"{text}, true {track.true}", ("tab:green" if track.true == track.predicted else "tab:red")


def plot_attention(tracks: Sequence[AttentionTrack], path: str | os.PathLike,
                   max_length: int | None = None, dpi: int = 150) -> Path:
    """One panel per protein: attention weight against residue position.

    ``max_length`` (the head's) shades the middle of longer proteins, which the head skips.
    Titles are green when the prediction matches the known class, red when not; the
    dotted line is uniform attention (1 / residues read), the labels mark the peaks.
    """
    check_output(path)
    if not tracks:
        raise ValueError("no proteins to plot")
    plt = pyplot()
    fig, axes = plt.subplots(len(tracks), 1, figsize=(10, 1.9 * len(tracks) + 0.4), squeeze=False)
    for ax, track in zip(axes[:, 0], tracks):
        n = len(track.sequence)
        pos = np.arange(1, n + 1)
        ax.fill_between(pos, track.weights, step="mid", color="tab:blue", alpha=0.35, linewidth=0)
        ax.step(pos, track.weights, where="mid", color="tab:blue", linewidth=0.8)
        read = max(int((track.weights > 0).sum()), 1)
        ax.axhline(1.0 / read, color="0.5", linestyle=":", linewidth=0.8)  # uniform attention, for scale
        ax.set_xlim(0.5, n + 0.5)
        ax.set_ylim(0, max(float(track.weights.max()) * 1.3, 1e-6))
        ax.set_ylabel("attention")
        if max_length and n > max_length:
            lo, hi = math.ceil(max_length / 2) + 0.5, n - max_length // 2 + 0.5
            ax.axvspan(lo, hi, color="0.85", zorder=0)
            ax.text((lo + hi) / 2, ax.get_ylim()[1] * 0.5, "not read (DeepLoc rule: N- and C-terminal halves)",
                    ha="center", va="center", fontsize=8, color="0.35")
        if n <= 60:
            ax.set_xticks(pos)
            ax.set_xticklabels(list(track.sequence), fontsize=7, family="monospace")
        for i in _peaks(track.weights):
            ax.annotate(f"{track.sequence[i]}{i + 1}", (i + 1, track.weights[i]), xytext=(0, 2),
                        textcoords="offset points", ha="center", fontsize=7, color="tab:blue")
        text, colour = _title(track)
        ax.set_title(text, loc="left", fontsize=9, color=colour)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xlabel("residue position")
    fig.tight_layout()
    return save_figure(fig, path, dpi)

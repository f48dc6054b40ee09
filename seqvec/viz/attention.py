"""Attention along the sequence: where a head with attention looked (one panel per protein).

Any head that declares ``has_attention`` (light attention, conv + BiLSTM + attention)
gives one weight per residue through ``attention_weights``.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqvec.viz.common import DEFAULT_DPI, OKABE_ITO, add_caption, check_output, new_figure, save_figure, styled

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
    """Run ``head`` (one with ``has_attention``) on each protein of ``embeddings``.

    ``embeddings`` maps ids to per-residue arrays ``[L, D]`` made the way the head's
    training inputs were; ``sequences`` maps the same ids to their residues; ``true`` maps
    ids to known classes.
    """
    import torch

    if not getattr(head, "has_attention", False):
        raise ValueError(f"{type(head).__name__} declares no attention weights (has_attention is False)")
    head.eval()
    tracks = []
    for record_id, emb in embeddings.items():
        x = torch.as_tensor(np.asarray(emb, dtype=np.float32))[None]                 # (1, L, D)
        with torch.no_grad():
            logits, attention = head.attention_weights(x, torch.ones(x.shape[:2], dtype=torch.bool))
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
    """Panel title and its colour; right or wrong is spelled out, the colour only repeats it."""
    text = f"{track.id} ({len(track.sequence)} aa): predicted {track.predicted} (p = {track.probability:.2f})"
    if track.true is None:
        return text, "black"
    if track.true == track.predicted:
        return f"{text}, true {track.true}: correct", OKABE_ITO[0]
    return f"{text}, true {track.true}: WRONG", OKABE_ITO[3]


def unread_span(length: int, max_length: int | None) -> tuple[float, float] | None:
    """Positions ``(lo, hi)`` (1-based, bin edges) a head with ``max_length`` skips, or None.

    The DeepLoc rule reads the first ``ceil(max_length / 2)`` and the last
    ``floor(max_length / 2)`` residues of a longer protein.
    """
    if not max_length or length <= max_length:
        return None
    return math.ceil(max_length / 2) + 0.5, length - max_length // 2 + 0.5


def draw_attention(ax, track: AttentionTrack, max_length: int | None = None) -> None:
    """One protein's attention on ``ax``: the weights, uniform attention dotted, the skipped middle
    shaded, the peaks labelled with residue and position."""
    n = len(track.sequence)
    pos = np.arange(1, n + 1)
    colour = OKABE_ITO[0]
    ax.fill_between(pos, track.weights, step="mid", color=colour, alpha=0.3, linewidth=0)
    ax.step(pos, track.weights, where="mid", color=colour, linewidth=0.8)
    read = max(int((track.weights > 0).sum()), 1)
    ax.axhline(1.0 / read, color="0.4", linestyle=":", linewidth=0.8, label="uniform")  # for scale
    ax.set_xlim(0.5, n + 0.5)
    top = max(float(track.weights.max()) * 1.35, 1e-6)  # headroom for the peak labels
    ax.set_ylim(0, top)
    ax.set_ylabel("attention")
    span = unread_span(n, max_length)
    if span is not None:
        ax.axvspan(*span, color="0.88", zorder=0, label="not read")
        ax.text(sum(span) / 2, top * 0.5, "not read (DeepLoc rule: N- and C-terminal halves)",
                ha="center", va="center", fontsize=8, color="0.3")
    if n <= 60:
        ax.set_xticks(pos)
        ax.set_xticklabels(list(track.sequence), fontsize=8, family="monospace")
    for i in _peaks(track.weights):
        # keep labels inside the axes: left-aligned near the start, right-aligned near the end
        align = "left" if i < 0.04 * n else ("right" if i > 0.96 * n else "center")
        ax.annotate(f"{track.sequence[i]}{i + 1}", (i + 1, track.weights[i]), xytext=(0, 2),
                    textcoords="offset points", ha=align, va="bottom", fontsize=8, color="0.15")
    text, title_colour = _title(track)
    ax.set_title(text, loc="left", fontsize=9, color=title_colour)
    ax.spines[["top", "right"]].set_visible(False)


@styled
def plot_attention(tracks: Sequence[AttentionTrack], path: str | os.PathLike,
                   max_length: int | None = None, dpi: int = DEFAULT_DPI, caption: str | None = None) -> Path:
    """One panel per protein: attention weight against residue position (see :func:`draw_attention`).

    Titles say whether the prediction matches the known class ("correct"/"WRONG"), the
    dotted line is uniform attention (1 / residues read), the labels mark the peaks;
    ``caption`` goes under the figure.
    """
    check_output(path)
    if not tracks:
        raise ValueError("no proteins to plot")
    fig = new_figure(10, 1.9 * len(tracks) + 0.5)
    axes = fig.subplots(len(tracks), 1, squeeze=False)
    for ax, track in zip(axes[:, 0], tracks):
        draw_attention(ax, track, max_length)
    axes[-1, 0].set_xlabel("residue position")
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)

"""First-layer convolution filters of a one-hot/BLOSUM62 head, as sequence logos and heatmaps.

A filter's weights ``W [D, k]`` act on the encoding of residues. The response of the
filter to residue ``a`` at offset ``j`` is ``sum_d T[a, d] W[d, j]`` with ``T`` the
encoder's table (the identity for one-hot, BLOSUM62 rows for BLOSUM62): that
``[A, k]`` residue score matrix is what the heatmap shows (orange raises the output,
purple lowers it; the colour bar is labelled). The logo shows, at each offset, the residues that raise the output more than
the average residue does: the positive part of the centred scores (scores minus their
mean over residues), each letter as tall as its score, the largest on top.

Filters are ranked by ``weight_norm`` (the L2 norm of ``W``, no data needed) or, when
activations on real proteins are given, by ``activation`` (mean ReLU output over the
residues of those proteins).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqvec.viz.common import DEFAULT_DPI, DIVERGING, add_caption, check_output, new_figure, save_figure, styled

logger = logging.getLogger(__name__)

# colours by chemistry, from the Okabe-Ito palette (the letters themselves carry the identity)
COLOURS = {**dict.fromkeys("AVLIMFWC", "#000000"), **dict.fromkeys("KRH", "#0072B2"),
           **dict.fromkeys("DE", "#D55E00"), **dict.fromkeys("STNQ", "#009E73"),
           **dict.fromkeys("GP", "#E69F00"), "Y": "#CC79A7", "X": "#999999"}


@dataclass
class FilterScores:
    """Residue scores of one first-layer filter."""

    width: int
    index: int  # filter number within its width
    scores: np.ndarray  # [A, width]: response to each residue at each offset
    rank_value: float  # the value the filters were ranked by


def mean_activations(head, encoder, sequences) -> np.ndarray:
    """Mean ReLU output of each first-layer channel over all residues of ``sequences``.

    ``head`` declares ``has_filters``; ``encoder`` is the table encoder it was trained on
    (``embed_batch``); ``sequences`` is an iterable of residue strings. Channel order is
    that of ``first_layer_activations`` (see :func:`filter_scores`).
    """
    import torch

    if not getattr(head, "has_filters", False):
        raise ValueError(f"{type(head).__name__} declares no first-layer filters (has_filters is False)")
    sums, count = None, 0
    for sequence in sequences:
        x = encoder.embed_batch([sequence])[0]  # (1, L, D)
        act = head.first_layer_activations(x, torch.ones(x.shape[:2], dtype=torch.bool))  # (1, L', F)
        total = act[0].double().sum(0).numpy()
        sums, count = (total if sums is None else sums + total), count + act.shape[1]
    if sums is None:
        raise ValueError("no sequences to average the activations over")
    return sums / max(count, 1)


def filter_scores(head, table: np.ndarray, order: str = "weight_norm",
                  activation: np.ndarray | None = None) -> list[FilterScores]:
    """All first-layer filters of ``head`` as residue scores, best first.

    Parameters
    ----------
    head : a head that declares ``has_filters`` (``ConvLSTMHead``).
    table : ``[A, D]`` encoding of each letter of the alphabet (rows of an encoder table).
    order : ``"weight_norm"`` or ``"activation"`` (needs ``activation``).
    activation : ``[n_filters_total]`` mean activation per first-layer channel, channel
        ``i * n_filters + j`` = filter ``j`` of width number ``i``.
    """
    if order not in ("weight_norm", "activation"):
        raise ValueError(f"order must be 'weight_norm' or 'activation', got {order!r}")
    if order == "activation" and activation is None:
        raise ValueError("order='activation' needs the mean activations")
    if order == "weight_norm":
        activation = None
    result = []
    channel = 0
    for width, weight in head.first_layer_filters():
        w = weight.float().numpy()  # (F, D, k)
        if w.shape[1] != table.shape[1]:
            raise ValueError(f"filters read {w.shape[1]} features per residue but the table has {table.shape[1]}: "
                             "logos need a one-hot or BLOSUM62 head")
        for j in range(w.shape[0]):
            value = float(np.linalg.norm(w[j])) if activation is None else float(activation[channel])
            result.append(FilterScores(width, j, table @ w[j], value))
            channel += 1
    return sorted(result, key=lambda f: -f.rank_value)


def _draw_letter(ax, letter: str, x: float, y: float, height: float, colour: str) -> None:
    """A glyph filling the box [x - 0.45, x + 0.45] x [y, y + height] (height may be negative)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    glyph = TextPath((0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans Mono", weight="bold"))
    box = glyph.get_extents()
    scale = Affine2D().translate(-box.x0, -box.y0).scale(0.9 / box.width, abs(height) / box.height)
    placed = scale.translate(x - 0.45, y if height > 0 else y + height)
    ax.add_patch(PathPatch(placed.transform_path(glyph), color=colour, linewidth=0))


def _logomaker():
    try:
        import logomaker
        import pandas as pd
    except ImportError:
        return None
    return logomaker, pd


def draw_logo(ax, scores: np.ndarray, alphabet: str, engine: str = "auto") -> None:
    """Logo of the positive part of the centred scores ``[A, k]`` on ``ax``.

    ``engine``: ``"logomaker"`` (the optional extra ``seqvec[plots]``), ``"matplotlib"``
    (own glyph drawing) or ``"auto"`` (logomaker when installed).
    """
    if engine not in ("auto", "logomaker", "matplotlib"):
        raise ValueError(f"engine must be auto, logomaker or matplotlib, got {engine!r}")
    centred = np.clip(scores - scores.mean(0, keepdims=True), 0, None)
    found = _logomaker() if engine != "matplotlib" else None
    if engine == "logomaker" and found is None:
        raise ImportError("logomaker is not installed (pip install 'seqvec[plots]')")
    if found is None:
        for j in range(centred.shape[1]):
            bottom = 0.0
            for a in np.argsort(centred[:, j]):
                v = float(centred[a, j])
                if v > 1e-9:
                    _draw_letter(ax, alphabet[a], j, bottom, v, COLOURS.get(alphabet[a], "k"))
                    bottom += v
        ax.set_xlim(-0.5, centred.shape[1] - 0.5)
        ax.set_ylim(0, centred.sum(0).max() * 1.05 + 1e-6)
    else:
        logomaker, pd = found
        frame = pd.DataFrame(centred.T, columns=list(alphabet))
        logomaker.Logo(frame, ax=ax, color_scheme=COLOURS)
    _offset_ticks(ax, centred.shape[1])


def _offset_ticks(ax, width: int) -> None:
    """x ticks at offsets from the filter centre, thinned so that they stay legible."""
    step = 1 if width <= 11 else 5
    ticks = [j for j in range(width) if (j - width // 2) % step == 0]
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(j - width // 2) for j in ticks], fontsize=8)


@styled
def plot_filters(filters: Sequence[FilterScores], alphabet: str, path: str | os.PathLike,
                 style: str = "both", top: int = 8, order_label: str = "weight norm",
                 engine: str = "auto", dpi: int = DEFAULT_DPI, caption: str | None = None) -> Path:
    """The ``top`` filters as logos and/or heatmaps (``style``: logo, heatmap, both), best first."""
    check_output(path)
    if style not in ("logo", "heatmap", "both"):
        raise ValueError(f"style must be logo, heatmap or both, got {style!r}")
    chosen = list(filters)[:top]
    if not chosen:
        raise ValueError("no filters to plot")
    kinds = ["logo", "heatmap"] if style == "both" else [style]
    cols = min(4, len(chosen))
    rows = -(-len(chosen) // cols)
    heights = [1.0 if k == "logo" else 3.0 for k in kinds] * rows
    fig = new_figure(3.6 * cols, sum(heights) * 1.25 + 0.8)
    axes = fig.subplots(len(heights), cols, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for n, f in enumerate(chosen):
        r, c = divmod(n, cols)
        for k, kind in enumerate(kinds):
            ax = axes[r * len(kinds) + k, c]
            ax.set_visible(True)
            if kind == "logo":
                draw_logo(ax, f.scores, alphabet, engine)
                ax.set_title(f"#{n + 1}: width {f.width}, filter {f.index}\n({order_label} {f.rank_value:.2f})",
                             fontsize=8)
                ax.set_ylabel("score above mean", fontsize=8)
            else:
                lim = float(np.abs(f.scores).max()) or 1.0
                im = ax.imshow(f.scores, aspect="auto", cmap=DIVERGING, vmin=-lim, vmax=lim)
                ax.set_yticks(range(len(alphabet)))
                ax.set_yticklabels(list(alphabet), fontsize=8, family="monospace")
                _offset_ticks(ax, f.scores.shape[1])
                ax.set_xlabel("offset from centre", fontsize=8)
                if style == "heatmap":
                    ax.set_title(f"#{n + 1}: width {f.width}, filter {f.index}", fontsize=8)
                bar = fig.colorbar(im, ax=ax, fraction=0.06, pad=0.03)
                bar.set_label("residue score", fontsize=8)
                bar.ax.tick_params(labelsize=8)
    fig.suptitle(f"First-layer filters: residue scores, ranked by {order_label}")
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)

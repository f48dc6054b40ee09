"""First-layer convolution filters of a one-hot/BLOSUM62 head, as sequence logos and heatmaps.

A filter's weights ``W [D, k]`` act on the encoding of residues. The response of the
filter to residue ``a`` at offset ``j`` is ``sum_d T[a, d] W[d, j]`` with ``T`` the
encoder's table (the identity for one-hot, BLOSUM62 rows for BLOSUM62): that
``[A, k]`` residue score matrix is what the heatmap shows (orange raises the output,
purple lowers it; the colour bar is labelled; residue letters are coloured by chemistry,
with a legend). The logo shows, at each offset, the residues that raise the output more
than the average residue does: the positive part of the centred scores (scores minus their
mean over residues), each letter as tall as its score, the largest on top; letters shorter
than a tenth of the tallest column are left out, so that wide filters stay readable.

The scores and the rankings (by ``weight_norm``, the L2 norm of ``W``; by ``activation``,
the mean ReLU output over the residues of real proteins; by enrichment inside sorting
signals) come from :mod:`seqvec.classifiers.evaluation.filters`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqvec.classifiers.evaluation.filters import FilterScores, filter_scores, mean_activations  # noqa: F401
from seqvec.viz.common import DEFAULT_DPI, DIVERGING, add_caption, check_output, new_figure, save_figure, styled

logger = logging.getLogger(__name__)

# colours by chemistry, from the Okabe-Ito palette (the letters themselves carry the identity)
RESIDUE_CLASSES = (  # (name, letters, colour): the legend of every logo
    ("hydrophobic", "AVLIMFWC", "#000000"), ("positive", "KRH", "#0072B2"), ("negative", "DE", "#D55E00"),
    ("polar", "STNQ", "#009E73"), ("G, P (backbone)", "GP", "#E69F00"), ("Y (aromatic, polar)", "Y", "#CC79A7"),
    ("X (unknown)", "X", "#999999"))
COLOURS = {letter: colour for _, letters, colour in RESIDUE_CLASSES for letter in letters}
MIN_LETTER = 0.1  # letters below this share of the tallest column are left out of a logo (the heatmap has all)
MIN_COLUMNS = 5   # a filter narrower than this is drawn in a panel this many offsets wide (no stretched glyphs)


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


def logo_heights(scores: np.ndarray) -> np.ndarray:
    """Letter heights ``[A, k]`` of a logo: the positive part of the centred scores (scores minus
    their mean over residues), with letters below :data:`MIN_LETTER` of the tallest column set to 0."""
    centred = np.clip(scores - scores.mean(0, keepdims=True), 0, None)
    tallest = float(centred.sum(0).max())
    return np.where(centred >= MIN_LETTER * tallest, centred, 0.0)


def _logo_xlim(width: int) -> tuple[float, float]:
    """x range of a logo panel: at least :data:`MIN_COLUMNS` offsets, so narrow filters keep glyph proportions."""
    half = max(width, MIN_COLUMNS) / 2
    centre = (width - 1) / 2
    return centre - half, centre + half


def draw_logo(ax, scores: np.ndarray, alphabet: str, engine: str = "auto") -> None:
    """Logo of the scores ``[A, k]`` on ``ax`` (letter heights: :func:`logo_heights`).

    ``engine``: ``"logomaker"`` (the optional extra ``seqvec[plots]``), ``"matplotlib"``
    (own glyph drawing) or ``"auto"`` (logomaker when installed).
    """
    if engine not in ("auto", "logomaker", "matplotlib"):
        raise ValueError(f"engine must be auto, logomaker or matplotlib, got {engine!r}")
    heights = logo_heights(scores)
    found = _logomaker() if engine != "matplotlib" else None
    if engine == "logomaker" and found is None:
        raise ImportError("logomaker is not installed (pip install 'seqvec[plots]')")
    if found is None:
        for j in range(heights.shape[1]):
            bottom = 0.0
            for a in np.argsort(heights[:, j]):
                v = float(heights[a, j])
                if v > 1e-9:
                    _draw_letter(ax, alphabet[a], j, bottom, v, COLOURS.get(alphabet[a], "k"))
                    bottom += v
    else:
        logomaker, pd = found
        frame = pd.DataFrame(heights.T, columns=list(alphabet))
        logomaker.Logo(frame, ax=ax, color_scheme=COLOURS)
    ax.set_xlim(*_logo_xlim(heights.shape[1]))
    ax.set_ylim(0, heights.sum(0).max() * 1.05 + 1e-6)
    _offset_ticks(ax, heights.shape[1])


def _offset_ticks(ax, width: int) -> None:
    """x ticks at offsets from the filter centre, thinned so that they stay legible."""
    step = 1 if width <= 11 else 5
    ticks = [j for j in range(width) if (j - width // 2) % step == 0]
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(j - width // 2) for j in ticks], fontsize=8)


def _draw_heatmap(fig, ax, f: FilterScores, alphabet: str, title: str | None) -> None:
    lim = float(np.abs(f.scores).max()) or 1.0
    width = f.scores.shape[1]
    im = ax.imshow(f.scores, aspect="auto", cmap=DIVERGING, vmin=-lim, vmax=lim)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_yticks(range(len(alphabet)))
    ax.set_yticklabels(list(alphabet), fontsize=8, family="monospace")
    for label in ax.get_yticklabels():
        label.set_color(COLOURS.get(label.get_text(), "k"))
    _offset_ticks(ax, width)
    ax.set_xlabel("offset from centre", fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03, aspect=30)
    bar.set_label("residue score", fontsize=8)
    bar.ax.tick_params(labelsize=8)


def _rows(filters: Sequence[FilterScores], budget: int = 56) -> list[list[FilterScores]]:
    """Filters in rows of at most 4 whose widths (at least :data:`MIN_COLUMNS` each) add up to ``budget``."""
    rows: list[list[FilterScores]] = [[]]
    used = 0
    for f in filters:
        size = max(f.scores.shape[1], MIN_COLUMNS) + 2
        if rows[-1] and (used + size > budget or len(rows[-1]) == 4):
            rows.append([])
            used = 0
        rows[-1].append(f)
        used += size
    return rows


def residue_legend(ax) -> None:
    """The colours of the residue classes, in an axes of their own (under the panels)."""
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=f"{name}: {letters}" if len(letters) > 1 else name)
               for name, letters, colour in RESIDUE_CLASSES]
    ax.axis("off")
    ax.legend(handles=handles, loc="center", ncol=4, fontsize=8, frameon=False, title="letter colours",
              title_fontsize=8)


@styled
def plot_filters(filters: Sequence[FilterScores], alphabet: str, path: str | os.PathLike,
                 style: str = "both", top: int = 8, order_label: str = "weight norm",
                 engine: str = "auto", dpi: int = DEFAULT_DPI, caption: str | None = None,
                 notes: dict[tuple[int, int], str] | None = None) -> Path:
    """The ``top`` filters as logos and/or heatmaps (``style``: logo, heatmap, both), best first.

    Each panel is as wide as its filter (at least :data:`MIN_COLUMNS` offsets), so a width-1
    and a width-21 filter have letters of the same shape; a legend gives the letter colours.
    ``notes`` adds a line to the title of filter ``(width, index)`` (e.g. its motif score).
    """
    check_output(path)
    if style not in ("logo", "heatmap", "both"):
        raise ValueError(f"style must be logo, heatmap or both, got {style!r}")
    chosen = list(filters)[:top]
    if not chosen:
        raise ValueError("no filters to plot")
    kinds = ["logo", "heatmap"] if style == "both" else [style]
    rows = _rows(chosen)
    unit = {"logo": 1.3, "heatmap": 2.6}
    heights = [sum(unit[k] for k in kinds) + 0.6 for _ in rows]
    fig = new_figure(14, sum(heights) + 1.6)
    outer = fig.add_gridspec(len(rows) + 1, 1, height_ratios=[*heights, 0.7])
    n = 0
    for r, row in enumerate(rows):
        widths = [max(f.scores.shape[1], MIN_COLUMNS) + 2 for f in row]
        widths.append(max(56 - sum(widths), 0.001))  # keep the scale of a column the same on every row
        grid = outer[r].subgridspec(len(kinds), len(widths), width_ratios=widths,
                                    height_ratios=[unit[k] for k in kinds])
        for c, f in enumerate(row):
            n += 1
            note = (notes or {}).get((f.width, f.index))
            title = f"#{n}: width {f.width}, filter {f.index}\n({order_label} {f.rank_value:.2f})" + (
                f"\n{note}" if note else "")
            for k, kind in enumerate(kinds):
                ax = fig.add_subplot(grid[k, c])
                if kind == "logo":
                    draw_logo(ax, f.scores, alphabet, engine)
                    ax.set_title(title, fontsize=8)
                    ax.set_ylabel("score\nabove mean", fontsize=8)
                else:
                    _draw_heatmap(fig, ax, f, alphabet, title if style == "heatmap" else None)
    fig.suptitle(f"First-layer filters: residue scores, ranked by {order_label}")
    residue_legend(fig.add_subplot(outer[-1]))
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)

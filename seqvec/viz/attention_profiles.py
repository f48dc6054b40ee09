"""Mean attention along the protein per location class (``seqvec plot attention --per-class``).

One panel per class, in three parts that share the y axis: the first ``terminal`` residues
(where signal peptides and transit peptides sit), the whole protein in bins of relative
position, and the last ``terminal`` residues (PTS1 and ER-retention signals). The y axis is
attention relative to uniform (1.0 = dotted line); the band is 1.96 standard errors of the
mean over the class's proteins. The numbers come from
:func:`seqvec.classifiers.evaluation.attention.attention_profiles`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqvec.viz.common import DEFAULT_DPI, OKABE_ITO, add_caption, check_output, new_figure, save_figure, styled

logger = logging.getLogger(__name__)


def _segment(ax, x: np.ndarray, mean: np.ndarray, band: np.ndarray, colour: str) -> None:
    ax.fill_between(x, mean - np.nan_to_num(band), mean + np.nan_to_num(band), color=colour, alpha=0.25,
                    linewidth=0)
    ax.plot(x, mean, color=colour, linewidth=1.0)
    ax.axhline(1.0, color="0.4", linestyle=":", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)


def _draw_class(fig, cell, profile, colour: str, show_x: bool) -> None:
    """One class in grid cell ``cell``: first residues | relative position | last residues."""
    terminal, bins = len(profile.first), len(profile.relative)
    axes = cell.subgridspec(1, 3, width_ratios=[2, 1.4, 2], wspace=0.06).subplots(sharey=True)
    _segment(axes[0], np.arange(1, terminal + 1), profile.first, profile.first_band, colour)
    _segment(axes[1], (np.arange(bins) + 0.5) / bins, profile.relative, profile.relative_band, colour)
    _segment(axes[2], np.arange(-terminal, 0), profile.last, profile.last_band, colour)
    axes[0].set_xlim(0.5, terminal + 0.5)
    axes[1].set_xlim(0, 1)
    axes[2].set_xlim(-terminal - 0.5, -0.5)
    top = np.nanmax(np.concatenate([profile.first + np.nan_to_num(profile.first_band),
                                    profile.last + np.nan_to_num(profile.last_band),
                                    profile.relative + np.nan_to_num(profile.relative_band)]))
    axes[0].set_ylim(0, max(float(top) * 1.08, 1.5))
    axes[0].set_xticks([1, terminal // 2, terminal])
    axes[1].set_xticks([0, 0.5, 1], ["N", "0.5", "C"])
    axes[2].set_xticks([-terminal, -terminal // 2, -1])
    for ax in axes[1:]:
        ax.tick_params(axis="y", left=False)
        ax.spines["left"].set_visible(False)
    axes[0].set_ylabel("x uniform")
    if show_x:
        axes[0].set_xlabel("residue from N")
        axes[1].set_xlabel("relative")
        axes[2].set_xlabel("from C (-1 = last)")
    axes[0].set_title(f"{profile.name} (n = {profile.n})", loc="left", fontsize=9)


@styled
def plot_attention_profiles(profiles: Sequence, path: str | os.PathLike, columns: int = 3,
                            title: str | None = None, dpi: int = DEFAULT_DPI, caption: str | None = None) -> Path:
    """Per-class mean attention profiles (:class:`~seqvec.classifiers.evaluation.attention.Profile`),
    one panel each, ``columns`` panels a row; see the module docstring."""
    check_output(path)
    if not profiles:
        raise ValueError("no class has proteins to profile")
    columns = max(1, min(columns, len(profiles)))
    rows = -(-len(profiles) // columns)
    fig = new_figure(4.2 * columns, 1.9 * rows + 0.7)
    grid = fig.add_gridspec(rows, columns, hspace=0.15, wspace=0.08)
    for k, profile in enumerate(profiles):
        r, c = divmod(k, columns)
        below = (r + 1) * columns + c  # the panel under this one, if any
        _draw_class(fig, grid[r, c], profile, OKABE_ITO[0], show_x=below >= len(profiles))
    fig.suptitle(title or "Mean attention along the protein, per class (1.0 = uniform; band: 95% of the mean)")
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)

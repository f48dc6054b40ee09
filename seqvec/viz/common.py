"""Shared plumbing of the plots: figures without pyplot, a colour-blind-safe style, saving by suffix.

Every ``plot_*`` function of :mod:`seqvec.viz` builds a :class:`matplotlib.figure.Figure`
directly (never through ``pyplot``), so the caller's matplotlib backend and open figures
are left alone, and writes it to a path whose suffix picks the format: ``.png`` (300 dpi
by default), ``.pdf`` or ``.svg`` (vector, fonts kept as text).

Style: Okabe-Ito colours (distinguishable with the common colour-vision deficiencies; four
more for classes nine to twelve), each class also with its own marker, so no label depends
on colour alone; every text
at least 8 pt; colour bars labelled; an optional caption line under the figure naming
the model and the data.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from seqvec.errors import UsageError
from seqvec.io.output import atomic_open

logger = logging.getLogger(__name__)

FORMATS = (".png", ".pdf", ".svg")
DEFAULT_DPI = 300  # PNG resolution, fit for print
MAX_DPI = 1200  # a full-page figure at 1200 dpi is ~150 megapixels; more only exhausts memory
# Okabe & Ito (2008), "Color Universal Design": black last, used for an eighth class only
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
# classes beyond eight: four more colours from Paul Tol's palettes (wine, indigo, olive, grey), dark
# enough on white; with the twelve markers every class of the first 144 has its own pair
CLASS_COLOURS = (*OKABE_ITO, "#882255", "#332288", "#999933", "#888888")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
SEQUENTIAL = "viridis"  # heatmaps with one sign (shares)
DIVERGING = "PuOr_r"  # heatmaps with two signs (filter scores): colour-blind safe, white at 0
MIN_FONT = 8.0
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT, "legend.fontsize": MIN_FONT, "legend.title_fontsize": 9,
    "figure.titlesize": 11, "svg.fonttype": "none", "pdf.fonttype": 42,
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(function: F) -> F:
    """Run a plot function inside the seqvec style (rcParams restored afterwards)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        import matplotlib
        from cycler import cycler

        with matplotlib.rc_context({**STYLE, "axes.prop_cycle": cycler(color=OKABE_ITO)}):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float):
    """A constrained-layout :class:`~matplotlib.figure.Figure` of ``width`` x ``height`` inches, no pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def class_style(k: int) -> dict:
    """Colour and marker of the ``k``-th class: the first 12 classes differ in colour *and* in marker
    (each alone tells them apart); no (colour, marker) pair repeats within the first 144."""
    n = len(CLASS_COLOURS)
    return {"color": CLASS_COLOURS[k % n], "marker": MARKERS[(k + k // n) % len(MARKERS)]}


def head_label(path: str | os.PathLike) -> str:
    """How a caption names a head: ``bundled:NAME`` for a bundled head, else its folder's name (never a path)."""
    from seqvec.classifiers.heads.checkpoint import BUNDLED_PREFIX, is_bundled

    path = Path(path)
    if str(path).startswith(BUNDLED_PREFIX):
        return str(path)
    return f"{BUNDLED_PREFIX}{path.name}" if is_bundled(path) else path.name


def add_caption(fig, text: str | None) -> None:
    """A small line along the bottom of ``fig`` (e.g. which model and data made it), in a band
    the layout keeps free, so that no axis label or tick label is drawn over it."""
    if not text:
        return
    caption = fig.text(0.005, 0.005, text, ha="left", va="bottom", fontsize=MIN_FONT, color="0.25", wrap=True)
    fig.draw_without_rendering()  # wraps the text, so that its height is known
    band = caption.get_window_extent().height / fig.bbox.height + 0.01
    fig.get_layout_engine().set(rect=(0, band, 1, 1 - band))


def check_output(path: str | os.PathLike) -> Path:
    """The output path, after checking its suffix names a supported format."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot tell the image format of {str(path)!r}: use a {', '.join(FORMATS)} suffix",
                         option="output", value=str(path))
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` as PNG, PDF or SVG (by suffix), creating the folder; returns the path."""
    path = check_output(path)
    if not isinstance(dpi, int) or not 10 <= dpi <= MAX_DPI:
        raise UsageError(f"dpi must be an integer from 10 to {MAX_DPI}, got {dpi!r}", option="dpi", value=dpi)
    fmt = path.suffix.lower()[1:]
    metadata = {"Software": "seqvec"} if fmt == "png" else {"Creator": "seqvec"}
    with atomic_open(path, "wb") as handle:  # the caller's Output checked and locked it
        fig.savefig(handle, dpi=dpi, bbox_inches="tight", pad_inches=0.08, format=fmt, metadata=metadata)
    logger.debug("wrote %s", path)
    return path

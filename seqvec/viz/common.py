"""Shared plumbing of the plots: the Agg backend, saving by suffix, label files.

Every ``plot_*`` function of :mod:`seqvec.viz` draws one matplotlib figure and writes it to
a path whose suffix picks the format: ``.png`` (raster, 150 dpi by default) or ``.svg``.
"""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from seqvec.errors import SeqVecError
from seqvec.io import iter_records

logger = logging.getLogger(__name__)

FORMATS = (".png", ".svg")


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (works without a display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_output(path: str | os.PathLike) -> Path:
    """The output path, after checking its suffix names a supported format."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise SeqVecError(f"cannot tell the image format of {str(path)!r}: use a {' or '.join(FORMATS)} suffix")
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG or SVG (by suffix), create the folder, close the figure."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", format=path.suffix.lower()[1:])
    pyplot().close(fig)
    logger.info("wrote %s", path)
    return path


def deeploc_header_labels(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """``{id: {"location": ..., "membrane": ...}}`` from DeepLoc-style FASTA headers.

    A header is ``>ID Location-M [test]``; the suffix after the last ``-`` is the membrane
    label (M, S or U). Headers without a ``Location-X`` word give no entry.
    """
    labels = {}
    for header, _ in iter_records(path):
        words = header.split()
        if len(words) >= 2 and "-" in words[1]:
            location, membrane = words[1].rsplit("-", 1)
            labels[words[0]] = {"location": location, "membrane": membrane}
    return labels


def read_labels(path: str | os.PathLike, column: str | None = None) -> tuple[dict[str, str], str]:
    """Labels per record id from a DeepLoc FASTA or a CSV/TSV file; returns ``(labels, column)``.

    FASTA: ``column`` is ``location`` (default) or ``membrane``. CSV/TSV (delimiter guessed):
    the first column is the id, ``column`` names the label column (default: the second).
    """
    path = Path(path)
    if not path.is_file():
        raise SeqVecError(f"label file not found: {path}")
    with open(path, newline="") as handle:
        head = handle.read(4096)
    if head.startswith(">"):
        column = column or "location"
        if column not in ("location", "membrane"):
            raise SeqVecError(f"a FASTA label file has columns location and membrane, not {column!r}")
        labels = {i: d[column] for i, d in deeploc_header_labels(path).items()}
        if not labels:
            raise SeqVecError(f"{path}: no header of the form '>ID Location-M' found")
        return labels, column
    dialect = csv.Sniffer().sniff(head, delimiters=",\t;")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, dialect))
    if len(rows) < 2 or len(rows[0]) < 2:
        raise SeqVecError(f"{path}: expected a header row and at least two columns (id, label)")
    header = rows[0]
    column = column or header[1]
    if column not in header:
        raise SeqVecError(f"{path} has no column {column!r} (columns: {', '.join(header)})")
    k = header.index(column)
    return {row[0]: row[k] for row in rows[1:] if len(row) > k and row[k] != ""}, column

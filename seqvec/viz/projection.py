"""Per-protein embeddings in 2D (PCA, t-SNE, UMAP when installed), coloured and shaped by a label.

:func:`compute_projections` does the arithmetic once; :func:`plot_projection` draws it
(static PNG/PDF/SVG), :func:`write_coordinates` exports it as TSV and
:func:`write_html` as an interactive page (optional extra ``seqvec[interactive]``,
plotly; hovering a point shows its id and label).
"""
from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqvec.errors import DataError, MissingDependencyError, UsageError
from seqvec.io.output import atomic_open
from seqvec.viz.common import DEFAULT_DPI, add_caption, check_output, class_style, new_figure, save_figure, styled

logger = logging.getLogger(__name__)

METHODS = ("pca", "tsne", "umap")
TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


@dataclass
class Projection:
    """One method's 2D coordinates ``[N, 2]`` and its axis titles."""

    method: str
    xy: np.ndarray
    axes: tuple[str, str]


def available_methods() -> list[str]:
    """PCA and t-SNE always (scikit-learn); UMAP when ``umap-learn`` is importable."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return ["pca", "tsne"]
    return list(METHODS)


def project(x: np.ndarray, method: str, seed: int = 0) -> Projection:
    """``[N, D]`` -> 2D with ``method`` (pca, tsne, umap); inputs are standardised first.

    PCA axes are titled with the share of variance (of the standardised embeddings) each
    component explains; t-SNE and UMAP axes have no units and are titled as such.
    """
    from sklearn.preprocessing import StandardScaler

    if method not in METHODS:
        raise UsageError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}",
                         option="method", value=method)
    if len(x) < 3:
        raise DataError(f"need at least 3 proteins to project, got {len(x)}")
    z = StandardScaler().fit_transform(x)
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        xy = pca.fit_transform(z)
        share = pca.explained_variance_ratio_
        return Projection(method, xy, (f"PC1 ({share[0]:.1%} of variance)", f"PC2 ({share[1]:.1%} of variance)"))
    if method == "tsne":
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        # t-SNE on the first 50 principal components, the usual recipe (faster, less noise)
        z = PCA(n_components=min(50, *z.shape), random_state=seed).fit_transform(z)
        xy = TSNE(n_components=2, perplexity=min(30.0, (len(z) - 1) / 3), init="pca",
                  random_state=seed).fit_transform(z)
        return Projection(method, xy, ("t-SNE 1", "t-SNE 2"))
    try:
        import umap
    except ImportError:
        raise MissingDependencyError("UMAP needs umap-learn (pip install 'seqvec[plots]')",
                                     package="umap-learn") from None
    return Projection(method, umap.UMAP(n_components=2, random_state=seed).fit_transform(z), ("UMAP 1", "UMAP 2"))


def compute_projections(x: np.ndarray, methods: Sequence[str] | None = None, seed: int = 0) -> list[Projection]:
    """One :class:`Projection` per method (default: every available one)."""
    return [project(x, method, seed) for method in (methods or available_methods())]


def _classes(labels: Sequence[str]) -> tuple[list[str], Counter]:
    counts = Counter(labels)
    return [c for c, _ in counts.most_common()], counts


@styled
def plot_projection(projections: Sequence[Projection], labels: Sequence[str], path: str | os.PathLike,
                    title: str = "", label_name: str = "label", dpi: int = DEFAULT_DPI,
                    caption: str | None = None) -> Path:
    """One panel per projection; each class has its own colour and marker (largest classes first)."""
    check_output(path)
    label_array = np.asarray(labels)
    if any(len(p.xy) != len(label_array) for p in projections):
        raise DataError(f"{len(projections[0].xy)} embeddings but {len(label_array)} labels")
    classes, counts = _classes(list(labels))
    columns = 1 if len(classes) <= 14 else 2  # a legend that fits beside the panels
    longest = max(len(f"{c} ({counts[c]})") for c in classes)
    legend_width = columns * (0.45 + 0.065 * min(longest, 40))  # inches, at 8 pt
    fig = new_figure(3.8 * len(projections) + legend_width + 0.3, max(4.1, 0.2 * len(classes) / columns + 1.2))
    axes = fig.subplots(1, len(projections), squeeze=False)
    size = marker_size(len(label_array))
    for ax, projection in zip(axes[0], projections):
        for k, c in enumerate(classes):  # the largest class first: the smaller ones are drawn over it
            sel = label_array == c
            ax.scatter(projection.xy[sel, 0], projection.xy[sel, 1], s=size, alpha=0.7,
                       linewidths=0.5 if size >= 12 else 0.3, label=f"{c} ({counts[c]})", **class_style(k))
        ax.set_title(TITLES[projection.method])
        ax.set_xlabel(projection.axes[0])
        ax.set_ylabel(projection.axes[1])
        if projection.method != "pca":  # t-SNE/UMAP coordinates have no meaning of their own
            ax.set_xticks([])
            ax.set_yticks([])
    legend = axes[0, -1].legend(title=f"{label_name} (proteins)", loc="center left", bbox_to_anchor=(1.02, 0.5),
                                markerscale=(40 / size) ** 0.5, frameon=False, ncols=columns)
    for handle in legend.legend_handles:  # legend markers opaque, whatever the points' alpha
        if handle is not None:
            handle.set_alpha(1.0)
    if title:
        fig.suptitle(title)
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)


def marker_size(n: int) -> float:
    """Scatter marker area (pt²) for ``n`` points: large enough that the marker shapes stay legible
    (about 3 pt across even for tens of thousands of points), smaller as the cloud gets denser."""
    return float(np.clip(600 / np.sqrt(max(n, 1)), 8, 36))


def write_coordinates(path: str | os.PathLike, ids: Sequence[str], labels: Sequence[str],
                      projections: Sequence[Projection], label_name: str = "label") -> Path:
    """A TSV with ``id``, the label and two columns per method (``pca_1``, ``pca_2``, ...)."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", label_name, *(f"{p.method}_{i}" for p in projections for i in (1, 2))])
        for n, (record_id, label) in enumerate(zip(ids, labels)):
            writer.writerow([record_id, label, *(f"{v:.6g}" for p in projections for v in p.xy[n])])
    return path


def write_html(path: str | os.PathLike, ids: Sequence[str], labels: Sequence[str],
               projections: Sequence[Projection], title: str = "", label_name: str = "label",
               caption: str | None = None) -> Path:
    """A self-contained interactive page (plotly.js inside, works offline): one panel per method,
    hovering a point shows the protein id and its label."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise MissingDependencyError("interactive HTML output needs plotly: pip install 'seqvec[interactive]' "
                                     "(or write a .png/.pdf/.svg instead)", package="plotly") from None
    symbols = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond", "v": "triangle-down",
               "P": "cross", "X": "x", "*": "star", "<": "triangle-left", ">": "triangle-right", "h": "hexagon",
               "p": "pentagon"}
    label_array, id_array = np.asarray(labels), np.asarray(ids)
    classes, counts = _classes(list(labels))
    fig = make_subplots(rows=1, cols=len(projections), subplot_titles=[TITLES[p.method] for p in projections])
    for col, projection in enumerate(projections, start=1):
        for k, c in enumerate(classes):
            sel = label_array == c
            fig.add_trace(go.Scatter(
                x=projection.xy[sel, 0], y=projection.xy[sel, 1], mode="markers", name=f"{c} ({counts[c]})",
                legendgroup=c, showlegend=col == 1, text=id_array[sel], customdata=label_array[sel],
                hovertemplate=f"%{{text}}<br>{label_name}: %{{customdata}}<extra></extra>",
                marker={"color": class_style(k)["color"], "symbol": symbols[class_style(k)["marker"]],
                        "size": 7, "opacity": 0.8}), row=1, col=col)
        fig.update_xaxes(title_text=projection.axes[0], row=1, col=col)
        fig.update_yaxes(title_text=projection.axes[1], row=1, col=col)
    heading = title + (f"<br><sup>{caption}</sup>" if caption else "")
    fig.update_layout(title=heading, legend_title_text=label_name, template="simple_white",
                      width=520 * len(projections) + 240, height=560)
    path = Path(path)
    with atomic_open(path, "w") as handle:
        fig.write_html(handle, include_plotlyjs=True, full_html=True)
    return path


def load_projection_inputs(h5_path: str | os.PathLike, labels: dict[str, str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Per-protein embeddings of the ids that have a label: ``(x [N, D], ids, labels)``."""
    from seqvec.embeddings.store import open_embeddings

    with open_embeddings(h5_path) as store:
        ids = [i for i in store.ids if i in labels]
        missing = len(store) - len(ids)
        if missing:
            logger.warning("%d of %d proteins in %s have no label and are left out", missing, len(store), h5_path)
        if not ids:
            raise DataError(f"no protein of {h5_path} has a label in the label file")
        x = store.per_protein(ids).astype(np.float32)  # [N, D] in one read
    return x, ids, [labels[i] for i in ids]

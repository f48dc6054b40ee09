"""Per-protein embeddings in 2D (PCA, t-SNE, UMAP when installed), coloured by a label."""
from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqvec.errors import SeqVecError
from seqvec.viz.common import check_output, pyplot, save_figure

logger = logging.getLogger(__name__)

METHODS = ("pca", "tsne", "umap")


def available_methods() -> list[str]:
    """PCA and t-SNE always (scikit-learn); UMAP when ``umap-learn`` is importable."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return ["pca", "tsne"]
    return list(METHODS)


def project(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """``[N, D]`` -> ``[N, 2]`` with ``method`` (pca, tsne, umap); inputs are standardised first."""
    from sklearn.preprocessing import StandardScaler

    if method not in METHODS:
        raise SeqVecError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    if len(x) < 3:
        raise SeqVecError(f"need at least 3 proteins to project, got {len(x)}")
    z = StandardScaler().fit_transform(x)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(z)
    if method == "tsne":
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        # t-SNE on the first 50 principal components, the usual recipe (faster, less noise)
        z = PCA(n_components=min(50, *z.shape), random_state=seed).fit_transform(z)
        return TSNE(n_components=2, perplexity=min(30.0, (len(z) - 1) / 3), init="pca",
                    random_state=seed).fit_transform(z)
    try:
        import umap
    except ImportError:
        raise SeqVecError("UMAP needs umap-learn (pip install 'seqvec[plots]')") from None
    return umap.UMAP(n_components=2, random_state=seed).fit_transform(z)


def plot_projection(x: np.ndarray, labels: Sequence[str], path: str | os.PathLike,
                    methods: Sequence[str] | None = None, title: str = "", label_name: str = "label",
                    seed: int = 0, dpi: int = 150) -> Path:
    """One panel per method, points coloured by ``labels`` (largest classes first in the legend)."""
    check_output(path)
    methods = list(methods or available_methods())
    if len(labels) != len(x):
        raise SeqVecError(f"{len(x)} embeddings but {len(labels)} labels")
    plt = pyplot()
    counts = Counter(labels)
    classes = [c for c, _ in counts.most_common()]
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    label_array = np.asarray(labels)
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods) + 2.2, 5), squeeze=False)
    for ax, method in zip(axes[0], methods):
        xy = project(x, method, seed)
        for k, c in enumerate(classes):
            sel = label_array == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=30 if len(x) < 300 else 6, alpha=0.7, color=cmap(k % cmap.N), linewidths=0,
                       label=f"{c} ({counts[c]})")
        ax.set_title({"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method])
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(title=label_name, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8,
                       markerscale=2.5, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def load_projection_inputs(h5_path: str | os.PathLike, labels: dict[str, str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Per-protein embeddings of the ids that have a label: ``(x [N, D], ids, labels)``."""
    from seqvec.embeddings.h5 import read_h5

    embeddings = read_h5(h5_path, "per_protein")
    ids = [i for i in embeddings if i in labels]
    missing = len(embeddings) - len(ids)
    if missing:
        logger.warning("%d of %d proteins in %s have no label and are left out", missing, len(embeddings), h5_path)
    if not ids:
        raise SeqVecError(f"no protein of {h5_path} has a label in the label file")
    return np.stack([np.asarray(embeddings[i], dtype=np.float32) for i in ids]), ids, [labels[i] for i in ids]

"""Nearest-neighbour indexes over per-protein vectors (FAISS), in one self-describing HDF5 file.

Index file layout::

    /            attrs: format "seqvec-index", format_version, seqvec_version, faiss_version,
                        metric, kind, settings (JSON), identity (JSON: model, model_sha256,
                        encoder, layers, per_protein_reduction of the embeddings), source, n, dim
    ids          [N] the protein ids, in the order of the embedding file
    vectors      [N, D] float32 (exact indexes; unit length for the cosine metric)
    faiss        [bytes] uint8, faiss.serialize_index (approximate indexes)

Metrics: ``cosine`` (inner product of unit vectors; distance = 1 - cosine) and ``l2``
(Euclidean distance; similarity = 1 / (1 + distance), as embedding-based annotation
transfer (EAT) reports it). Kinds: ``exact`` (brute force, ``IndexFlat``), ``ivf``
(``IndexIVFFlat``: ``nlist`` k-means cells, ``nprobe`` searched) and ``hnsw``
(``IndexHNSWFlat``: graph with ``hnsw_m`` links, ``ef_search`` candidates). The
defaults of the approximate kinds come from ``benchmarks/search_scale.py`` (docs/search.md).
The build streams the embedding file: memory is the index, not N x D twice.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from seqvec import __version__
from seqvec.errors import ArgumentTypeError, EmbeddingFileError, MissingDependencyError, UsageError
from seqvec.io.arguments import path_argument
from seqvec.io.lock import OutputLock
from seqvec.io.output import check_folder, check_not_input
from seqvec.progress import progress_bar
from seqvec.search.source import VectorSource, open_vectors

logger = logging.getLogger(__name__)

FORMAT = "seqvec-index"
FORMAT_VERSION = 1
READ_BATCH = 16384  # vectors read from a file at a time while building or loading


def import_faiss() -> Any:
    """The faiss module, or MissingDependencyError saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError("nearest-neighbour search needs faiss: pip install 'seqvec[search]' "
                                     "(or pip install faiss-cpu)", package="faiss-cpu") from None
    return faiss


@dataclass(frozen=True)
class IndexSettings:
    """How an index is built and searched (``nprobe`` and ``ef_search`` may be changed at search time)."""

    metric: Literal["cosine", "l2"] = "cosine"
    kind: Literal["exact", "ivf", "hnsw"] = "exact"
    nlist: int = 0  # IVF cells; 0: 4 * sqrt(N), at least 1 and at most N / 39
    nprobe: int = 32  # IVF cells searched per query
    hnsw_m: int = 32  # HNSW links per vector
    ef_construction: int = 80  # HNSW candidates while building
    ef_search: int = 128  # HNSW candidates per query (>= k)

    def __post_init__(self):
        if self.metric not in ("cosine", "l2"):
            raise UsageError(f"metric {self.metric!r} is not cosine or l2", option="metric", value=self.metric)
        if self.kind not in ("exact", "ivf", "hnsw"):
            raise UsageError(f"index kind {self.kind!r} is not exact, ivf or hnsw", option="kind", value=self.kind)
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}", option=name,
                                 value=getattr(self, name))
        if self.nlist < 0:
            raise UsageError(f"nlist must be >= 0, got {self.nlist}", option="nlist", value=self.nlist)

    def cells(self, n: int) -> int:
        """IVF cells for ``n`` vectors: ``nlist``, or 4 * sqrt(n) (FAISS's rule of thumb), at most n / 39."""
        wanted = self.nlist or int(4 * math.sqrt(n))
        return max(1, min(wanted, n // 39))


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, ``[n, D] -> [n, D]`` float32 (zero rows stay zero)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def new_faiss_index(settings: IndexSettings, dim: int, n: int) -> Any:
    """An empty FAISS index of ``settings.kind`` for ``n`` vectors of ``dim`` (IVF still to be trained)."""
    faiss = import_faiss()
    metric = faiss.METRIC_INNER_PRODUCT if settings.metric == "cosine" else faiss.METRIC_L2
    if settings.kind == "exact":
        return faiss.IndexFlatIP(dim) if settings.metric == "cosine" else faiss.IndexFlatL2(dim)
    if settings.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, metric)
        index.hnsw.efConstruction = settings.ef_construction
        return index
    quantizer = faiss.IndexFlatIP(dim) if settings.metric == "cosine" else faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, settings.cells(n), metric)
    index.own_fields = True
    quantizer.this.disown()  # the IVF index owns its quantizer from here on
    return index


def _prepared(vectors: np.ndarray, metric: str) -> np.ndarray:
    return normalised(vectors) if metric == "cosine" else np.ascontiguousarray(vectors, dtype=np.float32)


def _training_sample(source: VectorSource, settings: IndexSettings, seed: int = 0) -> np.ndarray:
    """A seeded random sample of 64 vectors per IVF cell (all if fewer), ``[m, D]``."""
    n = len(source)
    m = min(n, 64 * settings.cells(n))
    rows = np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
    sample, start = [], 0
    for _, block in source.batches(READ_BATCH):
        chosen = rows[(rows >= start) & (rows < start + len(block))] - start
        sample.append(block[chosen])
        start += len(block)
    return _prepared(np.concatenate(sample), settings.metric)


def check_output(output: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse to write over an input (by path, symlink or hard link: :func:`seqvec.io.output.check_not_input`),
    over an existing file unless ``overwrite``, or into a folder that cannot be written."""
    for given in inputs:
        if given.exists() and output.exists() and output.resolve() == given.resolve():
            raise UsageError(f"the output {output} is also an input; choose another output", option="output",
                             value=str(output))
    check_not_input(output, inputs)  # hard links, files of an input folder
    check_folder(output.parent)
    if output.exists() and not overwrite:
        raise UsageError(f"{output} exists; use `overwrite` to replace it or choose another output",
                         option="overwrite", value=str(output))


def build_index(embeddings: str | os.PathLike, output: str | os.PathLike, settings: IndexSettings | None = None, *,
                overwrite: bool = False, progress: bool = False) -> Path:
    """Index the per-protein vectors of an embedding file (seqvec's or UniProt's) into ``output``.

    The file is read in batches (the exact index writes them to ``output`` as it goes), so
    memory is bounded by the index; the output appears only when complete. Returns ``output``.
    """
    embeddings, output = path_argument(embeddings, "embeddings"), path_argument(output, "output")
    settings = settings or IndexSettings()
    if not isinstance(settings, IndexSettings):
        raise ArgumentTypeError(f"settings must be an IndexSettings, got a {type(settings).__name__}",
                                argument="settings", value=settings)
    source = open_vectors(embeddings)
    check_output(output, [Path(embeddings)], overwrite)
    partial = output.with_name(output.name + ".partial")
    with OutputLock(output):
        with h5py.File(partial, "w") as f:
            f.create_dataset("ids", data=np.array(source.ids, dtype=object), dtype=h5py.string_dtype())
            _write_attrs(f, source, settings)
            if settings.kind == "exact":
                _write_vectors(f, source, settings, progress)
            else:
                index = _build_approximate(source, settings, progress)
                f.create_dataset("faiss", data=import_faiss().serialize_index(index))
        os.replace(partial, output)
    logger.info("wrote %s (%s %s index of %d proteins)", output, settings.kind, settings.metric, len(source))
    return output


def _write_attrs(f: h5py.File, source: VectorSource, settings: IndexSettings) -> None:
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION, "seqvec_version": __version__,
             "faiss_version": import_faiss().__version__, "metric": settings.metric, "kind": settings.kind,
             "settings": json.dumps(asdict(settings)), "identity": json.dumps(source.identity, sort_keys=True),
             "source": str(source.path), "layout": source.layout, "n": len(source), "dim": source.dim}
    f.attrs.update(attrs)


def _write_vectors(f: h5py.File, source: VectorSource, settings: IndexSettings, progress: bool) -> None:
    out = f.create_dataset("vectors", shape=(len(source), source.dim), dtype="float32",
                           chunks=(min(len(source), max(1, 2**20 // source.dim)), source.dim))
    start = 0
    with progress_bar(total=len(source), desc="index", unit="proteins", enabled=progress) as bar:
        for ids, block in source.batches(READ_BATCH):
            out[start:start + len(ids)] = _prepared(block, settings.metric)
            start += len(ids)
            bar.update(len(ids))


def _build_approximate(source: VectorSource, settings: IndexSettings, progress: bool) -> Any:
    index = new_faiss_index(settings, source.dim, len(source))
    if settings.kind == "ivf":
        sample = _training_sample(source, settings)
        logger.info("training %d IVF cells on %d vectors", settings.cells(len(source)), len(sample))
        index.train(sample)
    with progress_bar(total=len(source), desc="index", unit="proteins", enabled=progress) as bar:
        for ids, block in source.batches(READ_BATCH):
            index.add(_prepared(block, settings.metric))
            bar.update(len(ids))
    return index


def read_index_header(path: str | os.PathLike) -> dict:
    """The attributes of an index file (``settings`` and ``identity`` decoded), checked to be one."""
    path = Path(path)
    if not path.is_file():
        raise EmbeddingFileError(f"index file not found: {path}", path=path)
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise EmbeddingFileError(f"{path} is not a readable HDF5 file ({err})", path=path) from None
    if attrs.get("format") != FORMAT:
        raise EmbeddingFileError(f"{path} is not a seqvec index (make one with 'seqvec index')", path=path)
    if attrs.get("format_version") != FORMAT_VERSION:
        raise EmbeddingFileError(f"{path} is index format {attrs.get('format_version')}; this seqvec reads "
                                 f"{FORMAT_VERSION} (rebuild it with 'seqvec index')", path=path)
    attrs["settings"], attrs["identity"] = json.loads(attrs["settings"]), json.loads(attrs["identity"])
    return attrs

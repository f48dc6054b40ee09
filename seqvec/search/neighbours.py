"""A loaded index and its search: the k nearest references of each query, as similarities and distances."""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from seqvec.errors import EmbeddingFileError, UsageError
from seqvec.io.arguments import path_argument
from seqvec.search.index import READ_BATCH, IndexSettings, import_faiss, new_faiss_index, normalised, read_index_header

logger = logging.getLogger(__name__)


@dataclass
class Neighbours:
    """The hits of ``Q`` queries: ``rows [Q, k]`` reference positions (-1: no hit), ``similarity``
    and ``distance [Q, k]`` (NaN where no hit), best first."""

    rows: np.ndarray
    similarity: np.ndarray
    distance: np.ndarray


@dataclass
class VectorIndex:
    """An index file in memory: ``ids`` of the references and the FAISS index over their vectors."""

    path: Path
    ids: list[str]
    settings: IndexSettings
    identity: dict
    dim: int
    faiss_index: Any

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, queries: np.ndarray, k: int, *, query_ids: Sequence[str] | None = None,
               allowed: np.ndarray | None = None, min_similarity: float | None = None,
               nprobe: int | None = None, ef_search: int | None = None) -> Neighbours:
        """The ``k`` nearest references of each row of ``queries [Q, dim]``.

        query_ids : with these, a reference of the same id as its query is left out (``exclude_self``).
        allowed : reference positions that may be hits (others are never returned).
        min_similarity : hits below it are dropped (row -1).
        nprobe, ef_search : override the index's search settings (approximate kinds).
        """
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise UsageError(f"queries must be [Q, {self.dim}], got {list(queries.shape)}", option="queries")
        if k < 1:
            raise UsageError(f"k must be >= 1, got {k}", option="k", value=k)
        extra = 1 if query_ids is not None else 0
        wanted = min(k + extra, len(self) if allowed is None else len(allowed))
        prepared = normalised(queries) if self.settings.metric == "cosine" else np.ascontiguousarray(queries)
        params = self._parameters(allowed, nprobe, ef_search, wanted)
        raw, rows = self.faiss_index.search(prepared, wanted, params=params) if len(queries) else (
            np.zeros((0, wanted), np.float32), np.zeros((0, wanted), np.int64))
        rows = rows.astype(np.int64)
        if query_ids is not None:
            rows, raw = _drop_self(rows, raw, self.ids, query_ids)
        rows, raw = _pad(rows[:, :k], raw[:, :k], k)
        similarity, distance = self._convert(raw, rows)
        if min_similarity is not None:
            below = similarity < min_similarity
            rows[below], similarity[below], distance[below] = -1, np.nan, np.nan
        return Neighbours(rows, similarity, distance)

    def _parameters(self, allowed: np.ndarray | None, nprobe: int | None, ef_search: int | None, k: int) -> Any:
        faiss = import_faiss()
        selector = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if self.settings.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or self.settings.nprobe)
        if self.settings.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(k, ef_search or self.settings.ef_search))
        return None if selector is None else faiss.SearchParameters(sel=selector)

    def _convert(self, raw: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = np.where(rows >= 0, raw, np.nan).astype(np.float64)
        if self.settings.metric == "cosine":
            return raw, 1.0 - raw
        distance = np.sqrt(np.maximum(raw, 0.0))  # FAISS gives squared L2
        return 1.0 / (1.0 + distance), distance

    def vectors(self) -> np.ndarray:
        """The indexed vectors ``[N, dim]`` (unit length for cosine), reconstructed from the index."""
        index = self.faiss_index
        if self.settings.kind == "ivf":
            index.make_direct_map()
        return index.reconstruct_n(0, len(self))


def _drop_self(rows: np.ndarray, raw: np.ndarray, ids: list[str], query_ids: Sequence[str]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own id from its hits (else its last hit), ``[Q, k + 1] -> [Q, k]``."""
    if len(query_ids) != len(rows):
        raise UsageError(f"{len(query_ids)} query ids for {len(rows)} queries", option="query_ids")
    keep = np.ones(rows.shape, dtype=bool)
    for q, query in enumerate(query_ids):
        own = [j for j, r in enumerate(rows[q]) if r >= 0 and ids[r] == query]
        keep[q, own[0] if own else rows.shape[1] - 1] = False
    shape = (rows.shape[0], rows.shape[1] - 1)
    return rows[keep].reshape(shape), raw[keep].reshape(shape)


def _pad(rows: np.ndarray, raw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill up to ``k`` columns with no-hit entries (fewer references than k)."""
    missing = k - rows.shape[1]
    if missing <= 0:
        return rows, raw
    return (np.pad(rows, ((0, 0), (0, missing)), constant_values=-1),
            np.pad(raw, ((0, 0), (0, missing)), constant_values=np.nan))


def load_index(path: str | os.PathLike, *, nprobe: int | None = None, ef_search: int | None = None) -> VectorIndex:
    """Read an index file made by :func:`~seqvec.search.index.build_index` (or ``seqvec index``)."""
    path = path_argument(path, "path")
    header = read_index_header(path)
    settings = IndexSettings(**header["settings"])
    settings = replace(settings, nprobe=nprobe or settings.nprobe, ef_search=ef_search or settings.ef_search)
    faiss = import_faiss()
    try:
        with h5py.File(path, "r") as f:
            ids = [i.decode() if isinstance(i, bytes) else str(i) for i in f["ids"][()]]
            if settings.kind == "exact":
                index = new_faiss_index(settings, int(header["dim"]), len(ids))
                vectors = f["vectors"]
                for start in range(0, len(ids), READ_BATCH):
                    index.add(np.ascontiguousarray(vectors[start:start + READ_BATCH], dtype=np.float32))
            else:
                index = faiss.deserialize_index(f["faiss"][()])
    except (KeyError, OSError, RuntimeError) as err:
        raise EmbeddingFileError(f"{path} is a damaged index file ({err}); rebuild it with 'seqvec index'",
                                 path=path) from None
    if index.ntotal != len(ids):
        raise EmbeddingFileError(f"{path}: {index.ntotal} vectors for {len(ids)} ids; rebuild it", path=path)
    logger.info("%s: %s %s index of %d proteins", path, settings.kind, settings.metric, len(ids))
    return VectorIndex(path, ids, settings, header["identity"], int(header["dim"]), index)

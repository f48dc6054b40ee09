"""Per-protein vectors of an embedding file, read in batches: the one place search reads embeddings.

Every layout :func:`seqvec.open_embeddings` reads works: seqvec's files and shard
folders, UniProt's ``per-protein.h5`` (one ``[D]`` dataset per accession at the root) and
biotrainer's. The *identity* of a file is what decides its vectors (model, its sha256,
encoder, layers, reduction); an index records it and refuses queries embedded otherwise.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqvec.embeddings.store import open_embeddings
from seqvec.errors import EmbeddingFileError

logger = logging.getLogger(__name__)

IDENTITY_KEYS = ("model", "model_sha256", "encoder", "layers", "per_protein_reduction")  # not the storage dtype


@dataclass
class VectorSource:
    """The per-protein vectors of one file: ``ids`` in file order, ``dim`` values each.

    ``identity``: the file's :data:`IDENTITY_KEYS` that it records (empty for UniProt's files).
    """

    path: Path
    ids: list[str]
    dim: int
    layout: str
    identity: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, size: int = 4096) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(ids, vectors [n, dim] float32)`` in file order, about ``size`` proteins at a time."""
        with open_embeddings(self.path) as store:
            for ids, vectors in store.iter_batches("per_protein", batch_bytes=size * 4096):
                yield ids, np.stack(vectors).astype(np.float32, copy=False)

    def read(self) -> np.ndarray:
        """Every vector, ``[N, dim]`` float32 (memory N x dim; :meth:`batches` streams)."""
        with open_embeddings(self.path) as store:
            return store.per_protein().astype(np.float32, copy=False)


def open_vectors(path: str | os.PathLike) -> VectorSource:
    """The per-protein vectors of an embedding file or shard folder (any layout seqvec reads).

    Raises EmbeddingFileError for a missing or unreadable file, a file without per-protein
    vectors or without proteins, or vectors that are not ``[D]``.
    """
    path = Path(path)
    with open_embeddings(path) as store:
        if "per_protein" not in store.views:
            raise EmbeddingFileError(f"{path} holds no per-protein vectors (it holds {', '.join(store.views) or 'none'})"
                                     "; embed with per-protein output (the default)", path=path, view="per_protein")
        if not len(store):
            raise EmbeddingFileError(f"{path} holds no proteins", path=path, view="per_protein")
        first = next(store.iter_batches("per_protein", batch_bytes=1))[1][0]
        if first.ndim != 1:
            raise EmbeddingFileError(f"{path}: per-protein vectors must be [D], found {list(first.shape)}", path=path)
        identity = {k: _plain(store.identity[k]) for k in IDENTITY_KEYS if k in store.identity}
        source = VectorSource(path, list(store.ids), int(first.shape[0]), store.layout, identity)
    logger.info("%s: %d proteins, %d values each (%s layout)", path, len(source), source.dim, source.layout)
    return source


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value

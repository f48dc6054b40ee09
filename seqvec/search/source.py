"""Per-protein vectors of an embedding file, read in batches: the one place search reads embeddings.

Layouts read: seqvec's HDF5 file (``per_protein/<key>``, root attrs naming the model)
and UniProt's ``per-protein.h5`` (one ``[D]`` dataset per accession at the root, no
attrs). The *identity* of a file is what decides its vectors (model, its sha256,
encoder, layers, reduction); an index records it and refuses queries embedded otherwise.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from seqvec.embeddings.h5 import key_to_id
from seqvec.errors import EmbeddingFileError

logger = logging.getLogger(__name__)

IDENTITY_KEYS = ("model", "model_sha256", "encoder", "layers", "per_protein_reduction")


@dataclass
class VectorSource:
    """The per-protein vectors of one file: ``ids`` in file order, ``dim`` values each.

    ``identity``: the file's :data:`IDENTITY_KEYS` that it records (empty for UniProt's files).
    """

    path: Path
    ids: list[str]
    dim: int
    layout: str  # "seqvec" or "uniprot"
    identity: dict = field(default_factory=dict)
    _keys: list[str] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, size: int = 4096) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(ids, vectors [n, dim] float32)`` in file order, ``size`` proteins at a time."""
        with _open(self.path) as f:
            group = f["per_protein"] if self.layout == "seqvec" else f
            for start in range(0, len(self.ids), size):
                keys = self._keys[start:start + size]
                block = np.empty((len(keys), self.dim), dtype=np.float32)
                for row, key in enumerate(keys):
                    block[row] = _vector(group[key], self.path)
                yield self.ids[start:start + size], block

    def read(self) -> np.ndarray:
        """Every vector, ``[N, dim]`` float32 (memory N x dim; :meth:`batches` streams)."""
        return np.concatenate([v for _, v in self.batches()]) if self.ids else np.zeros((0, self.dim), np.float32)


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise EmbeddingFileError(f"embedding file not found: {path}", path=path)
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise EmbeddingFileError(f"{path} is not a readable HDF5 file ({err})", path=path) from None


def _vector(ds: h5py.Dataset, path: Path) -> np.ndarray:
    if ds.ndim != 1:
        raise EmbeddingFileError(f"{path}: {ds.name} has shape {ds.shape}; a per-protein vector is [D]", path=path,
                                 view="per_protein")
    return ds[()].astype(np.float32, copy=False)


def open_vectors(path: str | os.PathLike) -> VectorSource:
    """The per-protein vectors of an embedding file (seqvec's layout or UniProt's ``per-protein.h5``).

    Raises EmbeddingFileError for a missing or unreadable file, a file without per-protein
    vectors, or vectors of different lengths.
    """
    path = Path(path)
    with _open(path) as f:
        if "per_protein" in f:
            group, layout = f["per_protein"], "seqvec"
            ids = [str(ds.attrs.get("id", key_to_id(key))) for key, ds in group.items()]
        else:
            datasets = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 1]
            if not datasets:
                held = "per_residue embeddings only" if "per_residue" in f else "no per-protein vectors"
                raise EmbeddingFileError(f"{path} holds {held}; embed with per-protein output (the default)",
                                         path=path, view="per_protein")
            group, layout, ids = f, "uniprot", datasets
        if not ids:
            raise EmbeddingFileError(f"{path} holds no proteins", path=path, view="per_protein")
        keys = list(group.keys()) if layout == "seqvec" else ids
        shapes = {group[k].shape for k in keys[:1000]}  # a sample: reading every header of a big file is slow
        if len(shapes) > 1 or len(next(iter(shapes))) != 1:
            raise EmbeddingFileError(f"{path}: per-protein vectors must all be [D]; found {sorted(shapes)}", path=path)
        identity = {k: _plain(f.attrs[k]) for k in IDENTITY_KEYS if k in f.attrs}
    dim = int(next(iter(shapes))[0])
    logger.info("%s: %d proteins, %d values each (%s layout)", path, len(ids), dim, layout)
    return VectorSource(path, ids, dim, layout, identity, keys)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value

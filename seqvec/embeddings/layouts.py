"""Readers of each embedding layout, behind one small interface used by :class:`EmbeddingStore`.

* ``columnar``: seqvec's default (:mod:`.columnar`); also the index of a shard folder.
* ``per-id``: seqvec's first layout, ``per_residue/<key>`` and ``per_protein/<key>``.
* ``uniprot``: UniProt's ``per-protein.h5`` / ``per-residue.h5``, one dataset per accession at
  the root (``[D]`` or ``[L, D]``), the name being the id.
* ``biotrainer``: biotrainer / bio_embeddings files, one dataset per protein at the root
  under any key (an index or a sequence hash) with the id in the attribute ``original_id``.
"""
from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod

import h5py
import numpy as np

from seqvec.errors import EmbeddingFileError, MissingViewError

logger = logging.getLogger(__name__)

VIEWS = ("per_protein", "per_residue")
_ESCAPED = re.compile(r"%(25|2F|2E)")
_UNESCAPE = {"25": "%", "2F": "/", "2E": "."}


def id_to_key(record_id: str) -> str:
    """HDF5-safe dataset name of a record id (reversible, see :func:`key_to_id`)."""
    key = record_id.replace("%", "%25").replace("/", "%2F")
    return "%2E" + key[1:] if key.startswith(".") else key


def key_to_id(key: str) -> str:
    """The record id a dataset name stands for (inverse of :func:`id_to_key`)."""
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(1)], key)


def root_attrs(f: h5py.File) -> dict:
    """Root attributes as Python values (``fingerprint`` decoded from JSON)."""
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    if isinstance(attrs.get("fingerprint"), str):
        try:
            attrs["fingerprint"] = json.loads(attrs["fingerprint"])
        except ValueError:
            pass
    return attrs


class Layout(ABC):
    """What :class:`~seqvec.embeddings.store.EmbeddingStore` needs of a layout."""

    name = ""

    def __init__(self, f: h5py.File):
        self.f = f
        self.ids: list[str] = []
        self.views: tuple[str, ...] = ()

    @abstractmethod
    def lengths(self) -> np.ndarray | None:
        """[N] residues per record, or None if the file does not record them."""

    @abstractmethod
    def per_protein_rows(self, rows: np.ndarray) -> np.ndarray:
        """[k, D] vectors of the (increasing) ``rows``."""

    @abstractmethod
    def per_residue_row(self, row: int) -> np.ndarray:
        """[L, D] (or [n_layers, L, D]) of one row."""

    def missing_view(self, view: str) -> MissingViewError:
        return MissingViewError(f"{self.f.filename} has no {view} embeddings (it holds: "
                                f"{', '.join(self.views) or 'none'})", path=self.f.filename, view=view)


class Columnar(Layout):
    """seqvec's columnar layout (:mod:`.columnar`)."""

    name = "columnar"

    def __init__(self, f: h5py.File):
        super().__init__(f)
        version = int(f.attrs.get("format_version", 0))
        if version > 1:
            raise EmbeddingFileError(f"{f.filename} is seqvec-columnar version {version}; this seqvec reads "
                                     "version 1: upgrade seqvec", path=f.filename)
        ids = f["records/id"]
        self.ids = ids.asstr("utf-8")[()].tolist()
        self.views = tuple(v for v in VIEWS if v in f)
        self.offsets = f["offsets"][()]
        self.matrices = {v: _mapped(f[v]) for v in self.views}

    def lengths(self) -> np.ndarray:
        return self.f["records/length"][()]

    def per_protein_rows(self, rows: np.ndarray) -> np.ndarray:
        ds = self.matrices["per_protein"]
        if len(rows) == ds.shape[0]:
            return ds[()] if isinstance(ds, h5py.Dataset) else np.array(ds)
        if isinstance(ds, h5py.Dataset) and len(rows) * 8 > ds.shape[0]:
            return ds[()][rows]  # many rows: one read and a take beats h5py's point selection
        return ds[rows] if len(rows) else np.empty((0, ds.shape[1]), ds.dtype)

    def per_residue_row(self, row: int) -> np.ndarray:
        ds = self.matrices["per_residue"]
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return np.array(ds[:, start:end] if ds.ndim == 3 else ds[start:end])


def _mapped(ds: h5py.Dataset) -> h5py.Dataset | np.memmap:
    """A read-only memory map of a contiguous, unfiltered dataset (fast random reads), else the dataset
    (a shard index's virtual datasets, an empty one, or a file written otherwise)."""
    offset = ds.id.get_offset() if not ds.is_virtual and ds.chunks is None and ds.size else None
    if offset is None:
        return ds
    return np.memmap(ds.file.filename, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)


class PerId(Layout):
    """``per_residue/<key>`` and ``per_protein/<key>`` datasets, keys in input order."""

    name = "per-id"

    def __init__(self, f: h5py.File):
        super().__init__(f)
        self.views = tuple(v for v in VIEWS if v in f and len(f[v]))
        first = f[self.views[0]] if self.views else None
        self.ids = [key_to_id(k) for k in first.keys()] if first is not None else []
        self._keys = list(first.keys()) if first is not None else []

    def lengths(self) -> np.ndarray:
        group = self.f[self.views[0]]
        out = np.empty(len(self._keys), dtype=np.int64)
        for k, key in enumerate(self._keys):
            ds = group[key]
            out[k] = int(ds.attrs.get("length", ds.shape[-2] if ds.ndim > 1 else -1))
        return out

    def per_protein_rows(self, rows: np.ndarray) -> np.ndarray:
        group = self.f["per_protein"]
        return np.stack([group[self._keys[r]][()] for r in rows]) if len(rows) else np.empty((0, 0), np.float32)

    def per_residue_row(self, row: int) -> np.ndarray:
        return self.f["per_residue"][id_to_key(self.ids[row])][()]


class RootDatasets(Layout):
    """One dataset per protein at the root: UniProt (name = id) or biotrainer (``original_id`` attr)."""

    def __init__(self, f: h5py.File, biotrainer: bool):
        super().__init__(f)
        self.name = "biotrainer" if biotrainer else "uniprot"
        self._keys = [k for k, item in f.items() if isinstance(item, h5py.Dataset)]
        if biotrainer:
            self.ids = [str(f[k].attrs["original_id"]) for k in self._keys]
        else:
            self.ids = list(self._keys)
        ndims = {f[k].ndim for k in self._keys[:1]}
        self.views = ("per_protein",) if ndims == {1} else ("per_residue",) if ndims == {2} else ()
        if self._keys and not self.views:
            raise EmbeddingFileError(f"{f.filename}: root dataset {self._keys[0]!r} has shape "
                                     f"{f[self._keys[0]].shape}; expected [D] or [L, D]", path=f.filename)

    def lengths(self) -> np.ndarray | None:
        if self.views != ("per_residue",):
            return None
        return np.array([self.f[k].shape[0] for k in self._keys], dtype=np.int64)

    def per_protein_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.stack([self.f[self._keys[r]][()] for r in rows]) if len(rows) else np.empty((0, 0), np.float32)

    def per_residue_row(self, row: int) -> np.ndarray:
        return self.f[self._keys[row]][()]


def detect(f: h5py.File) -> Layout:
    """The layout of an open file; EmbeddingFileError if it is none of them."""
    if f.attrs.get("format") == "seqvec-columnar" or "records" in f:
        return Columnar(f)
    if any(v in f and isinstance(f[v], h5py.Group) for v in VIEWS):
        return PerId(f)
    datasets = [item for item in f.values() if isinstance(item, h5py.Dataset)]
    if datasets:
        return RootDatasets(f, biotrainer="original_id" in datasets[0].attrs)
    if len(f) == 0:
        return RootDatasets(f, biotrainer=False)
    raise EmbeddingFileError(f"{f.filename} is an HDF5 file of no embedding layout seqvec knows (it holds "
                             f"{', '.join(list(f)[:5])}); expected seqvec's, UniProt's or biotrainer's",
                             path=f.filename)

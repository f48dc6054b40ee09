"""The columnar layout (format ``seqvec-columnar`` version 1): one matrix per view and an index.

Readable with h5py alone::

    /                 attrs: format = "seqvec-columnar", format_version = 1, n_records, n_residues,
                             and the run's attrs (seqvec_version, model, model_sha256, encoder,
                             layers, dtype, per_protein_reduction, fingerprint, command, ...)
    records/id        [N] UTF-8 strings, input order (fixed width; ``.asstr()[()]`` decodes)
    records/length    [N] int64 residues
    records/digest    [N] 32-character md5 hex of the sequence (identical digests: embedded once)
    offsets           [N+1] int64: protein i is per_residue rows offsets[i]:offsets[i+1]
    per_protein       [N, D] float32|float16 (absent with --no-per-protein)
    per_residue       [R, D] ([R, n_layers*D] for --layers concat, [n_layers, R, D] for --layers all;
                      absent with --no-per-residue), R = sum of the lengths

The two matrices are contiguous and uncompressed (benchmarks/store_scale.py: gzip saves
little on float embeddings and costs write and random-read time; ``--dtype float16``
halves the size). Their space is allocated when the file is made, so a run writes every
protein's rows in place (:class:`ColumnarWriter`), in any order, without a second copy.
The small records table is gzip-compressed.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

logger = logging.getLogger(__name__)

FORMAT = "seqvec-columnar"
FORMAT_VERSION = 1
MATRICES = ("per_protein", "per_residue")
MAX_FIXED_ID = 256  # bytes; longer ids are stored as variable-length strings
ID_CHUNK = 65536  # records table rows per chunk (written and compressed a chunk at a time)


def sequence_digest(sequence: str) -> str:
    """md5 hex of a sequence (the key bio_embeddings uses for the same purpose)."""
    return hashlib.md5(sequence.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Shapes:
    """The stored shapes of one file: per-protein width and the per-residue tail."""

    per_protein: int | None  # D, or None if the view is not stored
    per_residue: tuple[int, int] | None  # (n_layers or 0 for [R, D], D), or None if not stored
    dtype: str  # storage dtype of the matrices


def _contiguous() -> h5py.h5p.PropDCID:
    """A dataset whose space is allocated at once and never filled (rows are written in place)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return dcpl


@dataclass(frozen=True)
class IdChunks:
    """``n`` ids given in chunks (lists of str, in order), the longest ``width`` UTF-8 bytes:
    the records table of an input too large to hold its ids in memory."""

    n: int
    width: int
    chunks: Iterable[list[str]]


def _hex(digests: list[str] | np.ndarray) -> np.ndarray:
    """[N] S32 hex digests, from hex strings or from [N, 16] uint8 md5 digests."""
    if isinstance(digests, np.ndarray) and digests.dtype == np.uint8:
        return np.frombuffer(digests.tobytes().hex().encode("ascii"), dtype="S32")
    return np.array(digests, dtype="S32").reshape(-1)


def write_records(f: h5py.File | h5py.Group, ids: list[str] | IdChunks, lengths: np.ndarray,
                  digests: list[str] | np.ndarray) -> None:
    """The records table and ``offsets`` (gzip: it is small and written once); ``digests`` as
    32-character md5 hex strings or [N, 16] uint8. Ids given as :class:`IdChunks` are
    written chunk by chunk; everything else here is an [N] array already."""
    if not isinstance(ids, IdChunks):
        ids = IdChunks(len(ids), max((len(i.encode("utf-8")) for i in ids), default=1), [list(ids)])
    n = ids.n
    gz = {"compression": "gzip", "shuffle": True, "chunks": (min(n, ID_CHUNK),)} if n else {}
    fixed = ids.width <= MAX_FIXED_ID
    dtype = h5py.string_dtype("utf-8", max(ids.width, 1)) if fixed else h5py.string_dtype()
    table = f.create_dataset("records/id", shape=(n,), dtype=dtype, **gz)
    start = 0
    for chunk in ids.chunks:
        table[start:start + len(chunk)] = np.array([i.encode("utf-8") for i in chunk] if fixed else chunk, dtype=dtype)
        start += len(chunk)
    if start != n:
        raise ValueError(f"{start} ids for {n} records")
    f.create_dataset("records/length", data=np.asarray(lengths, dtype=np.int64), **gz)
    table = f.create_dataset("records/digest", shape=(n,), dtype="S32", **gz)
    for start in range(0, n, ID_CHUNK):
        table[start:start + ID_CHUNK] = _hex(digests[start:start + ID_CHUNK])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    f.create_dataset("offsets", data=offsets, **{**gz, "chunks": (min(n + 1, ID_CHUNK),)})


def create_columnar(path: Path, ids: list[str] | IdChunks, lengths: np.ndarray, digests: list[str] | np.ndarray,
                    shapes: Shapes, attrs: dict) -> None:
    """Make an empty columnar file: records, offsets, attrs, and allocated matrices (:func:`write_records`)."""
    n, residues = len(lengths), int(np.sum(lengths, dtype=np.int64))
    with h5py.File(path, "w") as f:
        f.attrs.update(attrs)
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["n_records"] = n
        f.attrs["n_residues"] = residues
        write_records(f, ids, lengths, digests)
        if shapes.per_protein is not None:
            f.create_dataset("per_protein", shape=(n, shapes.per_protein), dtype=shapes.dtype, dcpl=_contiguous())
        if shapes.per_residue is not None:
            layers, width = shapes.per_residue
            shape = (layers, residues, width) if layers else (residues, width)
            f.create_dataset("per_residue", shape=shape, dtype=shapes.dtype, dcpl=_contiguous())
    with open(path, "r+b") as handle:  # reserve the blocks now: a full disk is an error here, not a
        os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)  # SIGBUS in a memory map


def matrix_offsets(path: Path) -> dict[str, tuple[int | None, tuple[int, ...], str]]:
    """``{view: (byte offset in the file or None if empty, shape, dtype)}`` of the stored matrices."""
    found = {}
    with h5py.File(path, "r") as f:
        for view in MATRICES:
            if view in f:
                ds = f[view]
                found[view] = (ds.id.get_offset(), ds.shape, ds.dtype.str)
    return found


class ColumnarWriter:
    """Writes proteins' rows in place into a file made by :func:`create_columnar`.

    The file must not be open in h5py meanwhile. Rows go through memory maps; :meth:`flush`
    makes them durable (msync), after which a journal may record them as done, and unmaps
    them: pages mapped for writing count in the process's resident size, so they are
    mapped again at the next write and the resident size stays that of one commit's rows.
    """

    def __init__(self, path: Path, offsets: np.ndarray):
        self.offsets = offsets  # [N+1] per-residue row offsets
        self.path = path
        self._layout = {view: found for view, found in matrix_offsets(path).items()
                        if found[0] is not None and np.prod(found[1]) > 0}
        self._maps: dict[str, np.memmap] = {}

    def _map(self, view: str) -> np.memmap | None:
        if view not in self._maps and view in self._layout:
            byte_offset, shape, dtype = self._layout[view]
            self._maps[view] = np.memmap(self.path, dtype=np.dtype(dtype), mode="r+", offset=int(byte_offset or 0),
                                         shape=shape)
        return self._maps.get(view)

    def write(self, rows: list[int], per_residue: list[np.ndarray | None],
              per_protein: list[np.ndarray | None]) -> None:
        """Store row ``rows[k]``'s arrays (per-residue ``[L, D]`` or ``[n_layers, L, D]``; per-protein ``[D]``)."""
        vectors = self._map("per_protein")
        if vectors is not None and rows:
            vectors[np.asarray(rows)] = np.stack([v for v in per_protein if v is not None])  # [k, D]
        residues = self._map("per_residue")
        if residues is None:
            return
        for row, array in zip(rows, per_residue):
            start, end = int(self.offsets[row]), int(self.offsets[row + 1])
            if residues.ndim == 3:
                residues[:, start:end] = array  # [n_layers, L, D]
            else:
                residues[start:end] = array  # [L, D]

    def flush(self) -> None:
        """Make every row written so far durable, and unmap."""
        for m in self._maps.values():
            m.flush()
        self._maps.clear()

    def close(self) -> None:
        """Flush and unmap."""
        self.flush()

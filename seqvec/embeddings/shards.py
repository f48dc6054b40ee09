"""Shards: a deterministic share of the input per job, and an index that joins them without copying.

``--shard K/N`` (K = 1..N) takes the K-th of N contiguous runs of the input, cut where the
running residue count passes K/N of the total, so every job gets about the same number of
residues and the shares depend only on the input and N (not on which job runs first).
Shard K is the columnar file ``shard-K-of-N.h5`` in the output folder, with its own lock
and unfinished-run sidecar, so each shard resumes on its own.

When the last shard finishes it writes ``index.h5``: a columnar file (same layout) whose
records table and offsets are real datasets and whose ``per_protein`` and ``per_residue``
are HDF5 virtual datasets mapping the shards' matrices block by block. Since the shards
are contiguous runs of the input, the index lists the records in input order, exactly as
a single-process run would. Why a virtual dataset and not an index file of our own: h5py
alone (or any HDF5 reader, 1.10+) opens ``index.h5`` as one file with one matrix per view,
and nothing is copied; the price is that a missing shard reads as NaN, so
:func:`check_index` (used by :func:`~seqvec.open_embeddings`) checks that every shard is
in place first.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from seqvec.embeddings.columnar import FORMAT, FORMAT_VERSION, ID_CHUNK, MATRICES, MAX_FIXED_ID, IdChunks, write_records
from seqvec.embeddings.files import durable_replace
from seqvec.errors import EmbeddingFileError

logger = logging.getLogger(__name__)

INDEX_NAME = "index.h5"
_SHARD_FILE = re.compile(r"shard-(\d+)-of-(\d+)\.h5$")


def shard_name(k: int, n: int) -> str:
    """File name of shard ``k`` of ``n`` (zero-padded so that names sort)."""
    width = len(str(n))
    return f"shard-{k:0{width}d}-of-{n}.h5"


def shard_ranges(lengths: list[int] | np.ndarray, n: int) -> list[tuple[int, int]]:
    """Cut records (in input order) into ``n`` contiguous runs of about equal residues.

    Run k (0-based) ends at the first record where the running total reaches
    ``(k+1) / n`` of all residues; the result depends only on ``lengths`` and ``n``.
    """
    totals = np.cumsum(np.asarray(lengths, dtype=np.int64))
    total = int(totals[-1]) if len(totals) else 0
    cuts = [0]
    for k in range(1, n):
        target = total * k / n
        cut = int(np.searchsorted(totals, target, side="right"))  # records that end at or before the target
        if cut < len(totals) and totals[cut] - target < target - (totals[cut - 1] if cut else 0):
            cut += 1  # the record across the target ends nearer to it than the one before
        cuts.append(max(cut, cuts[-1]))
    cuts.append(len(totals))
    return [(cuts[k], cuts[k + 1]) for k in range(n)]


def finished_shards(folder: Path) -> dict[int, dict[int, Path]]:
    """``{N: {K: path}}`` of the finished shard files in ``folder``."""
    found: dict[int, dict[int, Path]] = {}
    for path in folder.glob("shard-*-of-*.h5"):
        match = _SHARD_FILE.match(path.name)
        if match:
            found.setdefault(int(match.group(2)), {})[int(match.group(1))] = path
    return found


def _virtual(sources: list[tuple[Path, h5py.Dataset]], axis: int) -> h5py.VirtualLayout:
    """A layout joining the datasets along ``axis`` (0 for [N, D] / [R, D]; 1 for [n_layers, R, D])."""
    first = sources[0][1]
    shape = list(first.shape)
    shape[axis] = sum(ds.shape[axis] for _, ds in sources)
    layout = h5py.VirtualLayout(shape=tuple(shape), dtype=first.dtype)
    start = 0
    for path, ds in sources:
        size = ds.shape[axis]
        if size:
            where = [slice(None)] * len(shape)
            where[axis] = slice(start, start + size)
            layout[tuple(where)] = h5py.VirtualSource(path.name, ds.name, shape=ds.shape)
        start += size
    return layout


def _id_width(ids: h5py.Dataset) -> int:
    """The width of a fixed-width id table, or one past the fixed limit for variable-length ids."""
    info = h5py.check_string_dtype(ids.dtype)
    return info.length if info is not None and info.length is not None else MAX_FIXED_ID + 1


def _id_chunks(files: list[h5py.File]) -> Iterator[list[str]]:
    """The shards' ids in order, ID_CHUNK at a time (the index never holds them all)."""
    for f in files:
        table = f["records/id"]
        for start in range(0, len(table), ID_CHUNK):
            yield table.asstr("utf-8")[start:start + ID_CHUNK].tolist()


def write_index(folder: Path, n: int) -> Path | None:
    """Write ``folder/index.h5`` over shards 1..n if all are finished (else return None)."""
    shards = finished_shards(folder).get(n, {})
    if len(shards) < n:
        logger.info("%d of %d shards finished in %s; the last one writes the index", len(shards), n, folder)
        return None
    paths = [shards[k] for k in range(1, n + 1)]
    files = [h5py.File(p, "r") for p in paths]
    try:
        fingerprints = {json.dumps({k: v for k, v in json.loads(f.attrs["fingerprint"]).items() if k != "shard"},
                                   sort_keys=True) for f in files}
        if len(fingerprints) > 1:
            raise EmbeddingFileError(f"the shards in {folder} were made with different settings or inputs; "
                                     "rerun the odd ones with `overwrite`", path=folder)
        lengths = np.concatenate([f["records/length"][()] for f in files])  # [N] int64
        digests = np.concatenate([f["records/digest"][()] for f in files])  # [N] S32
        ids = IdChunks(len(lengths), max(_id_width(f["records/id"]) for f in files), _id_chunks(files))
        tmp = folder / f"{INDEX_NAME}.tmp"
        with h5py.File(tmp, "w") as out:
            out.attrs.update({k: v for k, v in files[0].attrs.items() if k not in ("command",)})
            out.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "n_records": len(lengths),
                              "n_residues": int(lengths.sum()), "fingerprint": fingerprints.pop(),
                              "shards": json.dumps([p.name for p in paths])})
            write_records(out, ids, lengths, digests)
            for view in MATRICES:
                if view in files[0]:
                    axis = 1 if view == "per_residue" and files[0][view].ndim == 3 else 0
                    out.create_virtual_dataset(view, _virtual([(p, f[view]) for p, f in zip(paths, files)], axis),
                                               fillvalue=np.nan)
    finally:
        for f in files:
            f.close()
    durable_replace(tmp, folder / INDEX_NAME)
    logger.info("wrote the index %s over %d shards (%d records)", folder / INDEX_NAME, n, len(lengths))
    return folder / INDEX_NAME


def check_index(folder: Path) -> Path:
    """The index of a shard folder, after checking that every shard it joins is there."""
    index = folder / INDEX_NAME
    if not index.is_file():
        found = finished_shards(folder)
        state = "; ".join(f"{len(ks)} of {n} shards finished" for n, ks in sorted(found.items())) or "no shards"
        raise EmbeddingFileError(f"{folder} is a folder without {INDEX_NAME} ({state}): run every shard "
                                 "(`shard` K/N); the last to finish writes the index", path=folder)
    try:
        with h5py.File(index, "r") as f:
            names = json.loads(f.attrs["shards"])
    except (OSError, KeyError, ValueError) as err:
        raise EmbeddingFileError(f"{index} is not a shard index ({err})", path=index) from None
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise EmbeddingFileError(f"{folder}: {len(missing)} shards of the index are missing: {', '.join(missing)}",
                                 path=folder)
    return index

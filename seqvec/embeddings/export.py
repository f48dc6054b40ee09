"""Export embeddings (any layout :func:`~seqvec.open_embeddings` reads) to the ecosystem's formats.

Every writer streams: it reads the store in batches of bounded size (``iter_batches``), so
memory does not grow with the number of proteins. The output appears only when complete
(written under a temporary name, then renamed).

* ``npz``: one array per record, keyed by the id (``np.load(path)[id]``); any view.
* ``csv``: per-protein only: a header ``id,d0,d1,...`` and one row per record.
* ``biotrainer``: biotrainer's embeddings file (its ``embeddings_file`` option): one dataset
  per record at the root, named by the record's index ``"0"`` ... ``"N-1"``, with the id in
  the attribute ``original_id``; ``[D]`` (per-protein) or ``[L, D]`` (per-residue).
* ``uniprot``: UniProt's layout (``per-protein.h5``): one dataset per id at the root.
* ``parquet``: one row per protein: ``id`` (string), ``length`` (int64, where known) and
  ``embedding`` (fixed-size list of D float32); per-protein only; needs pyarrow.
"""
from __future__ import annotations

import csv
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from seqvec.embeddings.layouts import id_to_key
from seqvec.embeddings.options import EXPORT_FORMATS
from seqvec.embeddings.store import EmbeddingStore, open_embeddings
from seqvec.errors import EmbeddingFileError, MissingDependencyError
from seqvec.io.output import Output

logger = logging.getLogger(__name__)

Batches = Iterator[tuple[list[str], list[np.ndarray]]]
FORMATS = EXPORT_FORMATS
PER_PROTEIN_ONLY = ("csv", "parquet")
_BY_SUFFIX = {".npz": "npz", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _write_npz(batches: Batches, path: Path, store: EmbeddingStore) -> int:
    # np.savez(**arrays) cannot take an id called "file"; write the same zip format directly,
    # one array at a time so that big files stream.
    n = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for ids, arrays in batches:
            for record_id, array in zip(ids, arrays):
                with z.open(f"{record_id}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
                n += 1
    return n


def _write_csv(batches: Batches, path: Path, store: EmbeddingStore) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for ids, vectors in batches:
            for record_id, vector in zip(ids, vectors):
                if n == 0:
                    writer.writerow(["id", *(f"d{i}" for i in range(vector.shape[0]))])
                writer.writerow([record_id, *(f"{x:.9g}" for x in vector.astype(np.float32))])
                n += 1
    return n


def _write_root_datasets(batches: Batches, path: Path, biotrainer: bool) -> int:
    n = 0
    with h5py.File(path, "w", track_order=True) as f:
        for ids, arrays in batches:
            for record_id, array in zip(ids, arrays):
                if biotrainer:
                    f.create_dataset(str(n), data=array).attrs["original_id"] = record_id
                else:
                    f.create_dataset(id_to_key(record_id), data=array)
                n += 1
    return n


def _write_biotrainer(batches: Batches, path: Path, store: EmbeddingStore) -> int:
    return _write_root_datasets(batches, path, biotrainer=True)


def _write_uniprot(batches: Batches, path: Path, store: EmbeddingStore) -> int:
    return _write_root_datasets(batches, path, biotrainer=False)


def _write_parquet(batches: Batches, path: Path, store: EmbeddingStore) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("Parquet export needs pyarrow: pip install 'seqvec[parquet]'",
                                     package="pyarrow") from None
    try:
        lengths: np.ndarray | None = store.lengths
    except EmbeddingFileError:
        lengths = None
    n, writer = 0, None
    try:
        for ids, vectors in batches:
            matrix = np.stack(vectors).astype(np.float32)  # [b, D]
            flat = pa.array(matrix.reshape(-1), type=pa.float32())
            length = (pa.nulls(len(ids), type=pa.int64()) if lengths is None
                      else pa.array(lengths[n:n + len(ids)], type=pa.int64()))
            table = pa.table({"id": pa.array(ids, type=pa.string()), "length": length,
                              "embedding": pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])})
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            n += len(ids)
    finally:
        if writer is not None:
            writer.close()
    return n


WRITERS = {"npz": _write_npz, "csv": _write_csv, "biotrainer": _write_biotrainer, "uniprot": _write_uniprot,
           "parquet": _write_parquet}


def export_format(output: Path, fmt: str | None) -> str:
    """The format asked for, or the one of ``output``'s suffix (EmbeddingFileError if neither)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise EmbeddingFileError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
        return fmt
    found = _BY_SUFFIX.get(output.suffix.lower())
    if found is None:
        raise EmbeddingFileError(f"cannot tell the format of {output.name!r} from its suffix (.npz, .csv, .parquet); "
                                 f"give the format ({', '.join(FORMATS)}), e.g. biotrainer or uniprot for .h5")
    return found


def export(source: str | os.PathLike, output: str | os.PathLike, view: str = "per_protein",
           fmt: str | None = None, *, overwrite: bool = False) -> Path:
    """Write the ``view`` embeddings of ``source`` (a file of any layout, or a shard folder) to
    ``output`` in ``fmt`` (one of :data:`FORMATS`; None: from the suffix). Returns ``output``.

    The output policy of :mod:`seqvec.io.output`: never over ``source``, over an existing
    ``output`` only with ``overwrite``; it appears only when complete (atomic rename)."""
    output = Path(output)
    fmt = export_format(output, fmt)
    if fmt in PER_PROTEIN_ONLY and view != "per_protein":
        raise EmbeddingFileError(f"{'CSV' if fmt == 'csv' else 'Parquet'} holds one row per protein: use view "
                                 "per_protein, or npz, biotrainer or uniprot for per-residue arrays")
    with Output(output, inputs=[source], overwrite=overwrite) as out, open_embeddings(source) as store, \
            out.temporary() as tmp:
        n = WRITERS[fmt](store.iter_batches(view), tmp, store)
    logger.info("wrote %d %s embeddings to %s (%s)", n, view, output, fmt)
    return output

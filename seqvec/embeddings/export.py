"""Export an embedding file to ``.npz`` (any view) or ``.csv`` (per-protein vectors)."""
from __future__ import annotations

import csv
import io
import logging
import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from seqvec.embeddings.h5 import iter_h5
from seqvec.errors import EmbeddingFileError
from seqvec.io.output import Output

logger = logging.getLogger(__name__)


def _write_npz(records, path: IO[bytes]) -> int:
    # np.savez(**arrays) cannot take an id called "file"; write the same zip format directly,
    # one array at a time so that big files stream.
    n = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for record_id, array in records:
            with z.open(f"{record_id}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            n += 1
    return n


def _write_csv(records, binary: IO[bytes]) -> int:
    n = 0
    handle = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    try:
        writer = csv.writer(handle)
        for record_id, vector in records:
            if n == 0:
                writer.writerow(["id", *(f"d{i}" for i in range(vector.shape[0]))])
            writer.writerow([record_id, *(f"{x:.9g}" for x in vector.astype(np.float32))])
            n += 1
    finally:
        handle.flush()
        handle.detach()  # the caller closes (and renames) the file
    return n


WRITERS = {".npz": _write_npz, ".csv": _write_csv}


def export(h5: str | os.PathLike, output: str | os.PathLike, view: str = "per_protein", *,
           overwrite: bool = False) -> Path:
    """Write the ``view`` embeddings of ``h5`` to ``output`` (format by suffix: .npz or .csv).

    The output policy of :mod:`seqvec.io.output`: never over ``h5``, over an existing
    ``output`` only with ``overwrite``; it appears only when complete (atomic rename).
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise EmbeddingFileError(f"cannot export to {output.name!r}: the output must end in .npz or .csv")
    if suffix == ".csv" and view != "per_protein":
        raise EmbeddingFileError("CSV holds one row per protein: use --view per_protein, or a .npz output")
    with Output(output, inputs=[h5], overwrite=overwrite) as out, out.open("wb") as handle:
        n = WRITERS[suffix](iter_h5(h5, view), handle)
    logger.info("wrote %d %s embeddings to %s", n, view, output)
    return output

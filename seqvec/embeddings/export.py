"""Export an embedding file to ``.npz`` (any view) or ``.csv`` (per-protein vectors)."""
from __future__ import annotations

import csv
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from seqvec.embeddings.h5 import iter_h5
from seqvec.errors import EmbeddingFileError, OutputWriteError

logger = logging.getLogger(__name__)


def _write_npz(records, path: Path) -> int:
    # np.savez(**arrays) cannot take an id called "file"; write the same zip format directly,
    # one array at a time so that big files stream.
    n = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for record_id, array in records:
            with z.open(f"{record_id}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            n += 1
    return n


def _write_csv(records, path: Path) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for record_id, vector in records:
            if n == 0:
                writer.writerow(["id", *(f"d{i}" for i in range(vector.shape[0]))])
            writer.writerow([record_id, *(f"{x:.9g}" for x in vector.astype(np.float32))])
            n += 1
    return n


WRITERS = {".npz": _write_npz, ".csv": _write_csv}


def export(h5: str | os.PathLike, output: str | os.PathLike, view: str = "per_protein") -> Path:
    """Write the ``view`` embeddings of ``h5`` to ``output`` (format by suffix: .npz or .csv).

    The output appears only when complete (written to a temporary name, then renamed).
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise EmbeddingFileError(f"cannot export to {output.name!r}: the output must end in .npz or .csv")
    if suffix == ".csv" and view != "per_protein":
        raise EmbeddingFileError("CSV holds one row per protein: use --view per_protein, or a .npz output")
    tmp = output.with_name(output.name + ".tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        n = WRITERS[suffix](iter_h5(h5, view), tmp)
        os.replace(tmp, output)
    except OSError as err:
        raise OutputWriteError(f"cannot write {output}: {err.strerror or err}", path=output, errno=err.errno) from None
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %d %s embeddings to %s", n, view, output)
    return output

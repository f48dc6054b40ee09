"""Writing the index of a shard folder: ``index.h5``, virtual datasets over the shards (see :mod:`.shards`)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np

from seqvec.embeddings.parts import durable_replace
from seqvec.embeddings.store.columnar import FORMAT, FORMAT_VERSION, MATRICES, write_records
from seqvec.embeddings.store.shards import INDEX_NAME, finished_shards
from seqvec.errors import EmbeddingFileError

logger = logging.getLogger(__name__)


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
                                     "rerun the odd ones with --overwrite", path=folder)
        ids = [i for f in files for i in f["records/id"].asstr("utf-8")[()].tolist()]
        lengths = np.concatenate([f["records/length"][()] for f in files])
        digests = [d.decode() for f in files for d in f["records/digest"][()].tolist()]
        tmp = folder / f"{INDEX_NAME}.tmp"
        with h5py.File(tmp, "w") as out:
            out.attrs.update({k: v for k, v in files[0].attrs.items() if k not in ("command",)})
            out.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "n_records": len(ids),
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
    logger.info("wrote the index %s over %d shards (%d records)", folder / INDEX_NAME, n, len(ids))
    return folder / INDEX_NAME

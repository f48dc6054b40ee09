"""The embedding file (HDF5): layout, keys, and the reader API.

Layout (docs/embeddings.md, "The output file (HDF5)")::

    /                     attrs: seqvec_version, model, model_sha256, encoder, layers, dtype,
                                 compression, per_protein_reduction, input_sha256, n_records,
                                 command, fingerprint (JSON: what decides the content)
    per_residue/<key>     [L, D] (layers sum | cnn | lstm1 | lstm2), [L, n_layers * D] (concat)
                          or [n_layers, L, D] (all)
    per_protein/<key>     [D]: the mean over residues of the per-residue view
                          (layers summed first for 'all', the SeqVec recipe)

Every dataset has attrs ``id`` (the FASTA record id) and ``length`` (residues). ``<key>``
is the id made safe for HDF5, reversibly: ``%`` -> ``%25``, ``/`` -> ``%2F`` and a
leading ``.`` -> ``%2E``. Groups keep the input order (``track_order``).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import h5py
import numpy as np

from seqvec import __version__
from seqvec.errors import EmbeddingFileError, MissingViewError, OutputMismatchError

VIEWS = ("per_residue", "per_protein")
_ESCAPED = re.compile(r"%(25|2F|2E)")
_UNESCAPE = {"25": "%", "2F": "/", "2E": "."}


def id_to_key(record_id: str) -> str:
    """HDF5-safe dataset name of a record id (reversible, see :func:`key_to_id`)."""
    key = record_id.replace("%", "%25").replace("/", "%2F")
    return "%2E" + key[1:] if key.startswith(".") else key


def key_to_id(key: str) -> str:
    """The record id a dataset name stands for (inverse of :func:`id_to_key`)."""
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(1)], key)


def write_record(f: h5py.File, view: str, record_id: str, array: np.ndarray, length: int,
                 dtype: str, compression: str) -> None:
    """Store one array under ``<view>/<key>`` with attrs ``id`` and ``length``."""
    group = f[view] if view in f else f.create_group(view, track_order=True)
    filters = {} if compression == "none" else {"compression": compression}
    ds = group.create_dataset(id_to_key(record_id), data=np.asarray(array).astype(dtype, copy=False), **filters)
    ds.attrs["id"] = record_id
    ds.attrs["length"] = length


def describe_mismatch(found: dict, wanted: dict) -> str:
    """``key: found -> wanted`` for every fingerprint entry that differs."""
    keys = sorted(set(found) | set(wanted))
    return "; ".join(f"{k}: {found.get(k)!r} -> {wanted.get(k)!r}" for k in keys if found.get(k) != wanted.get(k))


def root_attributes(settings, view, model_name: str, fingerprint: dict, n_records: int, command: str) -> dict:
    """Root attrs of an output file (``settings``: an EmbedSettings, ``view``: a LayerView)."""
    return {
        "seqvec_version": __version__, "model": model_name, "model_sha256": fingerprint["model_sha256"],
        "encoder": settings.encoder, "layers": settings.layers, "dtype": settings.dtype,
        "compression": settings.compression, "per_protein_reduction": view.reduction,
        "input_sha256": fingerprint["input_sha256"], "n_records": n_records, "command": command,
        "fingerprint": json.dumps(fingerprint, sort_keys=True),
    }


def existing_output_matches(output: Path, fingerprint: dict) -> bool:
    """True if ``output`` exists and was made with this fingerprint (model, input, settings).

    Raises OutputMismatchError if it exists but was made otherwise or is not an embedding file.
    """
    if not output.exists():
        return False
    try:
        with h5py.File(output, "r") as f:
            found = json.loads(f.attrs["fingerprint"])
    except (OSError, KeyError, ValueError, TypeError):
        raise OutputMismatchError(f"{output} exists and is not a seqvec embedding file; "
                                  f"use --overwrite to replace it or choose another output") from None
    if found != fingerprint:
        raise OutputMismatchError(f"{output} exists and was made otherwise ({describe_mismatch(found, fingerprint)}); "
                                  f"use --overwrite to replace it or choose another output")
    return True


def _open(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise EmbeddingFileError(f"embedding file not found: {path}", path=path)
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise EmbeddingFileError(f"{path} is not a readable HDF5 file ({err})", path=path) from None


def _group(f: h5py.File, view: str) -> h5py.Group:
    if view not in VIEWS:
        raise EmbeddingFileError(f"view {view!r} is not one of {', '.join(VIEWS)}", path=f.filename, view=view)
    if view not in f:
        found = [v for v in VIEWS if v in f]
        raise MissingViewError(f"{f.filename} has no {view} embeddings (it holds: {', '.join(found) or 'none'})",
                               path=f.filename, view=view)
    return f[view]


def iter_h5(path: str | os.PathLike, view: str = "per_residue",
            ids: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(record id, array)`` one at a time, in file order (or in the order of ``ids``).

    Reads one dataset at a time, so it suits files larger than memory. A file that cannot
    be read to the end raises EmbeddingFileError.
    """
    try:
        yield from _iter_open(path, view, ids)
    except (OSError, RuntimeError, KeyError) as err:
        raise EmbeddingFileError(f"{path} is corrupt: {err}", path=path) from None


def _iter_open(path: str | os.PathLike, view: str, ids: Iterable[str] | None) -> Iterator[tuple[str, np.ndarray]]:
    with _open(path) as f:
        group = _group(f, view)
        if ids is None:
            for ds in group.values():
                yield str(ds.attrs.get("id", key_to_id(ds.name.rsplit("/", 1)[1]))), ds[()]
            return
        ids = list(ids)
        missing = [i for i in ids if id_to_key(i) not in group]
        if missing:
            shown = ", ".join(map(repr, missing[:10]))
            raise EmbeddingFileError(f"{len(missing)} ids not in {path} ({view}): {shown}", path=path, view=view,
                                     missing_ids=missing)
        for record_id in ids:
            yield record_id, group[id_to_key(record_id)][()]


def read_h5(path: str | os.PathLike, view: str = "per_residue",
            ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read embeddings into ``{record id: array}``.

    Parameters
    ----------
    path : an HDF5 file written by ``seqvec embed`` (or in the same layout).
    view : ``"per_residue"`` (arrays ``[L, D]``, or ``[n_layers, L, D]`` for ``--layers all``)
        or ``"per_protein"`` (arrays ``[D]``).
    ids : only these record ids (all must be present), else every record.

    The file's settings are in :func:`read_h5_attrs`; :func:`iter_h5` streams big files.
    """
    return dict(iter_h5(path, view, ids))


def read_h5_lengths(path: str | os.PathLike) -> dict[str, int]:
    """``{record id: residues}`` of every record of an embedding file (from the ``length`` attributes)."""
    with _open(path) as f:
        view = next((v for v in VIEWS if v in f), None)
        if view is None:
            return {}
        return {str(ds.attrs.get("id", key_to_id(key))): int(ds.attrs.get("length", ds.shape[-2] if ds.ndim > 1 else 0))
                for key, ds in f[view].items()}


def read_h5_attrs(path: str | os.PathLike) -> dict:
    """Root attributes of an embedding file (``fingerprint`` decoded from JSON)."""
    with _open(path) as f:
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    if isinstance(attrs.get("fingerprint"), str):
        attrs["fingerprint"] = json.loads(attrs["fingerprint"])
    return attrs

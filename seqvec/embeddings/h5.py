"""The per-id layout (``--layout per-id``), the output's attributes, and dict-style readers.

The readers (:func:`read_h5`, :func:`iter_h5`, ...) take every layout, through
:func:`~seqvec.open_embeddings`; the default layout is columnar (:mod:`seqvec.embeddings.columnar`).
The per-id layout, seqvec's first (docs/embeddings.md, "The output file (HDF5)")::

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
from collections.abc import Iterable, Iterator
from pathlib import Path

import h5py
import numpy as np

from seqvec import __version__
from seqvec.embeddings.layouts import id_to_key, key_to_id
from seqvec.embeddings.store import open_embeddings
from seqvec.errors import EmbeddingFileError, OutputMismatchError
from seqvec.io.arguments import id_list, path_argument

VIEWS = ("per_residue", "per_protein")
__all__ = ["VIEWS", "describe_mismatch", "existing_output_matches", "id_to_key", "iter_h5", "key_to_id", "read_h5",
           "read_h5_attrs", "read_h5_lengths", "root_attributes", "write_record"]
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


def storable_text(text: str) -> str:
    """``text`` as HDF5 can store it (UTF-8): bytes of a file name that were not UTF-8 (which Python
    keeps as surrogates) become ``\\xff`` escapes instead of failing the write after all the work."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def root_attributes(settings, view, model_name: str, fingerprint: dict, n_records: int, command: str) -> dict:
    """Root attrs of an output file (``settings``: an EmbedSettings, ``view``: a LayerView)."""
    return {
        "seqvec_version": __version__, "model": storable_text(model_name), "model_sha256": fingerprint["model_sha256"],
        "encoder": settings.encoder, "layers": settings.layers, "dtype": settings.dtype,
        "compression": settings.compression, "layout": settings.layout, "per_protein_reduction": view.reduction,
        "input_sha256": fingerprint["input_sha256"], "n_records": n_records, "command": storable_text(command),
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
            if isinstance(found, dict):
                found.setdefault("layout", "per-id")  # made before layouts had a name
    except (OSError, KeyError, ValueError, TypeError):
        raise OutputMismatchError(f"{output} exists and is not a seqvec embedding file; "
                                  f"use `overwrite` to replace it or choose another output") from None
    if found != fingerprint:
        raise OutputMismatchError(f"{output} exists and was made otherwise ({describe_mismatch(found, fingerprint)}); "
                                  f"use `overwrite` to replace it or choose another output")
    return True


def iter_h5(path: str | os.PathLike, view: str = "per_residue",
            ids: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(record id, array)`` one at a time, in file order (or in the order of ``ids``).

    Any layout :func:`~seqvec.open_embeddings` opens; memory stays bounded, so it suits
    files larger than memory. A file that cannot be read to the end raises EmbeddingFileError.
    """
    try:
        with open_embeddings(path) as store:
            if view == "per_residue":
                yield from store.iter_per_residue(ids)
                return
            for batch_ids, arrays in store.iter_batches(view, ids=ids):
                yield from zip(batch_ids, arrays)
    except (OSError, RuntimeError, KeyError) as err:
        raise EmbeddingFileError(f"{path} is corrupt: {err}", path=path) from None


def read_h5(path: str | os.PathLike, view: str = "per_residue",
            ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read embeddings into ``{record id: array}`` (any layout; :func:`~seqvec.open_embeddings`
    gives the per-protein vectors as one ``[N, D]`` matrix instead).

    Parameters
    ----------
    path : an embedding file or shard folder (seqvec's, UniProt's, biotrainer's).
    view : ``"per_residue"`` (arrays ``[L, D]``, or ``[n_layers, L, D]`` for ``--layers all``)
        or ``"per_protein"`` (arrays ``[D]``).
    ids : only these record ids (all must be present), else every record.

    The file's settings are in :func:`read_h5_attrs`; :func:`iter_h5` streams big files.
    """
    path_argument(path, "path")
    return dict(iter_h5(path, view, id_list(ids)))


def read_h5_lengths(path: str | os.PathLike) -> dict[str, int]:
    """``{record id: residues}`` of every record of an embedding file (-1 where a foreign
    per-protein file does not record it)."""
    with open_embeddings(path) as store:
        try:
            lengths = store.lengths.tolist()
        except EmbeddingFileError:
            lengths = [-1] * len(store)
        return dict(zip(store.ids, lengths))


def read_h5_digests(path: str | os.PathLike) -> dict[str, str]:
    """``{record id: md5 hex of its sequence}`` where the file records them (the columnar layout's
    ``records/digest``), else ``{}``."""
    try:
        with h5py.File(path, "r") as f:
            if "records/digest" not in f or "records/id" not in f:
                return {}
            ids = [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in f["records/id"][()]]
            digests = [d.decode("ascii") if isinstance(d, bytes) else str(d) for d in f["records/digest"][()]]
    except (OSError, KeyError, ValueError):  # unreadable: the reader that opens it says why
        return {}
    return dict(zip(ids, digests))


def read_h5_attrs(path: str | os.PathLike) -> dict:
    """Root attributes of an embedding file (``fingerprint`` decoded from JSON)."""
    with open_embeddings(path) as store:
        return store.attrs

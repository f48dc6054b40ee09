"""The embedding store's reader: ``open_embeddings(path)`` for every embedding file and shard folder.

The layouts it reads are in :mod:`.layouts`; seqvec's columnar layout is defined and
written in :mod:`.columnar`; shard folders and their index in :mod:`.shards`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from seqvec.embeddings.layouts import VIEWS, Layout, detect, root_attrs
from seqvec.embeddings.shards import check_index
from seqvec.errors import EmbeddingFileError
from seqvec.io.arguments import id_list, path_argument

logger = logging.getLogger(__name__)

IDENTITY_KEYS = ("encoder", "model", "model_sha256", "layers", "per_protein_reduction")
DEFAULT_BATCH_BYTES = 64 << 20  # iter_batches reads about this much at a time


class EmbeddingStore:
    """An open embedding file (any layout) or shard folder; use :func:`open_embeddings`.

    Attributes
    ----------
    path : the file or folder opened.
    layout : ``"columnar"``, ``"shards"`` (a folder), ``"per-id"``, ``"uniprot"`` or ``"biotrainer"``.
    ids : record ids in file order (input order for seqvec's files).
    views : the views present, of ``"per_protein"`` and ``"per_residue"``.
    attrs : the file's root attributes (``fingerprint`` decoded); empty for most foreign files.
    identity : what made the embeddings where the file says it (``encoder``, ``model``,
        ``model_sha256``, ``layers``, ``per_protein_reduction``).
    """

    def __init__(self, path: Path, f: h5py.File, layout: Layout, name: str):
        self.path = path
        self._f = f
        self._layout = layout
        self.layout = name
        self.ids: list[str] = layout.ids
        self.views = layout.views
        self.attrs = root_attrs(f)
        self.identity = {k: self.attrs[k] for k in IDENTITY_KEYS if k in self.attrs}
        self._index: dict[str, int] | None = None
        self._lengths: np.ndarray | None = None

    # --- records
    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.index

    @property
    def index(self) -> dict[str, int]:
        """``{id: row}`` (the first row of an id that occurs twice in a foreign file)."""
        if self._index is None:
            self._index = {}
            for row, record_id in enumerate(self.ids):
                self._index.setdefault(record_id, row)
        return self._index

    @property
    def lengths(self) -> np.ndarray:
        """int64 ``[N]``: residues of each record. EmbeddingFileError if the file does not say
        (a foreign per-protein file)."""
        if self._lengths is None:
            found = self._layout.lengths()
            if found is None:
                raise EmbeddingFileError(f"{self.path} ({self.layout} layout, per-protein only) does not record "
                                         "protein lengths", path=self.path)
            self._lengths = found
        return self._lengths

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The rows of ``ids``; EmbeddingFileError naming the ids that are absent."""
        ids = list(ids)
        index = self.index
        missing = [i for i in ids if i not in index]
        if missing:
            shown = ", ".join(map(repr, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise EmbeddingFileError(f"{len(missing)} ids not in {self.path}: {shown}", path=self.path,
                                     missing_ids=missing)
        return np.array([index[i] for i in ids], dtype=np.int64)

    # --- arrays
    def _need(self, view: str) -> None:
        if view not in VIEWS:
            raise EmbeddingFileError(f"view {view!r} is not one of {', '.join(VIEWS)}", path=self.path, view=view)
        if view not in self.views:
            raise self._layout.missing_view(view)

    def per_protein(self, ids: Iterable[str] | None = None) -> np.ndarray:
        """``[N, D]`` per-protein vectors of every record (or of ``ids``, in their order), in the
        stored dtype, in one read."""
        self._need("per_protein")
        wanted = id_list(ids)
        if wanted is None:
            return self._read_rows(np.arange(len(self.ids)))
        return self._read_rows(self.rows(wanted))

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(rows, return_inverse=True)
        try:
            matrix = self._layout.per_protein_rows(unique)
        except (OSError, RuntimeError, KeyError) as err:
            raise EmbeddingFileError(f"{self.path} is corrupt: {err}", path=self.path) from None
        return matrix if len(unique) == len(rows) and np.array_equal(unique, rows) else matrix[inverse]

    def per_residue(self, record_id: str) -> np.ndarray:
        """``[L, D]`` (``[n_layers, L, D]`` for ``--layers all``) of one record."""
        self._need("per_residue")
        row = int(self.rows([record_id])[0])
        try:
            return self._layout.per_residue_row(row)
        except (OSError, RuntimeError, KeyError) as err:
            raise EmbeddingFileError(f"{self.path} is corrupt: {err}", path=self.path) from None

    def iter_per_residue(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """``(id, [L, D])`` one record at a time, in file order (or the order of ``ids``)."""
        self._need("per_residue")
        rows = range(len(self.ids)) if ids is None else self.rows(ids).tolist()  # every id checked first
        for row in rows:
            try:
                array = self._layout.per_residue_row(row)
            except (OSError, RuntimeError, KeyError) as err:
                raise EmbeddingFileError(f"{self.path} is corrupt: {err}", path=self.path) from None
            yield self.ids[row], array

    def iter_batches(self, view: str = "per_protein", batch_bytes: int = DEFAULT_BATCH_BYTES,
                     ids: Iterable[str] | None = None) -> Iterator[tuple[list[str], list[np.ndarray]]]:
        """``(ids, arrays)`` in file order (or the order of ``ids``), about ``batch_bytes`` at a
        time: memory stays bounded whatever the number of records. Per-protein arrays are
        ``[D]``; per-residue ``[L, D]``."""
        self._need(view)
        order = np.arange(len(self.ids)) if ids is None else self.rows(ids)
        lengths = self._layout.lengths() if view == "per_residue" else None
        batch: list[int] = []
        size = 0
        for row in order.tolist():
            batch.append(row)
            # bytes of the row, at most 1024 float32 values per residue
            size += 4096 * (1 if lengths is None else int(lengths[row]))
            if size >= batch_bytes:
                yield self._batch(view, batch)
                batch, size = [], 0
        if batch:
            yield self._batch(view, batch)

    def _batch(self, view: str, rows: list[int]) -> tuple[list[str], list[np.ndarray]]:
        ids = [self.ids[r] for r in rows]
        if view == "per_protein":
            return ids, list(self._read_rows(np.asarray(rows)))
        return ids, [self._layout.per_residue_row(r) for r in rows]

    # --- lifetime
    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __enter__(self) -> EmbeddingStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EmbeddingStore {self.path} layout={self.layout} records={len(self)} views={','.join(self.views)}>"


def open_embeddings(path: str | os.PathLike) -> EmbeddingStore:
    """Open an embedding file of any layout, or a folder of shards, for reading.

    Layouts: seqvec's columnar (the default of ``seqvec embed``) and per-id files, a shard
    folder written with ``--shard K/N`` (through its index, without copying), UniProt's
    ``per-protein.h5`` (one dataset per accession at the root) and biotrainer /
    bio_embeddings files (datasets with an ``original_id`` attribute). ``store.layout``
    says which was found. Use as a context manager, or call ``close()``::

        with seqvec.open_embeddings("proteins.h5") as store:
            X = store.per_protein()          # [N, D], rows in store.ids order
            x = store.per_residue(store.ids[0])
    """
    path = path_argument(path, "path")
    name = None
    file = path
    if path.is_dir():
        file, name = check_index(path), "shards"
    elif not path.is_file():
        raise EmbeddingFileError(f"embedding file not found: {path}", path=path)
    try:
        f = h5py.File(file, "r")
    except OSError as err:
        raise EmbeddingFileError(f"{file} is not a readable HDF5 file ({err})", path=file) from None
    try:
        layout = detect(f)
    except (OSError, KeyError, RuntimeError) as err:
        f.close()
        raise EmbeddingFileError(f"{file} is corrupt: {err}", path=file) from None
    except Exception:
        f.close()
        raise
    logger.debug("opened %s (%s layout, %d records)", path, name or layout.name, len(layout.ids))
    return EmbeddingStore(path, f, layout, name or layout.name)


__all__ = ["EmbeddingStore", "open_embeddings"]

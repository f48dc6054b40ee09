"""Writing a columnar output in place, crash-safe, without a second copy.

An unfinished run lives in the sidecar ``<output>.partial/`` (:class:`~seqvec.embeddings.parts.PartialRun`):

* ``store.h5``: the final file, made whole at the start (records table, attributes, and the
  space of both matrices, :func:`~.columnar.create_columnar`), under a temporary name first
  and renamed, so it exists complete or not at all. After that HDF5 never writes to it
  again: rows are written into the allocated matrices through memory maps, which leaves
  the file's structure untouched whenever the process dies;
* ``journal-r<rank>.txt``: one line per commit, the numbers of the batches (of the batch
  plan, the same in every run) whose rows were flushed to disk before the line was
  written. A line cut short by a crash has no newline and is ignored.

A rerun skips the journalled batches and writes the others again (rows of a batch that
was written but not journalled are simply overwritten with the same numbers). When every
batch is journalled, ``store.h5`` is renamed to ``<output>``: the output appears complete
in one step, and no byte is copied. Several ranks write disjoint rows of the same file,
each with its own journal.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import h5py
import numpy as np

from seqvec.embeddings.columnar import ColumnarWriter, IdChunks, Shapes, create_columnar, sequence_digest
from seqvec.embeddings.files import durable_replace, writing
from seqvec.embeddings.layouts import id_to_key
from seqvec.embeddings.parts import PartialRun

logger = logging.getLogger(__name__)

COMMIT_SECONDS = 2.0  # flush and journal at most this often (and at the end)


def _fingerprint(path: Path) -> str | None:
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs["fingerprint"])
    except (OSError, KeyError):
        return None


class InPlaceRun:
    """The in-place files of the run that writes ``partial.output``."""

    def __init__(self, partial: PartialRun, rank: int = 0):
        self.partial = partial
        self.store = partial.dir / "store.h5"
        self.journal = partial.dir / f"journal-r{rank}.txt"
        self._pending: list[int] = []
        self._last_commit = time.monotonic()
        self._writer: ColumnarWriter | None = None

    def done(self) -> set[int]:
        """Batch numbers journalled by any rank (a store that does not exist has none)."""
        if not self.store.is_file():
            return set()
        found: set[int] = set()
        for journal in self.partial.dir.glob("journal-r*.txt"):
            for line in journal.read_text(errors="replace").splitlines(keepends=True):
                if line.endswith("\n") and all(w.isdigit() for w in line.split()):
                    found.update(int(w) for w in line.split())
        return found

    def create(self, ids: list[str] | IdChunks, lengths: np.ndarray, digests: list[str] | np.ndarray, shapes: Shapes,
               attrs: dict) -> None:
        """Make ``store.h5`` unless one of this fingerprint is there (rank 0; journals of an older
        store are dropped with it)."""
        if self.store.is_file() and _fingerprint(self.store) == attrs["fingerprint"]:
            return
        for journal in self.partial.dir.glob("journal-r*.txt"):
            journal.unlink()
        tmp = self.store.with_name("store.h5.tmp")
        with writing(self.store, "the output (all of its space is taken at the start)", resumable=False):
            create_columnar(tmp, ids, lengths, digests, shapes, attrs)
            durable_replace(tmp, self.store)

    def open(self, offsets: np.ndarray) -> None:
        """Map the matrices for writing (``offsets``: [N+1] per-residue row offsets)."""
        self._writer = ColumnarWriter(self.store, offsets)

    def write(self, batch: int, rows: list[int], per_residue: list[np.ndarray | None],
              per_protein: list[np.ndarray | None]) -> None:
        """Write one batch's rows; commit if the last commit is older than COMMIT_SECONDS."""
        assert self._writer is not None, "open() first"
        with writing(self.store, "the output"):
            self._writer.write(rows, per_residue, per_protein)
        self._pending.append(batch)
        if time.monotonic() - self._last_commit >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        """Flush the rows written so far, then journal their batches."""
        if not self._pending or self._writer is None:
            return
        with writing(self.store, "the output"):
            self._writer.flush()
            with open(self.journal, "a", encoding="ascii") as handle:
                handle.write(" ".join(map(str, self._pending)) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        self._pending.clear()
        self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit and unmap."""
        self.commit()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self, output: Path) -> None:
        """Rename the finished store to ``output`` (rank 0, every batch journalled)."""
        with writing(output, "the output", resumable=True):
            durable_replace(self.store, output)


def merge_parts_columnar(partial: PartialRun, sequences: dict[str, str], shapes: Shapes, attrs: dict) -> None:
    """Join the part files of a carried-state run (which must run in order, one protein after
    another, so it cannot write in place) into a columnar ``partial.output``."""
    done = partial.scan()
    ids = list(sequences)
    lengths = np.array([len(sequences[i]) for i in ids], dtype=np.int64)
    tmp = partial.output.with_name(partial.output.name + ".tmp")
    with writing(tmp, "the merged output"):
        create_columnar(tmp, ids, lengths, [sequence_digest(sequences[i]) for i in ids], shapes, attrs)
        writer = ColumnarWriter(tmp, np.concatenate([[0], np.cumsum(lengths)]))
        for row, record_id in enumerate(ids):
            with h5py.File(done[record_id], "r") as part:
                key = id_to_key(record_id)
                arrays = [part[v][key][()] if v in part else None for v in ("per_residue", "per_protein")]
            writer.write([row], [arrays[0]], [arrays[1]])
        writer.close()
        durable_replace(tmp, partial.output)

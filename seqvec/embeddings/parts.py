"""Crash-safe output: finished batches as part files, merged into the final file at the end.

HDF5 itself is not crash-safe, so an unfinished run lives in a sidecar directory
``<output>.partial/``:

* ``manifest.json``: the fingerprint of the run (settings, model, input digest);
* ``part-*.h5``: one per finished batch, built in memory, written under a temporary name,
  flushed to disk and renamed (``os.replace``), so a part either exists whole or not at
  all. Each holds the batch's datasets in the final layout plus ``ids``, and in the
  carried-state mode the LSTM state after its last record.

A restarted run skips every record found in a part; when all are there, the parts are
merged into ``<output>.tmp``, which is renamed to ``<output>`` (so the output only ever
appears complete) and the sidecar is deleted.

Failures to write (disk full, read-only folder, I/O error) raise OutputWriteError and keep
every finished part for the rerun. Parts are built in memory and written with plain file
writes, so a full disk is an ordinary error, never a crash inside HDF5; before merging,
the free space is checked against the size of the parts.
"""
from __future__ import annotations

import errno
import io
import json
import logging
import shutil
import uuid
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np

from seqvec.embeddings.files import durable_replace, write_file, writing
from seqvec.embeddings.h5 import VIEWS, describe_mismatch, write_record
from seqvec.embeddings.layouts import id_to_key
from seqvec.errors import OutputMismatchError, OutputWriteError
from seqvec.lm.kernels import CACHE as KERNELS

logger = logging.getLogger(__name__)

_OPEN_PARTS = 64  # part files kept open while merging


class PartialRun:
    """The sidecar directory of the run that writes ``output``."""

    def __init__(self, output: Path):
        self.output = output
        self.dir = output.with_name(output.name + ".partial")
        self.manifest_path = self.dir / "manifest.json"

    def part_files(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.h5")) if self.dir.is_dir() else []

    def has_work(self) -> bool:
        """Whether the sidecar holds finished work: parts, or an in-place store with a journal."""
        return bool(self.part_files()) or (self.dir.is_dir() and (self.dir / "store.h5").is_file()
                                           and any(self.dir.glob("journal-r*.txt")))

    def check(self, fingerprint: dict, batching: dict) -> None:
        """Raise OutputMismatchError if the sidecar holds parts of a run with another fingerprint,
        or made with another batch plan (``batching``: max_residues and device, which move the
        last digits of the numbers). Reads only.

        A sidecar without parts holds nothing to keep: it is replaced by this run's.
        """
        if not self.dir.exists() and not self.dir.is_symlink():
            return
        if not self.dir.is_dir():
            raise OutputMismatchError(f"{self.dir} exists and is not a directory; remove it or choose another "
                                      f"output (seqvec keeps unfinished runs there)", path=self.dir)
        if not self.has_work():
            return
        try:
            found = json.loads(self.manifest_path.read_text())
            if not isinstance(found, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError):
            raise OutputMismatchError(
                f"{self.dir} holds parts of an unfinished run but no readable manifest; "
                f"rerun with `overwrite` to start afresh", path=self.dir) from None
        found_batching = found.pop("batching", None)
        found.setdefault("layout", "per-id")  # made before layouts had a name
        if found != fingerprint:
            differences = {k: (found.get(k), fingerprint.get(k)) for k in sorted(set(found) | set(fingerprint))
                           if found.get(k) != fingerprint.get(k)}
            raise OutputMismatchError(
                f"{self.dir} holds an unfinished run with other settings ({describe_mismatch(found, fingerprint)}); "
                f"rerun it with its own settings to finish it, or use `overwrite` to start afresh",
                path=self.dir, differences=differences)
        if found_batching != batching:
            differences = {"batching": (found_batching, batching)}
            raise OutputMismatchError(
                f"{self.dir} holds an unfinished run embedded with another batch plan ({found_batching} -> "
                f"{batching}); resume it with the same `max_residues`, `device`, matrix kernels (SEQVEC_KERNEL) "
                f"and threads (batching and kernels move the last digits, and one file must not mix two), or use "
                f"`overwrite` to start afresh",
                path=self.dir, differences=differences)

    def create(self, manifest: dict) -> None:
        """Make the directory and write the manifest (replacing one that :meth:`check` accepted)."""
        with writing(self.dir, "the unfinished-run folder"):
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f"manifest.{uuid.uuid4().hex}.tmp"
            write_file(tmp, json.dumps(manifest, indent=1, sort_keys=True).encode())
            durable_replace(tmp, self.manifest_path)

    def remove(self) -> None:
        """Delete the sidecar (whatever is at its path)."""
        if self.dir.is_dir() and not self.dir.is_symlink():
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.dir.unlink(missing_ok=True)

    def scan(self) -> dict[str, Path]:
        """``{record id: part file}`` of every record in a readable part (first part wins)."""
        done: dict[str, Path] = {}
        for part in self.part_files():
            try:
                with h5py.File(part, "r") as f:
                    ids = [i.decode("utf-8") if isinstance(i, bytes) else i for i in f["ids"][()]]
            except (OSError, KeyError) as err:
                logger.warning("removing unreadable part %s (%s); its records will be embedded again", part, err)
                part.unlink(missing_ok=True)
                continue
            for record_id in ids:
                done.setdefault(record_id, part)
        return done

    def write_part(self, records: list[tuple[str, int, np.ndarray | None, np.ndarray | None]],
                   dtype: str, compression: str, rank: int = 0,
                   carry_state: list[np.ndarray] | None = None) -> Path:
        """Store finished records ``(id, length, per_residue or None, per_protein or None)``."""
        stem = f"part-r{rank}-{uuid.uuid4().hex[:16]}"
        tmp, final = self.dir / f"{stem}.h5.tmp", self.dir / f"{stem}.h5"
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            for record_id, length, per_residue, per_protein in records:
                for view, array in zip(VIEWS, (per_residue, per_protein)):
                    if array is not None:
                        write_record(f, view, record_id, array, length, dtype, compression)
            f.create_dataset("ids", data=[r[0] for r in records], dtype=h5py.string_dtype())
            f.attrs["kernels"] = json.dumps(KERNELS.used(), sort_keys=True)  # pinned when the run is resumed
            if carry_state is not None:
                for i, array in enumerate(carry_state):
                    f.create_dataset(f"carry_state/{i}", data=array)
        try:
            with writing(tmp, "the finished batch"):
                write_file(tmp, buffer.getbuffer())
                durable_replace(tmp, final)
        except OutputWriteError:
            tmp.unlink(missing_ok=True)  # frees the space it took; the batch is redone on resume
            raise
        return final

    def record_kernels(self, rank: int, choices: dict[str, str]) -> None:
        """Keep the matrix-kernel choices of an in-place run (``kernels-r<rank>.json``), for its resume."""
        path = self.dir / f"kernels-r{rank}.json"
        with writing(path, "the kernel choices"):
            tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
            write_file(tmp, json.dumps(choices, sort_keys=True).encode())
            durable_replace(tmp, path)

    def kernel_choices(self) -> dict[str, str]:
        """The matrix-kernel choices the finished parts (or an in-place run's batches) were computed with
        (``str(Shape)`` -> kernel)."""
        choices: dict[str, str] = {}
        for recorded in sorted(self.dir.glob("kernels-r*.json")) if self.dir.is_dir() else []:
            try:
                choices.update(json.loads(recorded.read_text()))
            except (OSError, ValueError):
                continue
        for part in self.part_files():
            try:
                with h5py.File(part, "r") as f:
                    choices.update(json.loads(f.attrs.get("kernels", "{}")))
            except (OSError, ValueError, TypeError):
                continue  # an unreadable part is redone (scan)
        return choices

    @staticmethod
    def read_carry_state(part: Path) -> list[np.ndarray]:
        """The LSTM state stored after the last record of a part (carried-state mode)."""
        with h5py.File(part, "r") as f:
            group = f["carry_state"]
            return [group[str(i)][()] for i in range(len(group))]

    def merge(self, order: list[str], root_attrs: dict, layout: str = "per-id",
              same_as: dict[str, str] | None = None) -> None:
        """Join the parts into ``<output>.tmp`` in input order, then rename it to ``<output>``.

        ``layout``: ``per-id`` (``<view>/<key>``) or ``uniprot`` (``<key>`` at the root, one view).
        ``same_as``: ``{id: id of the same sequence}`` for records whose arrays are another's."""
        same_as = same_as or {}
        done = self.scan()
        missing = [record_id for record_id in order if same_as.get(record_id, record_id) not in done]
        if missing:
            raise OutputMismatchError(f"cannot merge {self.dir}: {len(missing)} records missing, e.g. {missing[0]!r}")
        tmp = self.output.with_name(self.output.name + ".tmp")
        self._check_space(set(done.values()))
        handles: OrderedDict[Path, h5py.File] = OrderedDict()
        try:
            with writing(tmp, "the merged output"):
                tmp.unlink(missing_ok=True)  # a symlink planted here is removed, never written through
                try:
                    with h5py.File(tmp, "x", track_order=True) as out:
                        out.attrs.update(root_attrs)
                        for record_id in order:
                            source_id = same_as.get(record_id, record_id)
                            source = self._open(handles, done[source_id])
                            key, source_key = id_to_key(record_id), id_to_key(source_id)
                            for view in VIEWS:
                                if view not in source:
                                    continue
                                if layout == "uniprot":
                                    group = out
                                else:
                                    group = out[view] if view in out else out.create_group(view, track_order=True)
                                source.copy(source[view][source_key], group, name=key)
                                if source_id != record_id:
                                    group[key].attrs["id"] = record_id
                except RuntimeError as err:  # h5py's form of a failed write while closing
                    raise OSError(str(err)) from None
                finally:
                    for f in handles.values():
                        f.close()
                durable_replace(tmp, self.output)
        except OutputWriteError:
            tmp.unlink(missing_ok=True)
            raise
        logger.info("wrote %s (%d records)", self.output, len(order))

    def _check_space(self, parts: set[Path]) -> None:
        """Fail before merging if the output's folder has clearly too little room for the merged file."""
        needed = sum(part.stat().st_size for part in parts)
        free = shutil.disk_usage(self.output.parent).free
        if free < needed:
            raise OutputWriteError(
                f"not enough space to merge into {self.output}: about {needed / 1e6:.1f} MB needed, "
                f"{free / 1e6:.1f} MB free; the finished parts are kept in {self.dir}: free some space and "
                f"run the same command again", path=self.output, errno=errno.ENOSPC)

    @staticmethod
    def _open(handles: OrderedDict, part: Path) -> h5py.File:
        """An open part file from a small LRU cache."""
        if part in handles:
            handles.move_to_end(part)
            return handles[part]
        if len(handles) >= _OPEN_PARTS:
            handles.popitem(last=False)[1].close()
        handles[part] = h5py.File(part, "r")
        return handles[part]

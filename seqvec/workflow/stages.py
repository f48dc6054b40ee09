"""Resumable stages: each writes its outputs into its own folder, then a ``stage.json``.

``stage.json`` records the stage's settings (with the fingerprints of the stages it
reads from) and their hash. A stage whose ``stage.json`` matches is skipped; one whose
settings changed is redone, and the log says which settings changed: its finished folder
is moved aside to ``.<name>.previous`` and deleted only once the new results are
finished, so a changed setting that turns out invalid (or a crash) destroys nothing, and
a rerun with the earlier settings gets the old results back; one
without ``stage.json`` (never run, or interrupted) is run, and the library functions it
calls pick up what an interrupted run left (a partly written embedding file, finished
fold heads).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

STAGE_FILE = "stage.json"
def settings_hash(settings: dict) -> str:
    """A stable hash of JSON-able settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, or of a folder's files (names and bytes, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    for f in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        digest.update(str(f.relative_to(path.parent if path.is_file() else path)).encode())
        with f.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a, default=str)[:60]} -> {json.dumps(b, default=str)[:60]}")
    return out


class Stage:
    """One unit of work with its folder and settings."""

    def __init__(self, name: str, directory: str | os.PathLike, settings: dict):
        self.name = name
        self.directory = Path(directory)
        self.settings = json.loads(json.dumps(settings, default=str))  # as stored
        self.hash = settings_hash(self.settings)

    @property
    def record(self) -> Path:
        return self.directory / STAGE_FILE

    @property
    def previous(self) -> Path:
        """Where the finished results of earlier settings wait until new ones are finished."""
        return self.directory.with_name(f".{self.directory.name}.previous")

    def _settle_previous(self) -> None:
        """Drop results kept aside once replaced; restore them if these settings are theirs."""
        if not self.previous.is_dir():
            return
        if self.record.is_file():  # the new results were finished: the old ones are no longer needed
            shutil.rmtree(self.previous)
            return
        try:
            kept = json.loads((self.previous / STAGE_FILE).read_text()).get("hash")
        except (OSError, ValueError, AttributeError):
            kept = None
        if kept == self.hash:
            logger.info("stage %s: restoring the finished results of these settings from %s", self.name,
                        self.previous)
            if self.directory.exists():
                shutil.rmtree(self.directory)
            os.replace(self.previous, self.directory)

    def up_to_date(self) -> bool:
        """True if finished with these settings; otherwise make the folder ready to (re)run."""
        self._settle_previous()
        if self.record.is_file():
            stored = json.loads(self.record.read_text())
            if stored.get("hash") == self.hash:
                logger.info("stage %s: up to date, skipped", self.name)
                return True
            changes = _changes(stored.get("settings", {}), self.settings)
            logger.warning("stage %s: settings changed (%s); redoing it (the finished results stay in %s until "
                           "the new ones are finished)", self.name, "; ".join(changes[:6]), self.previous)
            os.replace(self.directory, self.previous)
        elif self.directory.exists():
            logger.info("stage %s: resuming an unfinished run", self.name)
        else:
            logger.info("stage %s: running", self.name)
        self.directory.mkdir(parents=True, exist_ok=True)
        return False

    def finish(self, outputs: dict | None = None) -> None:
        """Record the stage as finished (written last, atomically)."""
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stage": self.name, "hash": self.hash, "settings": self.settings,
                                   "outputs": outputs or {}}, indent=1) + "\n")
        tmp.replace(self.record)
        if self.previous.is_dir():
            shutil.rmtree(self.previous)

    def outputs(self) -> dict:
        """The outputs a finished stage recorded."""
        return json.loads(self.record.read_text()).get("outputs", {})

"""Durable file writes: flush, atomic rename, and OSError turned into OutputWriteError."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqvec.errors import OutputWriteError
from seqvec.io.output import fsync_path


@contextmanager
def writing(path: Path, what: str, resumable: bool = True) -> Iterator[None]:
    """Turn an OSError while writing ``path`` into OutputWriteError; ``resumable``: say that the
    finished parts are kept."""
    try:
        yield
    except OSError as err:
        if isinstance(err, OutputWriteError):
            raise
        reason = err.strerror or str(err)
        hint = "; the parts finished so far are kept, so running the same command again resumes" if resumable else ""
        raise OutputWriteError(f"cannot write {what} {path}: {reason}{hint}", path=path, errno=err.errno) from None


def write_file(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` and flush it to disk (no temporary name: see durable_replace). Whatever
    is at ``path`` is removed first, so a planted symlink is never followed to its target."""
    path.unlink(missing_ok=True)
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def durable_replace(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final`` atomically, after flushing it, and flush the directory."""
    fsync_path(tmp)
    os.replace(tmp, final)
    fsync_path(final.parent)

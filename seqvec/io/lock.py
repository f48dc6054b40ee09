"""One output, one run: an exclusive lock held for the whole of a run.

The lock is ``<output>.lock``, locked with ``flock`` (exclusive, non-blocking) and holding
the owner's ``pid@host``. The operating system releases a ``flock`` when its process
dies, however it dies, so a lock left by a killed run is simply taken over; there is no
stale lock to clean up by hand. A second run on the same output fails at once, naming
the holder. The lock file is opened with ``O_NOFOLLOW``: a symlink in its place is an
error, never followed (it could point at a file of the user's). (``flock`` is reliable on local file systems; on NFS it depends on the
server.)
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import stat
from pathlib import Path
from types import TracebackType

from seqvec.errors import OutputLockedError, OutputWriteError

logger = logging.getLogger(__name__)


def lock_path(output: Path) -> Path:
    """The lock file of ``output``."""
    return output.with_name(output.name + ".lock")


class OutputLock:
    """An exclusive lock on ``output``, taken on ``__enter__`` (or :meth:`acquire`)."""

    def __init__(self, output: str | os.PathLike):
        self.path = lock_path(Path(output))
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise OutputLockedError naming its holder (OutputWriteError if the
        lock file cannot be created, e.g. in a read-only folder)."""
        while True:
            try:
                # O_NOFOLLOW: a lock that is a symlink is refused, never followed to its target
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as err:
                if self.path.is_symlink():
                    raise OutputWriteError(
                        f"the lock file {self.path} is a symbolic link; seqvec never follows one (it could "
                        f"overwrite the file it points to): remove it", path=self.path, errno=err.errno) from None
                raise OutputWriteError(f"cannot create the lock file {self.path}: {err.strerror}",
                                       path=self.path, errno=err.errno) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = _read(fd) or "another process"
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputWriteError(f"cannot lock {self.path}: {err.strerror}", path=self.path,
                                           errno=err.errno) from None
                raise OutputLockedError(
                    f"{self.path.with_suffix('')} is being written by another run ({holder}); wait for it to "
                    f"finish or stop it (the lock is {self.path})", path=self.path, holder=holder) from None
            # the holder before us may have removed the file between our open and flock
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same and stat.S_ISREG(os.fstat(fd).st_mode):
                break
            if same:
                os.close(fd)
                raise OutputWriteError(f"the lock file {self.path} is not a regular file; remove it",
                                       path=self.path)
            os.close(fd)
        previous = _read(fd)
        if previous:
            logger.info("taking over the lock %s left by %s (no longer running)", self.path, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and let go of the lock (removing first: a waiting run then
        sees a new file, see :meth:`acquire`)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""

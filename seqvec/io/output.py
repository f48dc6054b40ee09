"""One output policy for every command that writes: nothing a user owns is destroyed.

Every output (a file or a directory) goes through :class:`Output`::

    with Output(path, inputs=[fasta, head_dir], overwrite=overwrite) as out:   # checked + locked here
        ...long work...
        out.write_json(report)              # or out.write_text / out.open("wb") / out.write_bytes
    with Output(head_dir, directory=True, overwrite=overwrite) as out:
        with out.staging() as tmp:          # fill a temporary folder beside the result
            save_head(tmp, ...)             # replaced atomically when the block ends

The promises, each checked on ``__enter__``, before any long work:

* **Never over an input.** ``path`` may not be any of ``inputs`` (nor a file directly
  inside one given as a directory, nor a directory holding one), compared by resolved path and by
  :func:`os.path.samefile` (symlinks, hard links), even with ``overwrite``.
* **Never over an existing result without ``overwrite``** (:class:`OutputExistsError`).
* **A one-line error naming the folder** when it cannot be written: missing and not
  creatable, read-only, full (:class:`OutputWriteError`, exit status 1).
* **One run per output**: the :class:`~seqvec.io.lock.OutputLock` ``<path>.lock`` is held
  from ``__enter__`` to ``__exit__`` (it never follows a symlink).

Writing is atomic: the new content goes to a hidden temporary name in the same folder
(``.<name>.tmp-<random>``), is flushed to disk and renamed over the result (files with
:func:`os.replace`, directories with an atomic exchange where the kernel offers one, else
two renames whose interruption is repaired by the next run). A crash leaves the old
result or the new one, never neither, ``overwrite`` included; temporary names left by a
killed run are removed by the next run on the same output.
"""
from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from seqvec.errors import ArgumentTypeError, OutputExistsError, OutputIsInputError, OutputWriteError
from seqvec.io.lock import OutputLock

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
_ASIDE = ".replaced-"  # an old directory moved aside while a new one takes its place


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _aside_prefix(path: Path) -> str:
    return f".{path.name}{_ASIDE}"


def _same(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name the same file (resolved path, or the same inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child != parent and parent in child.parents


def check_not_input(path: PathLike, inputs: Iterable[PathLike | None], *, workspace: bool = False) -> None:
    """Raise OutputIsInputError if writing ``path`` would destroy one of ``inputs``. A ``workspace``
    (a folder written into, never replaced as a whole) may hold inputs; it may not be one."""
    out = Path(path)
    for given in inputs:
        if given is None or str(given) in ("-", ""):
            continue
        source = Path(given)
        if not (os.path.lexists(source) or os.path.lexists(out)):
            continue
        # a directory's own files (a model's weights, a head's config) are inputs too
        members = [f for f in source.iterdir() if f.is_file()] if source.is_dir() else []
        if _same(out, source) or (_inside(source, out) and not workspace) or any(_same(out, f) for f in members):
            raise OutputIsInputError(
                f"the output {out} would replace the input {source}; choose another output "
                f"(inputs are never overwritten, not even when overwriting is asked for)", path=out, input=source)


def check_folder(folder: PathLike, *, need_bytes: int = 0) -> Path:
    """Make ``folder`` (with its parents) and prove it writable: a small probe file is written,
    flushed and removed. Raise OutputWriteError naming the folder if it cannot be made, is
    read-only or full (fewer than ``need_bytes`` free)."""
    where = Path(folder)
    try:
        where.mkdir(parents=True, exist_ok=True)
        probe = where / f".seqvec-probe-{uuid.uuid4().hex}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, b"\0")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
        free = shutil.disk_usage(where).free
    except OSError as err:
        raise OutputWriteError(f"cannot write in the folder {where}: {err.strerror or err}", path=where,
                               errno=err.errno) from None
    if free < need_bytes:
        raise OutputWriteError(f"the folder {where} has {free} bytes free, {need_bytes} are needed",
                               path=where, errno=errno.ENOSPC)
    return where


def fsync_path(path: Path) -> None:
    """Flush a file's (or directory's) data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_dir(new: Path, final: Path) -> None:
    """Put the finished directory ``new`` at ``final``; an old ``final`` is deleted afterwards."""
    if not os.path.lexists(final):
        os.replace(new, final)
    elif final.is_dir() and not final.is_symlink() and _exchange(new, final):
        shutil.rmtree(new)  # ``new`` now holds the old directory
    else:
        aside = final.with_name(f"{_aside_prefix(final)}{uuid.uuid4().hex[:8]}")
        os.replace(final, aside)
        try:
            os.replace(new, final)
        except OSError:
            os.replace(aside, final)
            raise
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        else:
            aside.unlink()
    fsync_path(final.parent)


class Output:
    """One output of a command, checked and locked on ``__enter__``, written atomically.

    ``path``: the file or directory to write; ``inputs``: files and directories the command
    reads (never written over); ``overwrite``: replace an existing result; ``directory``:
    the output is a directory (see :meth:`staging`); ``workspace``: a directory the
    command writes into and resumes from, never replaced as a whole (``compare``, ``run``,
    ``train --cv``): it may exist and may hold inputs, only it may not be one (implies
    ``directory`` and ``overwrite``); ``need_bytes``: free space required in the folder;
    ``lock``: hold ``<path>.lock`` (turn off only where the caller holds a lock of its own
    on the same output).
    """

    def __init__(self, path: PathLike, *, inputs: Iterable[PathLike | None] = (), overwrite: bool = False,
                 directory: bool = False, workspace: bool = False, need_bytes: int = 0, lock: bool = True):
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or str(path) in ("", "-"):
            raise ArgumentTypeError(f"path must be a file name (str or os.PathLike), got {path!r}",
                                    argument="path", value=path)
        self.path = Path(path)
        self.inputs = list(inputs)
        self.overwrite = overwrite or workspace
        self.workspace = workspace
        self.directory = directory or workspace
        self.need_bytes = need_bytes
        self._lock = OutputLock(self.path) if lock else None

    def check(self) -> None:
        """Everything :meth:`__enter__` checks, without locking (for a dry run or an early check)."""
        check_not_input(self.path, self.inputs, workspace=self.workspace)
        exists = os.path.lexists(self.path)
        if exists and self.path.is_dir() != self.directory and not self.path.is_symlink():
            kind = "a directory" if self.path.is_dir() else "a file"
            raise OutputExistsError(f"the output {self.path} is {kind}; the result here is "
                                    f"{'a directory' if self.directory else 'a file'}; choose another name",
                                    path=self.path)
        if exists and not self.overwrite:
            raise OutputExistsError(f"{self.path} already exists; choose another output, or ask to "
                                    f"overwrite it (`overwrite`)", path=self.path)
        check_folder(self.path.parent, need_bytes=self.need_bytes)

    def __enter__(self) -> Output:
        check_not_input(self.path, self.inputs, workspace=self.workspace)
        check_folder(self.path.parent, need_bytes=self.need_bytes)
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._clean_leftovers()  # may restore a result a killed run left aside
            self.check()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._lock is not None:
            self._lock.release()

    def _clean_leftovers(self) -> None:
        """Restore a directory left aside by a killed run; remove temporary names of earlier runs."""
        parent = self.path.parent
        asides = sorted(parent.glob(f"{_aside_prefix(self.path)}*"))
        if asides and not os.path.lexists(self.path):
            logger.warning("restoring %s from %s (a run replacing it was killed)", self.path, asides[-1])
            os.replace(asides.pop(), self.path)
        for left in [*parent.glob(f"{_tmp_prefix(self.path)}*"), *asides]:
            logger.info("removing %s, left by a run that did not finish", left)
            if left.is_dir() and not left.is_symlink():
                shutil.rmtree(left, ignore_errors=True)
            else:
                left.unlink(missing_ok=True)

    def _temporary(self) -> Path:
        return self.path.with_name(f"{_tmp_prefix(self.path)}{uuid.uuid4().hex[:8]}")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except OutputWriteError:
            raise
        except OSError as err:
            raise OutputWriteError(f"cannot write {self.path}: {err.strerror or err}", path=self.path,
                                   errno=err.errno) from None

    @contextmanager
    def open(self, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
        """A handle to a temporary file that becomes ``path`` when the block ends without error."""
        if self.directory:
            raise TypeError(f"{self.path} is a directory output; use staging()")
        if mode not in ("w", "wb"):
            raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
        tmp = self._temporary()
        try:
            with self._writing():
                fh: IO = open(tmp, "wb") if mode == "wb" else open(tmp, "w", encoding=encoding, newline=newline)
                with fh:
                    yield fh
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
                fsync_path(self.path.parent)
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary folder beside ``path``; when the block ends without error it replaces ``path``."""
        if not self.directory or self.workspace:
            raise TypeError(f"{self.path} is a {'workspace' if self.workspace else 'file'} output; "
                            f"{'write into it' if self.workspace else 'use open()'}")
        tmp = self._temporary()
        try:
            with self._writing():
                tmp.mkdir()
            yield tmp
            with self._writing():
                for item in tmp.rglob("*"):
                    if item.is_file() and not item.is_symlink():
                        fsync_path(item)
                replace_dir(tmp, self.path)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def temporary(self) -> Iterator[Path]:
        """A temporary file name beside ``path`` for writers that need a name (h5py, pyarrow); the file
        written there becomes ``path`` when the block ends without error."""
        if self.directory:
            raise TypeError(f"{self.path} is a directory output; use staging()")
        tmp = self._temporary()
        try:
            yield tmp
            with self._writing():
                fsync_path(tmp)
                os.replace(tmp, self.path)
                fsync_path(self.path.parent)
        finally:
            tmp.unlink(missing_ok=True)

    def write_bytes(self, data: bytes) -> None:
        """Write ``data`` as the whole of ``path``."""
        with self.open("wb") as fh:
            fh.write(data)

    def write_text(self, text: str) -> None:
        """Write ``text`` (UTF-8) as the whole of ``path``."""
        with self.open("w") as fh:
            fh.write(text)

    def write_json(self, data: Any, **dump_options: Any) -> None:
        """Write ``data`` as indented JSON with a final newline."""
        self.write_text(json.dumps(data, **{"indent": 1, **dump_options}) + "\n")


@contextmanager
def atomic_open(path: PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO]:
    """Write ``path`` atomically, without the checks or the lock (for library code whose caller
    holds an :class:`Output` on ``path``)."""
    with Output(path, overwrite=True, lock=False).open(mode, encoding=encoding, newline=newline) as fh:
        yield fh


@contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """A temporary folder that replaces the directory ``path`` when the block ends without error
    (no checks or lock: for library code whose caller holds an :class:`Output` on ``path``)."""
    with Output(path, overwrite=True, directory=True, lock=False).staging() as tmp:
        yield tmp


def write_output(path: PathLike, data: str | bytes, *, inputs: Iterable[PathLike | None] = (),
                 overwrite: bool = False) -> Path:
    """Check, lock and write one file in one call (for outputs written at once)."""
    with Output(path, inputs=inputs, overwrite=overwrite) as out:
        if isinstance(data, str):
            out.write_text(data)
        else:
            out.write_bytes(data)
    return Path(path)

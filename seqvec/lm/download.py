"""Fetching a registered model into the cache, so that a failed transfer never poisons it.

Each file of :attr:`ModelInfo.files` is streamed into ``<name>.part`` in a staging folder
(``<model dir>/.download``); an interrupted transfer resumes there with an HTTP ``Range``
request. A finished file is checked against its registered size, sha256 and md5 (those
that are known); then the model is loaded strictly from the staging folder, and only
then are the files moved into the model directory with an atomic rename. A file that
fails a check is deleted and the error says so. A lock file keeps two processes from
downloading the same model at once (the second waits, then finds it installed).
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from seqvec import __version__
from seqvec.errors import DownloadError, ModelNotFoundError, OutputWriteError
from seqvec.io.output import check_folder
from seqvec.lm.pretrained import REGISTRY, ModelFile, ModelInfo, model_dir
from seqvec.progress import progress_bar

logger = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per read
STAGING = ".download"  # folder inside the model directory holding partial files


def is_installed(name: str) -> bool:
    """Whether every file of the registered model ``name`` is in its directory."""
    directory = model_dir(name)
    wanted = [f.name for f in REGISTRY[name].files] or ["options.json", "weights.hdf5"]
    return all((directory / f).is_file() for f in wanted)


def download_model(name: str, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch the registered model ``name`` into its cache directory (nothing to do if installed).

    Returns the model directory. Raises :class:`~seqvec.errors.DownloadError` when every
    mirror fails (offline, HTTP error), or when what arrived fails a check (size, sha256,
    md5, strict load); :class:`~seqvec.errors.ModelNotFoundError` for an unknown name.
    """
    if name not in REGISTRY:
        raise ModelNotFoundError(f"no registered model {name!r}; registered: {', '.join(REGISTRY)}")
    info = REGISTRY[name]
    directory = model_dir(name)
    if info.bundled or is_installed(name):
        logger.info("model %s is already installed in %s", name, directory)
        return directory
    if not info.files:
        raise ModelNotFoundError(f"model {name!r} has no published files to download")
    staging = directory / STAGING
    check_folder(staging)  # a read-only or full SEQVEC_HOME is a one-line error before any download
    with _lock(staging / "lock"):
        if is_installed(name):  # another process finished it while this one waited
            return directory
        for spec in info.files:
            if not (staging / spec.name).is_file():
                _fetch(spec, staging, progress, timeout)
        _check_loads(info, staging)
        for spec in info.files:
            os.replace(staging / spec.name, directory / spec.name)  # atomic within one file system
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("model %s installed in %s", name, directory)
    return directory


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for as long as the block runs (waits for another holder)."""
    import fcntl

    try:  # O_NOFOLLOW: a lock that is a symlink is refused, never followed to its target
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        raise OutputWriteError(f"cannot open the lock file {path}: {err.strerror or err}"
                               + (" (it is a symbolic link; remove it)" if path.is_symlink() else ""),
                               path=path, errno=err.errno) from None
    with os.fdopen(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            logger.info("another process (%s) is downloading into %s; waiting for it",
                        handle.read().strip() or "unknown", path.parent.parent)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(spec: ModelFile, staging: Path, progress: bool, timeout: float) -> None:
    """Download ``spec`` to ``staging/<name>`` via ``<name>.part`` (resumed if present), then check it."""
    part = staging / f"{spec.name}.part"
    failures, http_errors = [], 0
    for n, url in enumerate(spec.urls):
        try:
            _transfer(url, part, spec, progress, timeout)
            break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            if isinstance(err, http.client.IncompleteRead):
                reason = "the connection closed before the end of the file"
            http_errors += str(reason).startswith("HTTP ")
            failures.append(f"{url}: {reason}")
            if n + 1 < len(spec.urls):
                logger.info("could not fetch %s (%s); trying the next mirror", url, reason)
    else:
        kept = (f"; the {part.stat().st_size:,} bytes received are kept in {part} and the next run resumes"
                if part.is_file() and part.stat().st_size else "")
        hint = ("the server refused the file (it may have moved; the files can also be placed by hand)"
                if http_errors == len(failures) else "check the network connection (or a proxy: https_proxy)")
        raise DownloadError(f"could not download {spec.name}: {'; '.join(failures)}. {hint.capitalize()}{kept}",
                            url=spec.urls[-1], path=part)
    _verify(spec, part)
    os.replace(part, staging / spec.name)


def _transfer(url: str, part: Path, spec: ModelFile, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``part``, asking only for the missing bytes when ``part`` exists."""
    have = part.stat().st_size if part.is_file() else 0
    if spec.size is not None and have >= spec.size:
        return  # complete (a larger file fails the size check)
    request = urllib.request.Request(url, headers={"User-Agent": f"seqvec/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part is complete
            return
        raise urllib.error.URLError(f"HTTP {err.code} {err.reason}") from None
    with response:
        if have and response.status != 206:  # the server ignored the range: start over
            logger.info("%s does not resume transfers; downloading %s from the start", url, spec.name)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else spec.size
        if have:
            logger.info("resuming %s at byte %s", spec.name, f"{have:,}")
        with open(part, "ab" if have else "wb") as out, progress_bar(
                total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.name,
                enabled=progress) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size < total:
            raise OSError(f"connection closed after {part.stat().st_size:,} of {total:,} bytes")


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(spec: ModelFile, part: Path) -> None:
    """Size and checksums (where registered); a file that fails is deleted."""
    problems = []
    size = part.stat().st_size
    if spec.size is not None and size != spec.size:
        problems.append(f"{size:,} bytes instead of {spec.size:,}")
    for algorithm in ("sha256", "md5"):
        wanted = getattr(spec, algorithm)
        if wanted is not None and not problems:
            found = _digest(part, algorithm)
            if found != wanted:
                problems.append(f"{algorithm} {found} instead of {wanted}")
    if problems:
        part.unlink()
        raise DownloadError(f"the downloaded {spec.name} is corrupt ({'; '.join(problems)}); it was deleted, "
                            "nothing was installed. Run the download again", url=spec.urls[0], path=part)


def _check_loads(info: ModelInfo, staging: Path) -> None:
    """Load the staged model strictly (every weight present, every shape right) before installing it."""
    from seqvec.errors import SeqVecError
    from seqvec.lm.allennlp_io import load_allennlp

    try:
        load_allennlp(staging / "options.json", staging / "weights.hdf5")
    except (SeqVecError, OSError, ValueError, KeyError) as err:
        for spec in info.files:
            (staging / spec.name).unlink(missing_ok=True)
        raise DownloadError(f"the downloaded model {info.name!r} does not load ({err}); its files were deleted, "
                            "nothing was installed. Run the download again", path=staging) from None

"""Domain exceptions: every error seqvec raises on purpose.

Each class derives from :class:`SeqVecError` and from the builtin it resembles
(``ValueError`` for bad content or settings, ``OSError`` for files that cannot be
found, locked or written), so ``except ValueError`` works as for any library. Each
carries the fields a caller tests (``path``, ``record_id``, ``value``, ...); the message
is for people and is not meant to be parsed.

The CLI prints these without a traceback. Its exit status is the class's
``exit_status``: 2 when the input or the settings are wrong (fix the command), 1 when the
environment failed (disk full, read-only place, output locked by another run: retry).
"""
from __future__ import annotations

import os


class SeqVecError(Exception):
    """Base class of every error seqvec raises on purpose."""

    exit_status = 2


class FastaFormatError(SeqVecError, ValueError):
    """A file is empty, not FASTA, not readable as text, or a header is unusable.

    ``path``: the file (``"-"`` for standard input) or None; ``record``: the 1-based
    record number, where one is at fault.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, record: int | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.record = record


class InputNotFoundError(FastaFormatError, FileNotFoundError):
    """An input file does not exist (or is a directory)."""

    def __init__(self, message: str, *, path: str | os.PathLike):
        super().__init__(message, path=path)


class InvalidSequenceError(SeqVecError, ValueError):
    """One or more records hold an empty sequence or a character outside A-Z.

    ``problems``: every ``(record id, reason)`` found, in file order; ``record_id``: the
    first of them. The message lists the first :data:`SHOWN` in full, then a count.
    """

    SHOWN = 20

    def __init__(self, record_id: str, message: str, *, problems: list[tuple[str, str]] | None = None):
        self.problems = problems if problems is not None else [(record_id, message)]
        self.record_id = record_id
        lines = [f"record {rid!r}: {reason}" for rid, reason in self.problems[:self.SHOWN]]
        if len(self.problems) > self.SHOWN:
            lines.append(f"... and {len(self.problems) - self.SHOWN} more invalid records")
        if len(self.problems) == 1:
            text = lines[0]
        else:
            text = f"{len(self.problems)} invalid records:\n  " + "\n  ".join(lines)
        super().__init__(text)


class DuplicateIdError(SeqVecError, ValueError):
    """Two or more records share an id (after id parsing). ``ids``: every duplicated id."""

    def __init__(self, ids: list[str]):
        shown = ", ".join(repr(i) for i in ids[:10])
        more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        super().__init__(f"duplicate record ids: {shown}{more}")
        self.ids = ids


class ArgumentTypeError(SeqVecError, TypeError):
    """A Python caller passed a value of the wrong type (a ``str`` where a list of sequences is
    expected, ``None``, bytes). ``argument``: the parameter's name; ``value``: what was passed."""

    def __init__(self, message: str, *, argument: str, value: object = None):
        super().__init__(message)
        self.argument = argument
        self.value = value


class ConfigError(SeqVecError, ValueError):
    """A model configuration is impossible (a field and its bad ``value``)."""

    def __init__(self, message: str, *, field: str | None = None, value: object = None):
        super().__init__(message)
        self.field = field
        self.value = value


class WeightFileError(SeqVecError, ValueError):
    """An options.json / weights.hdf5 file is unreadable or does not match the model it should build.

    ``path``: the file at fault, where known.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)


class CheckpointError(SeqVecError, ValueError):
    """A checkpoint or head directory cannot be read or does not fit."""


class ModelNotFoundError(SeqVecError, FileNotFoundError):
    """A named model is not installed where seqvec looks for it, or a model file is missing."""


class EmbedOptionError(SeqVecError, ValueError):
    """An embedding option is unknown or does not fit the model or the other options."""


class EmbeddingFileError(SeqVecError, ValueError):
    """An embedding file lacks the view or the records asked for, or is not one.

    ``path``: the file; ``view``: the view asked for, where that is what is missing;
    ``missing_ids``: ids asked for but absent.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, view: str | None = None,
                 missing_ids: list[str] | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.view = view
        self.missing_ids = missing_ids or []


class MissingViewError(EmbeddingFileError):
    """An embedding file exists but holds no datasets of the view asked for."""


class EmbeddingMismatchError(SeqVecError, ValueError):
    """Vectors compared with an index (or a head) were embedded otherwise: another model, encoder,
    layers or width.

    ``path``: the file of the vectors; ``differences``: ``{key: (index's, found)}``.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 differences: dict[str, tuple[object, object]] | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.differences = differences or {}


class OutputMismatchError(SeqVecError, ValueError):
    """An existing output (or unfinished run) was made with another model, input or settings.

    ``path``: the output or its ``.partial`` directory; ``differences``: ``{key: (found, wanted)}``.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 differences: dict[str, tuple[object, object]] | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.differences = differences or {}


class OutputLockedError(SeqVecError, BlockingIOError):
    """Another run holds the output's lock. ``path``: the lock file; ``holder``: its owner (pid@host)."""

    exit_status = 1

    def __init__(self, message: str, *, path: str | os.PathLike, holder: str):
        super().__init__(message)
        self.path = str(path)
        self.holder = holder


class OutputWriteError(SeqVecError, OSError):
    """Writing an output failed (disk full, read-only place, I/O error); what was finished is kept.

    ``path``: what was being written; ``errno``: the operating system's error number.
    """

    exit_status = 1

    def __init__(self, message: str, *, path: str | os.PathLike, errno: int | None = None):
        super().__init__(message)
        self.path = str(path)
        self.errno = errno


class OutputExistsError(SeqVecError, FileExistsError):
    """The output exists and overwriting was not asked for, or it is of the wrong kind (a
    directory where a file goes). ``path``: the output."""

    def __init__(self, message: str, *, path: str | os.PathLike):
        super().__init__(message)
        self.path = str(path)


class OutputIsInputError(SeqVecError, ValueError):
    """The output would replace one of the command's inputs (never allowed, even when
    overwriting). ``path``: the output; ``input``: the input it would destroy."""

    def __init__(self, message: str, *, path: str | os.PathLike, input: str | os.PathLike):
        super().__init__(message)
        self.path = str(path)
        self.input = str(input)


class OutOfMemoryError(SeqVecError, MemoryError):
    """A protein does not fit in the device's memory even alone. ``record_id``: that protein."""

    exit_status = 1

    def __init__(self, message: str, *, record_id: str):
        super().__init__(message)
        self.record_id = record_id


class TrainingError(SeqVecError, ValueError):
    """Training went wrong in a way no head should be saved from: a non-finite loss or weights
    (divergence), or nothing to learn from (every target masked). ``epoch``: where, if known."""

    def __init__(self, message: str, *, epoch: int | None = None):
        super().__init__(message)
        self.epoch = epoch


class LabelFormatError(SeqVecError, ValueError):
    """A label file is missing, of unknown format, or holds a bad record."""


class KernelError(SeqVecError, ValueError):
    """A matrix-product kernel was asked for (``SEQVEC_KERNEL``) that this torch or device cannot run.

    ``value``: the kernel name asked for.
    """

    def __init__(self, message: str, *, value: str):
        super().__init__(message)
        self.value = value


class DeviceError(SeqVecError, ValueError):
    """A requested device (``cuda``, ``cuda:N``, ``mps``) is malformed or not usable with this torch.

    ``device``: the device as asked for.
    """

    def __init__(self, message: str, *, device: str | None = None):
        super().__init__(message)
        self.device = device


class DownloadError(SeqVecError, OSError):
    """A model file could not be fetched, or what was fetched failed its checks.

    ``url``: where it was fetched from; ``path``: the file in the cache it was meant for.
    """

    exit_status = 1

    def __init__(self, message: str, *, url: str | None = None, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.url = url
        self.path = None if path is None else str(path)


class MissingProgramError(SeqVecError, FileNotFoundError):
    """An external program seqvec calls (MMseqs2) is not installed."""


class UsageError(SeqVecError, ValueError):
    """A setting, or a combination of settings, that cannot work.

    ``option``: the option or parameter at fault (``"--cv"``, ``"val_fraction"``), where one is;
    ``value``: the value given.
    """

    def __init__(self, message: str, *, option: str | None = None, value: object = None):
        super().__init__(message)
        self.option = option
        self.value = value


class TaskError(SeqVecError, ValueError):
    """A task, a head and the data that do not fit together (levels, kinds, classes, outputs).

    ``task``: the task's name, where one is at fault; ``head``: the head's registry name.
    """

    def __init__(self, message: str, *, task: str | None = None, head: str | None = None):
        super().__init__(message)
        self.task = task
        self.head = head


class DataError(SeqVecError, ValueError):
    """The proteins and labels given cannot support what was asked (none to test, too few to split, ...).

    ``ids``: the protein ids concerned, where the error names some.
    """

    def __init__(self, message: str, *, ids: list[str] | None = None):
        super().__init__(message)
        self.ids = list(ids or [])


class InputFileError(SeqVecError, ValueError):
    """A file given as input other than FASTA or labels (split, groups, training log, evaluation JSON)
    is missing or malformed.

    ``path``: the file; ``row``: the 1-based row at fault, where one is.
    """

    def __init__(self, message: str, *, path: str | os.PathLike, row: int | None = None):
        super().__init__(message)
        self.path = str(path)
        self.row = row


class MissingDependencyError(SeqVecError, ImportError):
    """An optional Python package needed for what was asked is not installed.

    ``package``: the package to install.
    """

    def __init__(self, message: str, *, package: str):
        super().__init__(message)
        self.package = package


class ExternalProgramError(SeqVecError, RuntimeError):
    """An external program seqvec calls (MMseqs2) ran and failed.

    ``program``: the command; ``returncode``: its exit status.
    """

    exit_status = 1

    def __init__(self, message: str, *, program: str, returncode: int):
        super().__init__(message)
        self.program = program
        self.returncode = returncode

"""Type checks of the Python API's arguments, shared by every public entry point.

The CLI hands over strings it parsed; a Python caller can hand over anything. A wrong
type is an :class:`~seqvec.errors.ArgumentTypeError` (a ``TypeError``) naming the
parameter, before any work, rather than a result that looks right: ``embed_batch("MKL")``
would otherwise embed three one-residue proteins.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from seqvec.errors import ArgumentTypeError


def _kind(value: object) -> str:
    shown = repr(value)
    return f"{type(value).__name__} ({shown[:40]}{'...' if len(shown) > 40 else ''})"


def one_sequence(value: object, argument: str = "sequence") -> str:
    """``value`` if it is one protein sequence (a ``str``)."""
    if isinstance(value, str):
        return value
    hint = "; embed_batch takes a list" if isinstance(value, (list, tuple)) else ""
    raise ArgumentTypeError(f"{argument} must be one protein sequence (a str), got a {_kind(value)}{hint}",
                            argument=argument, value=value)


def sequence_list(value: object, argument: str = "sequences") -> list[str]:
    """``value`` as a list of protein sequences: a list or tuple of ``str`` (not one ``str``)."""
    if isinstance(value, str):
        raise ArgumentTypeError(f"{argument} must be a list of sequences, got one str ({value[:20]!r}); "
                                f"wrap it in a list ([{value[:10]!r}]) or use embed() for one protein",
                                argument=argument, value=value)
    if not isinstance(value, (list, tuple)):
        raise ArgumentTypeError(f"{argument} must be a list of sequences, got a {_kind(value)}",
                                argument=argument, value=value)
    for n, item in enumerate(value):
        if not isinstance(item, str):
            raise ArgumentTypeError(f"{argument}[{n}] must be a sequence (a str), got a {_kind(item)}",
                                    argument=argument, value=item)
    return list(value)


def path_argument(value: object, argument: str) -> Path:
    """``value`` as a file name: a non-empty ``str`` or ``os.PathLike`` (not bytes, None or a number)."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise ArgumentTypeError(f"{argument} must be a file name (str or pathlib.Path), got a {_kind(value)}",
                                argument=argument, value=value)
    return Path(value)


def id_list(value: object, argument: str = "ids") -> list[str] | None:
    """``value`` as a list of record ids (None stays None); one ``str`` is refused, not split into letters."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{argument} must be a list of record ids, got a {_kind(value)}",
                                argument=argument, value=value)
    items = list(value)
    for n, item in enumerate(items):
        if not isinstance(item, str):
            raise ArgumentTypeError(f"{argument}[{n}] must be a record id (a str), got a {_kind(item)}",
                                    argument=argument, value=item)
    return items

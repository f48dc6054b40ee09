"""Progress on long work: a tqdm bar on a terminal, a periodic one-line status in a log file.

A bar redrawn with carriage returns is unreadable once stderr is redirected to a file
(every update becomes a line). :func:`progress_bar` therefore draws tqdm only when
stderr is a terminal; otherwise it logs ``desc: done/total unit (percent), elapsed``
at INFO every ``interval`` seconds.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

logger = logging.getLogger("seqvec.progress")

STATUS_INTERVAL = 30.0  # seconds between status lines when stderr is not a terminal


class StatusLine:
    """The part of tqdm's interface seqvec uses, logging a status line now and then."""

    def __init__(self, iterable: Iterable | None = None, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: float = 0, interval: float = STATUS_INTERVAL, **_ignored: Any):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.interval = interval
        self.start = self.last = time.monotonic()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            logger.info("%s", self.status(now))

    def status(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.start
        done = f"{self.n:,.0f}" + (f"/{self.total:,.0f}" if self.total else "")
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        return f"{self.desc or 'progress'}: {done} {self.unit}{share}, {elapsed:.0f} s"

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any):
    """A tqdm bar on stderr when ``enabled`` and stderr is a terminal; a :class:`StatusLine`
    when enabled otherwise; a disabled tqdm (silent) when not ``enabled``.

    ``kwargs`` are tqdm's (``total``, ``desc``, ``unit``, ``unit_scale``, ``leave``, ...).
    """
    from tqdm.auto import tqdm

    if enabled and not _stderr_is_terminal():
        return StatusLine(iterable, **kwargs)
    return tqdm(iterable, disable=not enabled, file=sys.stderr, **kwargs)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False

"""Worker processes on this machine as the ranks of one job (``seqvec embed --workers``).

Each worker runs the same command with ``WORLD_SIZE``/``RANK`` set as ``torchrun`` would
(:class:`seqvec.io.World`), so it embeds its share into its own crash-safe files and
rank 0 finishes the output; interrupting the launcher interrupts every worker (their
finished batches stay) and a rerun resumes. How many workers with how many threads is a
:class:`WorkerPlan` (``seqvec.lm.tuning.choose_workers`` measures the best one).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from seqvec.errors import EmbedOptionError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerPlan:
    """How many processes, with how many torch threads each."""

    workers: int
    threads: int


def splits(cpus: int) -> list[WorkerPlan]:
    """Every way to share ``cpus`` among equal workers (1 x cpus first)."""
    return [WorkerPlan(w, cpus // w) for w in range(1, cpus + 1) if cpus % w == 0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(words: list[str], plan: WorkerPlan) -> int:
    """Run ``python -m seqvec WORDS --threads T`` as ``plan.workers`` ranks; the first failure stops all.

    Returns the exit status (0 when every worker finished). Logs each worker's peak RSS and their sum.
    """
    if os.environ.get("WORLD_SIZE", "1") != "1":
        raise EmbedOptionError("worker processes cannot be started from inside a multi-process job (WORLD_SIZE > 1)")
    env = {**os.environ, "WORLD_SIZE": str(plan.workers), "LOCAL_WORLD_SIZE": str(plan.workers),
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": str(plan.threads)}
    command = [sys.executable, "-m", "seqvec", *words, "--threads", str(plan.threads)]
    procs = [subprocess.Popen(command, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(plan.workers)]
    status, peaks = 0, {}
    running = {p.pid: r for r, p in enumerate(procs)}
    try:
        while running:
            for pid in list(running):
                done, code, usage = os.wait4(pid, os.WNOHANG)
                if not done:
                    continue
                rank = running.pop(pid)
                procs[rank].returncode = os.waitstatus_to_exitcode(code)
                peaks[rank] = usage.ru_maxrss / 1024  # KiB on Linux
                if procs[rank].returncode != 0 and status == 0:
                    status = procs[rank].returncode if procs[rank].returncode > 0 else 1
                    logger.error("worker %d failed (exit status %d); stopping the others (rerun to resume)", rank,
                                 procs[rank].returncode)
                    _stop([procs[r] for r in running.values()])
            time.sleep(0.05)
    except KeyboardInterrupt:
        _stop([procs[r] for r in running.values()])
        raise
    if peaks:
        logger.info("peak RSS of the %d workers: %s MiB; together %.0f MiB", plan.workers,
                    ", ".join(f"{peaks[r]:.0f}" for r in sorted(peaks)), sum(peaks.values()))
    return status


def _stop(procs: list[subprocess.Popen]) -> None:
    """Interrupt workers (their finished parts stay); terminate, then kill, those that do not stop."""
    for sig, wait_s in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(sig)
        deadline = time.monotonic() + (wait_s or 0)
        while any(p.poll() is None for p in procs) and (wait_s is None or time.monotonic() < deadline):
            time.sleep(0.05)
        if all(p.poll() is not None for p in procs):
            return

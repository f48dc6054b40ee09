"""``seqvec embed --workers N|auto``: several processes, each with its own threads and share.

The workers are the ranks of a ``torchrun``-style job started on this machine: each runs
the same ``seqvec embed`` command with ``WORLD_SIZE``/``RANK`` set, embeds its share of
the batch plan into its own crash-safe part files (:mod:`seqvec.embeddings.parts`), and
rank 0 merges them, so interrupting and rerunning resumes as for one process. Before
they start, the matrix kernels of the model's shape are measured (or read from the
cache) at the workers' thread count, so every worker uses the same kernels as one
process of that thread count would: the output is bit-identical to it.

``auto`` chooses workers x threads by a short measurement: every split of the CPUs
(1 x all, 2 x half, ...) runs LSTM time steps of the model's shape in that many
processes at once; the split with the most rows per second wins. The choice is cached
in ``workers.json`` in the seqvec cache directory, keyed by CPU model, torch version,
core count and the model's shape (delete the file to measure again).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from seqvec.errors import EmbedOptionError

logger = logging.getLogger(__name__)

MEASURE_STEPS = 40


@dataclass(frozen=True)
class WorkerPlan:
    """How many processes, with how many torch threads each."""

    workers: int
    threads: int


def splits(cpus: int) -> list[WorkerPlan]:
    """Every way to share ``cpus`` among equal workers (1 x cpus first)."""
    return [WorkerPlan(w, cpus // w) for w in range(1, cpus + 1) if cpus % w == 0]


def _host_key(shape: tuple[int, int, int], precision: str) -> str:
    import torch

    from seqvec.lm.host import cpu_info

    return (f"{cpu_info().model} | torch {torch.__version__} | {os.cpu_count()} cores | "
            f"LSTM {shape[0]}x{shape[1]}x{shape[2]} {precision}")


def _cache_path() -> Path:
    from seqvec.lm.host import cache_dir

    return cache_dir() / "workers.json"


def step_rate(shape: tuple[int, int, int], precision: str, rows: int, threads: int, steps: int = MEASURE_STEPS
              ) -> float:
    """Rows per second of LSTM time steps (recurrent product, gates, projection) in this process."""
    import torch

    from seqvec.lm.bilstm import ProjectedLSTM

    torch.set_num_threads(threads)
    input_dim, cell_dim, proj_dim = shape
    layer = ProjectedLSTM(input_dim, cell_dim, proj_dim, 3.0, 3.0).eval()
    layer.compute_dtype = {"float32": torch.float32, "bf16": torch.bfloat16}[precision]
    with torch.no_grad():
        _, w_rec, w_proj = layer._products(rows)
        xin, h, c = torch.randn(rows, 4 * cell_dim), torch.zeros(rows, proj_dim), torch.zeros(rows, cell_dim)
        layer._step(xin, h, c, w_rec, w_proj)  # warm-up
        start = time.perf_counter()
        for _ in range(steps):
            h, c = layer._step(xin, h, c, w_rec, w_proj)
        return rows * steps / (time.perf_counter() - start)


def measure_split(plan: WorkerPlan, shape: tuple[int, int, int], precision: str, rows: int) -> float:
    """Rows per second of ``plan.workers`` processes running time steps at once (the slowest one counts)."""
    code = ("import sys, json; from seqvec.embeddings.workers import step_rate; "
            "print(step_rate(*json.loads(sys.argv[1])))")
    argument = json.dumps([list(shape), precision, rows, plan.threads])
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads)}
    procs = [subprocess.Popen([sys.executable, "-c", code, argument], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(plan.workers)]
    rates = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the measurement of {plan} failed (exit status {proc.returncode})")
        rates.append(float(out.strip().splitlines()[-1]))
    return plan.workers * min(rates)


def choose_workers(shape: tuple[int, int, int], precision: str, rows: int, remeasure: bool = False) -> WorkerPlan:
    """The split of this machine's CPUs with the most rows per second (cached in ``workers.json``)."""
    path, key = _cache_path(), _host_key(shape, precision)
    try:
        cached = json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        cached = None
    if cached and not remeasure:
        plan = WorkerPlan(int(cached["workers"]), int(cached["threads"]))
        logger.info("--workers auto: %d worker(s) x %d thread(s) (measured earlier, %s)", plan.workers, plan.threads,
                    path)
        return plan
    rates = {plan: measure_split(plan, shape, precision, rows) for plan in splits(os.cpu_count() or 1)}
    best = max(rates, key=rates.__getitem__)
    logger.info("--workers auto: %d worker(s) x %d thread(s) (rows per second: %s)", best.workers, best.threads,
                ", ".join(f"{p.workers}x{p.threads} {r:.0f}" for p, r in rates.items()))
    try:
        entries = json.loads(path.read_text()) if path.exists() else {}
        entries[key] = {"workers": best.workers, "threads": best.threads,
                        "rows_per_s": {f"{p.workers}x{p.threads}": round(r, 1) for p, r in rates.items()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except (OSError, ValueError) as err:
        logger.warning("cannot write %s (%s); the choice holds for this run only", path, err)
    return best


def prepare_kernels(shape: tuple[int, int, int], precision: str, threads: int) -> None:
    """Measure (or read) every kernel choice of the shape at ``threads`` threads, so all workers share them."""
    import torch

    from seqvec.lm.tuning import measure_lstm_products

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        dtype = {"float32": torch.float32, "bf16": torch.bfloat16}[precision]
        measure_lstm_products(shape[0], shape[1], shape[2], dtype, remeasure=False)
    finally:
        torch.set_num_threads(before)


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

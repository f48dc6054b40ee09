"""Measuring, ahead of use, the matrix kernels that an LSTM layer of a given shape runs
(``seqvec info --measure``). It stands above :mod:`seqvec.lm.bilstm`, whose time chunk
sets the row counts of the input products, and above :mod:`seqvec.lm.kernels`, which
times and caches each product; the report of what the host offers and what is cached
for it (``seqvec info``); and the split of the CPUs into worker processes x threads that
``seqvec embed --workers auto`` uses."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from seqvec.io.workers import WorkerPlan, splits
from seqvec.lm import host, kernels
from seqvec.lm.bilstm import TIME_CHUNK
from seqvec.lm.config import PRESETS
from seqvec.lm.kernels import CACHE, LARGE_ROWS, MatrixProduct, Shape

logger = logging.getLogger(__name__)


def measure_lstm_products(input_dim: int, cell_dim: int, proj_dim: int, dtype: torch.dtype,
                          max_proteins: int = 256, remeasure: bool = True) -> dict[str, str]:
    """Measure every product an LSTM layer of this shape runs, for 1 to ``max_proteins`` proteins.

    Random weights and inputs of the real shapes: the recurrent and projection products
    at 1, 2, 4, ... rows, the input products of a chunk of time steps at 1, 2, 4, ...
    proteins times the chunk length. ``remeasure=False`` measures only the shapes that are
    not cached yet. Returns ``str(Shape)`` -> the kernel kept.
    """
    generator = torch.Generator().manual_seed(0)
    proteins = [1 << i for i in range(max_proteins.bit_length())]
    # (K, N, [(rows, the added term: "state" (rows, N), "bias" (N,) or None)])
    plan: list[tuple[int, int, list[tuple[int, str | None]]]] = [
        (proj_dim, 4 * cell_dim, [(p, "state") for p in proteins]),  # recurrent
        (input_dim, 4 * cell_dim, [(p * TIME_CHUNK[dtype], "bias") for p in proteins]),  # a chunk's input
        (cell_dim, proj_dim, [(p, None) for p in proteins])]  # projection
    chosen: dict[str, str] = {}
    for k, n, runs in plan:
        weight = (torch.rand(k, n, generator=generator) - 0.5) / k ** 0.5
        product = MatrixProduct(weight, dtype)
        for rows, add_kind in runs:
            rows = min(rows, LARGE_ROWS)
            shape = str(Shape.of(dtype, rows, k, n))
            cached = CACHE.entries().get(shape)
            if shape in chosen:
                continue
            if cached and not remeasure:
                chosen[shape] = cached["kernel"]
                continue
            a = torch.randn(rows, k, generator=generator)
            add = None
            if add_kind is not None:
                add = torch.randn(*((rows, n) if add_kind == "state" else (n,)), generator=generator)
            chosen[shape] = product.measure(a, add)
    return chosen


def host_report(measure: str | None = None) -> dict:
    """The CPU, the torch build, the thread count and the kernel choices cached for this host, as a dict
    (what ``seqvec info`` prints); ``measure`` names a preset shape (``seqvec``, ``mini``, ``tiny``) to time first."""
    info = host.cpu_info()
    measured = {}
    if measure:
        config = PRESETS[measure]
        dtypes = [torch.float32] + ([torch.bfloat16] if info.bf16_instructions() else [])
        for dtype in dtypes:
            measured.update(measure_lstm_products(config.projection_dim, config.lstm_dim, config.projection_dim, dtype))
    build = torch.__config__.show()
    entries = kernels.CACHE.entries()
    return {
        "cpu": {"model": info.model, "machine": info.machine, "logical_cpus": info.logical_cpus,
                "features": info.features(), "torch_capability": info.capability,
                "bf16_instructions": info.bf16_instructions()},
        "torch": {"version": torch.__version__, "blas": _match(r"BLAS_INFO=(\w+)", build),
                  "mkl": _match(r"Math Kernel Library Version ([\w.]+)", build) if torch.backends.mkl.is_available()
                  else None,
                  "onednn": _match(r"MKL-DNN (v[\w.]+)", build) if torch.backends.mkldnn.is_available() else None,
                  "onednn_packed": {"float32": kernels.onednn_available(torch.float32),
                                    "bfloat16": kernels.onednn_available(torch.bfloat16)},
                  "cuda": torch.version.cuda, "cuda_devices": torch.cuda.device_count()},
        "threads": torch.get_num_threads(),
        "kernel_env": os.environ.get(kernels.KERNEL_ENV, "auto"),
        "kernel_cache": str(kernels.cache_path()),
        "host_key": host.host_key(),
        "kernels": dict(sorted(entries.items(), key=lambda kv: _order(kv[1]))),
        "measured_now": sorted(measured),
    }


def _match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _order(entry: dict) -> tuple:
    return entry.get("dtype", ""), entry.get("k", 0), entry.get("n", 0), entry.get("rows", 0)


# ``seqvec embed --workers auto``: which split of the CPUs into worker processes x threads runs
# LSTM time steps fastest here; cached in workers.json in the seqvec cache directory, keyed by
# CPU model, torch version, core count and the model's shape (delete it to measure again).
MEASURE_STEPS = 150  # long enough for the workers' timings to overlap well (0.3-1 s at the full shape)


def _host_key(shape: tuple[int, int, int], precision: str) -> str:
    return (f"{host.cpu_info().model} | torch {torch.__version__} | {os.cpu_count()} cores | "
            f"LSTM {shape[0]}x{shape[1]}x{shape[2]} {precision}")


def _cache_path() -> Path:
    return host.cache_dir() / "workers.json"


def step_rate(shape: tuple[int, int, int], precision: str, rows: int, threads: int, steps: int = MEASURE_STEPS,
              ready: Callable[[], None] | None = None) -> float:
    """Rows per second of LSTM time steps (recurrent product, gates, projection) in this process.

    ``ready`` is called once everything is built and warm, just before the timing starts (the
    workers of :func:`measure_split` wait there for each other)."""
    from seqvec.lm.bilstm import ProjectedLSTM

    torch.set_num_threads(threads)
    input_dim, cell_dim, proj_dim = shape
    layer = ProjectedLSTM(input_dim, cell_dim, proj_dim, 3.0, 3.0).eval()
    layer.compute_dtype = {"float32": torch.float32, "bf16": torch.bfloat16}[precision]
    with torch.no_grad():
        _, w_rec, w_proj = layer._products(rows)
        xin, h, c = torch.randn(rows, 4 * cell_dim), torch.zeros(rows, proj_dim), torch.zeros(rows, cell_dim)
        layer._step(xin, h, c, w_rec, w_proj)  # warm-up
        if ready is not None:
            ready()
        start = time.perf_counter()
        for _ in range(steps):
            h, c = layer._step(xin, h, c, w_rec, w_proj)
        return rows * steps / (time.perf_counter() - start)


def measure_split(plan: WorkerPlan, shape: tuple[int, int, int], precision: str, rows: int) -> float:
    """Rows per second of ``plan.workers`` processes running time steps at once (the slowest one counts).

    Each process builds and warms its layer, says so, and waits until every one has: only then
    do they all time their steps, so that the timings overlap (they compete for the caches and
    memory bandwidth as real workers do) instead of each running alone while another is still
    starting."""
    code = ("import sys, json; from seqvec.lm.tuning import step_rate\n"
            "def ready():\n    print('ready', flush=True)\n    sys.stdin.readline()\n"
            "print(step_rate(*json.loads(sys.argv[1]), ready=ready))")
    argument = json.dumps([list(shape), precision, rows, plan.threads])
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads)}
    procs = [subprocess.Popen([sys.executable, "-c", code, argument], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(plan.workers)]
    for proc in procs:  # every worker built and warm
        assert proc.stdout is not None
        proc.stdout.readline()
    for proc in procs:  # go
        assert proc.stdin is not None
        try:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        except BrokenPipeError:  # it failed while starting: its exit status says so below
            pass
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


def prepare_worker_kernels(shape: tuple[int, int, int], precision: str, threads: int) -> None:
    """Measure (or read) every kernel choice of the shape at ``threads`` threads, so all workers share them."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        dtype = {"float32": torch.float32, "bf16": torch.bfloat16}[precision]
        measure_lstm_products(shape[0], shape[1], shape[2], dtype, remeasure=False)
    finally:
        torch.set_num_threads(before)

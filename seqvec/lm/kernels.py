"""Matrix-product kernels chosen by measurement on the host (see :mod:`seqvec.lm.host` for what the CPU offers).

Nearly all of the LSTM's time goes into ``add + a @ W`` for three weights per direction
and layer: the input products of a chunk of time steps (many rows), the recurrent
product and the projection (one row per protein still running). On CPU two kernels
compete:

``mkl``
    torch's own product (``torch.addmm``: MKL's sgemm in x86 builds of torch; in
    bfloat16 torch's default bfloat16 path).
``onednn``
    the weight reordered once into oneDNN's blocked layout
    (``torch.ops.mkldnn._reorder_linear_weight``) and multiplied with
    ``torch.ops.mkldnn._linear_pointwise``, so that small products do not repack it.

Which one is faster depends on the CPU and on the number of rows (on an AMD Zen 4,
oneDNN's float32 was 3-5x faster at 6-64 rows; on an Intel Xeon with AMX, MKL was as
fast or faster at most row counts). So each product shape -- dtype, rows (in powers of
two), K, N -- is timed once with every kernel this torch offers, on the real inputs,
and the fastest is kept, in memory and in ``kernels.json`` under the seqvec cache
directory (``$SEQVEC_HOME`` or the platform cache), keyed by CPU model, torch version
and thread count. Deleting the file makes seqvec measure again; an unreadable file is
ignored and rewritten. Both kernels compute in float32 (or bfloat16 products
accumulated in float32) and agree to rounding; the tests check each against allennlp.

``SEQVEC_KERNEL=mkl`` or ``=onednn`` forces one kernel everywhere (``auto``, the default,
measures).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch

from seqvec.errors import KernelError
from seqvec.lm.host import cache_dir, cpu_info, host_key
from seqvec.moved import forward_names

logger = logging.getLogger(__name__)

# measure_lstm_products moved to seqvec.lm.tuning (the old path works for one release)
__getattr__ = forward_names(__name__)

KERNELS = ("mkl", "onednn")
KERNEL_ENV = "SEQVEC_KERNEL"
CACHE_FORMAT = 1
# Least number of timed calls per kernel after one warm-up, interleaved between kernels;
# the minimum counts (the least disturbed by other work on a shared machine).
ROUNDS = 3
# Products of this many rows or more share one choice, measured on this many rows (a
# chunk's input products reach thousands of rows; timing those in full would take seconds)
LARGE_ROWS = 256


class Product(Protocol):
    """``add + a @ W`` for one weight matrix ``W (K, N)``: float32 in, float32 out; ``add`` is
    None, a bias ``(N,)`` or a matrix ``(rows, N)``."""

    def __call__(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor: ...


def forced_kernel() -> str | None:
    """The kernel ``SEQVEC_KERNEL`` forces, or None (``auto`` or unset: measure)."""
    value = os.environ.get(KERNEL_ENV, "auto").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in KERNELS:
        raise KernelError(f"{KERNEL_ENV}={value!r}: expected one of auto, {', '.join(KERNELS)}", value=value)
    return value


def kernel_identity() -> dict[str, str]:
    """The kernel setting a run must keep: ``SEQVEC_KERNEL`` (or ``auto``). Kernels agree only to
    rounding, so an unfinished embedding is resumed with the same setting, and with ``auto`` with the
    choices its first part used (:meth:`KernelCache.pin`), whatever the threads or host measure now."""
    return {"forced": forced_kernel() or "auto"}


@functools.cache
def onednn_available(dtype: torch.dtype) -> bool:
    """Whether this torch has oneDNN's packed product for ``dtype`` on CPU (private ops, probed once)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        if dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        packed = torch.ops.mkldnn._reorder_linear_weight(torch.zeros(8, 4, dtype=dtype), 1)
        torch.ops.mkldnn._linear_pointwise(torch.zeros(1, 4, dtype=dtype), packed, None, "none", [], "")
    except (AttributeError, RuntimeError):  # a torch built without these private ops
        return False
    return True


def available_kernels(dtype: torch.dtype, device: torch.device) -> tuple[str, ...]:
    """The kernels that can run a product in ``dtype`` on ``device``."""
    if device.type == "cpu" and onednn_available(dtype):
        return KERNELS
    return ("mkl",)


@dataclass(frozen=True)
class Shape:
    """A product shape as measured: dtype, rows grouped in powers of two (``rows``..``2 rows - 1``;
    ``LARGE_ROWS`` and more in one group), K, N."""

    dtype: str  # "float32" or "bfloat16"
    rows: int  # the smallest row count of the group, a power of two
    k: int
    n: int

    @classmethod
    def of(cls, dtype: torch.dtype, rows: int, k: int, n: int) -> Shape:
        return cls(str(dtype).removeprefix("torch."), min(1 << (rows.bit_length() - 1), LARGE_ROWS), k, n)

    def __str__(self) -> str:  # the key in kernels.json, e.g. "float32 rows 8-15 x 512 -> 16384"
        span = {1: "1", LARGE_ROWS: f"{LARGE_ROWS}+"}.get(self.rows, f"{self.rows}-{2 * self.rows - 1}")
        return f"{self.dtype} rows {span} x {self.k} -> {self.n}"


def cache_path() -> Path:
    """``kernels.json`` in the seqvec cache directory (``$SEQVEC_HOME`` or the platform cache)."""
    return cache_dir() / "kernels.json"


class KernelCache:
    """The measured choices, per host key and shape key, mirrored in ``kernels.json``."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Path, str], dict[str, dict]] = {}  # (file, host) -> shape -> entry
        self._logged: set[str] = set()
        self._warned_busy = False
        self._used: dict[str, str] = {}  # shape -> kernel chosen in this process
        self._pinned: dict[str, str] = {}  # shape -> kernel a resumed run must use
        self.generation = 0  # bumped by pin(): products built before must choose again

    def used(self) -> dict[str, str]:
        """``str(Shape)`` -> kernel of every choice made in this process (recorded with an embedding's parts)."""
        return dict(self._used)

    def pin(self, choices: dict[str, str]) -> None:
        """Use these choices (``str(Shape)`` -> kernel) before any cached or measured one: an unfinished
        run resumed in another process computes as its first part did."""
        fresh = {shape: kernel for shape, kernel in choices.items() if kernel in KERNELS}
        if fresh and any(self._pinned.get(s) != k for s, k in fresh.items()):
            self._pinned.update(fresh)
            self.generation += 1

    def entries(self, path: Path | None = None, host: str | None = None) -> dict[str, dict]:
        """``str(Shape)`` -> ``{"kernel": name, "ms": {kernel: ms}, **Shape fields}`` for this host (read once)."""
        path, host = path or cache_path(), host or host_key()
        if (path, host) not in self._entries:
            self._entries[(path, host)] = dict(_read(path).get(host, {}))
        return self._entries[(path, host)]

    def forget(self) -> None:
        """Drop what was read, measured or pinned in this process (the file stays)."""
        self._entries.clear()
        self._logged.clear()
        self._used.clear()
        self._pinned.clear()
        self.generation += 1

    def choose(self, shape: Shape, candidates: dict[str, Callable[[], object]], remeasure: bool = False) -> str:
        """The cached kernel for ``shape``, or the fastest of ``candidates`` (measured, then stored)."""
        key = str(shape)
        if self._pinned.get(key) in candidates and not remeasure:
            self._used[key] = self._pinned[key]
            return self._pinned[key]
        path, host = cache_path(), host_key()
        entries = self.entries(path, host)
        cached = entries.get(key)
        if cached and cached.get("kernel") in candidates and not remeasure:
            self._log(key, cached, f"from {path}")
            self._used[key] = cached["kernel"]
            return cached["kernel"]
        times = measure(candidates)
        entry = {"kernel": min(times, key=times.__getitem__), "ms": {k: round(v * 1e3, 4) for k, v in times.items()},
                 **asdict(shape), "load": round(_load_per_cpu(), 2)}
        if entry["load"] > 1 and not self._warned_busy:
            self._warned_busy = True
            logger.warning("measuring matrix kernels while the machine is busy (load average %.1f per CPU): the "
                           "choices may be off; 'seqvec info --measure' on a quiet machine measures them again",
                           entry["load"])
        entries[key] = entry
        _write(path, host, key, entry)
        self._log(key, entry, "measured")
        self._used[key] = entry["kernel"]
        return entry["kernel"]

    def _log(self, shape: str, entry: dict, source: str) -> None:
        """One line per shape and process (a new measurement is always logged)."""
        if source != "measured" and shape in self._logged:
            return
        self._logged.add(shape)
        times = ", ".join(f"{k} {v:.3f} ms" for k, v in sorted(entry.get("ms", {}).items()))
        logger.debug("kernel for %s: %s (%s; %s)", shape, entry["kernel"], times, source)


CACHE = KernelCache()


def measure(candidates: dict[str, Callable[[], object]], rounds: int = ROUNDS, budget_s: float = 0.02,
            max_rounds: int = 64) -> dict[str, float]:
    """Seconds per call of each candidate: the minimum over interleaved calls, after one warm-up each.

    At least ``rounds`` rounds, more (up to ``max_rounds``) while they take less than
    ``budget_s`` in all: the minimum of many calls of a small product is what the
    product costs when no other process takes the core away in the middle of it.
    """
    best = {}
    for name, call in candidates.items():
        call()
        best[name] = float("inf")
    start, done = time.perf_counter(), 0
    while done < rounds or (done < max_rounds and time.perf_counter() - start < budget_s):
        for name, call in candidates.items():
            t = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - t)
        done += 1
    return best


def _load_per_cpu() -> float:
    """The 1-minute load average per logical CPU (0 where the OS does not say)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return 0.0


def _read(path: Path) -> dict[str, dict]:
    """Host key -> entries from ``path``; a missing or unreadable file reads as empty (and is logged)."""
    try:
        data = json.loads(path.read_text())
        hosts = data["hosts"]
        if data.get("format") != CACHE_FORMAT or not isinstance(hosts, dict):
            raise ValueError(f"format {data.get('format')!r}, expected {CACHE_FORMAT}")
        return {host: {s: e for s, e in shapes.items() if isinstance(e, dict) and e.get("kernel") in KERNELS}
                for host, shapes in hosts.items() if isinstance(shapes, dict)}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        logger.warning("ignoring the kernel cache %s (%s: %s); measuring again", path, type(err).__name__, err)
        return {}


def _write(path: Path, host: str, shape: str, entry: dict) -> None:
    """Add one entry to the file (re-read first, so that other processes' entries stay), atomically."""
    hosts = _read(path) if path.exists() else {}
    hosts.setdefault(host, {})[shape] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".kernels.", suffix=".tmp",
                                         delete=False) as fh:
            json.dump({"format": CACHE_FORMAT, "hosts": hosts}, fh, indent=1, sort_keys=True)
        os.replace(fh.name, path)
    except OSError as err:  # a read-only cache: keep the choice for this process only
        logger.warning("cannot write the kernel cache %s (%s); the choice holds for this run only", path, err)


def warn_if_bf16_is_slow(device: torch.device) -> None:
    """Warn when bfloat16 products cannot be faster than float32 here (a CPU without bfloat16 instructions)."""
    info = cpu_info()
    if device.type == "cpu" and info.flags_known and info.bf16_instructions() is None:
        logger.warning("precision bf16: this CPU (%s) has no bfloat16 instructions (AMX, AVX512_BF16 or ARM BF16), "
                       "so bf16 will not be faster than float32 here, only less exact (training the ConvLSTM head "
                       "under bf16 autocast was 10-12x slower than float32 on an AVX2-only AMD EPYC)", info.model)


_LARGE_BITS = LARGE_ROWS.bit_length()


class MatrixProduct:
    """``add + a @ W`` for one weight ``W (K, N)``, with its products in ``dtype``; float32 in and out.

    In bfloat16 the input and weight are rounded to bfloat16 and the product accumulates
    in float32. The kernel is picked per row count (powers of two) on first use: the one
    ``kernel`` names, else ``SEQVEC_KERNEL``'s, else the cached or measured fastest.
    The weight is read when the product is built (and packed lazily): build a new
    product after the weight changes.
    """

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype = torch.float32, kernel: str | None = None):
        self.weight = weight  # (K, N), float32
        self.dtype = dtype
        self.forced = kernel or forced_kernel()
        self.available = available_kernels(dtype, weight.device)
        if self.forced and self.forced not in self.available:
            raise KernelError(f"kernel {self.forced!r} is not available for {str(dtype).removeprefix('torch.')} "
                              f"products on {weight.device} with this torch ({torch.__version__}); "
                              f"available: {', '.join(self.available)}", value=self.forced)
        self.kernels: dict[int, str] = {}  # rows.bit_length() -> kernel name (inspected by tests and logs)
        self._run: dict[int, Product] = {}
        self._weight_t: torch.Tensor | None = None  # (N, K) in dtype, for the bfloat16 mkl kernel
        self._packed: torch.Tensor | None = None  # oneDNN's blocked layout

    def __call__(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        run = self._run.get(min(a.shape[0].bit_length(), _LARGE_BITS))
        if run is None:
            run = self._select(a, add)
        return run(a, add)

    def kernel_for(self, rows: int) -> str | None:
        """The kernel chosen for ``rows`` rows so far (None: not used yet)."""
        return self.kernels.get(min(rows.bit_length(), _LARGE_BITS))

    def measure(self, a: torch.Tensor, add: torch.Tensor | None = None) -> str:
        """Time every available kernel on these inputs (even if cached or forced), store and use the fastest."""
        self._select(a, add, remeasure=True)
        return self.kernels[min(a.shape[0].bit_length(), _LARGE_BITS)]

    def _select(self, a: torch.Tensor, add: torch.Tensor | None, remeasure: bool = False) -> Product:
        bucket = min(a.shape[0].bit_length(), _LARGE_BITS)
        functions: dict[str, Product] = {"mkl": self._mkl, "onednn": self._onednn}
        if (self.forced or len(self.available) == 1) and not remeasure:
            name = self.forced or self.available[0]
        else:
            shape = Shape.of(self.dtype, a.shape[0], *self.weight.shape)
            if add is not None and add.dim() == 2:
                add = add[:LARGE_ROWS]
            a = a[:LARGE_ROWS]
            name = CACHE.choose(shape, {k: functools.partial(functions[k], a, add) for k in self.available},
                                remeasure)
        self.kernels[bucket], self._run[bucket] = name, functions[name]
        return functions[name]

    def _mkl(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        if self.dtype == torch.float32:
            return a @ self.weight if add is None else torch.addmm(add, a, self.weight)
        if self._weight_t is None:
            self._weight_t = self.weight.detach().t().contiguous().to(self.dtype)  # (N, K)
        y = torch.nn.functional.linear(a.to(self.dtype), self._weight_t).float()
        return y if add is None else y.add_(add)

    def _onednn(self, a: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        if self._packed is None:
            weight_t = self.weight.detach().t().contiguous().to(self.dtype)  # (N, K), linear's layout
            self._packed = torch.ops.mkldnn._reorder_linear_weight(weight_t, 1)
        if self.dtype == torch.float32 and add is not None and add.dim() == 1:
            return torch.ops.mkldnn._linear_pointwise(a, self._packed, add, "none", [], "")  # bias fused
        y = torch.ops.mkldnn._linear_pointwise(a.to(self.dtype), self._packed, None, "none", [], "")
        y = y.float() if self.dtype != torch.float32 else y
        return y if add is None else y.add_(add)

    def __getstate__(self) -> dict:
        """Pickling and deepcopy leave the derived weights out (oneDNN's packed tensors have no storage)."""
        state = self.__dict__.copy()
        state.update(_run={}, kernels={}, _weight_t=None, _packed=None)
        return state

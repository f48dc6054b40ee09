"""What the host is: its CPU (model, instruction sets, torch's dispatch level), the key a
measurement on it holds for, and seqvec's cache directory. The bottom of ``lm``: it
imports nothing of seqvec, so that the kernels, the models and the loaders can all ask it."""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as the operating system reports it, and torch's dispatch level for it."""

    model: str  # e.g. "AMD EPYC 9R14" (/proc/cpuinfo "model name"), or the platform's processor string
    machine: str  # x86_64, aarch64, arm64, ...
    flags: frozenset[str]  # /proc/cpuinfo flags (x86) or Features (ARM); empty where unknown
    capability: str  # torch.backends.cpu.get_cpu_capability(): DEFAULT, AVX2, AVX512, ...
    logical_cpus: int

    @property
    def flags_known(self) -> bool:
        return bool(self.flags)

    def features(self) -> dict[str, bool | None]:
        """The instruction sets that decide the kernels (None: the OS did not say)."""
        known = self.flags_known
        names = {"AVX2": "avx2", "AVX-512": "avx512f", "AVX512_BF16": "avx512_bf16", "AMX": "amx_bf16"}
        if self.machine in ("aarch64", "arm64"):
            names = {"NEON": "asimd", "SVE": "sve", "BF16": "bf16"}
        return {name: (flag in self.flags) if known else None for name, flag in names.items()}

    def bf16_instructions(self) -> str | None:
        """The bfloat16 instructions this CPU has (``"AMX"``, ``"AVX512_BF16"``, ``"BF16"``), else None."""
        features = self.features()
        return next((name for name in ("AMX", "AVX512_BF16", "BF16") if features.get(name)), None)


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """What this machine's CPU is and offers (read once per process)."""
    model, flags = "", frozenset[str]()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = frozenset(value.split())
    except OSError:  # not Linux
        pass
    return CpuInfo(model=model or platform.processor() or platform.machine() or "unknown CPU",
                   machine=platform.machine(), flags=flags,
                   capability=torch.backends.cpu.get_cpu_capability(), logical_cpus=os.cpu_count() or 1)


def host_key() -> str:
    """What a measurement holds for: CPU model, torch version, thread count."""
    return f"{cpu_info().model} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def cache_dir() -> Path:
    """seqvec's cache directory (non-bundled models, ``kernels.json``): ``$SEQVEC_HOME`` or the platform cache dir."""
    if os.environ.get("SEQVEC_HOME"):
        return Path(os.environ["SEQVEC_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (
        Path.home() / "Library" / "Caches" if os.uname().sysname == "Darwin" else Path.home() / ".cache")
    return Path(base) / "seqvec"

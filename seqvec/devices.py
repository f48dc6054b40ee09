"""Where models and heads run: one function turns ``auto|cpu|cuda|cuda:N|mps`` into a device.

``auto`` picks the first CUDA device when torch sees one and the CPU otherwise. Asking for
a device this torch cannot use is a :class:`~seqvec.errors.DeviceError` that says why and
what to install, instead of torch's ``AssertionError: Torch not compiled with CUDA enabled``.
"""
from __future__ import annotations

import re

import torch

from seqvec.errors import ArgumentTypeError, DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
CUDA_INSTALL_HINT = (f"install a CUDA build of torch, e.g. 'pip install torch=={torch.__version__.split('+')[0]} "
                     "--index-url https://download.pytorch.org/whl/cu126' (the command for your driver's CUDA "
                     "version is on https://pytorch.org/get-started/locally/)")


def check_device_spec(text: str) -> str:
    """``text`` if it names a device seqvec accepts (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Only the spelling is checked here (the CLI does it while parsing); whether the device
    exists is :func:`resolve_device`'s job.
    """
    spec = text.strip().lower()
    if not _PATTERN.fullmatch(spec):
        raise DeviceError(f"unknown device {text!r}; use one of {', '.join(DEVICE_CHOICES)}")
    return spec


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` for ``spec`` (``None`` means ``auto``), after checking it is usable.

    Raises
    ------
    DeviceError
        ``spec`` is malformed; CUDA asked of a CPU-only torch build (the message says how to
        get a CUDA build); no CUDA device visible; ``cuda:N`` beyond the devices present;
        ``mps`` on a machine or build without it.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec is not None and not isinstance(spec, str):
        raise ArgumentTypeError(f"device must be a str such as 'cpu' or 'cuda:0' (or a torch.device), got "
                                f"{type(spec).__name__} {spec!r}", argument="device", value=spec)
    spec = check_device_spec(spec or "auto")
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_built():
            raise DeviceError(f"this torch {torch.__version__} was built without MPS (Apple GPU) support; "
                              "use `device` cpu, or torch's macOS build on an Apple-silicon Mac")
        if not torch.backends.mps.is_available():
            raise DeviceError("MPS is not available on this machine (it needs macOS 12.3+ on Apple silicon); "
                              "use `device` cpu")
        return torch.device("mps")
    if not torch.backends.cuda.is_built():
        raise DeviceError(f"`device` {spec}: this torch {torch.__version__} is a CPU-only build; "
                          f"{CUDA_INSTALL_HINT}, or use `device` cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"`device` {spec}: torch has CUDA support but sees no GPU (check the NVIDIA driver "
                          "with nvidia-smi and CUDA_VISIBLE_DEVICES), or use `device` cpu")
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(f"`device` {spec}: only {count} CUDA device(s) visible (cuda:0 to cuda:{count - 1})")
    return device

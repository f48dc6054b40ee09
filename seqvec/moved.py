"""Old import paths that keep working for one release, each with a DeprecationWarning.

The classifier modules moved into wings by job (``seqvec.classifiers.readers`` ->
``seqvec.classifiers.labels.readers``, ...) and ``seqvec.pipeline`` (the ``seqvec run``
workflow) became ``seqvec.workflow``; see docs/architecture.md. Instead of a stub file
per old module, one finder on ``sys.meta_path`` answers the old names: importing one
warns once and yields the very module object of the new path (so classes, isinstance
checks and monkeypatching stay the same). Two old modules became packages of the same
name (``seqvec.classifiers.labels`` and ``seqvec.classifiers.heads``); their
``__init__`` hands the old module's names on through :func:`forward_names`.

Remove this module, its entry in ``seqvec/__init__.py`` and the two ``__getattr__`` in
the next release.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import FrameType, ModuleType

_CLASSIFIERS = {
    "labels": ("tasks", "readers", "userlabels"),
    "heads": ("base", "ffn", "cnn", "light_attention", "convlstm", "checkpoint", "predict"),
    "training": ("data", "train", "experiment"),
    "evaluation": ("metrics", "evaluate"),
    "selection": ("splits", "crossval", "search", "compare"),
}

# old module -> new module (a package's submodules follow it: seqvec.pipeline.run -> seqvec.workflow.run)
MOVED_MODULES = {f"seqvec.classifiers.{module}": f"seqvec.classifiers.{wing}.{module}"
                 for wing, modules in _CLASSIFIERS.items() for module in modules}
MOVED_MODULES.update({f"seqvec.lm.{module}": f"seqvec.lm.training.{module}" for module in ("corpus", "train", "evaluate")})
MOVED_MODULES["seqvec.pipeline"] = "seqvec.workflow"

# module -> (the module that now holds some of its old names, those names; None: every name)
MOVED_NAMES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    # old modules that are packages of the same name now
    "seqvec.classifiers.labels": ("seqvec.classifiers.labels.files", None),
    "seqvec.classifiers.heads": ("seqvec.classifiers.heads.registry", None),
    # the LSTM measurement left lm.kernels for a module above lm.bilstm (it closed an import circle)
    "seqvec.lm.kernels": ("seqvec.lm.tuning", ("measure_lstm_products",)),
}


def new_path(old: str) -> str | None:
    """The module an old import path now names, or None if ``old`` did not move."""
    if old in MOVED_MODULES:
        return MOVED_MODULES[old]
    package, _, rest = old.rpartition(".")
    while package:
        if package in MOVED_MODULES:
            return f"{MOVED_MODULES[package]}.{old[len(package) + 1:]}"
        package, _, _ = package.rpartition(".")
    return None


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path works until the next release", DeprecationWarning,
                  stacklevel=_caller_level())


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside this module and the import machinery."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or frame.f_code.co_filename.startswith("<frozen importlib")):
        frame, level = frame.f_back, level + 1
    return level


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the module of its new path."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        new = new_path(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        new = new_path(spec.name)
        assert new is not None  # find_spec answered only moved names
        _warn(spec.name, new)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is imported already."""


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), ahead of the finder of files, so that an
    old path under a renamed package (``seqvec.pipeline.run``) is not loaded a second time."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())


def forward_names(old: str, folder: str | None = None) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``old`` whose names in ``MOVED_NAMES`` are read from their
    new module, with a warning. ``folder``: where ``old``'s submodules are, if it is a package."""
    new, names = MOVED_NAMES[old]

    def __getattr__(name: str) -> object:
        submodule = folder is not None and (Path(folder) / f"{name}.py").exists()  # not imported yet
        if name.startswith("__") or submodule or (names is not None and name not in names):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        module = importlib.import_module(new)
        if not hasattr(module, name):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        _warn(f"{old}.{name}", f"{new}.{name}")
        return getattr(module, name)

    return __getattr__

"""Named models: the bundled model shipped in the package, and the released SeqVec.

``load_model()`` with no argument loads the bundled model; a name looks up the registry;
a directory (or ``options=``/``weights=``) loads any allennlp-format model.
Nothing is ever downloaded.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seqvec.errors import ModelNotFoundError

if TYPE_CHECKING:
    from seqvec.lm.model import SeqVecLM

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
DEFAULT_MODEL = "seqvec-mini"


@dataclass(frozen=True)
class ModelInfo:
    """A registered model and where it lives."""

    name: str
    description: str
    bundled: bool  # shipped inside the package (else looked up in the cache directory)
    weights_size: str = ""  # for the "how to obtain" message


REGISTRY = {
    "seqvec-mini": ModelInfo("seqvec-mini", "small ELMo trained by seqvec on 8 M residues (bundled, the default)",
                             bundled=True),
    "seqvec": ModelInfo(
        "seqvec", "the released SeqVec (Heinzinger et al. 2019), UniRef50, 93.6 M parameters", bundled=False,
        weights_size="weights.hdf5: about 374 MB (357 MiB, 93,600,848 float32 parameters); "
                     "options.json: 541 bytes"),
}


def cache_dir() -> Path:
    """Where non-bundled models are looked up: ``$SEQVEC_HOME`` or the platform cache dir."""
    if os.environ.get("SEQVEC_HOME"):
        return Path(os.environ["SEQVEC_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (
        Path.home() / "Library" / "Caches" if os.uname().sysname == "Darwin" else Path.home() / ".cache")
    return Path(base) / "seqvec"


def model_dir(name: str) -> Path:
    """Directory holding ``options.json`` + ``weights.hdf5`` of a registered model."""
    info = REGISTRY[name]
    return MODELS_DIR / name if info.bundled else cache_dir() / name


def resolve(name_or_path: str | os.PathLike | None = None, *, options: str | os.PathLike | None = None,
            weights: str | os.PathLike | None = None) -> tuple[str, Path, Path]:
    """(display name, options.json, weights.hdf5) of a model given by name, directory or files."""
    if options is not None or weights is not None:
        if options is None or weights is None:
            raise ModelNotFoundError("give both --options and --weights (or a model directory)")
        return Path(weights).parent.name or str(weights), Path(options), Path(weights)
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    if name in REGISTRY:
        directory = model_dir(name)
        found = (directory / "options.json").is_file() and (directory / "weights.hdf5").is_file()
        if not found:
            info = REGISTRY[name]
            if info.bundled:
                raise ModelNotFoundError(f"the bundled model {name!r} is missing from {directory}: reinstall seqvec")
            raise ModelNotFoundError(
                f"model {name!r} ({info.description}) is not installed. seqvec downloads nothing: "
                f"place options.json and weights.hdf5 of the released SeqVec model in {directory} "
                f"(or set SEQVEC_HOME to a directory that holds a '{name}' folder). Expected sizes: "
                f"{info.weights_size}. The files are distributed by the SeqVec authors "
                f"(github.com/Rostlab/SeqVec: uniref50_v2/weights.hdf5 and options.json).")
        return name, directory / "options.json", directory / "weights.hdf5"
    directory = Path(name)
    if directory.is_dir():
        return directory.resolve().name, directory / "options.json", directory / "weights.hdf5"
    raise ModelNotFoundError(
        f"no model named {name!r} and no such directory; registered models: {', '.join(REGISTRY)}")


def load_model(name_or_path: str | os.PathLike | None = None, *, options: str | os.PathLike | None = None,
               weights: str | os.PathLike | None = None, device: str = "cpu", precision: str = "float32"
               ) -> SeqVecLM:
    """Load a language model: the bundled one by default, a registered name, or a directory
    with ``options.json`` + ``weights.hdf5`` (or the two files given explicitly).

    Returns a :class:`seqvec.lm.model.SeqVecLM` in eval mode, named, with the sha256 of its
    weights, in the LSTM ``precision`` asked for (``"float32"``, exact, or ``"bf16"``).
    """
    from seqvec.lm.allennlp_io import load_allennlp

    name, options_path, weights_path = resolve(name_or_path, options=options, weights=weights)
    model = load_allennlp(options_path, weights_path, name=name, precision=precision)
    logger.info("loaded model %s (%s)", name, weights_path)
    return model.to(device)

"""Named models: the bundled model shipped in the package, and the released SeqVec.

``load_model()`` with no argument loads the bundled model; a name looks up the registry;
a directory (or ``options=``/``weights=``) loads any allennlp-format model. A registered
model that is not installed is fetched only when asked (``seqvec models download NAME``,
``--download``, :func:`seqvec.lm.download.download_model`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seqvec.errors import ConfigError, ModelNotFoundError
from seqvec.io.arguments import path_argument
from seqvec.lm.host import cache_dir

if TYPE_CHECKING:
    from seqvec.lm.model import SeqVecLM

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
DEFAULT_MODEL = "seqvec-mini-v2"


@dataclass(frozen=True)
class ModelFile:
    """One file of a downloadable model: where it is published and what it must be.

    ``size``, ``sha256`` and ``md5`` are None where no trustworthy value is known; the
    download then relies on the others and on a strict load of the model.
    """

    name: str  # file name in the model directory
    urls: tuple[str, ...]  # mirrors, tried in order
    size: int | None = None  # bytes
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A registered model and where it lives."""

    name: str
    description: str
    bundled: bool  # shipped inside the package (else looked up in the cache directory)
    weights_size: str = ""  # for the "how to obtain" message
    files: tuple[ModelFile, ...] = ()  # what `seqvec models download` fetches (non-bundled models)


_SEQVEC_MIRRORS = ("https://rostlab.org/~deepppi/embedding_repo/embedding_models/seqvec/",  # the authors' lab
                   "http://data.bioembeddings.com/public/embeddings/embedding_models/seqvec/")  # bio_embeddings

REGISTRY = {
    "seqvec-mini": ModelInfo("seqvec-mini", "small ELMo trained by seqvec on 8 M residues",
                             bundled=True),
    "seqvec-mini-v2": ModelInfo("seqvec-mini-v2", "seqvec-mini trained 4 more epochs: validation perplexity 16.93 "
                                "vs 17.47", bundled=True),
    "seqvec": ModelInfo(
        "seqvec", "the released SeqVec (Heinzinger et al. 2019), UniRef50, 93.6 M parameters", bundled=False,
        weights_size="weights.hdf5: about 374 MB (357 MiB, 93,600,848 float32 parameters); "
                     "options.json: 541 bytes",
        files=(
            # options.json: the bytes bio_embeddings committed with the weights (its md5 is the one
            # kipoi's SeqVec model lists for the rostlab URL)
            ModelFile("options.json", tuple(m + "options.json" for m in _SEQVEC_MIRRORS), size=541,
                      sha256="93c6c9e910e86ee6ca327b1dab256d3f0a7f0fbd848e92d030f07f94f0a2db99",
                      md5="cede355187778de3ac302a83c761f5f9"),
            # weights.hdf5: md5 as listed by kipoi's SeqVec model; exact size and sha256 unknown
            ModelFile("weights.hdf5", tuple(m + "weights.hdf5" for m in _SEQVEC_MIRRORS),
                      md5="0249d59249a50b43b79f641ff2ba7e88"),
        )),
}


def model_dir(name: str) -> Path:
    """Directory holding ``options.json`` + ``weights.hdf5`` of a registered model."""
    info = REGISTRY[name]
    return MODELS_DIR / name if info.bundled else cache_dir() / name


def resolve(name_or_path: str | os.PathLike | None = None, *, options: str | os.PathLike | None = None,
            weights: str | os.PathLike | None = None) -> tuple[str, Path, Path]:
    """(display name, options.json, weights.hdf5) of a model given by name, directory or files."""
    if options is not None or weights is not None:
        if options is None or weights is None:
            raise ModelNotFoundError("give both `options` and `weights` (or a model directory)")
        return Path(weights).parent.name or str(weights), Path(options), Path(weights)
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    if name in REGISTRY:
        directory = model_dir(name)
        found = (directory / "options.json").is_file() and (directory / "weights.hdf5").is_file()
        if not found:
            info = REGISTRY[name]
            if info.bundled:
                raise ModelNotFoundError(f"the bundled model {name!r} is missing from {directory}: reinstall seqvec")
            urls = ", ".join(f.urls[0] for f in info.files)
            raise ModelNotFoundError(
                f"model {name!r} ({info.description}) is not installed in {directory}. Fetch it with "
                f"'seqvec models download {name}' (in Python seqvec.lm.download.download_model({name!r}); or give "
                f"`download` to the command), or place its files "
                f"there by hand ({urls}; expected sizes: {info.weights_size}); SEQVEC_HOME sets where "
                "models are kept.")
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
    from seqvec.devices import resolve_device
    from seqvec.lm.allennlp_io import load_allennlp

    for argument, value in (("name_or_path", name_or_path), ("options", options), ("weights", weights)):
        if value is not None:
            path_argument(value, argument)
    if precision not in ("float32", "bf16"):
        raise ConfigError(f"precision must be 'float32' or 'bf16', got {precision!r}", field="precision",
                          value=precision)
    target = resolve_device(device)  # an unknown or missing device fails before the weights are read
    name, options_path, weights_path = resolve(name_or_path, options=options, weights=weights)
    model = load_allennlp(options_path, weights_path, name=name, precision=precision)
    logger.info("loaded model %s (%s)", name, weights_path)
    return model.to(target)

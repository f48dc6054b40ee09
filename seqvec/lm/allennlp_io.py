"""The allennlp / bilm-tf weight format: ``options.json`` + ``weights.hdf5``.

This module alone knows that layout. Every dataset goes through one explicit table
(:func:`weight_table`); loading fails, naming the dataset and both shapes, on any
mismatch, missing or left-over dataset. Saving is the exact inverse, so a model
round-trips bit for bit.

Conventions of the file (TensorFlow's), see the reference README:
* ``char_embed`` lacks allennlp's all-zero row 0 (n_characters - 1 rows);
* ``CNN/W_cnn_i`` is ``(1, width, in, out)``; torch ``Conv1d.weight`` is ``(out, in, width)``;
* dense layers are ``x @ W``; torch ``Linear.weight`` is ``W.T``;
* LSTM ``W_0`` stacks ``[input ; recurrent]`` rows, gate blocks ``i, j, f, o``; the
  forget bias +1 is not stored (TF adds it at run time; so does ``ProjectedLSTM``).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from seqvec.errors import WeightFileError
from seqvec.lm.config import SeqVecConfig
from seqvec.lm.model import SeqVecLM

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One dataset <-> one or more parameters."""

    dataset: str
    params: tuple[str, ...]
    to_params: Callable[[np.ndarray], list[np.ndarray]]  # file array -> parameter arrays
    to_file: Callable[[list[np.ndarray]], np.ndarray]  # parameter arrays -> file array


def _same(name: str, param: str) -> Entry:
    return Entry(name, (param,), lambda a: [a], lambda p: p[0])


def _transposed(name: str, param: str) -> Entry:
    return Entry(name, (param,), lambda a: [a.T], lambda p: p[0].T)


def weight_table(config: SeqVecConfig) -> list[Entry]:
    """Every dataset of the file and the parameters it fills."""
    table = [Entry("char_embed", ("char_cnn.embedding.weight",),
                   lambda a: [np.concatenate([np.zeros((1, a.shape[1]), a.dtype), a])],
                   lambda p: p[0][1:])]
    for i in range(len(config.filters)):
        table.append(Entry(f"CNN/W_cnn_{i}", (f"char_cnn.convs.{i}.weight",),
                           lambda a: [a[0].transpose(2, 1, 0)],
                           lambda p: p[0].transpose(2, 1, 0)[None]))
        table.append(_same(f"CNN/b_cnn_{i}", f"char_cnn.convs.{i}.bias"))
    for k in range(config.n_highway):
        for part in ("transform", "carry"):
            table.append(_transposed(f"CNN_high_{k}/W_{part}", f"char_cnn.highways.{k}.{part}.weight"))
            table.append(_same(f"CNN_high_{k}/b_{part}", f"char_cnn.highways.{k}.{part}.bias"))
    table.append(_transposed("CNN_proj/W_proj", "char_cnn.projection.weight"))
    table.append(_same("CNN_proj/b_proj", "char_cnn.projection.bias"))
    for d in range(2):
        for layer in range(config.n_layers):
            base = f"RNN_{d}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
            prefix = f"lstm.directions.{d}.{layer}"
            split = config.projection_dim  # rows [:P] multiply the input, [P:] the state h

            def input_and_recurrent(a: np.ndarray, s: int = split) -> list[np.ndarray]:
                return [a[:s], a[s:]]

            table.append(Entry(f"{base}/W_0", (f"{prefix}.input_weight", f"{prefix}.recurrent_weight"),
                               input_and_recurrent,
                               lambda p: np.concatenate(p, axis=0)))
            table.append(_same(f"{base}/B", f"{prefix}.bias"))
            table.append(_same(f"{base}/W_P_0", f"{prefix}.projection_weight"))
    return table


def _datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}
    f.visititems(lambda name, obj: found.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def load_weights(model: SeqVecLM, path: str | Path) -> None:
    """Fill ``model`` from a bilm-tf ``weights.hdf5`` (strict: every dataset, every parameter)."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"weights file not found: {path}", path=path)
    params = dict(model.named_parameters())
    filled: set[str] = set()
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise WeightFileError(f"{path} is not an HDF5 file ({err}; were `options` and `weights` swapped?)",
                              path=path) from None
    with f:
        try:
            datasets = _datasets(f)
        except (OSError, RuntimeError) as err:
            raise WeightFileError(f"{path} is corrupt: {err}", path=path) from None
        for entry in weight_table(model.config):
            if entry.dataset not in datasets:
                raise WeightFileError(f"{path}: dataset {entry.dataset!r} is missing", path=path)
            arrays = entry.to_params(_read_floats(path, entry.dataset, datasets.pop(entry.dataset)))
            for name, array in zip(entry.params, arrays):
                target = params[name]
                if tuple(array.shape) != tuple(target.shape):
                    raise WeightFileError(
                        f"{path}: dataset {entry.dataset!r} gives {name} the shape {tuple(array.shape)}, "
                        f"the options expect {tuple(target.shape)}", path=path)
                with torch.no_grad():
                    target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
                filled.add(name)
        if datasets:
            raise WeightFileError(f"{path}: datasets not used by this model: {sorted(datasets)}", path=path)
    unfilled = set(params) - filled
    if unfilled:  # a table bug, not a user error, but say it just as loudly
        raise WeightFileError(f"parameters not filled by {path}: {sorted(unfilled)}", path=path)


def _read_floats(path: Path, name: str, dataset: h5py.Dataset) -> np.ndarray:
    """A dataset's values, which must be finite floating-point numbers."""
    if dataset.dtype.kind not in "fiu":
        raise WeightFileError(f"{path}: dataset {name!r} holds {dataset.dtype} values, not numbers", path=path)
    try:
        array = dataset[...]
    except (OSError, RuntimeError) as err:
        raise WeightFileError(f"{path}: dataset {name!r} cannot be read ({err}); the file is corrupt",
                              path=path) from None
    if not np.isfinite(array).all():
        raise WeightFileError(f"{path}: dataset {name!r} holds NaN or infinite values", path=path)
    return array


def save_weights(model: SeqVecLM, path: str | Path) -> None:
    """Write ``model`` as a bilm-tf ``weights.hdf5`` (float32), the inverse of :func:`load_weights`."""
    params = {k: v.detach().float().cpu().numpy() for k, v in model.named_parameters()}
    with h5py.File(path, "w") as f:
        for entry in weight_table(model.config):
            f.create_dataset(entry.dataset, data=entry.to_file([params[p] for p in entry.params]))


def load_allennlp(options: str | Path, weights: str | Path, *, name: str | None = None,
                  precision: str = "float32") -> SeqVecLM:
    """Build a model from ``options.json`` and fill it from ``weights.hdf5``.

    ``name`` (default: the weights' folder name) and the weights' sha256 are the model's
    identity; ``precision`` its LSTM precision (see :meth:`SeqVecLM.set_precision`).
    """
    weights = Path(weights)
    if not weights.is_file():
        raise WeightFileError(f"weights file not found: {weights}", path=weights)
    model = SeqVecLM(SeqVecConfig.from_json(options), name=name or weights.resolve().parent.name,
                     weights_sha256=file_sha256(weights), precision=precision)
    load_weights(model, weights)
    model.eval()
    return model


def save_allennlp(model: SeqVecLM, directory: str | Path) -> None:
    """Write ``options.json`` + ``weights.hdf5`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.to_json(directory / "options.json")
    save_weights(model, directory / "weights.hdf5")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

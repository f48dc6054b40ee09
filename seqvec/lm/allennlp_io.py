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
        raise WeightFileError(f"weights file not found: {path}")
    params = dict(model.named_parameters())
    filled: set[str] = set()
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise WeightFileError(f"{path} is not an HDF5 file: {err}") from None
    with f:
        datasets = _datasets(f)
        for entry in weight_table(model.config):
            if entry.dataset not in datasets:
                raise WeightFileError(f"{path}: dataset {entry.dataset!r} is missing")
            arrays = entry.to_params(datasets.pop(entry.dataset)[...])
            for name, array in zip(entry.params, arrays):
                target = params[name]
                if tuple(array.shape) != tuple(target.shape):
                    raise WeightFileError(
                        f"{path}: dataset {entry.dataset!r} gives {name} the shape {tuple(array.shape)}, "
                        f"the options expect {tuple(target.shape)}")
                with torch.no_grad():
                    target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
                filled.add(name)
        if datasets:
            raise WeightFileError(f"{path}: datasets not used by this model: {sorted(datasets)}")
    unfilled = set(params) - filled
    if unfilled:  # a table bug, not a user error, but say it just as loudly
        raise WeightFileError(f"parameters not filled by {path}: {sorted(unfilled)}")


def save_weights(model: SeqVecLM, path: str | Path) -> None:
    """Write ``model`` as a bilm-tf ``weights.hdf5`` (float32), the inverse of :func:`load_weights`."""
    params = {k: v.detach().float().cpu().numpy() for k, v in model.named_parameters()}
    with h5py.File(path, "w") as f:
        for entry in weight_table(model.config):
            f.create_dataset(entry.dataset, data=entry.to_file([params[p] for p in entry.params]))


def load_allennlp(options: str | Path, weights: str | Path) -> SeqVecLM:
    """Build a model from ``options.json`` and fill it from ``weights.hdf5``."""
    model = SeqVecLM(SeqVecConfig.from_json(options))
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

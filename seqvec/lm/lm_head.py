"""The LM softmax, stored beside ``weights.hdf5`` as ``softmax.hdf5``.

bilm-tf's weight dump (and so the released SeqVec) holds no softmax; models trained
by seqvec keep theirs in a separate file so that ``weights.hdf5`` stays exactly the
allennlp layout. Datasets: ``softmax/W`` ``(P, V)`` (``x @ W``), ``softmax/b`` ``(V,)``,
with the vocabulary in the attribute ``vocab``.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from seqvec.errors import WeightFileError


def save_softmax(linear: nn.Linear, vocab: list[str], path: str | Path) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("softmax/W", data=linear.weight.detach().float().cpu().numpy().T)
        f.create_dataset("softmax/b", data=linear.bias.detach().float().cpu().numpy())
        f["softmax"].attrs["vocab"] = np.array(vocab, dtype=h5py.string_dtype())


def load_softmax(path: str | Path, projection_dim: int) -> tuple[nn.Linear, list[str]]:
    """(softmax layer, vocabulary) from ``softmax.hdf5``."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(
            f"{path} not found: this model has no LM softmax (the released SeqVec weights do not "
            f"include one), so its perplexity cannot be computed")
    with h5py.File(path, "r") as f:
        weight, bias = f["softmax/W"][...], f["softmax/b"][...]
        vocab = [v.decode() if isinstance(v, bytes) else str(v) for v in f["softmax"].attrs["vocab"]]
    if weight.shape != (projection_dim, len(vocab)) or bias.shape != (len(vocab),):
        raise WeightFileError(f"{path}: softmax/W has shape {weight.shape}, expected {(projection_dim, len(vocab))}")
    linear = nn.Linear(projection_dim, len(vocab))
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight.T.copy()))
        linear.bias.copy_(torch.from_numpy(bias))
    return linear, vocab

"""Named views of a model's output layers and the per-protein reduction of each.

A model (or baseline encoder) gives one float32 array ``[n_layers, L, D]`` per protein.
``--layers`` picks the per-residue view stored in the HDF5 file; the per-protein vector
is always the mean over residues of that view, summing layers first where the view keeps
them (``all``: ``x.sum(0).mean(0)``, the SeqVec recipe). ``concat`` keeps the layers
apart in one ``[L, n_layers * D]`` array that heads take as they take ``sum``: their first
linear map can then weight each layer (ELMo's scalar mix is the special case of one
weight per layer). Reductions run in float32;
casting to the storage dtype comes after.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqvec.errors import EmbedOptionError


@dataclass(frozen=True)
class LayerView:
    """How one ``--layers`` choice turns ``[n_layers, L, D]`` into stored arrays."""

    name: str
    description: str
    per_residue: Callable[[np.ndarray], np.ndarray]  # [n_layers, L, D] -> [L, D] or [n_layers, L, D]
    per_protein: Callable[[np.ndarray], np.ndarray]  # the per-residue view -> [D]
    reduction: str  # what per_protein computes, in words (stored in the HDF5 root attrs)
    layer_index: int | None = None  # the one LM layer it keeps (needs a 3-layer LM), else None
    side_by_side: bool = False  # the layers' vectors are concatenated: n_layers * D values per residue

    def width(self, embedder) -> int:
        """Values per residue (the last axis) that this view gives for an :class:`~seqvec.Embedder`."""
        return embedder.output_dim * (embedder.n_output_layers if self.side_by_side else 1)


def _mean_over_residues(view: np.ndarray) -> np.ndarray:
    return view.mean(axis=0, dtype=np.float32)  # [L, D] -> [D]


def _sum_layers_then_mean(view: np.ndarray) -> np.ndarray:
    return view.sum(axis=0, dtype=np.float32).mean(axis=0, dtype=np.float32)  # [n, L, D] -> [D]


def _side_by_side(layers: np.ndarray) -> np.ndarray:
    return np.concatenate(list(layers), axis=1)  # [n, L, D] -> [L, n * D], layer 0 first


def _one_layer(index: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda layers: layers[index]


_MEAN = "mean over residues of the per-residue view"

VIEWS: dict[str, LayerView] = {
    view.name: view for view in (
        LayerView("sum", "sum of all layers [L, D] (the SeqVec default)",
                  lambda layers: layers.sum(axis=0, dtype=np.float32), _mean_over_residues, _MEAN),
        LayerView("all", "every layer [n_layers, L, D]", lambda layers: layers, _sum_layers_then_mean,
                  "sum over layers, then mean over residues"),
        LayerView("concat", "every layer side by side [L, n_layers * D] (layer 0 first), so that a head "
                  "learns its own mix", _side_by_side, _mean_over_residues, _MEAN, side_by_side=True),
        LayerView("cnn", "the char-CNN layer (layer 0) [L, D]", _one_layer(0), _mean_over_residues, _MEAN, 0),
        LayerView("lstm1", "the first BiLSTM layer (layer 1) [L, D]", _one_layer(1), _mean_over_residues, _MEAN, 1),
        LayerView("lstm2", "the second BiLSTM layer (layer 2) [L, D]", _one_layer(2), _mean_over_residues, _MEAN, 2),
    )
}


def get_view(name: str, n_output_layers: int, model_name: str = "the model") -> LayerView:
    """The view called ``name``, checked against a model's number of output layers.

    Raises EmbedOptionError (a ValueError) for an unknown name or a single-layer view on a model without
    ELMo's three layers (e.g. the one-hot and BLOSUM62 encoders).
    """
    try:
        view = VIEWS[name]
    except KeyError:
        raise EmbedOptionError(f"unknown layers view {name!r}; choose from {', '.join(VIEWS)}") from None
    if view.layer_index is not None and n_output_layers != 3:
        raise EmbedOptionError(f"layers={name!r} names a layer of the language model, but {model_name} has "
                         f"{n_output_layers} output layer{'s' * (n_output_layers != 1)}; use 'sum' or 'all'")
    return view

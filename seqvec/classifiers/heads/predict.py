"""Predict every task of a set of heads for new proteins (behind ``seqvec predict``).

The heads say how their inputs were made (``config.json`` -> ``embeddings``: encoder,
model weight hash, layer view), so the proteins are embedded the same way: with the
language model the heads were trained on (the bundled ``seqvec-mini-v2`` for the bundled
heads), or one-hot / BLOSUM62 for baseline heads. A model of other weights is refused.

Output per protein (JSON object keyed by record id):

- ``location`` (class name) and ``location_probabilities`` (class -> probability);
- ``membrane`` (``membrane`` | ``soluble``) and ``membrane_probability`` (of membrane);
- ``ss3``, ``ss8``: strings as long as the sequence (DSSP letters H/E/C and H/G/I/E/B/T/S/C);
- ``disorder``: per-residue probability of disorder;
- any other task ``t``, by its kind: per-protein class -> ``t`` (class name) and
  ``t_probabilities`` (class -> probability); multi-label -> ``t`` (list of the labels
  predicted) and ``t_probabilities`` (label -> probability); per-protein value -> ``t``
  (a number); per-residue class -> ``t`` (a string of one character per residue when
  every class is one character, else a list of class names) and ``t_probabilities``
  (per residue, one list in class order); per-residue multi-label -> ``t`` (per residue,
  a list of labels) and ``t_probabilities``; per-residue value -> ``t`` (list of numbers).
"""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np
import torch

from seqvec.classifiers.heads.checkpoint import BUNDLED_HEADS, CONFIG_FILE, HeadCheckpoint, load_head, resolve_head
from seqvec.embeddings.embedder import Embedder
from seqvec.errors import CheckpointError, UsageError
from seqvec.io.output import atomic_open
from seqvec.progress import progress_bar

logger = logging.getLogger(__name__)

DIGITS = 4  # decimals of probabilities in the output


def load_heads(path: str | os.PathLike | None = None) -> list[HeadCheckpoint]:
    """Heads of a head directory, or of every head directory inside ``path`` (default: bundled;
    ``bundled:NAME`` names one bundled head)."""
    path = resolve_head(path) if path is not None else BUNDLED_HEADS
    if (path / CONFIG_FILE).is_file():
        heads = [load_head(path)]
    else:
        dirs = sorted(p for p in path.iterdir() if (p / CONFIG_FILE).is_file()) if path.is_dir() else []
        if not dirs:
            where = "the bundled heads" if path == BUNDLED_HEADS else str(path)
            raise CheckpointError(f"no head directories (with {CONFIG_FILE}) found in {where} ({path})")
        heads = [load_head(d) for d in dirs]
    seen: dict[str, Path | None] = {}
    for h in heads:
        for task in h.tasks:
            if task in seen:
                raise CheckpointError(f"task {task!r} is predicted by two heads: {seen[task]} and {h.path}")
            seen[task] = h.path
    return heads


def _one(heads: list[HeadCheckpoint], key: str, default=None):
    values = {h.embeddings.get(key, default) for h in heads} - {None}
    if len(values) > 1:
        raise CheckpointError(f"the heads were trained on different embeddings ({key}: {sorted(values)}); "
                              "predict with one set of heads at a time")
    return values.pop() if values else default


def embedding_source(heads: list[HeadCheckpoint], model=None, device: str = "cpu"):
    """(encoder, loaded model or None, layer view) that reproduce the heads' training inputs.

    Without ``model``, the registered model the heads record (e.g. ``seqvec-mini-v2``) or else
    the default model. The language model is loaded onto ``device``."""
    from seqvec.embeddings.options import uses_lm

    encoder = _one(heads, "encoder", "lm")
    layers = _one(heads, "layers", "sum")
    if not uses_lm(encoder):
        if model is not None:
            raise UsageError(f"the heads take {encoder} encodings, not a language model: drop `model`",
                             option="model")
        from seqvec.embeddings.encoders import ENCODERS

        wanted, table = _one(heads, "model_sha256"), ENCODERS[encoder]()
        if wanted is not None and wanted != table.weights_sha256:  # e.g. heads on ProtVec vectors of one's own
            raise CheckpointError(f"the heads were trained on {_one(heads, 'model')!r} encodings (sha256 "
                                  f"{wanted[:12]}...), not on seqvec's {table.name} ({table.weights_sha256[:12]}...); "
                                  "predict embeds with the bundled encoders only")
        return encoder, None, layers
    from seqvec.lm.pretrained import REGISTRY, load_model

    recorded = str(_one(heads, "model", "")).removesuffix(encoder[2:])  # "seqvec-mini-v2+blosum62" -> "seqvec-mini-v2"
    if model is None and recorded in REGISTRY:
        model = recorded
    loaded: Embedder = load_model(model, device=device)
    if encoder != "lm":  # lm+TABLE: the model object carries the table, so it embeds as "lm"
        from seqvec.embeddings.encoders import ENCODERS, WithTable

        loaded, encoder = WithTable(loaded, ENCODERS[encoder[3:]]()), "lm"
    wanted = _one(heads, "model_sha256")
    if wanted is not None and loaded.weights_sha256 != wanted:
        raise CheckpointError(f"the heads were trained on embeddings of model {_one(heads, 'model')!r} "
                              f"(weights sha256 {wanted[:12]}...), but {loaded.name!r} has {loaded.weights_sha256[:12]}...; "
                              "give the matching `model` or other `heads`")
    from seqvec.embeddings.reduce import get_view

    dims, width = {h.head.input_dim for h in heads}, get_view(layers, loaded.n_output_layers).width(loaded)
    if dims != {width}:
        raise CheckpointError(f"the heads take {sorted(dims)}-dim inputs; model {loaded.name!r} gives {width} "
                              f"(layers={layers})")
    return encoder, loaded, layers


@torch.no_grad()
def head_probabilities(heads: list[HeadCheckpoint], embedding: np.ndarray,
                       device: str = "cpu") -> dict[str, np.ndarray]:
    """task -> probabilities ``[C]``/``[L, C]`` (classes, labels) or values ``[]``/``[L]`` for one
    protein's ``[L, D]`` embedding. The heads run on ``device`` (they are moved there)."""
    x = torch.from_numpy(np.asarray(embedding, dtype=np.float32)).to(device)
    out = {}
    for h in heads:
        h.head.to(device)
        if h.head.input_level == "protein":
            logits = h.head(x.mean(0, keepdim=True), None)  # the SeqVec per-protein mean
        else:
            logits = h.head(x[None], torch.ones(1, x.shape[0], dtype=torch.bool, device=device))
        for task, v in logits.items():
            spec = h.tasks[task]
            v = v[0].double().cpu()
            if spec.kind.target == "class":
                out[task] = torch.softmax(v, dim=-1).numpy()
            elif spec.kind.target == "multilabel":
                out[task] = torch.sigmoid(v).numpy()
            else:
                out[task] = (v[..., 0] * spec.value_std + spec.value_mean).numpy()
    return out


def _rounded(values: np.ndarray):
    return np.round(values, DIGITS).tolist()


def record_output(probabilities: dict[str, np.ndarray], heads: list[HeadCheckpoint]) -> dict:
    """The JSON object of one protein (see the module docstring)."""
    specs = {task: spec for h in heads for task, spec in h.tasks.items()}
    out: dict = {}
    for task, p in probabilities.items():
        spec = specs[task]
        classes = spec.classes
        per_residue = spec.level == "residue"
        if spec.kind.target == "value":
            out[task] = _rounded(p) if per_residue else round(float(p), DIGITS)
        elif spec.kind.target == "multilabel":
            chosen = p >= spec.threshold
            if per_residue:
                out[task] = [[c for c, on in zip(classes, row) if on] for row in chosen]
                out[f"{task}_probabilities"] = _rounded(p)
            else:
                out[task] = [c for c, on in zip(classes, chosen) if on]
                out[f"{task}_probabilities"] = {c: round(float(v), DIGITS) for c, v in zip(classes, p)}
        elif task == "disorder" and per_residue:
            out["disorder"] = _rounded(p[:, classes.index("disordered")])
        elif per_residue:
            names = [classes[i] for i in p.argmax(-1)]
            out[task] = "".join(names) if all(len(c) == 1 for c in classes) else names
            if task not in ("ss3", "ss8"):
                out[f"{task}_probabilities"] = _rounded(p)
        else:
            key = "location" if task == "localization" else task
            out[key] = classes[int(p.argmax())]
            if task == "membrane":
                out["membrane_probability"] = round(float(p[classes.index("membrane")]), DIGITS)
            else:
                out[f"{key}_probabilities"] = {c: round(float(v), DIGITS) for c, v in zip(classes, p)}
    return out


def predict_sequences(sequences: dict[str, str], heads: list[HeadCheckpoint], model=None, *,
                      progress: bool = False, device: str = "cpu") -> dict[str, dict]:
    """Embed ``sequences`` as the heads' training data was embedded and apply every head (all on ``device``).

    Returns ``{record id: output object}`` in input order.
    """
    from seqvec.embeddings.pipeline import embed_sequences

    encoder, loaded, layers = embedding_source(heads, model, device)
    results = {}
    stream = embed_sequences(sequences, loaded, encoder=encoder, layers=layers)
    for record_id, embedding in progress_bar(stream, total=len(sequences), desc="predicting", unit="protein",
                                             enabled=progress):
        if embedding.shape[-1] != heads[0].head.input_dim:
            raise CheckpointError(f"the heads take {heads[0].head.input_dim}-dim inputs; {encoder} gives "
                                  f"{embedding.shape[-1]}")
        results[record_id] = {"length": len(sequences[record_id]),
                              **record_output(head_probabilities(heads, embedding, device), heads)}
    return {rid: results[rid] for rid in sequences}


def residue_table_path(path: str | os.PathLike) -> Path:
    """The per-residue table written beside the per-protein TSV ``path``."""
    path = Path(path)
    return path.with_name(path.stem + ".residues.tsv")


def write_tsv(predictions: dict[str, dict], sequences: dict[str, str], heads: list[HeadCheckpoint],
              path: str | os.PathLike) -> list[Path]:
    """Per-protein table at ``path``; per-residue table at ``<path stem>.residues.tsv`` only
    when a head predicts per-residue outputs.

    Per-protein columns: id, length, each class and probability (``location:Nucleus``
    columns hold the location probabilities). Per-residue columns: id, position (from
    1), residue, then each per-residue output (``disorder`` = probability of disorder).
    """
    path = Path(path)
    residue_path = residue_table_path(path)
    residue_tasks = {t for h in heads for t, spec in h.tasks.items() if spec.level == "residue"}
    residue_keys = {*residue_tasks, *(f"{t}_probabilities" for t in residue_tasks)}
    first = next(iter(predictions.values()), {})
    protein_keys = [k for k, v in first.items() if k not in residue_keys and not isinstance(v, dict)]
    prob_columns = [(k, c) for k, v in first.items() if isinstance(v, dict) for c in v]
    per_residue = [k for k in first if k in residue_keys]
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", *protein_keys, *(f"{k.removesuffix('_probabilities')}:{c}" for k, c in prob_columns)])
        for rid, p in predictions.items():
            writer.writerow([rid, *(_cell(p[k]) for k in protein_keys), *(p[k][c] for k, c in prob_columns)])
    if not per_residue:
        return [path]
    with atomic_open(residue_path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "position", "residue", *per_residue])
        for rid, p in predictions.items():
            for i, residue in enumerate(sequences[rid]):
                writer.writerow([rid, i + 1, residue, *(_cell(p[k][i]) for k in per_residue)])
    return [path, residue_path]


def _cell(value) -> str:
    return "/".join(map(str, value)) if isinstance(value, list) else str(value)

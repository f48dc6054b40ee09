"""Head checkpoints: a directory that rebuilds its head without outside knowledge.

Layout of a head directory::

    config.json   {"format_version": 1, "seqvec_version": ..., "head": "cnn",
                   "head_config": {hparams}, "input_dim": 1024,
                   "tasks": {"ss3": {"level": "residue", "classes": ["H", "E", "C"]}, ...},
                   "embeddings": {"encoder": "lm", "model": ..., "layers": "sum", ...},
                   "training": {fit config, best epoch, data files, counts}}
    weights.pt    the state dict (plain tensors), written by torch.save and read with
                  torch.load(weights_only=True): no pickled objects
    history.json  the learning curve, when the head was trained by seqvec

``embeddings`` records what produced the inputs (encoder, model name and weight hash,
layer view), so that ``seqvec predict`` embeds new proteins the same way.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqvec import __version__
from seqvec.classifiers.heads.base import Head
from seqvec.classifiers.heads.registry import head_class, head_name
from seqvec.classifiers.labels.tasks import TASKS, TaskKind, TaskSpec
from seqvec.errors import CheckpointError, SeqVecError
from seqvec.io.output import atomic_open

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
BUNDLED_HEADS = Path(__file__).resolve().parents[2] / "data" / "heads"  # seqvec/data/heads: the default set
NAMED_HEADS = BUNDLED_HEADS / "named"  # bundled heads taken by name only (other inputs than the default set's)
BUNDLED_PREFIX = "bundled:"  # bundled:protein, bundled:residue, bundled:multiloc; "bundled" alone: the default set


def bundled_heads() -> dict[str, Path]:
    """The heads shipped with seqvec: ``{name: directory}``. The default set (``protein``,
    ``residue``: what ``bundled`` and ``seqvec predict`` without ``--heads`` apply) first, then
    the heads taken by name only (``multiloc``: the Sønderby ConvLSTM on BLOSUM62)."""
    return {p.name: p for folder in (BUNDLED_HEADS, NAMED_HEADS) if folder.is_dir()
            for p in sorted(folder.iterdir()) if (p / CONFIG_FILE).is_file()}


def is_bundled(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the directory of a bundled head."""
    return Path(path).resolve().parent in (BUNDLED_HEADS.resolve(), NAMED_HEADS.resolve())


def resolve_head(location: str | os.PathLike) -> Path:
    """A head directory from a path, ``bundled:NAME`` (one bundled head) or ``bundled`` (their folder)."""
    text = os.fspath(location)
    if text == "bundled":
        return BUNDLED_HEADS
    if text.startswith(BUNDLED_PREFIX):
        name, heads = text[len(BUNDLED_PREFIX):], bundled_heads()
        if name not in heads:
            raise CheckpointError(f"no bundled head {name!r}; the bundled heads are "
                                  f"{', '.join(BUNDLED_PREFIX + n for n in heads)}")
        return heads[name]
    return Path(location)


@dataclass
class HeadCheckpoint:
    """A loaded head and what its directory says about it."""

    head: Head
    name: str  # registry name
    tasks: dict[str, TaskSpec]
    embeddings: dict = field(default_factory=dict)  # encoder / model identity of the inputs
    training: dict = field(default_factory=dict)
    path: Path | None = None


def save_head(directory: str | os.PathLike, head: Head, tasks: dict[str, TaskSpec], *,
              embeddings: dict | None = None, training: dict | None = None,
              half: bool = False) -> Path:
    """Write ``config.json`` and ``weights.pt`` into ``directory`` (created if needed).

    ``half`` stores floating-point weights as float16 (half the size; loading casts back).
    Each file is written under a temporary name and renamed; an older ``config.json`` is
    removed first and the new one written last, so a crash in between leaves a folder
    without a config (never read as a head, and retrained by a resumed run) instead of new
    weights under an old config.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "seqvec_version": __version__,
        "head": head_name(head),
        "head_config": head.hparams,
        "input_dim": head.input_dim,
        "tasks": {name: spec.to_json() for name, spec in tasks.items()},
        "embeddings": embeddings or {},
        "training": training or {},
    }
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in head.state_dict().items()}
    (directory / CONFIG_FILE).unlink(missing_ok=True)
    with atomic_open(directory / WEIGHTS_FILE, "wb", encoding=None) as handle:
        torch.save(state, handle)
    with atomic_open(directory / CONFIG_FILE) as handle:
        handle.write(json.dumps(config, indent=1) + "\n")
    logger.debug("saved %s head for %s to %s", config["head"], ", ".join(tasks), directory)
    return directory


def _task_specs(stored: dict, path: Path) -> dict[str, TaskSpec]:
    """Task specs from config.json (heads written before task kinds have a level: class tasks)."""
    specs = {}
    for name, entry in stored.items():
        base = TASKS.get(name)
        if not isinstance(entry, dict):
            raise CheckpointError(f"{path}: task {name!r} must be an object, got {entry!r}")
        level = entry.get("level", base.level if base else None)
        kind = entry.get("kind", f"{level}_class")
        try:
            specs[name] = TaskSpec(name, TaskKind(kind), tuple(entry.get("classes", ())),
                                   entry.get("metric") or (base.metric if base else ""),
                                   base.description if base else name,
                                   value_mean=float(entry.get("value_mean", 0.0)),
                                   value_std=float(entry.get("value_std", 1.0)),
                                   threshold=float(entry.get("threshold", 0.5)),
                                   label_map=_label_map(entry.get("label_map"), name, path))
        except (ValueError, TypeError, SeqVecError) as err:
            raise CheckpointError(f"{path}: task {name!r}: {entry} is not a task ({err})") from None
    return specs


def _label_map(stored: object, task: str, path: Path) -> dict[str, list[str]] | None:
    """A task's label map from config.json (absent in heads trained before seqvec kept it: None)."""
    if stored is None:
        return None
    if not isinstance(stored, dict) or not all(isinstance(v, list) and all(isinstance(n, str) for n in v)
                                               for v in stored.values()):
        raise CheckpointError(f"{path}: task {task!r}: label_map must map each class to a list of labels, "
                              f"got {stored!r}")
    return {str(k): list(v) for k, v in stored.items()}


def load_head(directory: str | os.PathLike) -> HeadCheckpoint:
    """Rebuild a head from its directory, or a bundled head by name (``bundled:protein``);
    eval mode, float32."""
    directory = resolve_head(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{directory} is not a head directory: {CONFIG_FILE} is missing")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{config_path}: not valid JSON ({err})") from err
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{config_path}: format_version {config.get('format_version')!r} is not "
                              f"supported (this seqvec reads {FORMAT_VERSION})")
    for key in ("head", "head_config", "input_dim", "tasks"):
        if key not in config:
            raise CheckpointError(f"{config_path}: missing key {key!r}")
    tasks = _task_specs(config["tasks"], config_path)
    try:
        head = head_class(config["head"])(config["input_dim"], {t: s.n_outputs for t, s in tasks.items()},
                                          **config["head_config"])
    except (SeqVecError, TypeError, ValueError) as err:
        raise CheckpointError(f"{config_path}: cannot build head {config['head']!r}: {err}") from err
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{directory}: {WEIGHTS_FILE} is missing")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{weights_path}: cannot read weights ({err})") from err
    expected = head.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [f"{k}: expected {list(expected[k].shape)}, found {list(state[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or wrong:
        raise CheckpointError(f"{weights_path} does not fit its config: missing {missing}, "
                              f"unexpected {extra}, wrong shape {wrong}")
    broken = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
              and not torch.isfinite(v).all()]
    if broken:  # a diverged head would score like chance and look like a result
        raise CheckpointError(f"{weights_path}: non-finite weights in {', '.join(broken[:3])}; the head diverged "
                              "in training and cannot predict (train it again with a lower learning rate)")
    head.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    head.eval()
    return HeadCheckpoint(head, config["head"], tasks, config.get("embeddings", {}),
                          config.get("training", {}), directory)

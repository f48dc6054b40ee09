"""The ``seqvec run`` configuration: typed dataclasses read from YAML, strictly.

Every key is a field below; an unknown key or a value of the wrong type is an error that
names the key (``split.identiy``) and what is allowed. Paths are relative to the YAML
file's folder. :data:`EXAMPLE` is the commented starter file ``seqvec run --example``
prints.
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from seqvec.errors import ConfigError


@dataclass(frozen=True)
class InputConfig:
    """What to learn: the label files and the tasks in them."""

    labels: tuple[str, ...]  # label files: biotrainer FASTA, CSV, or the benchmarks' files
    sequences: str | None = None  # FASTA of the sequences, for label files without them (CSV, labels FASTA)
    label_format: str | None = None  # default: detected from each file
    kind: str | None = None  # task kind of your labels (protein_class, residue_value, ...); default: inferred
    tasks: tuple[str, ...] = ()  # task names; default: every task of the labels
    test: tuple[str, ...] | None = None  # test sets: label files, or set names in the labels (test, test2, ...);
    # default: every set the labels mark (SET=test, test2, ...); [] scores none of them


@dataclass(frozen=True)
class TrainingConfig:
    """How each head is trained (:class:`seqvec.classifiers.training.train.FitConfig`)."""

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    max_residues: int = 40_000
    patience: int = 5
    seed: int = 0


@dataclass(frozen=True)
class SplitConfig:
    """How proteins are split for validation and cross-validation (docs/heads.md)."""

    val_fraction: float | None = None  # validation share (default 0.1, or the records the files mark)
    identity: float | None = None  # MMseqs2 clusters at this minimum sequence identity, kept on one side
    groups: str | None = None  # or your own clusters: a TSV of id, cluster
    cv: int | None = None  # K-fold cross-validation
    repeat: int = 1  # cross-validation with this many seeds
    search: dict[str, list] = field(default_factory=dict)  # grid, e.g. {lr: [1e-3, 3e-4]}, chosen on validation


@dataclass(frozen=True)
class ReportConfig:
    """Intervals and plots."""

    bootstrap: int = 1000  # bootstrap draws for the 95% intervals
    plots: bool = True  # learning curves and confusion matrices under OUTPUT/plots


@dataclass(frozen=True)
class PipelineConfig:
    """One ``seqvec run`` job."""

    output: str  # every stage writes under this folder
    input: InputConfig
    encoders: tuple[str, ...] = ("lm", "onehot", "blosum62")  # lm, lm:NAME, lm:DIRECTORY, onehot, blosum62, protvec, lm+TABLE
    heads: tuple[str, ...] = ("fnn",)  # fnn, la, convlstm (per protein); cnn (per residue)
    head_options: dict[str, dict] = field(default_factory=dict)  # head -> {option: value}
    dtype: str = "float32"  # storage dtype of the embeddings: float32 or float16
    training: TrainingConfig = field(default_factory=TrainingConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "text", int: "an integer", float: "a number", bool: "true/false", type(None): "null"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, key: str) -> Any:
    """``value`` checked against the type ``tp`` (tuples accept one item or a list)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value, key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if origin is tuple:
        items = value if isinstance(value, list) else [value]
        return tuple(_convert(typing.get_args(tp)[0], v, f"{key}[{n}]") for n, v in enumerate(items))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        value_type = typing.get_args(tp)[1]
        return {str(k): _convert(value_type, v, f"{key}.{k}") for k, v in value.items()}
    if tp is list:
        return list(value) if isinstance(value, list) else [value]
    if tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if tp is int and abs(value) > 2**63 - 1:
        raise ConfigError(f"{key}: {value} is beyond a 64-bit integer", field=key, value=value)
    if tp is float and not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}", field=key, value=value)
    return value


def build(cls: type, data: Any, where: str = "") -> Any:
    """An instance of the dataclass ``cls`` from a YAML mapping; unknown keys and wrong types raise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'the pipeline file'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown key '{prefix}{key}'; allowed {'in ' + where if where else 'at the top'}: "
                              f"{', '.join(names)}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], prefix + f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key '{prefix}{f.name}' ({_type_name(hints[f.name])})")
    return cls(**values)


def _absolute(path: str, base: Path) -> str:
    return str((base / os.path.expanduser(path)).resolve())


def _resolve(path: str | None, base: Path) -> str | None:
    return None if path is None else _absolute(path, base)


def _model_path(encoder: str, base: Path) -> str:
    """``lm:DIR`` (or ``lm+TABLE:DIR``) with DIR made absolute when it exists relative to ``base``."""
    kind, colon, model = encoder.partition(":")
    return f"{kind}:{_absolute(model, base)}" if colon and (base / model).exists() else encoder


def _check_numbers(config: PipelineConfig) -> None:
    """Training settings as ``fit()`` would refuse them, and the other counts, named by their key, before any stage."""
    from seqvec.classifiers.training.train import FitConfig, config_problems

    problems = {f"training.{k}": v for k, v in config_problems(FitConfig(**dataclasses.asdict(config.training))).items()}
    split, report = config.split, config.report
    if split.val_fraction is not None and not 0 < split.val_fraction < 1:
        problems["split.val_fraction"] = f"must be between 0 and 1 (got {split.val_fraction})"
    if split.identity is not None and not 0 < split.identity <= 1:
        problems["split.identity"] = f"must be above 0 and at most 1 (got {split.identity})"
    if not 1 <= split.repeat <= 1000:
        problems["split.repeat"] = f"must be from 1 to 1000 (got {split.repeat})"
    if not 1 <= report.bootstrap <= 10_000:
        problems["report.bootstrap"] = f"must be from 1 to 10000 (got {report.bootstrap})"
    if problems:
        raise ConfigError("; ".join(f"{key} {text}" for key, text in problems.items()), field=next(iter(problems)),
                          value=problems)


def check(config: PipelineConfig, base: Path) -> PipelineConfig:
    """Check values against their allowed sets; make paths absolute (relative to ``base``)."""
    from seqvec.classifiers.heads.registry import HEADS
    from seqvec.embeddings.options import ENCODER_CHOICES, uses_lm

    for n, encoder in enumerate(config.encoders):
        kind, colon, model = encoder.partition(":")
        if kind not in ENCODER_CHOICES or (colon and not (model and (uses_lm(kind) or kind == "protvec"))):
            raise ConfigError(f"encoders[{n}]: {encoder!r} is not one of lm, lm:NAME, lm:DIRECTORY, "
                              f"{', '.join(e for e in ENCODER_CHOICES if e != 'lm')} (lm+TABLE:NAME too; "
                              "protvec:DIRECTORY for vectors of 'seqvec train-protvec')")
    for n, head in enumerate(config.heads):
        if head not in HEADS:
            raise ConfigError(f"heads[{n}]: unknown head {head!r}; choose from {', '.join(HEADS)}")
    for head in config.head_options:
        if head not in config.heads:
            raise ConfigError(f"head_options.{head}: not one of the heads {', '.join(config.heads)}")
    if config.dtype not in ("float32", "float16"):
        raise ConfigError(f"dtype: {config.dtype!r} is not float32 or float16")
    if not config.encoders or not config.heads or not config.input.labels:
        raise ConfigError("encoders, heads and input.labels each need at least one entry")
    split = config.split
    if split.identity is not None and split.groups is not None:
        raise ConfigError("split.identity and split.groups exclude each other")
    if split.cv is not None and split.cv < 2:
        raise ConfigError(f"split.cv: needs at least 2 folds, got {split.cv}")
    _check_numbers(config)
    inputs = config.input
    test = None if inputs.test is None else tuple(_absolute(t, base) if (base / t).exists() else t
                                                  for t in inputs.test)
    return dataclasses.replace(
        config, output=_absolute(config.output, base),
        input=dataclasses.replace(inputs, labels=tuple(_absolute(p, base) for p in inputs.labels),
                                  sequences=_resolve(inputs.sequences, base), test=test),
        encoders=tuple(_model_path(e, base) for e in config.encoders),
        split=dataclasses.replace(split, groups=_resolve(split.groups, base)))


def load_config(path: str | os.PathLike) -> PipelineConfig:
    """Read and check a pipeline YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    try:
        return check(build(PipelineConfig, data), path.resolve().parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


EXAMPLE = """\
# seqvec run pipeline.yaml: embed -> train -> evaluate -> report -> plots, in one go.
# Rerun the same command after an interruption or a change: finished stages whose
# settings did not change are skipped; stages whose settings changed are redone.
# Relative paths are relative to this file. Unknown keys are errors.

output: pipeline_out              # every stage writes under this folder

input:
  labels: [my_task.fasta]         # biotrainer FASTA (>ID TARGET=... SET=train|val|test), a CSV
                                  # (id,label[,set]), or benchmark files (DeepLoc FASTA, ...)
  # sequences: proteins.fasta     # the sequences, when the label file has none (CSV, labels FASTA)
  # kind: protein_class           # protein_/residue_ x class/multilabel/value (default: inferred)
  # tasks: [localization]         # default: every task in the labels
  # test: [test]                  # test sets: names in the labels (test, test2) or label files;
                                  # default: the records the labels mark SET=test (test2, ...);
                                  # [] scores none (the report then scores validation proteins)

encoders:                         # one embedding file per encoder
  - lm                            # the bundled language model; lm:NAME or lm:path/to/model for others
  - onehot                        # baselines: 20 residues + X,
  - blosum62                      # and BLOSUM62 rows
  # - protvec                     # ProtVec 3-gram vectors (protvec:DIR: your own, from train-protvec)

heads: [fnn]                      # fnn, la, convlstm (per protein); cnn (per residue)
# head_options:
#   la: {hidden_dim: 32}

training:
  epochs: 30
  lr: 0.001
  batch_size: 64
  patience: 5                     # epochs without improvement before stopping
  seed: 0

split:
  val_fraction: 0.1               # validation share (default: the records marked SET=val, else 0.1)
  # identity: 0.3                 # keep MMseqs2 clusters (30% identity) on one side (needs mmseqs)
  # groups: clusters.tsv          # or your own clusters: id<TAB>cluster
  # cv: 5                         # 5-fold cross-validation instead of one split
  # repeat: 1                     # cross-validation with several seeds
  # search: {lr: [0.001, 0.0003]} # grid search, chosen on validation proteins only

report:
  bootstrap: 1000                 # draws for the 95% intervals
  plots: true                     # learning curves and confusion matrices
"""

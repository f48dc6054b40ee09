"""What the subcommands share: the help formatter, -v/-q, --device, and the options of the
commands that read label files and train heads (train, evaluate, compare).

Kept free of torch (seqvec modules are imported inside the functions) so that ``seqvec --help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

from seqvec.errors import UsageError

DEVICE_HELP = ("where the model and heads run: auto (the first CUDA GPU when torch sees one, else the CPU), cpu, "
               "cuda, cuda:N or mps")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; every option's help ends with its default.

    The default is added unless the help already names one, or it is ``None``/``False``
    (an option that is simply off when not given).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or default is None or default is argparse.SUPPRESS or default == []:
            return text
        if isinstance(action, argparse.BooleanOptionalAction):
            return f"{text} (default: {'on' if default else 'off'})"
        if default is False:  # a plain flag
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: {str(default).replace('%', '%%')})"
        return text


# The library names the Python field or argument at fault in its messages, in backquotes
# (`FitConfig.monitor`, `SplitPlan.cv`, `hparams`); this is the one place that says which
# option of the command line sets each, so that a command's errors speak its flags.
FLAGS = {
    **{f"FitConfig.{name}": f"--{name.replace('_', '-')}" for name in (
        "epochs", "lr", "weight_decay", "batch_size", "max_residues", "patience", "monitor", "class_weights", "seed",
        "precision")},
    "SplitPlan.val_fraction": "--val-fraction", "SplitPlan.identity": "--split-by-identity", "min_identity":
    "--split-by-identity", "SplitPlan.groups_file": "--groups", "SplitPlan.split_file": "--split",
    "SplitPlan.cv": "--cv", "SplitPlan.repeat": "--repeat", "Validation.labels": "--val-labels",
    "names": "--test-set", "test": "--test", "search": "--search", "HeadSpec.grid": "--search",
    "head": "--head", "heads": "--heads", "hparams": "--head-option", "n_bootstrap": "--bootstrap",
    "fmt": "--label-format", "kind": "--kind", "task_name": "--task-name", "label_map": "--label-map",
    "layers": "--layers", "model": "--model", "options": "--options", "weights": "--weights", "device": "--device",
    "resume": "--resume", "run_dir": "-o", "config": "--config", "init": "--init",
    "download": "--download", "overwrite": "--overwrite", "view": "--view", "shard": "--shard",
    "max_residues": "--max-residues", "per_residue": "--per-residue", "per_protein": "--per-protein",
    "task": "--task", "predictions": "--predictions", "min_similarity": "--min-similarity",
    **{f"ProtVecSettings.{name}": f"--{name.replace('_', '-')}" for name in (
        "vector_size", "window", "negative", "min_count", "sample", "alpha", "epochs", "seed", "workers")},
}


def for_command_line(error: BaseException) -> str:
    """The error's message with each `field` the library names replaced by its option (``FLAGS``)."""
    import re

    return re.sub(r"`([\w.]+)`", lambda m: FLAGS.get(m.group(1), m.group(0)), str(error))


def verbosity_parent(suppress: bool = False) -> argparse.ArgumentParser:
    """A parent parser with -v/--verbose and -q/--quiet.

    ``suppress``: leave the attributes unset when not given (for nested parsers such as
    the plot kinds, so that ``seqvec plot -q curves`` and ``seqvec plot curves -q`` both work).
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0,
                       help="more log output (-vv for debug)")
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False,
                       help="only warnings and errors; no progress bars")
    return parent


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """--threads N: torch's CPU threads for the command (default: torch's choice)."""
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads for torch (default: torch's choice, usually one per core)")


def device_spec(text: str) -> str:
    """argparse type of --device: the spelling is checked at parse time, availability at run time."""
    from seqvec.devices import check_device_spec
    from seqvec.errors import DeviceError

    try:
        return check_device_spec(text)
    except DeviceError as err:
        raise argparse.ArgumentTypeError(for_command_line(err)) from None


def add_device_argument(parser: argparse._ActionsContainer, extra_help: str = "") -> None:
    """``--device auto|cpu|cuda|cuda:N|mps`` (default auto)."""
    parser.add_argument("--device", type=device_spec, default="auto", metavar="{auto,cpu,cuda,cuda:N,mps}",
                        help=DEVICE_HELP + extra_help)


def device_of(args: argparse.Namespace) -> str:
    """The torch device that --device names here (``auto`` resolved), e.g. ``"cpu"`` or ``"cuda:0"``;
    the parsed arguments stay as given."""
    from seqvec.devices import resolve_device

    return str(resolve_device(args.device))


INT64_MAX = 2**63 - 1


def int_in(low: int, high: int = INT64_MAX) -> Callable[[str], int]:
    """argparse type: an integer from ``low`` to ``high`` (an integer beyond 64 bits, a float,
    NaN or inf is refused at parse time, before any work)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", "x"))  # "1_000" is not a number people write
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            shown = text if len(text) <= 30 else f"{text[:12]}...({len(text)} digits)"
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, got {shown}")
        return value

    parse.__name__ = "int"  # argparse names the type in its messages
    return parse


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number from ``low`` to ``high`` (above ``low`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip().replace("_", "x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            where = "" if math.isinf(low) and math.isinf(high) else \
                f" {'above' if low_open else 'from'} {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number{where}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


positive_int = int_in(1)
positive_int.__doc__ = "argparse type: an integer >= 1 (and within 64 bits)."


def add_dataclass_options(parser: argparse._ActionsContainer, cls: type, helps: dict[str, str]) -> None:
    """One option per entry of ``helps`` (a field name of the dataclass ``cls``).

    Type, default and choices come from the field (``Literal[...]`` gives choices, a bool
    a --flag/--no-flag pair), so the CLI cannot drift from the library's defaults.
    """
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, text in helps.items():
        default = fields[name].default
        flag = f"--{name.replace('_', '-')}"
        choices = typing.get_args(hints[name]) if typing.get_origin(hints[name]) is typing.Literal else None
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif choices:
            parser.add_argument(flag, choices=choices, default=default, help=text)
        else:
            parser.add_argument(flag, type=type(default), default=default, metavar=name.split("_")[-1].upper(),
                                help=text)


DOWNLOAD_HELP = ("download the --model first if it is a registered model that is not installed yet "
                 "(see 'seqvec models download')")


def add_download_argument(parser: argparse._ActionsContainer) -> None:
    """``--download``: fetch a registered --model before the command runs."""
    parser.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)


def add_overwrite_argument(parser: argparse._ActionsContainer, what: str = "the output") -> None:
    """``--overwrite``: replace an existing result (never an input; the old one stays until the new one is complete)."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} if it exists (an input is never replaced; the old result is kept "
                             "until the new one is complete)")


def model_files(name_or_path: object) -> list:
    """The files of a model (name, directory or None for the default) that a command reads, to protect them
    as inputs; [] when the model cannot be found (the command reports that itself)."""
    from seqvec.errors import SeqVecError
    from seqvec.lm.pretrained import resolve

    try:
        _, options, weights = resolve(None if name_or_path is None else str(name_or_path))
    except SeqVecError:
        return []
    return [options, weights, options.parent]


def path_inputs(args: argparse.Namespace, *outputs: str) -> list:
    """Every path among the parsed options except the ``outputs`` named: what a command reads."""
    from pathlib import Path

    found: list = []
    for name, value in vars(args).items():
        if name in outputs:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Path):
                found.append(item)
    return found


# ranges of numeric options that mean the same in every command (by dest); plain int/float
# options not named here get 64-bit integers / finite numbers
SEED_MAX = 2**32 - 1  # numpy's legacy seeding takes 32 bits
NUMBER_RANGES: dict[str, Callable[[str], float | int]] = {
    "seed": int_in(0, SEED_MAX),
    "bootstrap": int_in(1, 10_000),  # as metrics.MAX_BOOTSTRAP: draws x proteins counts are held in memory at once
    "cv": int_in(2, 1000),
    "repeat": int_in(1, 1000),
    "n": int_in(1, 10_000),
    "top": int_in(1, 10_000),
    "split_by_identity": float_in(0.0, 1.0, low_open=True),
    "max_minutes": float_in(0.0, 1e7),
    "timeout": float_in(0.0, 86_400.0, low_open=True),
}


def harden_numbers(parser: argparse.ArgumentParser) -> None:
    """Give every plain ``type=int`` / ``type=float`` option of ``parser`` (and its sub-parsers) a
    checked type: its range in :data:`NUMBER_RANGES`, else integers within 64 bits and finite
    floats. Options with a type of their own keep it."""
    for action in parser._actions:
        kind = getattr(action.type, "__name__", "")
        if kind in ("int", "float", "positive_int", "non_negative_int") and action.dest in NUMBER_RANGES:
            action.type = NUMBER_RANGES[action.dest]
        elif action.type is int:
            action.type = int_in(-INT64_MAX - 1)
        elif action.type is float:
            action.type = float_in(-math.inf, math.inf)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                harden_numbers(sub)


def add_label_arguments(parser: argparse.ArgumentParser, required: bool = True, files: bool = True) -> None:
    """--labels (repeatable), --label-format and the options of user label files, shared with evaluate and compare."""
    from seqvec.classifiers.labels.tasks import KIND_NAMES, LABEL_FORMATS

    if files:
        parser.add_argument("--labels", type=Path, action="append", required=required, metavar="FILE",
                            help="label file or FLIP folder (repeat to merge files by id)")
    parser.add_argument("--label-format", choices=LABEL_FORMATS, help="format of the label files (default: detected)")
    parser.add_argument("--sequences", type=Path, metavar="FASTA",
                        help="sequences of a labels FASTA (biotrainer's two-file convention) or of a CSV")
    parser.add_argument("--masks", type=Path, metavar="FASTA", help="0/1 per residue for a labels FASTA (1 = scored)")
    parser.add_argument("--kind", choices=KIND_NAMES, help="task kind of your labels (default: inferred)")
    parser.add_argument("--task-name", help="name of the task of your labels (default: the labels file's stem)")
    parser.add_argument("--label-map", metavar="JSON",
                        help='classes -> labels, e.g. \'{"0": [], "1": ["metal"], "3": ["nucleic", "metal"]}\' '
                             "(inline or a file): reads class labels as multi-label")


def user_label_options(args: argparse.Namespace, lengths: dict[str, int] | None = None) -> dict:
    """The keyword options of :func:`seqvec.classifiers.labels.files.read_labels` for user label files."""
    from seqvec.classifiers.labels.userlabels import parse_label_map

    return {"kind": args.kind, "task_name": args.task_name, "sequences": args.sequences, "masks": args.masks,
            "label_map": parse_label_map(args.label_map) if args.label_map else None, "lengths": lengths}


def embedded_lengths(path: Path) -> dict[str, int] | None:
    """Residue counts of an existing embedding file or shard folder (to check per-residue labels),
    else None (also for a foreign per-protein file, which does not record them)."""
    from seqvec.embeddings.store import open_embeddings
    from seqvec.errors import EmbeddingFileError

    if not path.exists():
        return None
    with open_embeddings(path) as store:
        try:
            return dict(zip(store.ids, store.lengths.tolist()))
        except EmbeddingFileError:
            return None


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


# FitConfig fields offered as options (type, default and choices come from FitConfig itself)
FIT_HELP = {
    "epochs": "upper bound on training epochs; early stopping usually ends sooner",
    "lr": "Adam learning rate",
    "weight_decay": "Adam L2 penalty",
    "batch_size": "proteins per batch",
    "max_residues": "padded residues per batch (per-residue input)",
    "patience": "epochs without improvement of the monitored value before stopping",
    "monitor": "early-stopping criterion: validation loss (lower is better) or mean accuracy (higher)",
    "class_weights": "balanced: weight each class by n / (classes x n_class) in the loss (multi-label: the "
                     "positives of each label by negatives / positives); the training counts are printed either way",
    "seed": "seed of the validation split, shuffling, dropout and initialisation",
    "precision": "training forward pass in float32, or under bfloat16 autocast (bf16: products and convolutions "
                 "in bfloat16, weights and optimizer in float32; validation and prediction stay float32). Measured on the "
                 "ConvLSTM: 2.8-3.6x faster than float32 on a CPU with AMX, 10-12x slower on one without bfloat16 "
                 "instructions ('seqvec info' says which this is; docs/performance.md)",
}


def add_fit_arguments(parser: argparse._ActionsContainer, names: tuple[str, ...] = tuple(FIT_HELP)) -> None:
    """Training options, one per :class:`~seqvec.classifiers.training.train.FitConfig` field in ``names``."""
    from seqvec.classifiers.training.train import FitConfig

    add_dataclass_options(parser, FitConfig, {name: FIT_HELP[name] for name in names})


def fit_config(args: argparse.Namespace, names: tuple[str, ...] = tuple(FIT_HELP)):
    """The :class:`~seqvec.classifiers.training.train.FitConfig` of the parsed options ``names``; an error naming
    every option that cannot train (``--epochs 0``, ``--lr -1``, ``--batch-size 0``, ...)."""
    from seqvec.classifiers.training.train import FitConfig, check_config

    config = FitConfig(**{name: getattr(args, name) for name in names})
    check_config(config)
    return config


def add_embedding_arguments(parser: argparse.ArgumentParser, encoder_help: str) -> None:
    """--encoder/--model/--layers/--dtype/--device: how missing embedding files are made and where models run."""
    from seqvec.embeddings.options import DTYPE_CHOICES, ENCODER_CHOICES
    from seqvec.embeddings.reduce import VIEWS

    parser.add_argument("--encoder", choices=ENCODER_CHOICES, help=encoder_help)
    parser.add_argument("--model", help="language model name or directory for --encoder lm or lm+TABLE, or a "
                                        "directory of 'seqvec train-protvec' vectors for --encoder protvec (default: "
                                        "the bundled model)")
    add_download_argument(parser)
    parser.add_argument("--layers", choices=("sum", "concat"),
                        help="per-residue view of embedding files made here (see 'seqvec embed --layers'): "
                             f"sum: {VIEWS['sum'].description}; concat: {VIEWS['concat'].description} "
                             "(default: sum, or for evaluate the one the head was trained on)")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="float32",
                        help="storage dtype of embedding files made here")
    add_device_argument(parser)


def parse_head_options(items: list[str]) -> dict:
    """``["hidden_dim=64", "dropout=0.1"]`` -> ``{"hidden_dim": 64, "dropout": 0.1}``."""

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--head-option {item!r}: expected KEY=VALUE with a name as KEY",
                             option="--head-option", value=item)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
        value = options[key]
        items_ = value if isinstance(value, list) else [value]
        if not items_ or not all(isinstance(v, (int, float, str, bool)) for v in items_) or \
                any(isinstance(v, float) and not math.isfinite(v) for v in items_):
            raise UsageError(f"--head-option {item!r}: the value must be a finite number, true/false, a string "
                             "or a list of numbers", option="--head-option", value=item)
    return options


def split_plan(args: argparse.Namespace):
    """The :class:`~seqvec.classifiers.selection.crossval.SplitPlan` of the command line (train and compare;
    compare has no --cv and --repeat)."""
    from seqvec.classifiers.selection.crossval import SplitPlan

    return SplitPlan(val_fraction=args.val_fraction, identity=args.split_by_identity, groups_file=args.groups,
                     split_file=args.split, cv=getattr(args, "cv", None), repeat=getattr(args, "repeat", 1),
                     seed=args.seed)

"""``seqvec train``: train a task head on embeddings and native label files."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from seqvec.errors import UsageError

HELP = "train a task head (FNN, CNN, light attention, ...) on your labels or a benchmark's"
DESCRIPTION = """Train a head for one or more tasks of the same level and save it to a directory.

Your own labels (docs/tasks.md): a biotrainer FASTA (TARGET= SET= MASK= in the headers),
biotrainer's labels FASTA with --sequences, or a CSV/TSV (id,label[,set]). The kind
(protein/residue x class/multilabel/value) is inferred or given with --kind; the task is
named after the labels file unless --task-name is given. SET=train/val are trained and
validated on; test sets and SET=pred records are left for evaluate and predict.
Presets: localization, membrane (per protein); ss3, ss8, disorder (per residue), read from
the benchmarks' files (DeepLoc FASTA/JSON, NetSurfP/CB513 CSV, FLIP folder, TAPE CSV,
CheZOD); several preset tasks of one level train together (--task ss3,ss8,disorder).
Give --labels several times to merge files by id. If --embeddings does not exist, the
labels' sequences are embedded into it first (--encoder, --model, --layers). Validation:
--val-labels, else the records the files mark (SET=val, VALIDATION=True), else a seeded
stratified --val-fraction split (0.1).

examples:
  seqvec train --labels my_task.fasta --embeddings my.h5 -o heads/my_task
  seqvec train --labels labels.csv --sequences seqs.fasta --kind protein_value \\
      --embeddings my.h5 --head la -o heads/stability
  seqvec train --task localization,membrane --head la --embeddings pool.h5 \\
      --labels deeploc_our_val_set.fasta --labels deeploc_valid_6000.fasta \\
      --labels deeploc_labels_q2.json -o heads/location
"""


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
    """Residue counts of an existing embedding file (to check per-residue labels), else None."""
    from seqvec.embeddings.h5 import read_h5_lengths

    return read_h5_lengths(path) if path.is_file() else None


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
                 "in bfloat16, weights and optimizer in float32; 2-3x faster on CPUs with bfloat16 instructions, "
                 "see docs/performance.md; validation and prediction stay float32)",
}


def add_fit_arguments(parser: argparse._ActionsContainer, names: tuple[str, ...] = tuple(FIT_HELP)) -> None:
    """Training options, one per :class:`~seqvec.classifiers.training.train.FitConfig` field in ``names``."""
    from seqvec.classifiers.training.train import FitConfig
    from seqvec.cli.common import add_dataclass_options

    add_dataclass_options(parser, FitConfig, {name: FIT_HELP[name] for name in names})


def fit_config(args: argparse.Namespace, names: tuple[str, ...] = tuple(FIT_HELP)):
    """The :class:`~seqvec.classifiers.training.train.FitConfig` of the parsed options ``names``; an error naming
    every option that cannot train (``--epochs 0``, ``--lr -1``, ``--batch-size 0``, ...)."""
    from seqvec.classifiers.training.train import FitConfig, config_problems

    config = FitConfig(**{name: getattr(args, name) for name in names})
    problems = config_problems(config)
    if problems:
        raise UsageError("; ".join(f"--{field.replace('_', '-')} {text}" for field, text in problems.items()),
                         value=problems)
    return config


def add_embedding_arguments(parser: argparse.ArgumentParser, encoder_help: str) -> None:
    """--encoder/--model/--layers/--dtype/--device: how missing embedding files are made and where models run."""
    from seqvec.cli.common import add_device_argument, add_download_argument
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.classifiers.heads.registry import HEADS
    from seqvec.classifiers.labels.tasks import TASKS

    parser.add_argument("--task", help=f"task(s), comma-separated: the task of your labels (default) or the "
                                       f"presets {', '.join(TASKS)}")
    parser.add_argument("--embeddings", type=Path, required=True, help="HDF5 embedding file (made if missing)")
    add_label_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="head directory to write")
    parser.add_argument("--head", choices=tuple(HEADS),
                        help="head architecture (default: fnn for per-protein, cnn for per-residue tasks)")
    parser.add_argument("--head-option", action="append", default=[], metavar="KEY=VALUE",
                        help="head hyper-parameter, e.g. hidden_dim=64 (value read as JSON); repeatable")
    parser.add_argument("--val-labels", type=Path, action="append", metavar="FILE", help="validation label file(s)")
    parser.add_argument("--val-embeddings", type=Path, help="embeddings of the validation proteins (default: --embeddings)")
    parser.add_argument("--val-fraction", type=float, help="validation share of a seeded split (default 0.1)")
    add_fit_arguments(parser.add_argument_group("training"))
    add_embedding_arguments(parser, "encoder used when an embedding file must be made (default: lm)")
    add_split_arguments(parser)


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    """Homology-aware splits, cross-validation and the grid search (docs/heads.md)."""
    group = parser.add_argument_group(
        "splits, cross-validation and search",
        "Similar proteins on both sides of a split make validation optimistic. --split-by-identity\n"
        "and --groups keep every cluster on one side; the split is written to OUT/split.tsv\n"
        "(id, cluster, fold) and can be reused with --split. See docs/heads.md.")
    group.add_argument("--split-by-identity", type=float, metavar="FRACTION",
                       help="cluster the proteins with MMseqs2 at this minimum sequence identity (e.g. 0.3; "
                            "80%% coverage of both proteins, connected components) and keep each cluster on one "
                            "side (needs `mmseqs` on PATH)")
    group.add_argument("--groups", type=Path, metavar="TSV", help="your own clusters: a TSV of id, cluster")
    group.add_argument("--split", type=Path, metavar="TSV",
                       help="reuse a split.tsv (fold train/val, or fold numbers with --cv)")
    group.add_argument("--cv", type=int, metavar="K",
                       help="K-fold cross-validation: K heads in OUT/fold<k>/, per-fold metrics, mean ± sd, pooled "
                            "out-of-fold 95%% bootstrap intervals (OUT/cv.json, OUT/cv.md)")
    group.add_argument("--repeat", type=int, default=1, metavar="N", help="repeat --cv with N seeds")
    group.add_argument("--test-set", action="append", default=[], metavar="SET",
                       help="with --cv: a test set kept out of the folds and scored by every fold head and their "
                            "ensemble: a set name of the label files (test, test2, ...) or a label file")
    group.add_argument("--test-embeddings", type=Path, metavar="H5",
                       help="embeddings of a --test-set label file (default: --embeddings; made if missing)")
    group.add_argument("--search", nargs="+", action="extend", default=[], metavar="KEY=V1,V2",
                       help="grid search on the validation proteins (never a test set), e.g. --search lr=1e-3,3e-4 "
                            "hidden_dim=32,64; training keys (lr, weight_decay, batch_size, ...) or head options; "
                            "the chosen values are stored with the head")
    group.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap draws of --cv intervals")


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


def run(args: argparse.Namespace) -> int:
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.labels.tasks import get_tasks
    from seqvec.classifiers.selection import crossval
    from seqvec.classifiers.selection.search import parse_search, train_searched
    from seqvec.classifiers.training import experiment

    config = fit_config(args)  # bad settings fail here, before any file is read
    hparams = parse_head_options(args.head_option)
    options = user_label_options(args, embedded_lengths(args.embeddings))
    labels = read_labels(args.labels, args.label_format, **options)
    tasks = get_tasks(args.task, labels.specs)
    level = next(iter(tasks.values())).level
    head = args.head or experiment.DEFAULT_HEAD[level]
    input_level = head_class(head).input_level
    embed = dict(encoder=args.encoder or "lm", model=args.model, layers=args.layers or "sum", dtype=args.dtype,
                 progress=not args.quiet, device=args.device)
    embeddings = experiment.ensure_embeddings(labels, args.embeddings, **embed)
    val_labels = read_labels(args.val_labels, args.label_format, **options) if args.val_labels else None
    val_embeddings = args.val_embeddings
    if val_labels is not None and val_embeddings is not None:
        val_embeddings = experiment.ensure_embeddings(val_labels, val_embeddings, **embed)
    plan = split_plan(args)
    info = {"labels": [str(p) for p in args.labels], "embeddings_file": str(embeddings),
            "val_labels": [str(p) for p in args.val_labels or []]}
    grid = parse_search(args.search)

    def train_fn(output, train, val, extra=None):
        def one(out, cfg, hp):
            return experiment.train_head(head, tasks, train, val, out, config=cfg, hparams=hp,
                                         embeddings=experiment.file_identity(embeddings),
                                         info={**info, **(extra or {})}, progress=not args.quiet,
                                         device=args.device)
        return train_searched(one, grid, config, hparams, val, output)

    if plan.cv:
        if val_labels is not None:
            raise UsageError("--cv makes its own validation proteins in each fold; leave out --val-labels",
                             option="--val-labels")
        return run_cv(args, plan, train_fn, tasks, labels, embeddings, input_level, embed)
    if val_labels is None:
        train, val = crossval.holdout_datasets(labels, embeddings, tasks, input_level, plan, args.output)
    else:
        if plan != crossval.SplitPlan(val_fraction=args.val_fraction, seed=args.seed):
            raise UsageError("--val-labels gives the validation proteins; leave out --split-by-identity, "
                             "--groups and --split", option="--val-labels")
        train, val = experiment.datasets(labels, embeddings, tasks, input_level, val_labels=val_labels,
                                         val_embeddings=val_embeddings, seed=args.seed)
    checkpoint, result = train_fn(args.output, train, val)
    for name, per_class in checkpoint.training.get("class_counts", {}).items():
        print(f"{name} training counts: " + ", ".join(f"{c} {n}" for c, n in per_class.items()))
    best = checkpoint.training["best"]
    summary = ", ".join(f"{k} {v:.4f}" for k, v in best.items() if k.startswith("val_") and math.isfinite(v))
    print(f"saved {head} head for {', '.join(tasks)} ({', '.join(s.kind.value for s in checkpoint.tasks.values())}) "
          f"to {args.output} (best epoch {result.best_epoch} of {len(result.history)}"
          f"{'; ' + summary if summary else ''})")
    if "search" in checkpoint.training:
        print(f"search: chose {checkpoint.training['search']['chosen']} "
              f"({checkpoint.training['search']['metric']} {checkpoint.training['search']['score']:.4f})")
    return 0


def split_plan(args: argparse.Namespace):
    """The :class:`~seqvec.classifiers.selection.crossval.SplitPlan` of the command line."""
    from seqvec.classifiers.selection.crossval import SplitPlan

    return SplitPlan(val_fraction=args.val_fraction, identity=args.split_by_identity, groups_file=args.groups,
                     split_file=args.split, cv=args.cv, repeat=args.repeat, seed=args.seed)


def run_cv(args, plan, train_fn, tasks, labels, embeddings, input_level, embed) -> int:
    """``--cv``: the test set (named sets or label files), the folds, the report."""
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.selection import crossval
    from seqvec.classifiers.training import experiment
    from seqvec.classifiers.training.data import build_dataset

    files: list = [Path(t) for t in args.test_set if Path(t).exists()]
    names = [t for t in args.test_set if not Path(t).exists()]
    test_ids = crossval.test_proteins(labels, names) if names else set()
    test = None
    if files:
        test_labels = read_labels(files, args.label_format)
        test_h5 = experiment.ensure_embeddings(test_labels, args.test_embeddings or embeddings, **embed)
        test = build_dataset(test_labels, test_h5, tasks, input_level)
        test_ids |= set(test.ids)
    if names:
        named = build_dataset(labels, embeddings, tasks, input_level, ids=sorted(test_ids - set(test.ids if test else [])))
        test = named if test is None else type(named)(test.examples + named.examples, tasks, input_level)
    dataset = build_dataset(labels, embeddings, tasks, input_level, ids=crossval.trainable_ids(labels, tasks, test_ids))
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("quiet", "verbose", "_run", "command", "output", "bootstrap")}
    report = crossval.cross_validate(train_fn, tasks, labels, dataset, plan, args.output, test=test,
                                     test_ids=test_ids, settings=settings, n_bootstrap=args.bootstrap)
    print(crossval.markdown(report))
    print(f"wrote {args.output}/cv.json, cv.md and {plan.cv * plan.repeat} fold heads")
    return 0

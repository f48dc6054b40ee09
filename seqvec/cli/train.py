"""``seqvec train``: train a task head on embeddings and native label files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train a task head (FNN, CNN, light attention, ...) on embeddings and label files"
DESCRIPTION = """Train a head for one or more tasks of the same level and save it to a directory.

Tasks: localization, membrane (per protein); ss3, ss8, disorder (per residue). Several
tasks of one level are trained together as outputs of one head (--task ss3,ss8,disorder).
Label files are the native benchmark files (DeepLoc FASTA/JSON, NetSurfP/CB513 CSV, FLIP
folder, TAPE CSV, CheZOD scores); give --labels several times to merge files by id.
If --embeddings does not exist, the label files' sequences are embedded into it first
(--encoder, --model). Validation: --val-labels/--val-embeddings, else the validation
records the files mark (FLIP), else a seeded stratified --val-fraction split (0.1).

example:
  seqvec train --task localization,membrane --head la --embeddings pool.h5 \\
      --labels deeploc_our_val_set.fasta --labels deeploc_valid_6000.fasta \\
      --labels deeploc_labels_q2.json -o heads/location
"""


def add_label_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--labels (repeatable) and --label-format, shared with evaluate and compare."""
    from seqvec.classifiers.tasks import LABEL_FORMATS

    parser.add_argument("--labels", type=Path, action="append", required=required, metavar="FILE",
                        help="label file or FLIP folder (repeat to merge files by id)")
    parser.add_argument("--label-format", choices=LABEL_FORMATS, help="format of the label files (default: detected)")


def add_embedding_arguments(parser: argparse.ArgumentParser) -> None:
    """--encoder/--model/--dtype: how missing embedding files are made."""
    parser.add_argument("--encoder", choices=("lm", "onehot", "blosum62"),
                        help="encoder used when an embedding file must be made (default: lm; for "
                             "evaluate: the head's)")
    parser.add_argument("--model", help="language model name or directory for --encoder lm (default: bundled)")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                        help="storage dtype of embedding files made here")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.classifiers.tasks import TASKS

    parser.add_argument("--task", required=True, help=f"task(s), comma-separated: {', '.join(TASKS)}")
    parser.add_argument("--embeddings", type=Path, required=True, help="HDF5 embedding file (made if missing)")
    add_label_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="head directory to write")
    parser.add_argument("--head", help="head name (default: fnn for per-protein, cnn for per-residue tasks)")
    parser.add_argument("--head-option", action="append", default=[], metavar="KEY=VALUE",
                        help="head hyper-parameter, e.g. hidden_dim=64 (value read as JSON)")
    parser.add_argument("--val-labels", type=Path, action="append", metavar="FILE", help="validation label file(s)")
    parser.add_argument("--val-embeddings", type=Path, help="embeddings of the validation proteins (default: --embeddings)")
    parser.add_argument("--val-fraction", type=float, help="validation share of a seeded split (default 0.1)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=64, help="proteins per batch")
    parser.add_argument("--max-residues", type=int, default=40_000, help="padded residues per batch")
    parser.add_argument("--patience", type=int, default=5, help="epochs without improvement before stopping")
    parser.add_argument("--monitor", choices=("loss", "accuracy"), default="loss", help="early-stopping criterion")
    parser.add_argument("--class-weights", action="store_true", help="balance classes in the loss")
    parser.add_argument("--seed", type=int, default=0)
    add_embedding_arguments(parser)


def parse_head_options(items: list[str]) -> dict:
    """``["hidden_dim=64", "dropout=0.1"]`` -> ``{"hidden_dim": 64, "dropout": 0.1}``."""
    from seqvec.errors import SeqVecError

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SeqVecError(f"--head-option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run(args: argparse.Namespace) -> int:
    from seqvec.classifiers import experiment
    from seqvec.classifiers.heads import head_class
    from seqvec.classifiers.labels import read_labels
    from seqvec.classifiers.tasks import get_tasks
    from seqvec.classifiers.train import FitConfig

    tasks = get_tasks(args.task)
    level = next(iter(tasks.values())).level
    head = args.head or experiment.DEFAULT_HEAD[level]
    input_level = head_class(head).input_level
    labels = read_labels(args.labels, args.label_format)
    embed = dict(encoder=args.encoder or "lm", model=args.model, dtype=args.dtype, progress=not args.quiet)
    embeddings = experiment.ensure_embeddings(labels, args.embeddings, **embed)
    val_labels = read_labels(args.val_labels, args.label_format) if args.val_labels else None
    val_embeddings = args.val_embeddings
    if val_labels is not None and val_embeddings is not None:
        val_embeddings = experiment.ensure_embeddings(val_labels, val_embeddings, **embed)
    train, val = experiment.datasets(labels, embeddings, tasks, input_level, val_labels=val_labels,
                                     val_embeddings=val_embeddings, val_fraction=args.val_fraction, seed=args.seed)
    config = FitConfig(epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, batch_size=args.batch_size,
                       max_residues=args.max_residues, patience=args.patience, monitor=args.monitor,
                       class_weights=args.class_weights, seed=args.seed)
    info = {"labels": [str(p) for p in args.labels], "embeddings_file": str(embeddings),
            "val_labels": [str(p) for p in args.val_labels or []]}
    checkpoint, result = experiment.train_head(
        head, tasks, train, val, args.output, config=config, hparams=parse_head_options(args.head_option),
        embeddings=experiment.file_identity(embeddings), info=info, progress=not args.quiet)
    best = checkpoint.training["best"]
    summary = ", ".join(f"{k} {v:.4f}" for k, v in best.items() if k.startswith("val_"))
    print(f"saved {head} head for {', '.join(tasks)} to {args.output} "
          f"(best epoch {result.best_epoch} of {len(result.history)}{'; ' + summary if summary else ''})")
    return 0

"""``seqvec train``: train a task head on embeddings and native label files."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from seqvec.cli.common import (
    add_embedding_arguments,
    add_fit_arguments,
    add_label_arguments,
    device_of,
    embedded_lengths,
    fit_config,
    parse_head_options,
    split_plan,
    user_label_options,
)

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.classifiers.heads.registry import HEADS
    from seqvec.classifiers.labels.tasks import TASKS
    from seqvec.cli.common import add_overwrite_argument

    parser.add_argument("--task", help=f"task(s), comma-separated: the task of your labels (default) or the "
                                       f"presets {', '.join(TASKS)}")
    parser.add_argument("--embeddings", type=Path, required=True, help="HDF5 embedding file (made if missing)")
    add_label_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="head directory to write")
    add_overwrite_argument(parser, "an existing head directory")
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


def run(args: argparse.Namespace) -> int:
    from seqvec.errors import OutputExistsError
    from seqvec.io.output import Output

    config = fit_config(args)  # bad settings fail here, before any file is read
    inputs = [*args.labels, args.embeddings, *(args.val_labels or []), args.val_embeddings, args.sequences,
              args.masks, args.groups, args.split, args.test_embeddings, *(Path(t) for t in args.test_set if Path(t).exists())]
    if args.cv:
        # a cross-validation folder is a workspace: a rerun reuses its finished folds (checked by their
        # settings); only a finished head of another kind is not written over without --overwrite
        if (args.output / "config.json").is_file() and not args.overwrite:
            raise OutputExistsError(f"{args.output} holds a trained head; choose another output, or ask to "
                                    "overwrite it (--overwrite)", path=args.output)
        with Output(args.output, inputs=inputs, workspace=True):
            args.output.mkdir(exist_ok=True)
            return _train(args, config, args.output)
    # the head directory is built under a temporary name and replaces an old one (--overwrite) when complete
    with Output(args.output, inputs=inputs, overwrite=args.overwrite, directory=True) as out, \
            out.staging() as staging:
        return _train(args, config, staging)


def _train(args: argparse.Namespace, config, output: Path) -> int:
    """``seqvec train`` writing its head directory into ``output`` (the staging folder)."""
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.labels.tasks import get_tasks
    from seqvec.classifiers.selection.crossval import markdown
    from seqvec.classifiers.selection.recipe import HeldOutSet, Validation, held_out_set, train_by_plan
    from seqvec.classifiers.selection.search import parse_search
    from seqvec.classifiers.training.experiment import DEFAULT_HEAD, HeadSpec, ensure_embeddings, file_identity

    hparams = parse_head_options(args.head_option)
    options = user_label_options(args, embedded_lengths(args.embeddings))
    labels = read_labels(args.labels, args.label_format, **options)
    tasks = get_tasks(args.task, labels.specs)
    head = args.head or DEFAULT_HEAD[next(iter(tasks.values())).level]
    embed = dict(encoder=args.encoder or "lm", model=args.model, layers=args.layers or "sum", dtype=args.dtype,
                 progress=not args.quiet, device=device_of(args))
    embeddings = ensure_embeddings(labels, args.embeddings, **embed)
    val_labels = read_labels(args.val_labels, args.label_format, **options) if args.val_labels else None
    val_embeddings = args.val_embeddings
    if val_labels is not None and val_embeddings is not None:
        val_embeddings = ensure_embeddings(val_labels, val_embeddings, **embed)
    validation = Validation(split_plan(args), val_labels, val_embeddings)
    spec = HeadSpec(head, tasks, config, hparams, parse_search(args.search), file_identity(embeddings),
                    {"labels": [str(p) for p in args.labels], "embeddings_file": str(embeddings),
                     "val_labels": [str(p) for p in args.val_labels or []]}, not args.quiet, device_of(args))
    test = HeldOutSet()
    if validation.plan.cv and args.test_set:
        files: list = [Path(t) for t in args.test_set if Path(t).exists()]
        test_labels = read_labels(files, args.label_format, **options) if files else None
        test = held_out_set(labels, embeddings, tasks, head_class(head).input_level,
                        names=[t for t in args.test_set if not Path(t).exists()], files=test_labels,
                        files_embeddings=ensure_embeddings(test_labels, args.test_embeddings or embeddings, **embed)
                        if test_labels is not None else None)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("quiet", "verbose", "_run", "command", "output", "bootstrap")}
    trained = train_by_plan(spec, labels, embeddings, output, validation=validation, test=test,
                            settings=settings, n_bootstrap=args.bootstrap)
    if trained.cv is not None:
        print(markdown(trained.cv))
        print(f"wrote {args.output}/cv.json, cv.md and {trained.cv['cv'] * trained.cv['repeat']} fold heads")
        return 0
    checkpoint, result = trained.checkpoint, trained.result
    assert checkpoint is not None and result is not None  # a holdout run trains one head
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

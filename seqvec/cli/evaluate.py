"""``seqvec evaluate``: score a trained head on labelled proteins, with 95% bootstrap intervals."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import (
    add_embedding_arguments,
    add_label_arguments,
    add_overwrite_argument,
    device_of,
    embedded_lengths,
    non_negative_int,
    positive_int,
    user_label_options,
)
from seqvec.errors import UsageError

HELP = "score a trained head on embeddings and label files (metrics with 95% bootstrap CIs)"
DESCRIPTION = """Score a head directory on labelled proteins and print the metrics.

Classes: accuracy (Q10/Q2/Q3/Q8 for the presets), balanced accuracy, macro-F1, MCC,
per-class precision/recall/F1/MCC and the confusion matrix; multi-label: micro/macro-F1
and per-label F1/MCC at the threshold chosen on validation; values: Spearman, Pearson,
RMSE, MAE in the labels' units. 95% intervals from 1000 bootstrap draws over proteins.
Records the files mark as test sets (SET=test, test2, ...) are scored, each set on its
own; without such marks every record (except SET=pred). A head for your own task reads
the labels as that task (its name and kind). -o writes everything as JSON. If
--embeddings does not exist, the label files' sequences are embedded into it first.
Each set's metrics are also added to the head's MODEL_CARD.md (a section per label files
and set, refreshed when scored again).

--predictions scores the table of 'seqvec transfer' instead (queries with a label; those
without a prediction count in the coverage, not the metrics) and adds the reliability
curve: the metric of the predictions kept above each reliability threshold ('seqvec plot
reliability' draws it from the JSON).

examples:
  seqvec evaluate --predictions predictions.tsv --labels deeploc_test_set.fasta -o transfer.json
  seqvec evaluate --head heads/my_task --embeddings my.h5 --labels my_task.fasta
  seqvec evaluate --head heads/ss --embeddings cb513.h5 --labels CB513_HHblits.csv -o cb513.json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--head", type=Path, help="head directory (from seqvec train), or a bundled "
                        "head: bundled:protein, bundled:residue")
    parser.add_argument("--embeddings", type=Path, help="HDF5 embedding file (made if missing; with --head)")
    parser.add_argument("--predictions", type=Path, metavar="TSV",
                        help="score a 'seqvec transfer' table instead of a head (with its coverage and reliability "
                             "curve; no embeddings needed)")
    add_label_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, help="write the metrics as JSON here")
    add_overwrite_argument(parser, "the -o file")
    parser.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap draws (default 1000)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the bootstrap draws")
    add_embedding_arguments(parser, "encoder used when an embedding file must be made (default: the one the "
                                    "head was trained on)")


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from seqvec.io.output import Output

    stack = ExitStack()
    out = None
    if args.output:  # checked and locked before any work
        out = stack.enter_context(Output(args.output, overwrite=args.overwrite, inputs=[
            args.head, args.embeddings, args.predictions, *args.labels, args.sequences, args.masks]))
    with stack:
        return _evaluate(args, out)


def _evaluate(args: argparse.Namespace, out) -> int:
    from seqvec.classifiers.evaluation.card import add_test_section
    from seqvec.classifiers.evaluation.evaluate import evaluate_head, test_sets
    from seqvec.classifiers.evaluation.metrics import format_result, is_percent
    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.labels.tasks import TASKS
    from seqvec.classifiers.training import experiment

    if (args.head is None) == (args.predictions is None):
        raise UsageError("give --head (with --embeddings) or --predictions", option="--head")
    if args.predictions is not None:
        return _score_transfer(args, out)
    if args.embeddings is None:
        raise UsageError("--head needs --embeddings", option="--embeddings")
    checkpoint = load_head(args.head)
    options = user_label_options(args, embedded_lengths(args.embeddings))
    own = [spec for name, spec in checkpoint.tasks.items() if name not in TASKS]
    if len(own) == 1:  # a head of the user's own task reads the labels as that task
        options["task_name"] = options["task_name"] or own[0].name
        options["kind"] = options["kind"] or own[0].kind.value
        if options["label_map"] is None and own[0].label_map is not None:  # kept with the head at training
            options["label_map"] = own[0].label_map
    labels = read_labels(args.labels, args.label_format, **options)
    encoder = args.encoder or checkpoint.embeddings.get("encoder") or "lm"
    layers = args.layers or checkpoint.embeddings.get("layers") or "sum"
    embeddings = experiment.ensure_embeddings(labels, args.embeddings, encoder=encoder, model=args.model,
                                              layers=layers, dtype=args.dtype, progress=not args.quiet,
                                              device=device_of(args))
    sets = test_sets(labels)
    reports = {}
    for name, ids in sets.items():
        reports[name] = evaluate_head(checkpoint, labels, embeddings, identity=experiment.file_identity(embeddings),
                                      n_bootstrap=args.bootstrap, seed=args.seed, ids=ids, device=device_of(args))
        where = "" if name == "all" else f" (SET={name})"
        percent = any(is_percent(m) for r in reports[name]["tasks"].values() for m in r["metrics"])
        note = " (accuracies in %, as seqvec compare shows them; the JSON report stores fractions)" * percent
        print(f"head {args.head} ({checkpoint.name}) on {', '.join(map(str, args.labels))}{where}{note}")
        for result in reports[name]["tasks"].values():
            print(format_result(result))
        files = ", ".join(Path(p).name for p in args.labels)
        add_test_section(checkpoint, f"Test: {files}" + (f" (SET={name})" if name != "all" else " (every record)"),
                         reports[name], labels=args.labels, embeddings=embeddings)
    report = next(iter(reports.values())) if len(reports) == 1 else {"sets": reports}
    if out is not None:
        out.write_json(report)
    return 0


def _score_transfer(args: argparse.Namespace, out) -> int:
    """``--predictions``: score a transfer table (metrics, coverage, reliability curve)."""
    from seqvec.classifiers.evaluation.metrics import format_result
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.search.scoring import score_predictions

    labels = read_labels(args.labels, args.label_format, **user_label_options(args))
    report = score_predictions(args.predictions, labels, n_bootstrap=args.bootstrap, seed=args.seed)
    print(f"transfer {args.predictions} on {', '.join(map(str, args.labels))}: {report['n_predicted']:,} of "
          f"{report['n_labelled']:,} labelled queries predicted (coverage {report['coverage']:.4f}); values are "
          "fractions, as in the JSON report")
    print(format_result(report["result"]))
    if out is not None:
        out.write_json(report)
    return 0

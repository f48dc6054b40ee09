"""``seqvec compare``: encoders x heads x tasks on one train/test split, with a table and a plot."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import (
    add_fit_arguments,
    add_label_arguments,
    device_of,
    fit_config,
    parse_head_options,
    positive_int,
    split_plan,
    user_label_options,
)
from seqvec.errors import UsageError

HELP = "compare encoders (LM, one-hot, BLOSUM62, ProtVec) and heads on tasks: train, test, table + plot"
DESCRIPTION = """Embed the training and test proteins with each encoder, train each head on every
requested task of its level (per-protein heads: fnn, la, convlstm; per-residue: cnn), score
on the test proteins with 95% bootstrap intervals, and write OUT/compare.md, compare.json,
compare.png. Embeddings and finished heads under OUT are reused when the command is run
again. Several label files per --train/--test are merged by id, so protein and residue
tasks can be compared in one run.

Your own task: --train your labels file (biotrainer FASTA, labels FASTA with --sequences,
CSV); without --test, its records marked SET=test (test2, ...) are the test proteins.

examples:
  seqvec compare --train three_vs_rest.fasta.gz --heads fnn,la -o gb1_compare
  seqvec compare --encoders lm,onehot,blosum62,protvec --heads fnn,la,cnn \\
      --tasks localization,membrane,ss3,ss8,disorder \\
      --train deeploc_our_val_set.fasta --train netsurfp/flip_trainval \\
      --test deeploc_test_set.fasta --test CB513_HHblits.csv -o compare_out
"""


COMPARE_FIT = ("epochs", "lr", "batch_size", "max_residues", "patience", "class_weights", "seed")  # FitConfig fields


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.classifiers.heads.registry import HEADS
    from seqvec.classifiers.labels.tasks import TASKS
    from seqvec.cli.common import add_device_argument, add_download_argument
    from seqvec.embeddings.options import DTYPE_CHOICES, ENCODER_CHOICES

    parser.add_argument("--encoders", default="lm,onehot,blosum62",
                        help=f"comma-separated, from: {', '.join(ENCODER_CHOICES)}")
    parser.add_argument("--heads", default="fnn,la,cnn", help=f"comma-separated, from: {', '.join(HEADS)}")
    parser.add_argument("--tasks", help=f"comma-separated tasks (both levels allowed): the task of your label file "
                                        f"(default) or presets from: {', '.join(TASKS)}")
    parser.add_argument("--train", type=Path, action="append", required=True, metavar="FILE",
                        help="training label file (repeat to merge)")
    parser.add_argument("--test", type=Path, action="append", metavar="FILE",
                        help="test label file (repeat to merge; default: the SET=test records of --train)")
    parser.add_argument("--val", type=Path, action="append", metavar="FILE",
                        help="validation label file(s) (default: marked records or a --val-fraction split)")
    parser.add_argument("--val-fraction", type=float, help="validation share of a seeded split (default 0.1)")
    parser.add_argument("--split-by-identity", type=float, metavar="FRACTION",
                        help="validation proteins by MMseqs2 clusters at this minimum identity, apart from the "
                             "training clusters (docs/heads.md; written to OUT/split.tsv)")
    parser.add_argument("--groups", type=Path, metavar="TSV", help="validation by your own clusters (id, cluster)")
    parser.add_argument("--split", type=Path, metavar="TSV", help="reuse a split.tsv (fold train/val)")
    add_label_arguments(parser, files=False)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--model", help="language model for the lm encoder (default: the bundled model)")
    add_download_argument(parser)
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="float32", help="embedding storage dtype")
    parser.add_argument("--head-option", action="append", default=[], metavar="HEAD:KEY=VALUE",
                        help="hyper-parameter of one head, e.g. la:hidden_dim=64; repeatable")
    add_fit_arguments(parser.add_argument_group("training"), COMPARE_FIT)
    parser.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap draws for the intervals")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from seqvec.cli.common import model_files, path_inputs
    from seqvec.io.output import Output

    # the output folder is compare's workspace (a rerun reuses its embeddings and heads): checked
    # (never an input, writable) and locked before any work; its reports are replaced atomically
    with Output(args.output, inputs=[*path_inputs(args, "output"), *model_files(args.model)], workspace=True):
        return _compare(args)


def _compare(args: argparse.Namespace) -> int:
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.labels.tasks import TASKS
    from seqvec.classifiers.selection.compare import markdown_table, run_comparison, verdicts
    from seqvec.embeddings.options import ENCODER_CHOICES

    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    bad = [e for e in encoders if e not in ENCODER_CHOICES]
    if bad or not encoders:
        raise UsageError(f"unknown encoder(s) {bad}; choose from {', '.join(ENCODER_CHOICES)}",
                         option="--encoders", value=bad)
    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    for h in heads:
        head_class(h)
    hparams: dict[str, dict] = {}
    for item in args.head_option:
        head, sep, option = item.partition(":")
        if not sep:
            raise UsageError(f"--head-option {item!r}: expected HEAD:KEY=VALUE", option="--head-option", value=item)
        hparams.setdefault(head, {}).update(parse_head_options([option]))
    config = fit_config(args, COMPARE_FIT)
    options = user_label_options(args)
    train = read_labels(args.train, args.label_format, **options)
    known = {**TASKS, **train.specs}
    names = [t.strip() for t in (args.tasks or ",".join(train.specs)).split(",") if t.strip()]
    unknown = [t for t in names if t not in known]
    if unknown or not names:
        raise UsageError(f"unknown task(s) {unknown}; choose from {', '.join(known)}", option="--tasks", value=unknown)
    for name in names:  # a test file of the user's task reads as that task
        if name in train.specs:
            options.update(task_name=options["task_name"] or name, kind=options["kind"] or train.specs[name].kind.value)
    test = read_labels(args.test, args.label_format, **options) if args.test else None
    val = read_labels(args.val, args.label_format, **options) if args.val else None
    plan = None
    if args.split_by_identity is not None or args.groups is not None or args.split is not None:
        if val is not None:
            raise UsageError("--val gives the validation proteins; leave out --split-by-identity, --groups, --split",
                             option="--val")
        plan = split_plan(args)
    results = run_comparison(train, test, {t: known[t] for t in names}, args.output, encoders=encoders, heads=heads,
                             config=config, model=args.model, val=val, val_fraction=args.val_fraction,
                             hparams=hparams, n_bootstrap=args.bootstrap, dtype=args.dtype, split_plan=plan,
                             progress=not args.quiet, device=device_of(args))
    print(markdown_table(results))
    for line in verdicts(results):
        print(line)
    from seqvec.viz.comparison import comparison_caption, plot_comparison

    plot_comparison(results, args.output / "compare.png", caption=comparison_caption(results))
    print(f"wrote {args.output}/compare.md, compare.json, compare.png")
    return 0

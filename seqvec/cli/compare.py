"""``seqvec compare``: encoders x heads x tasks on one train/test split, with a table and a plot."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.train import parse_head_options

HELP = "compare encoders (LM, one-hot, BLOSUM62) and heads on tasks: train, test, table + plot"
DESCRIPTION = """Embed the training and test proteins with each encoder, train each head on every
requested task of its level (per-protein heads: fnn, la, convlstm; per-residue: cnn), score
on the test proteins with 95% bootstrap intervals, and write OUT/compare.md, compare.json,
compare.png. Embeddings and finished heads under OUT are reused when the command is run
again. Several label files per --train/--test are merged by id, so protein and residue
tasks can be compared in one run.

example:
  seqvec compare --encoders lm,onehot,blosum62 --heads fnn,la,cnn \\
      --tasks localization,membrane,ss3,ss8,disorder \\
      --train deeploc_our_val_set.fasta --train netsurfp/flip_trainval \\
      --test deeploc_test_set.fasta --test CB513_HHblits.csv -o compare_out
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.classifiers.tasks import LABEL_FORMATS

    parser.add_argument("--encoders", default="lm,onehot,blosum62", help="comma-separated: lm, onehot, blosum62")
    parser.add_argument("--heads", default="fnn,la,cnn", help="comma-separated head names")
    parser.add_argument("--tasks", required=True, help="comma-separated tasks (both levels allowed)")
    parser.add_argument("--train", type=Path, action="append", required=True, metavar="FILE",
                        help="training label file (repeat to merge)")
    parser.add_argument("--test", type=Path, action="append", required=True, metavar="FILE",
                        help="test label file (repeat to merge)")
    parser.add_argument("--val", type=Path, action="append", metavar="FILE",
                        help="validation label file(s) (default: marked records or a --val-fraction split)")
    parser.add_argument("--val-fraction", type=float, help="validation share of a seeded split")
    parser.add_argument("--label-format", choices=LABEL_FORMATS, help="format of all label files (default: detected)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--model", help="language model for the lm encoder (default: bundled)")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="embedding storage dtype")
    parser.add_argument("--head-option", action="append", default=[], metavar="HEAD:KEY=VALUE",
                        help="hyper-parameter of one head, e.g. la:hidden_dim=64")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-residues", type=int, default=40_000)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws for the intervals")


def run(args: argparse.Namespace) -> int:
    from seqvec.classifiers.compare import markdown_table, run_comparison, verdicts
    from seqvec.classifiers.heads import head_class
    from seqvec.classifiers.labels import read_labels
    from seqvec.classifiers.tasks import TASKS
    from seqvec.classifiers.train import FitConfig
    from seqvec.errors import SeqVecError

    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    bad = [e for e in encoders if e not in ("lm", "onehot", "blosum62")]
    if bad or not encoders:
        raise SeqVecError(f"unknown encoder(s) {bad}; choose from lm, onehot, blosum62")
    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    for h in heads:
        head_class(h)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise SeqVecError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    hparams: dict[str, dict] = {}
    for item in args.head_option:
        head, sep, option = item.partition(":")
        if not sep:
            raise SeqVecError(f"--head-option {item!r}: expected HEAD:KEY=VALUE")
        hparams.setdefault(head, {}).update(parse_head_options([option]))
    config = FitConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_residues=args.max_residues,
                       patience=args.patience, seed=args.seed)
    train = read_labels(args.train, args.label_format)
    test = read_labels(args.test, args.label_format)
    val = read_labels(args.val, args.label_format) if args.val else None
    results = run_comparison(train, test, {t: TASKS[t] for t in names}, args.output, encoders=encoders, heads=heads,
                             config=config, model=args.model, val=val, val_fraction=args.val_fraction,
                             hparams=hparams, n_bootstrap=args.bootstrap, dtype=args.dtype, progress=not args.quiet)
    print(markdown_table(results))
    for line in verdicts(results):
        print(line)
    print(f"wrote {args.output}/compare.md, compare.json, compare.png")
    return 0

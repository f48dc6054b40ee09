"""``seqvec evaluate``: score a trained head on labelled proteins, with 95% bootstrap intervals."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqvec.cli.train import add_embedding_arguments, add_label_arguments

HELP = "score a trained head on embeddings and label files (metrics with 95% bootstrap CIs)"
DESCRIPTION = """Score a head directory on labelled proteins and print the metrics.

Q10/Q2 (per-protein accuracy), Q3/Q8 (per-residue accuracy over scored residues, and the
mean over proteins), MCC (disorder's headline), per-class MCC and the confusion matrix;
95% intervals from 1000 bootstrap draws over proteins. -o writes everything as JSON.
If --embeddings does not exist, the label files' sequences are embedded into it first.

example:
  seqvec evaluate --head heads/ss --embeddings cb513.h5 --labels CB513_HHblits.csv -o cb513.json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--head", type=Path, required=True, help="head directory (from seqvec train)")
    parser.add_argument("--embeddings", type=Path, required=True, help="HDF5 embedding file (made if missing)")
    add_label_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, help="write the metrics as JSON here")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    add_embedding_arguments(parser, "encoder used when an embedding file must be made (default: the one the "
                                    "head was trained on)")


def run(args: argparse.Namespace) -> int:
    from seqvec.classifiers import experiment
    from seqvec.classifiers.checkpoint import load_head
    from seqvec.classifiers.evaluate import evaluate_head
    from seqvec.classifiers.labels import read_labels
    from seqvec.classifiers.metrics import format_result

    checkpoint = load_head(args.head)
    labels = read_labels(args.labels, args.label_format)
    encoder = args.encoder or checkpoint.embeddings.get("encoder") or "lm"
    embeddings = experiment.ensure_embeddings(labels, args.embeddings, encoder=encoder, model=args.model,
                                              dtype=args.dtype, progress=not args.quiet, device=args.device)
    report = evaluate_head(checkpoint, labels, embeddings, identity=experiment.file_identity(embeddings),
                           n_bootstrap=args.bootstrap, seed=args.seed, device=args.device)
    print(f"head {args.head} ({checkpoint.name}) on {', '.join(map(str, args.labels))}; values are fractions, "
          "as in the JSON report")
    for result in report["tasks"].values():
        print(format_result(result))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1) + "\n")
    return 0

"""``seqvec transfer``: annotation transfer from the nearest labelled references of an index."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import add_overwrite_argument, path_inputs, positive_int

HELP = "transfer labels (classes, label sets, values) from the nearest labelled proteins, with reliability"
DESCRIPTION = """Predict a per-protein task for each query from the labels of its nearest references
in an index: the nearest hit's label (-k 1, the default), a similarity-weighted vote of
the k nearest (-k N), or the k that leave-one-out on the reference scores best (-k auto,
trying 1, 3, 5, 10, 20, 50). Only references with a label for the task are searched.

Labels: every file and preset 'seqvec train' reads (--labels, --label-format, --kind,
...); the ids must be those of the index. Classes win by summed similarity; label sets
(GO terms, ...) keep the labels of at least half the weight; values are the weighted mean.

Each prediction gets a reliability in [0, 1]: the share of reference proteins, with the
same support, whose transferred label was right when each was left out of the index in
turn (an isotonic fit; --calibration-sample references, seeded). Keep predictions above a
threshold to trade coverage for accuracy ('seqvec evaluate --predictions' and 'seqvec plot
reliability' show the trade on labelled queries). Output TSV: query, TASK (the label;
label sets joined by ';'), reliability, support (the summed similarity of the agreeing
hits over k), hits (id:similarity;...). --report writes the leave-one-out scores as JSON.

examples:
  seqvec transfer queries.fasta -i reference.index --labels reference_labels.fasta -o predictions.tsv
  seqvec transfer queries.h5 -i deeploc.index --labels deeploc_our_val_set.fasta \\
      --labels deeploc_valid_6000.fasta --labels deeploc_labels_q2.json --task localization -k auto \\
      -o predictions.tsv --report loo.json
"""


def k_value(text: str) -> int | None:
    """argparse type of -k: a positive integer or 'auto' (None)."""
    return None if text == "auto" else positive_int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.cli.common import add_label_arguments
    from seqvec.cli.lookup.search import add_search_arguments
    from seqvec.search.reliability import CALIBRATION_SAMPLE

    add_search_arguments(parser)
    add_label_arguments(parser)
    parser.add_argument("--task", help="the task to transfer (default: the labels' only per-protein task)")
    parser.add_argument("-k", type=k_value, default=1, metavar="N|auto",
                        help="hits that vote: 1 = the nearest hit; auto = chosen by leave-one-out")
    parser.add_argument("--calibration-sample", type=positive_int, default=CALIBRATION_SAMPLE,
                        help="reference proteins left out in turn to calibrate the reliability (all if fewer)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration sample")
    parser.add_argument("-o", "--output", type=Path, required=True, help="predictions TSV to write")
    parser.add_argument("--report", type=Path, help="write the leave-one-out scores and calibration as JSON here")
    add_overwrite_argument(parser, "the -o table and the --report")


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from seqvec.io.output import Output

    inputs = path_inputs(args, "output", "report")
    with ExitStack() as stack:  # every output checked and locked before any work
        report = None
        stack.enter_context(Output(args.output, inputs=inputs, overwrite=args.overwrite))
        if args.report:
            report = stack.enter_context(Output(args.report, inputs=inputs, overwrite=args.overwrite))
        return _transfer(args, report)


def _transfer(args: argparse.Namespace, out) -> int:
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.cli.common import device_of, user_label_options
    from seqvec.search.api import transfer_labels
    from seqvec.search.neighbours import load_index
    from seqvec.search.query import write_table

    index = load_index(args.index, nprobe=args.nprobe, ef_search=args.ef_search)
    labels = read_labels(args.labels, args.label_format, **user_label_options(args))
    result = transfer_labels(args.query, index, labels, args.task, args.k, min_similarity=args.min_similarity,
                             exclude_self=args.exclude_self, calibration_sample=args.calibration_sample,
                             seed=args.seed, model=args.model, device=device_of(args), progress=not args.quiet)
    write_table(args.output, result.header, result.rows)
    if out is not None:
        loo = result.loo
        report = {"task": result.task.name, "k": result.k, "metric": loo.metric, "n_reference": loo.n,
                  "leave_one_out": {str(k): v for k, v in loo.scores.items()},
                  "calibration": loo.calibrations[result.k].table() if result.k in loo.calibrations else []}
        out.write_json(report)
    return 0

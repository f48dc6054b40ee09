"""``seqvec plot <kind>``: pictures that explain models and embeddings (PNG or SVG by suffix)."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "plot attention, conv filters, embedding projections, confusion matrices, learning curves"
DESCRIPTION = """Draw one picture; the output suffix (.png or .svg) picks the format.

kinds:
  attention   attention weights along proteins (conv + BiLSTM + attention head), one panel
              each, with the predicted class and probability and, when known, the true class
  filters     first-layer conv filters of a one-hot/BLOSUM62 head as sequence logos and
              heatmaps, ranked by weight norm (or by mean activation with --fasta)
  projection  per-protein embeddings from an HDF5 file in 2D (PCA, t-SNE, UMAP when
              installed), coloured by a label file
  confusion   row-normalised confusion matrix from 'seqvec evaluate -o' JSON, or from a
              predictions table and a label file
  curves      training and validation loss and accuracy per epoch of a training run

examples:
  seqvec plot attention --head heads/convlstm --fasta deeploc_test_set.fasta -n 4 -o attention.png
  seqvec plot filters --head heads/convlstm --fasta deeploc_test_set.fasta -o filters.svg
  seqvec plot projection test.h5 --labels deeploc_test_set.fasta --column location -o proj.png
  seqvec plot confusion test.json -o confusion.png
  seqvec plot curves heads/convlstm -o curves.png
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="<kind>", required=True)
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("-o", "--output", type=Path, required=True, help="image file (.png or .svg)")
    output.add_argument("--dpi", type=int, default=150, help="resolution of PNG output (default 150)")

    p = kinds.add_parser("attention", parents=[output], help="attention weights along proteins")
    p.add_argument("--head", type=Path, required=True, help="head directory (a convlstm head)")
    p.add_argument("--fasta", type=Path, required=True, help="proteins (DeepLoc headers give the true class)")
    p.add_argument("--ids", nargs="+", help="record ids to plot (default: the first -n records)")
    p.add_argument("-n", type=int, default=4, help="number of proteins without --ids (default 4)")
    p.add_argument("--task", default="localization", help="head output to report (default localization)")
    p.add_argument("--labels", type=Path, help="true classes: DeepLoc FASTA or CSV/TSV (default: --fasta headers)")
    p.add_argument("--model", help="language model for an LM head (default: the one it was trained on)")

    p = kinds.add_parser("filters", parents=[output], help="first-layer conv filters as logos / heatmaps")
    p.add_argument("--head", type=Path, required=True, help="head directory (convlstm on onehot or blosum62)")
    p.add_argument("--fasta", type=Path, help="rank filters by mean activation on these proteins "
                                               "(default: by weight norm)")
    p.add_argument("--top", type=int, default=8, help="number of filters (default 8)")
    p.add_argument("--style", choices=("both", "logo", "heatmap"), default="both")
    p.add_argument("--engine", choices=("auto", "logomaker", "matplotlib"), default="auto",
                   help="logo drawing: logomaker (extra 'plots') or own glyphs; auto = logomaker if installed")

    p = kinds.add_parser("projection", parents=[output], help="per-protein embeddings in 2D")
    p.add_argument("embeddings", type=Path, help="HDF5 file with per_protein datasets")
    p.add_argument("--labels", type=Path, required=True, help="DeepLoc FASTA or CSV/TSV (id first)")
    p.add_argument("--column", help="label column: location/membrane for FASTA, a header name for CSV/TSV")
    p.add_argument("--methods", default=None, help="comma-separated: pca,tsne,umap (default: all available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--title", help="figure title (default: file name and protein count)")

    p = kinds.add_parser("confusion", parents=[output], help="normalised confusion matrix")
    p.add_argument("evaluation", type=Path, nargs="?", help="JSON from 'seqvec evaluate -o'")
    p.add_argument("--task", help="only this task of the evaluation")
    p.add_argument("--predictions", type=Path, help="table with id and a predicted-class column "
                                                     "(e.g. 'seqvec predict -o x.tsv')")
    p.add_argument("--labels", type=Path, help="true classes for --predictions: DeepLoc FASTA or CSV/TSV")
    p.add_argument("--column", default="location", help="class column of --predictions and --labels (default location)")

    p = kinds.add_parser("curves", parents=[output], help="loss and accuracy per epoch")
    p.add_argument("log", type=Path, help="run or head directory (history.json), or a history .json/.csv")
    p.add_argument("--title", help="figure title (default: the log's path)")


def _attention(args):
    from seqvec.classifiers.checkpoint import load_head
    from seqvec.classifiers.predict import embedding_source
    from seqvec.embeddings.pipeline import embed_sequences
    from seqvec.errors import SeqVecError
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.attention import attention_tracks, plot_attention
    from seqvec.viz.common import deeploc_header_labels, read_labels

    checkpoint = load_head(args.head)
    if not hasattr(checkpoint.head, "first_layer_filters"):
        raise SeqVecError(f"{args.head} is a {checkpoint.name} head; attention maps need a convlstm head")
    if args.task not in checkpoint.tasks:
        raise SeqVecError(f"{args.head} has no task {args.task!r} (it has {', '.join(checkpoint.tasks)})")
    sequences = read_fasta(args.fasta)
    ids = args.ids or list(sequences)[: args.n]
    missing = [i for i in ids if i not in sequences]
    if missing:
        raise SeqVecError(f"ids not in {args.fasta}: {', '.join(missing)}")
    chosen = {i: sequences[i] for i in ids}
    encoder, model, layers = embedding_source([checkpoint], args.model)
    embeddings = dict(embed_sequences(chosen, model, encoder=encoder, layers=layers))
    if args.labels:
        true = read_labels(args.labels, "location" if args.task == "localization" else args.task)[0]
    else:
        key = "location" if args.task == "localization" else args.task
        true = {i: d[key] for i, d in deeploc_header_labels(args.fasta).items() if key in d}
    classes = checkpoint.tasks[args.task].classes
    tracks = attention_tracks(checkpoint.head, {i: embeddings[i] for i in ids}, chosen, classes, args.task, true)
    plot_attention(tracks, args.output, max_length=checkpoint.head.hparams.get("max_length"), dpi=args.dpi)


def _filters(args):
    import numpy as np
    import torch

    from seqvec.classifiers.checkpoint import load_head
    from seqvec.embeddings.encoders import ALPHABET, ENCODERS
    from seqvec.errors import SeqVecError
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.filters import filter_scores, plot_filters

    checkpoint = load_head(args.head)
    encoder_name = checkpoint.embeddings.get("encoder")
    if not hasattr(checkpoint.head, "first_layer_filters") or encoder_name not in ENCODERS:
        raise SeqVecError(f"{args.head} is a {checkpoint.name} head on {encoder_name or 'unrecorded'} input; "
                          f"filter logos need a convlstm head on {' or '.join(ENCODERS)}")
    encoder = ENCODERS[encoder_name]()
    table = encoder.embed_batch([ALPHABET])[0][0].numpy()  # (A, D): each letter's encoding
    activation = None
    if args.fasta:
        sums, count = 0.0, 0
        for seq in read_fasta(args.fasta).values():
            x = encoder.embed_batch([seq])[0]  # (1, L, D)
            act = checkpoint.head.first_layer_activations(x, torch.ones(x.shape[:2], dtype=torch.bool))
            sums, count = sums + act[0].sum(0).numpy(), count + act.shape[1]
        activation = np.asarray(sums) / max(count, 1)
    filters = filter_scores(checkpoint.head, table, "activation" if args.fasta else "weight_norm", activation)
    plot_filters(filters, ALPHABET, args.output, style=args.style, top=args.top,
                 order_label="mean activation" if args.fasta else "weight norm", engine=args.engine, dpi=args.dpi)


def _projection(args):
    from seqvec.viz.common import read_labels
    from seqvec.viz.projection import load_projection_inputs, plot_projection

    labels, column = read_labels(args.labels, args.column)
    x, ids, values = load_projection_inputs(args.embeddings, labels)
    methods = args.methods.split(",") if args.methods else None
    title = args.title or f"{args.embeddings.name}: {len(ids)} proteins"
    plot_projection(x, values, args.output, methods, title=title,
                    label_name=column, seed=args.seed, dpi=args.dpi)


def _confusion(args):
    from seqvec.errors import SeqVecError
    from seqvec.viz.common import read_labels
    from seqvec.viz.confusion import confusion_from_labels, plot_confusion, read_confusions

    if args.evaluation:
        panels = read_confusions(args.evaluation, args.task)
    elif args.predictions and args.labels:
        predicted = read_labels(args.predictions, args.column)[0]
        true = read_labels(args.labels, args.column)[0]
        ids = [i for i in predicted if i in true]
        if not ids:
            raise SeqVecError(f"no id of {args.predictions} has a label in {args.labels}")
        counts, classes = confusion_from_labels([true[i] for i in ids], [predicted[i] for i in ids])
        panels = [(args.column, counts, classes)]
    else:
        raise SeqVecError("give an evaluation JSON, or --predictions and --labels")
    plot_confusion(panels, args.output, dpi=args.dpi)


def _curves(args):
    from seqvec.viz.curves import plot_curves, read_history

    plot_curves(read_history(args.log), args.output, title=args.title or str(args.log), dpi=args.dpi)


def run(args: argparse.Namespace) -> int:
    from seqvec.errors import SeqVecError
    from seqvec.viz.common import check_output

    check_output(args.output)  # fail on a bad suffix before any work
    if args.dpi < 10:
        raise SeqVecError(f"--dpi must be at least 10, got {args.dpi}")
    {"attention": _attention, "filters": _filters, "projection": _projection,
     "confusion": _confusion, "curves": _curves}[args.kind](args)
    print(f"wrote {args.output}")
    return 0

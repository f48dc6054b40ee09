"""``seqvec plot <kind>``: pictures that explain models and embeddings (PNG, PDF or SVG by suffix)."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import (
    HelpFormatter,
    add_download_argument,
    add_overwrite_argument,
    add_threads_argument,
    int_in,
    verbosity_parent,
)
from seqvec.errors import DataError, LabelFormatError, TaskError, UsageError

HELP = "plot attention, conv filters, embedding projections, confusion matrices, learning curves, reliability"
DESCRIPTION = """Draw one figure; the output suffix picks the format: .png (300 dpi unless --dpi),
.pdf or .svg (vector). Colours are colour-blind safe (Okabe-Ito, viridis) and every class
also has its own marker or label; a caption line under the figure names the model and
the data (--caption replaces it).

kinds:
  attention   attention weights along proteins, for any head with attention (light attention,
              conv + BiLSTM + attention), with the predicted and, when known, the true class
  filters     first-layer conv filters of a one-hot/BLOSUM62 conv + BiLSTM head as sequence
              logos and heatmaps, ranked by weight norm (or by mean activation with --fasta)
  projection  per-protein embeddings in 2D (PCA with explained variance, t-SNE, UMAP when
              installed), coloured and shaped by a label; --export writes the coordinates,
              an .html output is interactive (needs the extra seqvec[interactive])
  confusion   row-normalised confusion matrix from 'seqvec evaluate -o' JSON, or from a
              predictions table and a label file
  curves      training and validation loss and accuracy per epoch of a head's training run
  reliability accuracy of annotation transfer against coverage as the reliability threshold
              rises, from 'seqvec evaluate --predictions -o' JSON (several files: one line each)

Run 'seqvec plot <kind> --help' for the options of a kind.

examples:
  seqvec plot attention --head heads/convlstm --fasta deeploc_test_set.fasta -n 4 -o attention.png
  seqvec plot filters --head heads/convlstm --fasta deeploc_test_set.fasta -o filters.pdf
  seqvec plot projection test.h5 --labels deeploc_test_set.fasta --column location -o proj.png
  seqvec plot confusion test.json -o confusion.svg
  seqvec plot curves heads/convlstm -o curves.png
  seqvec plot reliability lm.json blosum62.json -o reliability.png
"""

KINDS = {
    "attention": ("attention weights along proteins (light attention or conv + BiLSTM + attention heads)", """\
For each protein, run the head and draw its attention weight at every residue: where the
head looked when it predicted the class. Heads whose class declares attention (light
attention 'la', 'convlstm') are accepted. The panel title gives the predicted class and
its probability and, when the true class is known (DeepLoc headers in --fasta or a
--labels file), says whether the prediction is correct. For proteins longer than a
convlstm head's max_length, the middle it does not read is shaded; the dotted line is
uniform attention; labels mark the peaks (residue and position).

With --per-class: every protein of --fasta (or --ids), summarised instead: per true class
(--labels or DeepLoc headers), the mean attention relative to uniform at the first and last
--terminal residues and in --bins bins of relative position (band: 95% of the mean). The
terminal line says how much weight the first and last residue get. --signals also reads
MultiLoc sorting-signal annotations from the headers (SP 14, SA 16 30, mTP 29, cTP 43;
PTS1 from a C-terminal [SAC][KRH][LM]) and prints, per signal type, the attention mass
inside the signal against the signal's share of the residues read (1.0x = uniform, with a
95% bootstrap interval over proteins); --export writes all of it as JSON.

examples:
  seqvec plot attention --head heads/la --fasta deeploc_test_set.fasta --ids Q9H400 P12345 -o attention.png
  seqvec plot attention --per-class --signals --head heads/convlstm --fasta multiloc_test.fasta \
      --labels multiloc_test_classes.tsv -o profiles.png --export signals.json
"""),
    "filters": ("first-layer conv filters as logos and heatmaps", """\
Show what the first convolution of a conv + BiLSTM + attention head trained on one-hot or
BLOSUM62 input responds to: for each filter, the score of each residue at each offset
(heatmap, labelled colour bar) and the residues that raise the output more than the
average residue (logo). Filters are ranked by weight norm, or by their mean activation
over the proteins of --fasta.

example:
  seqvec plot filters --head heads/convlstm --fasta deeploc_test_set.fasta --top 8 -o filters.pdf
"""),
    "projection": ("per-protein embeddings in 2D", """\
Project the per-protein embeddings of an HDF5 file (from 'seqvec embed') to 2D with PCA
(axes give the share of variance explained), t-SNE and UMAP (when umap-learn is installed),
one panel each; points are coloured and shaped by a label from any label file seqvec
reads (e.g. DeepLoc FASTA: --column location or membrane) or a CSV/TSV table with the id
first. --export writes the coordinates as TSV; an .html output is an interactive page
where hovering shows the protein id and label (pip install 'seqvec[interactive]').

examples:
  seqvec plot projection test.h5 --labels deeploc_test_set.fasta --column location -o proj.png
  seqvec plot projection test.h5 --labels deeploc_test_set.fasta -o proj.html --export coords.tsv
"""),
    "confusion": ("row-normalised confusion matrix", """\
Draw confusion matrices with each row divided by the true class's size (shares in the
cells, sizes next to the class names; per-residue tasks count residues). Input: the JSON
of 'seqvec evaluate -o' (every task, or --task), or a predictions table (e.g. from
'seqvec predict -o x.tsv') with --labels giving the true classes.

examples:
  seqvec plot confusion cb513.json --task ss3 -o ss3_confusion.png
  seqvec plot confusion --predictions pred.tsv --labels deeploc_test_set.fasta -o confusion.png
"""),
    "curves": ("loss and accuracy per epoch", """\
Draw the training and validation loss (left) and the validation accuracies (right) per
epoch of a head's training run ('seqvec train' writes history.json into the head
directory); the epoch with the lowest validation loss is marked.

example:
  seqvec plot curves heads/location -o curves.png
"""),
    "reliability": ("transfer accuracy against coverage and reliability", """\
Left: the headline metric (Q10, accuracy, MCC, ...) of the transferred labels kept when
only predictions with a reliability at or above a threshold are kept, against the share
of labelled queries they cover; right: that metric against the mean reliability of the
predictions kept (the dotted diagonal is perfect calibration). Input: one or more JSON
files of 'seqvec evaluate --predictions TRANSFER.tsv --labels ... -o FILE.json' (one line
each, named by --names or the file stems).

example:
  seqvec plot reliability lm.json onehot.json --names LM one-hot -o reliability.png
"""),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.viz.common import DEFAULT_DPI, MAX_DPI

    kinds = parser.add_subparsers(dest="kind", metavar="<kind>", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", type=Path, required=True,
                        help="figure file: .png, .pdf or .svg (projection also .html)")
    common.add_argument("--dpi", type=int_in(10, MAX_DPI), default=DEFAULT_DPI,
                        help=f"resolution of PNG output (10 to {MAX_DPI})")
    add_overwrite_argument(common, "the figure (and the --export table)")
    common.add_argument("--caption", help="text under the figure (default: the model and data it shows; "
                                          "'' for none)")
    add_threads_argument(common)
    verbosity = verbosity_parent(suppress=True)  # -q/-v also after the kind
    parsers = {}
    for name, (summary, description) in KINDS.items():
        parsers[name] = kinds.add_parser(name, parents=[common, verbosity], help=summary, description=description,
                                         formatter_class=HelpFormatter)

    p = parsers["attention"]
    p.add_argument("--head", type=Path, required=True, help="head directory of a head with attention (la, convlstm), or bundled:protein")
    p.add_argument("--fasta", type=Path, required=True,
                   help="proteins (a DeepLoc FASTA also gives the true classes)")
    p.add_argument("--ids", nargs="+", help="record ids to plot (default: the first -n records)")
    p.add_argument("-n", type=int, default=4, help="number of proteins without --ids")
    p.add_argument("--task", default="localization", help="head output to report")
    p.add_argument("--labels", type=Path, help="true classes: a label file or CSV/TSV table (default: --fasta's "
                                               "headers when they carry labels)")
    p.add_argument("--model", help="language model for a head on LM embeddings (default: the one it was trained on)")
    add_download_argument(p)
    p.add_argument("--per-class", action="store_true",
                   help="instead of one panel per protein: the mean attention profile of each class over every "
                        "protein of --fasta (or --ids), at the first and last --terminal residues and along the "
                        "relative position; prints how much attention falls on the first and last residue")
    p.add_argument("--signals", action="store_true",
                   help="with --per-class: read MultiLoc sorting-signal annotations from the --fasta headers "
                        "('SP 14', 'SA 16 30', 'mTP 29', 'cTP 43'; PTS1 from a C-terminal [SAC][KRH][LM]) and print "
                        "the attention mass inside each signal type against its share of the residues")
    p.add_argument("--terminal", type=int_in(1, 500), default=50, help="--per-class: residues shown at each end")
    p.add_argument("--bins", type=int_in(1, 200), default=20, help="--per-class: bins of relative position")
    p.add_argument("--export", type=Path, metavar="JSON",
                   help="--per-class: also write the profiles, signal enrichment and edge numbers as JSON")

    p = parsers["filters"]
    p.add_argument("--head", type=Path, required=True, help="head directory (convlstm on onehot or blosum62)")
    p.add_argument("--fasta", type=Path, help="rank filters by mean activation on these proteins "
                                               "(default: by weight norm)")
    p.add_argument("--top", type=int, default=8, help="number of filters")
    p.add_argument("--widths", type=_widths, help="only filters of these widths, e.g. '1,21' (default: all)")
    p.add_argument("--signals", action="store_true",
                   help="compare the filters with known motifs: read MultiLoc sorting-signal annotations from the "
                        "--fasta headers (SP, SA, mTP, cTP; PTS1 from a C-terminal [SAC][KRH][LM]) and print, per "
                        "signal type, the filters most active on the signals against the same positions of "
                        "proteins without one, with their preference for hydrophobic residues")
    p.add_argument("--rank", metavar="SIGNAL", help="with --signals: rank the drawn filters by their enrichment on "
                                                     "this signal type (e.g. SP or PTS1) instead of mean activation")
    p.add_argument("--export", type=Path, metavar="JSON", help="with --signals: also write every filter's numbers")
    p.add_argument("--style", choices=("both", "logo", "heatmap"), default="both", help="what to draw per filter")
    p.add_argument("--engine", choices=("auto", "logomaker", "matplotlib"), default="auto",
                   help="logo drawing: logomaker (extra 'plots') or own glyphs; auto = logomaker if installed")

    p = parsers["projection"]
    p.add_argument("embeddings", type=Path, help="HDF5 file with per_protein datasets")
    p.add_argument("--labels", type=Path, required=True, help="label file (e.g. DeepLoc FASTA) or CSV/TSV (id first)")
    p.add_argument("--column", help="label: a per-protein task (location, membrane) or a table's header "
                                    "(default: the file's first)")
    p.add_argument("--methods", help="comma-separated: pca,tsne,umap (default: all available)")
    p.add_argument("--seed", type=int, default=0, help="seed of t-SNE/UMAP")
    p.add_argument("--title", help="figure title (default: file name and protein count)")
    p.add_argument("--export", type=Path, metavar="TSV", help="also write id, label and coordinates to this TSV")

    p = parsers["confusion"]
    p.add_argument("evaluation", type=Path, nargs="?", help="JSON from 'seqvec evaluate -o'")
    p.add_argument("--task", help="only this task of the evaluation")
    p.add_argument("--predictions", type=Path, help="table with id and a predicted-class column "
                                                     "(e.g. 'seqvec predict -o x.tsv')")
    p.add_argument("--labels", type=Path, help="true classes for --predictions: a label file or CSV/TSV table")
    p.add_argument("--column", default="location", help="class column of --predictions and --labels")

    p = parsers["reliability"]
    p.add_argument("evaluations", type=Path, nargs="+", help="JSON files from 'seqvec evaluate --predictions -o'")
    p.add_argument("--names", nargs="+", help="line names, one per file (default: the file stems)")
    p.add_argument("--mark", action="append", metavar="NAME=COVERAGE,VALUE",
                   help="a single point to compare with, e.g. 'MMseqs2 hits=0.41,0.62' (repeatable)")

    p = parsers["curves"]
    p.add_argument("log", type=Path, help="run or head directory (history.json), a history .json/.csv, or bundled:NAME")
    p.add_argument("--title", help="figure title (default: the head and its tasks)")


def _widths(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected filter widths such as '1,21', got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"filter widths are >= 1, got {text!r}")
    return widths


def _caption(args, default: str) -> str:
    return default if args.caption is None else args.caption


def _head_caption(checkpoint, path: Path) -> str:
    source = checkpoint.embeddings.get("model") or checkpoint.embeddings.get("encoder") or "unrecorded embeddings"
    return f"head {Path(path).name} ({checkpoint.name} on {source})"


def _attention(args):
    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.classifiers.heads.predict import embedding_source
    from seqvec.embeddings.pipeline import embed_sequences
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.attention import attention_tracks, plot_attention

    if args.signals and not args.per_class:
        raise UsageError("--signals reports attention per signal type over many proteins: add --per-class",
                         option="--signals")
    if args.export and not args.per_class:
        raise UsageError("--export writes the --per-class numbers: add --per-class", option="--export")
    checkpoint = load_head(args.head)
    if not checkpoint.head.has_attention:
        raise TaskError(f"{args.head} is a {checkpoint.name} head, which has no attention weights; "
                        "attention maps need a head with attention (la or convlstm)", head=checkpoint.name)
    if args.task not in checkpoint.tasks:
        raise TaskError(f"{args.head} has no task {args.task!r} (it has {', '.join(checkpoint.tasks)})",
                        task=args.task, head=checkpoint.name)
    sequences = read_fasta(args.fasta)
    ids = args.ids or (list(sequences) if args.per_class else list(sequences)[: args.n])
    missing = [i for i in ids if i not in sequences]
    if missing:
        raise DataError(f"ids not in {args.fasta}: {', '.join(missing)}", ids=missing)
    chosen = {i: sequences[i] for i in ids}
    if args.per_class:
        return _attention_per_class(args, checkpoint, chosen)
    encoder, model, layers = embedding_source([checkpoint], args.model)
    embeddings = dict(embed_sequences(chosen, model, encoder=encoder, layers=layers))
    classes = checkpoint.tasks[args.task].classes
    tracks = attention_tracks(checkpoint.head, {i: embeddings[i] for i in ids}, chosen, classes, args.task,
                              _true_classes(args))
    plot_attention(tracks, args.output, max_length=checkpoint.head.hparams.get("max_length"), dpi=args.dpi,
                   caption=_caption(args, f"{_head_caption(checkpoint, args.head)}; proteins: {args.fasta.name}"))


def _true_classes(args) -> dict[str, str]:
    from seqvec.classifiers.labels.files import class_labels

    if args.labels:
        return class_labels(args.labels, args.task)[0]
    try:
        return class_labels(args.fasta, args.task)[0]
    except LabelFormatError:  # a plain FASTA: no true classes
        return {}


def _attention_per_class(args, checkpoint, chosen: dict[str, str]) -> None:
    import json

    from seqvec.classifiers.evaluation.attention_report import attention_report
    from seqvec.classifiers.labels.signals import read_signals
    from seqvec.io.output import atomic_open
    from seqvec.viz.attention_profiles import plot_attention_profiles

    signals = read_signals(args.fasta)[1] if args.signals else {}
    report = attention_report(checkpoint, chosen, _true_classes(args), signals, args.task, args.model,
                              args.terminal, args.bins, progress=not args.quiet, name=args.head.name)
    accuracy = "" if report.accuracy is None else f", accuracy {report.accuracy:.3f}"
    plot_attention_profiles(report.profiles, args.output, dpi=args.dpi, caption=_caption(
        args, f"{_head_caption(checkpoint, args.head)}; {report.n} proteins of {args.fasta.name}{accuracy}"))
    print(report.table() if signals else report.table().splitlines()[-1])
    if args.export:
        with atomic_open(args.export, "w") as handle:  # run() checked and locked it
            handle.write(json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"wrote {args.export}")


def _filters(args):
    from seqvec.classifiers.evaluation.filters import filter_scores, mean_activations
    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.embeddings.encoders import ALPHABET, ENCODERS, LETTER_TABLES
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.filters import plot_filters

    checkpoint = load_head(args.head)
    encoder_name = checkpoint.embeddings.get("encoder")
    if not checkpoint.head.has_filters or encoder_name not in LETTER_TABLES:
        raise TaskError(f"{args.head} is a {checkpoint.name} head on {encoder_name or 'unrecorded'} input; "
                        f"filter logos need a convlstm head on {' or '.join(LETTER_TABLES)}", head=checkpoint.name)
    encoder = ENCODERS[encoder_name]()
    table = encoder.embed_batch([ALPHABET])[0][0].numpy()  # (A, D): each letter's encoding
    if (args.signals or args.rank or args.export) and not args.fasta:
        raise UsageError("--signals, --rank and --export read the proteins of --fasta: add --fasta", option="--fasta")
    if (args.rank or args.export) and not args.signals:
        raise UsageError("--rank and --export need the signal annotations: add --signals", option="--signals")
    sequences = read_fasta(args.fasta) if args.fasta else {}
    activation = mean_activations(checkpoint.head, encoder, sequences.values()) if args.fasta else None
    label, notes = "mean activation" if args.fasta else "weight norm", None
    if args.signals:
        activation, label, notes = _filter_motifs(args, checkpoint.head, encoder, table, sequences, activation)
    filters = filter_scores(checkpoint.head, table, "activation" if args.fasta else "weight_norm", activation)
    if args.widths:
        have = sorted({f.width for f in filters})
        if not set(args.widths) & set(have):
            raise UsageError(f"--widths {','.join(map(str, args.widths))}: the head's filters have widths "
                             f"{', '.join(map(str, have))}", option="--widths")
        filters = [f for f in filters if f.width in args.widths]
    data = f"; activations on {args.fasta.name}" if args.fasta else ""
    plot_filters(filters, ALPHABET, args.output, style=args.style, top=args.top, order_label=label,
                 engine=args.engine, dpi=args.dpi, notes=notes,
                 caption=_caption(args, _head_caption(checkpoint, args.head) + data))


def _filter_motifs(args, head, encoder, table, sequences, activation):
    """Print (and --export) the filters against the signals; the ranking values, their name and notes."""
    import json

    from seqvec.classifiers.evaluation.filters import channels, signal_filters, signal_filters_table
    from seqvec.classifiers.labels.signals import read_signals
    from seqvec.embeddings.encoders import ALPHABET
    from seqvec.io.output import atomic_open

    signals = read_signals(args.fasta)[1]
    result = signal_filters(head, encoder, table, ALPHABET, sequences, signals)
    if args.rank and args.rank not in result:
        raise UsageError(f"--rank {args.rank}: the proteins of {args.fasta} carry {', '.join(result) or 'no signals'}",
                         option="--rank")
    print(signal_filters_table(result))
    if args.export:
        with atomic_open(args.export, "w") as handle:  # run() checked and locked it
            handle.write(json.dumps({k: {**v, "filters": [f.to_dict() for f in v["filters"]]}
                                     for k, v in result.items()}, indent=1) + "\n")
    if not args.rank:
        return activation, "mean activation", None
    by_channel = {(f.width, f.index): f for f in result[args.rank]["filters"]}
    values = [by_channel[c].enrichment for c in channels(head)]
    notes = {c: f"hydrophobic preference (KD r) {f.hydropathy_r:+.2f}" for c, f in by_channel.items()}
    return values, f"{args.rank} enrichment", notes


def _projection(args):
    from seqvec.classifiers.labels.files import class_labels
    from seqvec.embeddings.store import open_embeddings
    from seqvec.viz.projection import (
        compute_projections,
        load_projection_inputs,
        plot_projection,
        write_coordinates,
        write_html,
    )

    labels, column = class_labels(args.labels, args.column)
    x, ids, values = load_projection_inputs(args.embeddings, labels)
    projections = compute_projections(x, args.methods.split(",") if args.methods else None, args.seed)
    title = args.title or f"{args.embeddings.name}: {len(ids)} proteins"
    with open_embeddings(args.embeddings) as store:
        attrs = store.attrs
    source = attrs.get("model") or attrs.get("encoder") or "unrecorded model"
    view = f", layers {attrs['layers']}" if attrs.get("layers") else ""
    caption = _caption(args, f"per-protein embeddings of {source}{view} ({args.embeddings.name}); "
                             f"labels: {args.labels.name}")
    if args.output.suffix.lower() == ".html":
        write_html(args.output, ids, values, projections, title=title, label_name=column, caption=caption)
    else:
        plot_projection(projections, values, args.output, title=title, label_name=column, dpi=args.dpi,
                        caption=caption)
    if args.export:
        write_coordinates(args.export, ids, values, projections, label_name=column)
        print(f"wrote {args.export}")


def _confusion(args):
    from seqvec.classifiers.labels.files import class_labels
    from seqvec.viz.confusion import (
        ConfusionPanel,
        confusion_from_labels,
        describe_evaluation,
        plot_confusion,
        read_confusions,
    )

    if args.evaluation:
        panels = read_confusions(args.evaluation, args.task)
        caption = describe_evaluation(args.evaluation)
    elif args.predictions and args.labels:
        predicted = class_labels(args.predictions, args.column)[0]
        true, column = class_labels(args.labels, args.column)
        ids = [i for i in predicted if i in true]
        if not ids:
            raise DataError(f"no id of {args.predictions} has a label in {args.labels}")
        counts, classes = confusion_from_labels([true[i] for i in ids], [predicted[i] for i in ids])
        panels = [ConfusionPanel(column, counts, classes)]
        caption = f"predictions: {args.predictions.name}; true classes: {args.labels.name}"
    else:
        raise UsageError("give an evaluation JSON, or --predictions and --labels", option="--predictions")
    plot_confusion(panels, args.output, dpi=args.dpi, caption=_caption(args, caption))


def _curves(args):
    from seqvec.classifiers.heads.checkpoint import resolve_head
    from seqvec.viz.curves import describe_log, plot_curves, read_history

    log = resolve_head(args.log)
    title, caption = describe_log(log)
    plot_curves(read_history(log), args.output, title=args.title or title, dpi=args.dpi,
                caption=_caption(args, caption))


def _reliability(args):
    from seqvec.viz.reliability import plot_reliability, read_curve

    names = args.names or [p.stem for p in args.evaluations]
    if len(names) != len(args.evaluations):
        raise UsageError(f"{len(names)} --names for {len(args.evaluations)} files", option="--names")
    curves = {name: read_curve(p) for name, p in zip(names, args.evaluations)}
    marks = {}
    for text in args.mark or []:
        name, _, numbers = text.rpartition("=")
        try:
            coverage, value = (float(x) for x in numbers.split(","))
        except ValueError:
            raise UsageError(f"--mark {text!r}: expected NAME=COVERAGE,VALUE", option="--mark", value=text) from None
        marks[name] = (coverage, value)
    plot_reliability(curves, args.output, dpi=args.dpi, marks=marks,
                     caption=_caption(args, "evaluations: " + ", ".join(p.name for p in args.evaluations)))


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from seqvec.cli.common import model_files, path_inputs
    from seqvec.io.output import Output
    from seqvec.viz.common import check_output

    if not (args.kind == "projection" and args.output.suffix.lower() == ".html"):
        check_output(args.output)  # fail on a bad suffix before any work
    inputs = [*path_inputs(args, "output", "export"), *model_files(getattr(args, "model", None))]
    with ExitStack() as stack:  # every output checked and locked before any work
        for path in (args.output, getattr(args, "export", None)):
            if path is not None:
                stack.enter_context(Output(path, inputs=inputs, overwrite=args.overwrite))
        {"attention": _attention, "filters": _filters, "projection": _projection,
         "confusion": _confusion, "curves": _curves, "reliability": _reliability}[args.kind](args)
    print(f"wrote {args.output}")
    return 0

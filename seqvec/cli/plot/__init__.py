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
from seqvec.cli.plot.kinds import DRAW

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
        DRAW[args.kind](args)
    print(f"wrote {args.output}")
    return 0

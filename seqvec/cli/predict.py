"""``seqvec predict``: location, membrane, secondary structure and disorder for a FASTA file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqvec.cli.common import add_device_argument, add_download_argument, add_overwrite_argument, device_of

HELP = ("predict location, membrane, 3/8-state secondary structure and disorder (bundled heads), or your own "
        "tasks (--heads), for proteins in a FASTA file")
DESCRIPTION = """Embed the proteins and apply task heads (by default the bundled heads, trained on the
bundled seqvec-mini-v2 model; offline). Proteins are embedded the way the heads' training data
was (same model, or one-hot/BLOSUM62 for baseline heads).

JSON output (default): {"provenance": {model, heads and, for the bundled heads, their
test-set scores with 95% intervals beside published ones}, "predictions": {record id:
{location, location_probabilities, membrane, membrane_probability, ss3, ss8 (strings as
long as the sequence), disorder (per-residue probabilities)}}}. A head of your own task
(seqvec train --labels your file) adds the task's name with, by its kind: the class (and
<task>_probabilities), the list of labels, a number, a string of one class per residue,
or a list of numbers per residue (docs/tasks.md). TSV output: a per-protein table
(-o FILE.tsv) and, when a head predicts per residue, a per-residue table beside it
(FILE.residues.tsv).

example:
  seqvec predict proteins.fasta -o predictions.json
  seqvec predict proteins.fasta -o predictions.tsv --heads my_heads/
  seqvec predict proteins.fasta -o location.json --heads bundled:protein
  seqvec predict proteins.fasta -o predictions.json --heads heads/my_task
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fasta", type=Path, help="input FASTA (plain or .gz)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file (.json or .tsv)")
    parser.add_argument("--heads", type=Path, help="a head directory, a folder of them, bundled:NAME (one bundled "
                        "head: bundled:protein, bundled:residue; see seqvec models) (default: all bundled heads)")
    parser.add_argument("--model", help="language model name or directory (default: the one the heads were trained on)")
    parser.add_argument("--format", choices=("json", "tsv"), help="output format (default: from the file suffix)")
    parser.add_argument("--id-field", type=int, metavar="N",
                        help="take the id as header.split(split-char)[N] (default: the first word)")
    parser.add_argument("--split-char", metavar="C", help="separator for --id-field (default: whitespace)")
    add_overwrite_argument(parser, "the output file(s)")
    add_download_argument(parser)
    add_device_argument(parser)



def provenance(heads, model: str | None, bundled: bool) -> dict:
    """Model, heads and, where a head directory holds ``benchmark.json``, its test-set scores."""
    out: dict = {"model": model or heads[0].embeddings.get("model") or heads[0].embeddings.get("encoder"),
                 "heads": []}
    for h in heads:
        entry = {"head": h.name, "directory": "bundled" if bundled else str(h.path), "tasks": list(h.tasks),
                 "embeddings": h.embeddings.get("model") or h.embeddings.get("encoder")}
        benchmark = h.path / "benchmark.json" if h.path is not None else None
        if benchmark is not None and benchmark.is_file():
            entry["test_set_scores"] = json.loads(benchmark.read_text())
        out["heads"].append(entry)
    return out


def describe_scores(record: dict) -> list[str]:
    """One line per task with a recorded test-set score (and the published numbers beside it)."""
    lines = []
    for head in record["heads"]:
        for task, m in head.get("test_set_scores", {}).get("tasks", {}).items():
            lo, hi = m["ci95"]
            fmt = (lambda v: f"{100 * v:.1f}%") if m["metric"].startswith("Q") else (lambda v: f"{v:.2f}")
            published = "; ".join(f"{e['method']}: {fmt(e['value'])}" for e in m.get("published", []))
            lines.append(f"  {task}: {m['metric']} {fmt(m['value'])} [95% CI {fmt(lo)}-{fmt(hi)}] on the "
                         f"{m['test_set']} ({m['n_proteins']:,} proteins) with the {head['head']} head on "
                         f"{head['embeddings']}" + (f" (published: {published})" if published else ""))
    return lines


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from seqvec.classifiers.heads.predict import load_heads, predict_sequences, residue_table_path, write_tsv
    from seqvec.cli.common import model_files
    from seqvec.io.fasta import read_fasta
    from seqvec.io.output import Output, check_not_input

    fmt = args.format or ("tsv" if args.output.suffix.lower() == ".tsv" else "json")
    paths = [args.output, residue_table_path(args.output)] if fmt == "tsv" else [args.output]
    inputs = [args.fasta, args.heads, *model_files(args.model)]
    with ExitStack() as stack:  # every output checked and locked before any work
        outputs = [stack.enter_context(Output(p, inputs=inputs, overwrite=args.overwrite)) for p in paths]
        sequences = read_fasta(args.fasta, id_field=args.id_field, split_char=args.split_char)
        heads = load_heads(args.heads)
        for p in paths:
            check_not_input(p, [h.path for h in heads])
        predictions = predict_sequences(sequences, heads, args.model, progress=not args.quiet,
                                        device=device_of(args))
        record = provenance(heads, args.model, bundled=args.heads is None or str(args.heads).startswith("bundled"))
        if fmt == "tsv":
            written = write_tsv(predictions, sequences, heads, args.output)
        else:
            outputs[0].write_json({"provenance": record, "predictions": predictions})
            written = [args.output]
    tasks = ", ".join(t for h in heads for t in h.tasks)
    print(f"predicted {tasks} for {len(predictions)} proteins: {', '.join(map(str, written))}")
    scores = describe_scores(record)
    if scores:
        print(f"how good these heads are (embeddings of {record['model']}; test-set scores from their benchmark):")
        print("\n".join(scores))
    return 0

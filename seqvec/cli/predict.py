"""``seqvec predict``: location, membrane, secondary structure and disorder for a FASTA file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "predict location, membrane, 3/8-state secondary structure and disorder for proteins in a FASTA file"
DESCRIPTION = """Embed the proteins and apply task heads (by default the bundled heads, trained on the
bundled seqvec-mini model; offline). Proteins are embedded the way the heads' training data
was (same model, or one-hot/BLOSUM62 for baseline heads).

JSON output (default): one object per record id with location, location_probabilities,
membrane, membrane_probability, ss3, ss8 (strings as long as the sequence) and disorder
(per-residue probabilities). TSV output: a per-protein table (-o FILE.tsv) and a
per-residue table beside it (FILE.residues.tsv).

example:
  seqvec predict proteins.fasta -o predictions.json
  seqvec predict proteins.fasta -o predictions.tsv --heads my_heads/
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.cli.common import add_device_argument, add_download_argument

    parser.add_argument("fasta", type=Path, help="input FASTA (plain or .gz)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file (.json or .tsv)")
    parser.add_argument("--heads", type=Path, help="a head directory or a folder of them (default: bundled heads)")
    parser.add_argument("--model", help="language model name or directory (default: the one the heads were trained on)")
    parser.add_argument("--format", choices=("json", "tsv"), help="output format (default: from the file suffix)")
    parser.add_argument("--id-field", type=int, metavar="N",
                        help="take the id as header.split(split-char)[N] (default: the first word)")
    parser.add_argument("--split-char", metavar="C", help="separator for --id-field (default: whitespace)")
    add_download_argument(parser)
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from seqvec.classifiers.predict import load_heads, predict_sequences, write_tsv
    from seqvec.io.fasta import read_fasta

    fmt = args.format or ("tsv" if args.output.suffix.lower() == ".tsv" else "json")
    sequences = read_fasta(args.fasta, id_field=args.id_field, split_char=args.split_char)
    heads = load_heads(args.heads)
    predictions = predict_sequences(sequences, heads, args.model, progress=not args.quiet,
                                    device=args.device)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "tsv":
        written = write_tsv(predictions, sequences, heads, args.output)
    else:
        args.output.write_text(json.dumps(predictions, indent=1) + "\n")
        written = [args.output]
    tasks = ", ".join(t for h in heads for t in h.tasks)
    print(f"predicted {tasks} for {len(predictions)} proteins: {', '.join(map(str, written))}")
    return 0

"""``seqvec evaluate-lm``: perplexity of a language model on a FASTA file."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import add_device_argument, add_download_argument, add_overwrite_argument, device_of

HELP = "cross-entropy and perplexity of a language model on a FASTA file, beside a unigram baseline"
DESCRIPTION = """\
Scores every protein whole: the forward LM predicts each residue (and </S>) from what
precedes it, the backward LM each residue (and <S>) from what follows. Prints the mean
cross-entropy in nats and bits per residue and the perplexity of each direction and of
both, beside a unigram baseline (residue frequencies of --unigram-corpus, or of the file
itself). Needs the model's softmax.hdf5 (written by seqvec train-lm).

example:
  seqvec evaluate-lm test.fasta --model seqvec-mini --json scores.json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fasta", type=Path, help="FASTA file (.gz accepted)")
    parser.add_argument("--model", default=None, help="model name or directory (default: the bundled model)")
    parser.add_argument("--unigram-corpus", type=Path, default=None,
                        help="FASTA whose residue frequencies define the unigram baseline (default: the input)")
    parser.add_argument("--max-residues", type=int, default=8000, help="padded residues per batch")
    add_download_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores as JSON")
    add_overwrite_argument(parser, "the --json file")


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from seqvec.io.output import Output
    from seqvec.lm.pretrained import resolve

    _, options, weights = resolve(args.model)
    stack = ExitStack()
    out = None
    if args.json:  # checked and locked before any work
        out = stack.enter_context(Output(args.json, overwrite=args.overwrite, inputs=[
            args.fasta, args.unigram_corpus, options, weights, weights.parent / "softmax.hdf5"]))
    with stack:
        return _score(args, weights, out)


def _score(args: argparse.Namespace, weights, out) -> int:
    import json
    from dataclasses import asdict

    from seqvec.lm.pretrained import load_model
    from seqvec.lm.training.corpus import read_corpus
    from seqvec.lm.training.evaluate import format_scores, score

    model = load_model(args.model, device=device_of(args))
    sequences = read_corpus(args.fasta)
    unigram = read_corpus(args.unigram_corpus) if args.unigram_corpus else None
    scores = score(model, weights.parent / "softmax.hdf5", sequences, max_residues=args.max_residues,
                   unigram_from=unigram)
    print(f"language model {args.model or model.name} on {args.fasta} ({len(sequences)} proteins)")
    print(format_scores(scores))
    if out is not None:
        out.write_text(json.dumps({**asdict(scores), "both": scores.both}, indent=1) + "\n")
    return 0

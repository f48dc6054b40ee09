"""``seqvec models``: the registered language models and where they are."""
from __future__ import annotations

import argparse

HELP = "list the named language models, where seqvec looks for them and whether they are installed"
DESCRIPTION = """\
List the registered language models (the bundled seqvec-mini and the released SeqVec),
where seqvec looks for each (the package, or $SEQVEC_HOME / the cache directory) and
whether it is installed; --check loads one and prints its shape.

example:
  seqvec models --check seqvec-mini
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", metavar="NAME", help="load NAME and print its shape (fails with how to install it)")


def run(args: argparse.Namespace) -> int:
    from seqvec.lm.pretrained import REGISTRY, model_dir

    if args.check:
        from seqvec.lm.pretrained import load_model

        model = load_model(args.check)
        n = sum(p.numel() for p in model.parameters())
        print(f"{model.name}: {n:,} parameters, output {model.n_output_layers} x {model.output_dim}, "
              f"weights sha256 {model.weights_sha256}")
        return 0
    for name, info in REGISTRY.items():
        directory = model_dir(name)
        present = (directory / "weights.hdf5").is_file() and (directory / "options.json").is_file()
        print(f"{name:12s} {'installed' if present else 'missing  '}  {directory}\n{'':12s} {info.description}")
    return 0

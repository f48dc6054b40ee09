"""``seqvec models``: the registered language models, where they are, and fetching them."""
from __future__ import annotations

import argparse

HELP = "list, check or download the named language models; list the bundled heads and ProtVec vectors"
DESCRIPTION = """\
List the registered language models (the bundled seqvec-mini-v2, the default, and
seqvec-mini; the released SeqVec), where seqvec keeps each (inside the package, or in
$SEQVEC_HOME, by default the user's cache directory) and whether it is installed; then
the bundled heads by the name --heads/--head take (bundled:protein, bundled:residue).
Also listed: the bundled ProtVec 3-gram vectors ('--encoder protvec').

'seqvec models download NAME' fetches a registered model: streamed with a progress bar
into a staging folder, resumed where it stopped after an interruption (run it again),
checked (size and checksums where known, then a strict load of every weight) and only
then moved into place, so a broken transfer never leaves a model that looks installed.
'--check NAME' loads a model and prints its shape.

examples:
  seqvec models
  seqvec models download seqvec
  seqvec models --check seqvec-mini
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.cli.common import HelpFormatter, verbosity_parent
    from seqvec.lm.pretrained import REGISTRY

    parser.add_argument("--check", metavar="NAME", help="load NAME and print its shape (fails with how to install it)")
    actions = parser.add_subparsers(dest="action", metavar="[download]")
    download = actions.add_parser(
        "download", parents=[verbosity_parent(suppress=True)], formatter_class=HelpFormatter,
        help="fetch a registered model into the cache", description="""\
Fetch a registered model into its folder under $SEQVEC_HOME (default: the user's cache
directory). Resumes an interrupted transfer, verifies size and checksums where known and
loads the model strictly before installing it; does nothing if it is installed already.

example:
  SEQVEC_HOME=/data/models seqvec models download seqvec
""")
    downloadable = [name for name, info in REGISTRY.items() if info.files]
    download.add_argument("name", choices=downloadable, help="registered model to fetch")
    download.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server")


def run(args: argparse.Namespace) -> int:
    from seqvec.lm.pretrained import REGISTRY, model_dir

    if args.action == "download":
        from seqvec.lm.download import download_model

        directory = download_model(args.name, progress=not args.quiet, timeout=args.timeout)
        print(f"{args.name} installed in {directory}")
        return 0
    if args.check == "protvec":
        from seqvec.embeddings.protvec import bundled_protvec

        protvec = bundled_protvec()
        print(f"protvec: {len(protvec.vectors.words):,} 3-grams x {protvec.output_dim} dims, "
              f"vectors sha256 {protvec.weights_sha256}")
        return 0
    if args.check:
        from seqvec.lm.pretrained import load_model

        model = load_model(args.check)
        n = sum(p.numel() for p in model.parameters())
        print(f"{model.name}: {n:,} parameters, output {model.n_output_layers} x {model.output_dim}, "
              f"weights sha256 {model.weights_sha256}")
        return 0
    from seqvec.lm.download import is_installed

    width = max(map(len, REGISTRY))
    for name, info in REGISTRY.items():
        present = info.bundled or is_installed(name)
        print(f"{name:{width}s} {'installed' if present else 'missing  '}  {model_dir(name)}\n{'':{width}s} "
              f"{info.description}{_status(name, info.bundled)}")
    from seqvec.embeddings.protvec import BUNDLED_DIR, VECTORS_FILE

    present = (BUNDLED_DIR / VECTORS_FILE).is_file()
    print(f"{'protvec':{width}s} {'installed' if present else 'missing  '}  {BUNDLED_DIR}\n{'':{width}s} "
          "ProtVec 3-gram skip-gram vectors (100 dims, gensim) trained on the LM's pretraining corpus; "
          "--encoder protvec (bundled)")
    _list_heads()
    return 0


def _list_heads() -> None:
    """The bundled heads, by the name that --head/--heads take."""
    from seqvec.classifiers.heads.checkpoint import BUNDLED_PREFIX, NAMED_HEADS, bundled_heads, load_head

    print("\nbundled heads (--heads/--head bundled:NAME; trained on the embeddings named):")
    for name, directory in bundled_heads().items():
        head = load_head(directory)
        source = head.embeddings.get("model") or head.embeddings.get("encoder")
        named = " (by name only)" if directory.parent == NAMED_HEADS else ""
        print(f"  {BUNDLED_PREFIX + name:18s} {head.name} head on {source}: {', '.join(head.tasks)}{named}")


def _status(name: str, bundled: bool) -> str:
    from seqvec.lm.pretrained import DEFAULT_MODEL

    words = ["bundled"] * bundled + ["the default"] * (name == DEFAULT_MODEL)
    return f" ({', '.join(words)})" if words else ""

"""Entry point of the ``seqvec`` command.

Each subcommand lives in ``seqvec/cli/<module>.py`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import torch, h5py
and the rest of seqvec inside ``run`` only, so that ``seqvec --help`` stays fast.
"""
from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module

from seqvec import __version__
from seqvec.errors import SeqVecError

# subcommand -> module under seqvec.cli, in the order --help lists them
COMMANDS = {
    "embed": "embed",
    "export": "export",
    "train-lm": "train_lm",
    "evaluate-lm": "evaluate_lm",
    "models": "models",
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "compare": "compare",
    "plot": "plot",
    "info": "info",
}

logger = logging.getLogger("seqvec")


def _available_commands() -> dict:
    """Import the subcommand modules that exist (a missing one is simply not offered)."""
    found = {}
    for name, module in COMMANDS.items():
        try:
            found[name] = import_module(f"seqvec.cli.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"seqvec.cli.{module}":
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqvec",
        description="Protein language-model embeddings (SeqVec/ELMo), task heads and baselines.",
        epilog="Run 'seqvec <command> --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"seqvec {__version__}")
    verbosity = argparse.ArgumentParser(add_help=False)
    group = verbosity.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, module in _available_commands().items():
        p = sub.add_parser(
            name,
            parents=[verbosity],
            help=module.HELP.replace("%", "%%"),  # argparse %-formats help strings
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it between calls)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if verbose < 2 else
                                           "%(asctime)s %(name)s %(levelname)s: %(message)s"))
    package_logger = logging.getLogger("seqvec")
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process (tests call this with a list of arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return int(args._run(args) or 0)
    except SeqVecError as err:
        logger.error("%s", err)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

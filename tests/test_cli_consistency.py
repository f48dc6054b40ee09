"""One command line: -v/-q before or after the command, --threads on every command that computes."""
from __future__ import annotations

import logging

import pytest

from seqvec.cli.main import COMPUTING, build_parser, main


def _threads_option(parser) -> bool:
    return any("--threads" in action.option_strings for action in parser._actions)


@pytest.mark.parametrize("command", COMPUTING)
def test_every_computing_command_takes_threads(command):
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    assert _threads_option(sub.choices[command]), f"seqvec {command} has no --threads"


def test_every_plot_kind_takes_threads():
    plot = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices).choices["plot"]
    kinds = next(a for a in plot._actions if hasattr(a, "choices") and a.choices)
    assert all(_threads_option(p) for p in kinds.choices.values())


@pytest.mark.parametrize("argv", [["-q", "models"], ["models", "-q"]])
def test_quiet_before_or_after_the_command(argv, capsys):
    assert main(argv) == 0
    assert logging.getLogger("seqvec").level == logging.WARNING
    assert "bundled:protein" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["-vv", "models"], ["models", "-vv"]])
def test_verbose_before_or_after_the_command(argv):
    assert main(argv) == 0
    assert logging.getLogger("seqvec").level == logging.DEBUG


def test_threads_sets_torch_threads(monkeypatch):
    import torch

    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    assert main(["models", "--check", "seqvec-mini"]) == 0 and seen == []
    assert main(["info", "--threads", "1"]) == 0 and seen[0] == 1

"""Every option of every command explains itself; embed refuses outputs that would not be HDF5."""
import argparse

import pytest

from seqvec.cli.main import build_parser, main


def _subparsers(parser: argparse.ArgumentParser, path=()):
    """(command path, parser) for every subcommand and plot kind, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


COMMANDS = list(_subparsers(build_parser()))


def test_walk_finds_every_command_and_plot_kind():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"embed", "train", "evaluate", "predict", "compare", "train-lm", "evaluate-lm", "models", "export",
            "plot", "plot attention", "plot curves", "models download"} <= names


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help_and_every_command_an_example(path, parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help and action.help.strip(), f"seqvec {' '.join(path)} {action.option_strings or action.dest}"
    assert parser.description and parser.description.strip()
    text = parser.format_help()
    assert "example" in text, f"seqvec {' '.join(path)} --help shows no example"


def test_defaults_and_choices_are_shown():
    train = dict(COMMANDS)[("train",)].format_help()
    assert "Adam learning rate (default: 0.001)" in train
    assert "{fnn,cnn,la,convlstm}" in " ".join(train.split())
    assert "(default: auto)" in train


@pytest.mark.parametrize("output, hint", [("out.npz", "seqvec export out.h5 -o out.npz"),
                                          ("out.csv", "seqvec export out.h5 -o out.csv"),
                                          ("out", "-o out.h5"), ("out.txt", "-o out.h5")])
def test_embed_output_must_be_hdf5(tmp_path, monkeypatch, capsys, output, hint):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.fasta").write_text(">a\nMKV\n")
    assert main(["embed", "in.fasta", "-o", output, "--encoder", "onehot"]) == 2
    assert hint in capsys.readouterr().err
    assert not (tmp_path / output).exists()


def test_plot_verbosity_after_the_kind(tmp_path):
    args = build_parser("plot").parse_args(["plot", "curves", "run", "-o", "x.png", "-q"])
    assert args.quiet and args.kind == "curves"
    args = build_parser("plot").parse_args(["plot", "-q", "curves", "run", "-o", "x.png"])
    assert args.quiet
    args = build_parser("plot").parse_args(["plot", "curves", "run", "-o", "x.png"])
    assert not args.quiet and args.verbose == 0


@pytest.mark.parametrize("world, rank, shown", [(None, None, ["INFO: hello", "WARNING: careful"]),
                                                ("2", "0", ["INFO: rank 0: hello", "WARNING: rank 0: careful"]),
                                                ("2", "1", ["INFO: rank 1: hello"])])
def test_rank_prefix_only_under_torchrun_and_warnings_once(monkeypatch, capsys, world, rank, shown):
    import logging

    from seqvec.cli.main import configure_logging

    for name, value in (("WORLD_SIZE", world), ("RANK", rank)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    configure_logging(0, False)
    log = logging.getLogger("seqvec.test")
    log.info("hello")
    log.warning("careful")
    assert capsys.readouterr().err.splitlines() == shown


def test_progress_is_a_status_line_when_stderr_is_not_a_terminal(caplog):
    import logging

    from seqvec.progress import StatusLine, progress_bar

    bar = progress_bar(total=10, desc="embedding", unit="res")  # pytest's stderr is not a terminal
    assert isinstance(bar, StatusLine)
    bar.interval = 0.0
    with caplog.at_level(logging.INFO, logger="seqvec.progress"):
        bar.update(4)
    assert caplog.messages == ["embedding: 4/10 res (40%), 0 s"]
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]  # disabled: a silent tqdm

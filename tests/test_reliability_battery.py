"""Issue 24's battery: every command that writes keeps the one output policy (inputs never
overwritten, results only with --overwrite, atomic, unwritable folders named before any work),
and numbers are checked where they enter. Each case runs the CLI in-process and asserts the
exit status, the message, that no traceback appears and what is left on disk."""
import json
import shutil
from pathlib import Path

import pytest

from seqvec.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


def run_cli(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:  # argparse refuses an argument
        code = stop.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture(scope="module")
def work(tmp_path_factory, data_dir):
    """A labels file, its one-hot embeddings, a trained head, a history log and a corpus."""
    folder = tmp_path_factory.mktemp("battery")
    labels = folder / "labels.fasta"
    shutil.copy(data_dir / "biotrainer" / "sequence_to_value" / "sequences.fasta", labels)
    fasta = folder / "proteins.fa"
    fasta.write_text(">p1\nMKTAYIAKQR\n>p2\nMSTNPKPQRK\n")
    assert main(["train", "-q", "--labels", str(labels), "--embeddings", str(folder / "e.h5"), "--encoder",
                 "onehot", "-o", str(folder / "head"), "--epochs", "2"]) == 0
    return {"folder": folder, "labels": labels, "fasta": fasta, "h5": folder / "e.h5", "head": folder / "head"}


def commands(work: dict, out: Path, scratch: Path) -> dict[str, list]:
    """Each writing command with ``out`` as its output (``scratch``: where the pipeline file goes)."""
    w = work
    pipeline = scratch / f"{out.name}.yaml"
    pipeline.write_text(json.dumps({"output": str(out), "input": {"labels": [str(w["labels"])]},
                                    "encoders": ["onehot"], "heads": ["fnn"], "training": {"epochs": 1}}))
    return {
        "embed": ["embed", w["fasta"], "-o", out.with_suffix(".h5"), "--encoder", "onehot"],
        "export": ["export", w["h5"], "-o", out.with_suffix(".npz")],
        "train": ["train", "--labels", w["labels"], "--embeddings", w["h5"], "-o", out, "--epochs", "1"],
        "predict": ["predict", w["fasta"], "-o", out.with_suffix(".json"), "--heads", w["head"]],
        "evaluate": ["evaluate", "--head", w["head"], "--labels", w["labels"], "--embeddings", w["h5"],
                     "-o", out.with_suffix(".json")],
        "evaluate-lm": ["evaluate-lm", w["fasta"], "--json", out.with_suffix(".json")],
        "plot": ["plot", "curves", w["head"], "-o", out.with_suffix(".png")],
        "run": ["run", pipeline],
        "train-lm": ["train-lm", w["fasta"], "-o", out, "--epochs", "1"],
        "compare": ["compare", "--train", w["labels"], "--encoders", "onehot", "-o", out],
    }


COMMANDS = ["embed", "export", "train", "predict", "evaluate", "evaluate-lm", "plot", "run", "train-lm", "compare"]


@pytest.mark.parametrize("command", COMMANDS)
def test_read_only_output_folder_is_one_line_error(command, work, read_only_dir, tmp_path, capsys):
    out = read_only_dir / "new" / "out"
    args = commands(work, out, tmp_path)[command]
    code, err = run_cli(capsys, *args)
    assert code == 1, err
    assert str(read_only_dir) in err and len(err.strip().splitlines()) == 1, err
    assert list(read_only_dir.iterdir()) == []


def test_models_download_read_only_home(read_only_dir, monkeypatch, capsys):
    from seqvec.lm.pretrained import REGISTRY

    name = next(n for n, info in REGISTRY.items() if info.files and not info.bundled)
    monkeypatch.setenv("SEQVEC_HOME", str(read_only_dir))
    code, err = run_cli(capsys, "models", "download", name)
    assert code == 1 and str(read_only_dir) in err, err


@pytest.mark.parametrize("command", ["predict", "evaluate", "evaluate-lm", "plot", "export"])
def test_output_is_the_input(command, work, tmp_path, capsys):
    """`predict in.fa -o in.fa` and its kind: refused even with --overwrite; the input unchanged."""
    victim = {"predict": work["fasta"], "evaluate": work["labels"], "evaluate-lm": work["fasta"],
              "plot": work["head"] / "history.json", "export": work["h5"]}[command]
    link = tmp_path / ("link" + victim.suffix)
    link.symlink_to(victim)  # through a symlink too
    for target in (victim, link):
        before = victim.read_bytes()
        args = [str(target) if str(a).startswith(str(tmp_path / "x")) else a
                for a in commands(work, tmp_path / "x", tmp_path)[command]]
        code, err = run_cli(capsys, *args, "--overwrite")
        assert code == 2 and victim.read_bytes() == before, (command, err)
        # (plot and export refuse these names by their suffix before anything else)
        assert "would replace the input" in err or command in ("plot", "export"), (command, err)


def test_existing_results_need_overwrite(work, tmp_path, capsys):
    out = tmp_path / "head"
    args = commands(work, out, tmp_path)["train"]
    assert run_cli(capsys, *args, "-q")[0] == 0
    config = (out / "config.json").read_bytes()
    code, err = run_cli(capsys, *args)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert (out / "config.json").read_bytes() == config
    assert run_cli(capsys, *args, "-q", "--overwrite")[0] == 0
    assert (out / "config.json").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    predictions = tmp_path / "p.json"
    predictions.write_text("mine")
    code, err = run_cli(capsys, "predict", work["fasta"], "-o", predictions, "--heads", out)
    assert code == 2 and predictions.read_text() == "mine"


def test_train_crash_keeps_the_old_head(work, tmp_path, capsys, monkeypatch):
    from seqvec.classifiers.selection import recipe

    out = tmp_path / "head"
    args = commands(work, out, tmp_path)["train"]
    assert run_cli(capsys, *args, "-q")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "train_by_plan", crash)
    assert run_cli(capsys, *args, "-q", "--overwrite")[0] == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("layout", ["columnar", "per-id"])
def test_embed_overwrite_keeps_the_old_file_until_the_new_one_is_complete(work, tmp_path, capsys, monkeypatch,
                                                                          layout):
    from seqvec.embeddings.inplace import InPlaceRun
    from seqvec.embeddings.parts import PartialRun

    out = tmp_path / "e.h5"
    args = ["embed", work["fasta"], "-o", out, "--layout", layout, "-q"]
    assert run_cli(capsys, *args, "--encoder", "onehot")[0] == 0
    old = out.read_bytes()

    def crash(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(PartialRun, "write_part", crash)
    monkeypatch.setattr(InPlaceRun, "write", crash)
    code, _ = run_cli(capsys, *args, "--encoder", "blosum62", "--overwrite")
    assert code == 130 and out.read_bytes() == old


def test_embed_over_the_models_own_weights(tiny_model_dir, tmp_path, work, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = (model / "weights.hdf5").read_bytes()
    for target in (model / "weights.hdf5", model / "options.json"):
        code, err = run_cli(capsys, "embed", work["fasta"], "-o", target, "--model", model, "--overwrite")
        assert code == 2 and (model / "weights.hdf5").read_bytes() == weights, err
    assert "would replace the input" in run_cli(capsys, "embed", work["fasta"], "-o", model / "weights.hdf5",
                                                "--model", model, "--overwrite")[1]
    hard = tmp_path / "hard.h5"
    hard.hardlink_to(model / "weights.hdf5")
    code, err = run_cli(capsys, "embed", work["fasta"], "-o", hard, "--model", model, "--overwrite")
    assert code == 2 and (model / "weights.hdf5").read_bytes() == weights


@pytest.mark.parametrize("command", ["embed", "predict", "train"])
def test_symlinked_lock_is_never_followed(command, work, tmp_path, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    out = tmp_path / "out"
    args = commands(work, out, tmp_path)[command]
    target = Path(args[args.index("-o") + 1])
    target.with_name(target.name + ".lock").symlink_to(precious)
    code, err = run_cli(capsys, *args)
    assert code == 1 and "symbolic link" in err, err
    assert precious.read_text() == "keep me" and not target.exists()


def test_changed_invalid_pipeline_setting_keeps_finished_results(work, tmp_path, capsys):
    config = {"output": str(tmp_path / "run"), "input": {"labels": [str(work["labels"])]},
              "encoders": ["onehot"], "heads": ["fnn"], "training": {"epochs": 1}, "report": {"plots": False}}
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps(config))
    assert run_cli(capsys, "run", "-q", pipeline)[0] == 0
    heads = sorted((tmp_path / "run" / "heads").iterdir())
    finished = {p: p.read_bytes() for h in heads for p in h.rglob("*") if p.is_file()}
    config["head_options"] = {"fnn": {"hidden_dim": -3}}  # changed, and invalid
    pipeline.write_text(json.dumps(config))
    code, err = run_cli(capsys, "run", "-q", pipeline)
    assert code == 2, err
    config.pop("head_options")  # back to the settings of the finished run: nothing to redo
    pipeline.write_text(json.dumps(config))
    assert run_cli(capsys, "run", "-q", pipeline)[0] == 0
    assert {p: p.read_bytes() for h in heads for p in h.rglob("*") if p.is_file()} == finished


def test_garbage_checkpoint_on_resume(work, tmp_path, capsys):
    run_dir = tmp_path / "lm"
    run_dir.mkdir()
    for garbage in (b"not a checkpoint", b"PK\x03\x04" + b"\0" * 100, b""):
        (run_dir / "checkpoint.pt").write_bytes(garbage)
        code, err = run_cli(capsys, "train-lm", work["fasta"], "-o", run_dir, "--resume")
        assert code == 2 and "checkpoint" in err, err


def test_train_lm_refuses_a_folder_of_other_files(work, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    code, err = run_cli(capsys, "train-lm", work["fasta"], "-o", folder)
    assert code == 2 and "not empty" in err and (folder / "notes.txt").read_text() == "mine"


def test_file_names_that_are_not_utf8(work, tmp_path, capsys):
    import os

    from seqvec.embeddings.h5 import read_h5, read_h5_attrs

    fasta = Path(os.fsdecode(bytes(tmp_path) + b"/in\xfe.fa"))
    shutil.copy(work["fasta"], fasta)
    out = Path(os.fsdecode(bytes(tmp_path) + b"/out\xff.h5"))
    code, err = run_cli(capsys, "embed", "-q", fasta, "-o", out, "--encoder", "onehot")
    assert code == 0, err
    assert len(read_h5(out, "per_protein")) == 2 and "\\xff" in read_h5_attrs(out)["command"]
    predictions = Path(os.fsdecode(bytes(tmp_path) + b"/p\xfd.json"))
    assert run_cli(capsys, "predict", "-q", fasta, "-o", predictions, "--heads", work["head"])[0] == 0
    assert sorted(os.listdir(tmp_path)) == sorted([fasta.name, out.name, predictions.name])


def test_index_search_and_transfer_keep_the_policy(work, tmp_path, read_only_dir, capsys):
    """The commands of issue 26, swept: inputs never overwritten, results only with --overwrite,
    an unwritable folder named before any work."""
    index = tmp_path / "ref.index"
    assert run_cli(capsys, "index", "-q", work["h5"], "-o", index)[0] == 0
    fasta = work["fasta"]
    before = fasta.read_bytes()
    for command in (["search", fasta, "-i", index, "-o", fasta], ["transfer", fasta, "-i", index, "--labels",
                                                                   work["labels"], "-o", fasta]):
        code, err = run_cli(capsys, *command, "--overwrite")
        assert code == 2 and "would replace the input" in err and fasta.read_bytes() == before, err
    hits = tmp_path / "hits.tsv"
    hits.write_text("mine")
    code, err = run_cli(capsys, "search", fasta, "-i", index, "-o", hits)
    assert code == 2 and "--overwrite" in err and hits.read_text() == "mine"
    for command in (["search", fasta, "-i", index, "-o", read_only_dir / "h.tsv"],
                    ["index", work["h5"], "-o", read_only_dir / "i.index"]):
        code, err = run_cli(capsys, *command)
        assert code == 1 and str(read_only_dir) in err, err
    assert list(read_only_dir.iterdir()) == []


def test_train_protvec_into_a_read_only_folder_fails_before_training(work, read_only_dir, capsys):
    code, err = run_cli(capsys, "train-protvec", work["fasta"], "-o", read_only_dir / "pv")
    assert code == 1 and str(read_only_dir) in err, err
    assert list(read_only_dir.iterdir()) == []

"""`seqvec embed` and `seqvec export` through the CLI entry point."""
import csv
import logging
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from seqvec.cli.main import main
from seqvec.embeddings.h5 import read_h5, read_h5_attrs

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def seqvec_logger_restored():
    """main() points the 'seqvec' logger at the current stderr; give later tests the logger back."""
    logger = logging.getLogger("seqvec")
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])


@pytest.fixture(autouse=True)
def restore_seqvec_logger():
    with seqvec_logger_restored():
        yield


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, short_fasta, tiny_model_dir):
    import torch

    out = tmp_path_factory.mktemp("cli") / "out.h5"
    threads = torch.get_num_threads()
    with seqvec_logger_restored():
        code = main(["embed", str(short_fasta), "-o", str(out), "--model", str(tiny_model_dir), "-q", "--threads", "1",
                     "--split-char", "|", "--id-field", "-1", "--layers", "all"])
    assert code == 0 and torch.get_num_threads() == 1  # --threads
    torch.set_num_threads(threads)
    return out


def test_embed_command(embedded, tiny_model):
    per_residue = read_h5(embedded)
    assert "HBA_HUMAN Hemoglobin subunit alpha, multi-line record" in per_residue  # --id-field -1 on '|'
    np.testing.assert_allclose(per_residue["two_residues"], tiny_model.embed("MK"), atol=1e-5)
    attrs = read_h5_attrs(embedded)
    assert attrs["command"].startswith("seqvec embed ") and "--id-field -1 --split-char '|'" in attrs["command"]
    assert attrs["layers"] == "all" and attrs["model_sha256"] == tiny_model.weights_sha256


def test_options_and_weights_files(tmp_path, short_fasta, tiny_model_dir, embedded):
    out = tmp_path / "ow.h5"
    assert main(["embed", str(short_fasta), "-o", str(out), "-q", "--options", str(tiny_model_dir / "options.json"),
                 "--weights", str(tiny_model_dir / "weights.hdf5"), "--no-per-residue", "--dtype", "float16",
                 "--split-char", "|", "--id-field", "-1", "--layers", "all"]) == 0
    ours, before = read_h5(out, "per_protein"), read_h5(embedded, "per_protein")
    assert set(ours) == set(before)
    for record_id, vector in ours.items():
        np.testing.assert_array_equal(vector, before[record_id].astype(np.float16))


def test_progress_bar_on_a_terminal_unless_quiet(tmp_path, short_fasta, capsys, monkeypatch):
    monkeypatch.setattr("seqvec.progress._stderr_is_terminal", lambda: True)
    assert main(["embed", str(short_fasta), "-o", str(tmp_path / "a.h5"), "--encoder", "onehot"]) == 0
    err = capsys.readouterr().err
    assert "embedding: 100%" in err and "res" in err
    assert main(["embed", str(short_fasta), "-o", str(tmp_path / "b.h5"), "--encoder", "onehot", "-q"]) == 0
    assert "embedding" not in capsys.readouterr().err
    monkeypatch.setattr("seqvec.progress._stderr_is_terminal", lambda: False)  # a log file: no bar
    assert main(["embed", str(short_fasta), "-o", str(tmp_path / "c.h5"), "--encoder", "onehot"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "embedding: 100%" not in err and "wrote" in err


@pytest.mark.parametrize("text, message", [
    (None, "input file not found"),
    ("", "input file is empty"),
    ("just some text\n", "is not FASTA"),
    (">a\nMK\n>b\n\n", "record 'b': empty sequence"),
    (">a x\nMK\n>a y\nMK\n", "duplicate record ids: 'a'"),
    (">a\nMK\n>b\nMKZ9\n", "record 'b': invalid character '9' at position 4"),
])
def test_bad_input_exits_2_before_the_model(tmp_path, capsys, text, message):
    fasta = tmp_path / "in.fasta"
    if text is not None:
        fasta.write_text(text)
    code = main(["embed", str(fasta), "-o", str(tmp_path / "o.h5"), "--model", str(tmp_path / "no_model")])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "no_model" not in err  # the input is checked before the model is looked for
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()


def test_option_conflicts_exit_2(tmp_path, short_fasta, tiny_model_dir, capsys):
    base = ["embed", str(short_fasta), "-o", str(tmp_path / "o.h5")]
    assert main([*base, "--encoder", "blosum62", "--layers", "lstm1"]) == 2
    assert "use 'sum' or 'all'" in capsys.readouterr().err
    assert main([*base, "--encoder", "onehot", "--model", str(tiny_model_dir)]) == 2
    assert "takes no language model" in capsys.readouterr().err
    assert main([*base, "--encoder", "onehot", "--carry-state"]) == 2
    assert "carry_state applies to the language model only" in capsys.readouterr().err
    assert main([*base, "--no-per-residue", "--no-per-protein", "--encoder", "onehot"]) == 2
    assert "both off" in capsys.readouterr().err


def test_mismatch_then_overwrite(tmp_path, short_fasta, capsys):
    base = ["embed", str(short_fasta), "-o", str(tmp_path / "o.h5"), "--encoder", "onehot", "-q"]
    assert main(base) == 0
    assert main([*base, "--layers", "all"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*base, "--layers", "all", "--overwrite"]) == 0
    assert read_h5(tmp_path / "o.h5")["protein"].shape == (1, 7, 21)


def test_help_explains_options(capsys):
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    text = capsys.readouterr().out
    for option in ("--per-residue", "--no-per-protein", "--layers", "--dtype", "--compression", "--max-residues",
                   "--device", "--threads", "--id-field", "--split-char", "--carry-state", "--encoder", "--overwrite",
                   "--options", "--weights", "--model", "OUTPUT.partial"):
        assert option in text, option


def test_cli_parser_imports_nothing_heavy():
    """`seqvec --help` (and a command without registries, export) builds without torch, h5py, numpy or Biopython.

    main() builds the options of the one command that runs; those of train, compare, ...
    import the registries their choices come from (heads, encoders, layer views).
    """
    code = ("import sys\nfrom seqvec.cli.main import build_parser\nbuild_parser('')\nbuild_parser('export')\n"
            "print(sorted(n for n in ('torch', 'h5py', 'numpy', 'Bio') if n in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_export_npz_and_csv(tmp_path, embedded):
    npz = tmp_path / "e.npz"
    assert main(["export", str(embedded), "-o", str(npz), "--view", "per_residue", "-q"]) == 0
    per_residue = read_h5(embedded)
    with np.load(npz) as z:
        assert z.files == list(per_residue)
        for record_id in z.files:
            np.testing.assert_array_equal(z[record_id], per_residue[record_id])
    out = tmp_path / "e.csv"
    assert main(["export", str(embedded), "-o", str(out), "-q"]) == 0
    rows = list(csv.reader(out.open()))
    per_protein = read_h5(embedded, "per_protein")
    assert rows[0] == ["id", *(f"d{i}" for i in range(32))]
    assert [r[0] for r in rows[1:]] == list(per_protein)
    hba = next(r for r in rows if r[0].startswith("HBA_HUMAN"))  # an id with a comma, quoted
    np.testing.assert_array_equal(np.array(hba[1:], dtype=np.float32), per_protein[hba[0]])


def test_export_odd_ids_to_npz(tmp_path):
    fasta = tmp_path / "odd.fasta"
    fasta.write_text(">file\nMK\n>a/b\nML\n>.x\nMKL\n")
    h5 = tmp_path / "odd.h5"
    assert main(["embed", str(fasta), "-o", str(h5), "--encoder", "onehot", "-q"]) == 0
    assert main(["export", str(h5), "-o", str(tmp_path / "odd.npz"), "-q"]) == 0
    with np.load(tmp_path / "odd.npz") as z:
        assert z.files == ["file", "a/b", ".x"]
        assert z["a/b"].shape == (21,)


def test_export_errors(tmp_path, embedded, capsys):
    assert main(["export", str(embedded), "-o", str(tmp_path / "e.csv"), "--view", "per_residue"]) == 2
    assert "CSV holds one row per protein" in capsys.readouterr().err
    assert main(["export", str(embedded), "-o", str(tmp_path / "e.txt")]) == 2
    assert "cannot tell the format of 'e.txt'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "e.npz")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not list(tmp_path.glob("e.*"))

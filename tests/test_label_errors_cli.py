"""Bad label files and bad training arguments: a clear error (exit 2) naming the problem, no head written."""
import json
import re
from pathlib import Path

import pytest

from seqvec.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def run(capsys):
    """main(args) -> (exit code, stderr); on failure no head may appear in the -o directory."""
    def call(*args):
        args = list(map(str, args))
        try:
            code = main(args)
        except SystemExit as exit_:  # argparse refuses the argument
            code = exit_.code
        err = capsys.readouterr().err
        if code != 0 and "-o" in args:
            assert not (Path(args[args.index("-o") + 1]) / "config.json").exists()
        return code, err
    return call


LABEL_FILES = [
    ("dup.fasta", ">a TARGET=1 SET=train\nMKV\n>b TARGET=2 SET=train\nMKL\n>a TARGET=3 SET=train\nMKI\n",
     "duplicate record ids 'a'"),
    ("dup_deeploc.fasta", ">P1 Nucleus-S\nMKV\n>P1 Cytoplasm-S\nMKL\n", "duplicate record ids 'P1'"),
    ("dup.csv", "id,label\nP1,x\nP2,y\nP1,z\n", "duplicate record ids 'P1'"),
    ("dup.json", '{"P1": "Nucleus", "P1": "Cytoplasm"}', "duplicate record ids 'P1'"),
    ("list.json", '{"P1": ["Nucleus"], "P2": "Cytoplasm"}', "record 'P1': label \\[\"Nucleus\"\\] is not a string"),
    ("latin1.fasta", b">a TARGET=caf\xe9 SET=train\nMKV\n", "not UTF-8 text: byte 0xe9 at offset 13"),
    ("short.csv", "id,label\nP1,x\nP2\n", "line 3 has 1 column"),
    ("cb513_short.csv", "input,dssp3,dssp8,disorder\nM K,H H,H H,1 1\nM K\n", "record 2 \\(line 3\\) has 1 columns"),
    ("cb513_text.csv", "input,dssp3,dssp8,disorder\nM K,H H,H H,1 x\n", "disorder value 'x' is not a number"),
    ("header_only.csv", "id,label,set\n", "header_only.csv: a header but no records"),
    ("tape_header.csv", "seq,sst3,sst8\n", "tape_header.csv: a header but no records"),
    ("values.fasta", ">a TARGET=1.5 SET=train\nMKV\n>b TARGET=high SET=train\nMKV\n",
     "record 'b': value 'high' is not a number"),
]


@pytest.mark.parametrize("name,content,message", LABEL_FILES, ids=[c[0] for c in LABEL_FILES])
def test_bad_label_files(run, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    fasta = tmp_path / "seqs.fasta"
    fasta.write_text(">P1\nMKV\n>P2\nMKL\n")
    extra = ["--kind", "protein_value"] if name == "values.fasta" else []
    extra += ["--task", "localization"] if name.endswith(".json") or "deeploc" in name else []
    extra += ["--labels", str(fasta)] if name.endswith(".json") else []
    code, err = run("train", "--labels", path, *extra, "--embeddings", tmp_path / "e.h5", "--encoder", "onehot",
                    "-o", tmp_path / "head")
    assert code == 2
    assert str(path) in err and "Traceback" not in err
    assert re.search(message, err), err
    assert "tmp" not in err.replace(str(tmp_path), "")  # the user's file is named, never a temporary one


@pytest.fixture(scope="module")
def user_task(data_dir):
    return data_dir / "biotrainer" / "sequence_to_value" / "sequences.fasta"


@pytest.mark.parametrize("args,message", [
    (["--batch-size", "0"], "--batch-size must be >= 1 \\(got 0\\)"),
    (["--lr", "-1"], "--lr must be a number above 0 and at most 10 \\(got -1.0\\)"),
    (["--lr", "0"], "--lr must be a number above 0 .*at 0 a head learns nothing"),
    (["--lr", "nan"], "argument --lr: must be a finite number, got nan"),
    (["--lr", "1e20"], "--lr must be a number above 0 and at most 10"),
    (["--weight-decay", "-1"], "--weight-decay must be a finite number >= 0"),
    (["--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    (["--epochs", "9" * 30], "argument --epochs: must be an integer from"),
    (["--epochs", "0"], "--epochs must be >= 1 \\(got 0\\); an untrained head is not saved"),
    (["--patience", "0", "--batch-size", "0"], "--batch-size must be >= 1.*--patience must be >= 1"),
    (["--class-weights", "yes"], "argument --class-weights: invalid choice"),
    (["--head-option", "hidden_dim"], "--head-option 'hidden_dim': expected KEY=VALUE"),
    (["--head-option", "hidden_dim=-4"], "bad option value"),
    (["--head-option", "hiddn_dim=4"], "does not take these options \\['hiddn_dim'\\]; its options: hidden_dim, dropout"),
    (["--head-option", "dropout=NaN"], "must be a finite number"),
    (["--head-option", "dropout=nan"], "bad option value"),
    (["--head-option", "dropout=2"], "bad option value"),
    (["--head-option", "hidden_dim={\"a\": 1}"], "must be a finite number"),
])
def test_bad_training_arguments(run, tmp_path, user_task, args, message):
    code, err = run("train", "--labels", user_task, "--embeddings", tmp_path / "e.h5", "--encoder", "onehot",
                    "-o", tmp_path / "head", "--epochs", "1", *args)
    assert code == 2 and "Traceback" not in err
    assert re.search(message, err), err


def test_evaluate_bootstrap_zero_is_refused(run, tmp_path, user_task):
    assert run("train", "-q", "--labels", user_task, "--embeddings", tmp_path / "e.h5", "--encoder", "onehot",
               "-o", tmp_path / "head", "--epochs", "1")[0] == 0
    code, err = run("evaluate", "--head", tmp_path / "head", "--labels", user_task, "--embeddings", tmp_path / "e.h5",
                    "--bootstrap", "0")
    assert code == 2 and "--bootstrap: must be an integer from 1 to 10000, got 0" in err


def test_library_refuses_untrainable_settings(tmp_path):
    from seqvec.classifiers.training.train import FitConfig, check_config
    from seqvec.errors import SeqVecError

    for bad, message in ((dict(epochs=0), "epochs` must be >= 1"), (dict(lr=-1.0), "lr` must be a number above 0"),
                         (dict(lr=0.0), "lr` must be"), (dict(epochs=2**64), "epochs` must be at most"),
                         (dict(epochs=2.5), "epochs` must be an integer"),
                         (dict(lr=float("nan")), "lr` must be"), (dict(weight_decay=-1.0), "weight_decay` must"),
                         (dict(batch_size=0), "batch_size` must"), (dict(seed=-1), "seed` must"),
                         (dict(class_weights="yes"), "class_weights` must be 'none' or 'balanced'")):
        with pytest.raises(SeqVecError, match="`FitConfig." + message) as err:  # the field, not the flag
            check_config(FitConfig(**bad))
        assert err.value.option == f"FitConfig.{next(iter(bad))}" and "--" not in str(err.value)


def test_ids_without_embeddings_are_listed(run, tmp_path, data_dir):
    labels = data_dir / "biotrainer" / "residues_to_value" / "sequences.fasta"
    assert run("train", "-q", "--labels", labels, "--embeddings", tmp_path / "e.h5", "--encoder", "onehot",
               "-o", tmp_path / "head", "--epochs", "1")[0] == 0
    more = tmp_path / "more.fasta"
    more.write_text(labels.read_text() + "\n>NEW1 TARGET=3 SET=train\nMKV\n>NEW2 TARGET=4 SET=train\nMKL\n")
    code, err = run("train", "--labels", more, "--embeddings", tmp_path / "e.h5", "-o", tmp_path / "head2")
    assert code == 2 and "2 of 6 labelled proteins" in err and "'NEW1', 'NEW2'" in err


def test_label_length_against_embedding_length(run, tmp_path, data_dir):
    folder = data_dir / "biotrainer" / "residue_to_class"
    assert run("train", "-q", "--labels", folder / "labels.fasta", "--embeddings", tmp_path / "e.h5",
               "--encoder", "onehot", "-o", tmp_path / "head", "--epochs", "1")[0] == 0
    labels = tmp_path / "labels.fasta"
    labels.write_text((folder / "labels.fasta").read_text().replace("DVCDVVDD", "DVCDVVD"))
    code, err = run("train", "--labels", labels, "--embeddings", tmp_path / "e.h5", "-o", tmp_path / "h2")
    assert code == 2 and "record 'Seq1': 7 labels but the embedding has 8 residues" in err
    assert json.loads((tmp_path / "head" / "config.json").read_text())["tasks"]["labels"]["kind"] == "residue_class"

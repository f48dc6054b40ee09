"""seqvec train / evaluate / predict / compare, in-process, on small real slices."""
import csv
import json

import pytest

from seqvec.classifiers.labels.tasks import TASKS
from seqvec.classifiers.training.train import FitConfig
from seqvec.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tasks_dir(data_dir):
    return data_dir / "tasks"


@pytest.fixture(scope="module")
def onehot_heads(tasks_dir, tmp_path_factory):
    """A localization+membrane FNN and an ss3/ss8/disorder CNN trained on one-hot encodings."""
    root = tmp_path_factory.mktemp("onehot_heads")
    heads = root / "heads"
    assert main(["train", "-q", "--task", "localization,membrane", "--embeddings", str(root / "pool.h5"),
                 "--encoder", "onehot", "--labels", str(tasks_dir / "deeploc_pool_small.fasta"),
                 "--labels", str(tasks_dir / "deeploc_numeric_small.fasta"),
                 "--labels", str(tasks_dir / "deeploc_labels_q2_small.json"),
                 "-o", str(heads / "protein"), "--epochs", "3", "--val-fraction", "0.2"]) == 0
    assert main(["train", "-q", "--task", "ss3,ss8,disorder", "--embeddings", str(root / "ss.h5"),
                 "--encoder", "onehot", "--labels", str(tasks_dir / "flip_small"),
                 "--labels", str(tasks_dir / "tape_small.csv"), "-o", str(heads / "residue"), "--epochs", "3"]) == 0
    return root


def test_train_writes_a_self_describing_head(onehot_heads):
    config = json.loads((onehot_heads / "heads" / "protein" / "config.json").read_text())
    assert config["head"] == "fnn" and list(config["tasks"]) == ["localization", "membrane"]
    assert config["input_dim"] == 21 and config["embeddings"]["encoder"] == "onehot"
    assert config["training"]["n_train"] + config["training"]["n_val"] == 47  # 49 records, 2 without any label
    assert config["training"]["n_val"] == 9  # 20% split
    residue = json.loads((onehot_heads / "heads" / "residue" / "config.json").read_text())
    assert residue["head"] == "cnn" and residue["training"]["n_val"] == 4  # FLIP VALIDATION=True records
    assert residue["training"]["n_train"] == 11 + 5  # 3 TAPE rows join FLIP proteins, 5 are new
    history = list(csv.DictReader(open(onehot_heads / "heads" / "residue" / "history.csv")))
    assert len(history) == 3 and "val_accuracy_ss3" in history[0]


def test_evaluate_prints_and_writes_metrics_with_intervals(onehot_heads, tasks_dir, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["evaluate", "-q", "--head", str(onehot_heads / "heads" / "residue"),
                 "--embeddings", str(tmp_path / "cb.h5"), "--labels", str(tasks_dir / "CB513_small.csv"),
                 "-o", str(out), "--bootstrap", "200"]) == 0
    printed = capsys.readouterr().out
    assert "Q3" in printed and "Q8" in printed and "MCC" in printed
    report = json.loads(out.read_text())
    assert report["embeddings"]["encoder"] == "onehot"  # the head's encoder was used to embed CB513
    ss3 = report["tasks"]["ss3"]
    assert ss3["n_proteins"] == 20 and ss3["n_scored"] == 1367  # resolved and inside the CB513 mask
    lo, hi = ss3["metrics"]["Q3"]["ci95"]
    assert lo <= ss3["metrics"]["Q3"]["value"] <= hi
    assert report["tasks"]["disorder"]["n_scored"] == 1393  # every residue


def test_evaluate_refuses_embeddings_of_another_encoder(onehot_heads, tasks_dir, tmp_path, capsys):
    code = main(["evaluate", "--head", str(onehot_heads / "heads" / "protein"), "--embeddings",
                 str(tmp_path / "b.h5"), "--encoder", "blosum62",
                 "--labels", str(tasks_dir / "deeploc_test_small.fasta")])
    assert code == 2
    assert "trained on embeddings from onehot" in capsys.readouterr().err


def test_predict_json_and_tsv(onehot_heads, data_dir, tmp_path):
    fasta = data_dir / "test.fasta"
    from seqvec.io.fasta import read_fasta
    sequences = read_fasta(fasta)
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(fasta), "-o", str(out), "--heads", str(onehot_heads / "heads")]) == 0
    document = json.loads(out.read_text())
    provenance, predictions = document["provenance"], document["predictions"]
    assert provenance["model"] == "onehot" and {h["head"] for h in provenance["heads"]} == {"fnn", "cnn"}
    assert list(predictions) == list(sequences)
    for rid, p in predictions.items():
        n = len(sequences[rid])
        assert p["location"] in TASKS["localization"].classes
        assert sum(p["location_probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert p["membrane"] in ("membrane", "soluble") and 0 <= p["membrane_probability"] <= 1
        assert (p["membrane"] == "membrane") == (p["membrane_probability"] > 0.5)
        assert len(p["ss3"]) == len(p["ss8"]) == len(p["disorder"]) == n
        assert set(p["ss3"]) <= set("HEC") and set(p["ss8"]) <= set("HGIEBTSC")
    tsv = tmp_path / "p.tsv"
    assert main(["predict", "-q", str(fasta), "-o", str(tsv), "--heads", str(onehot_heads / "heads")]) == 0
    proteins = list(csv.DictReader(open(tsv), delimiter="\t"))
    residues = list(csv.DictReader(open(tmp_path / "p.residues.tsv"), delimiter="\t"))
    assert [r["id"] for r in proteins] == list(sequences)
    assert len(residues) == sum(map(len, sequences.values()))
    assert {"location:Nucleus", "membrane_probability"} <= set(proteins[0])
    first = residues[0]
    assert first["position"] == "1" and first["residue"] == sequences[first["id"]][0]
    assert first["ss3"] == predictions[first["id"]]["ss3"][0]


def test_predict_with_language_model_heads(tiny_model_dir, tasks_dir, data_dir, tmp_path, capsys):
    head = tmp_path / "lm_heads" / "residue"
    assert main(["train", "-q", "--task", "ss3,disorder", "--embeddings", str(tmp_path / "cb.h5"),
                 "--model", str(tiny_model_dir), "--labels", str(tasks_dir / "CB513_small.csv"),
                 "-o", str(head), "--epochs", "2"]) == 0
    config = json.loads((head / "config.json").read_text())
    assert config["embeddings"]["encoder"] == "lm" and len(config["embeddings"]["model_sha256"]) == 64
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head),
                 "--model", str(tiny_model_dir)]) == 0
    document = json.loads(out.read_text())
    predictions = document["predictions"]
    assert document["provenance"]["heads"][0]["tasks"] == ["ss3", "disorder"]
    assert all(set(p) == {"length", "ss3", "disorder"} for p in predictions.values())
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head),
                 "--model", "/nonexistent/model"]) == 2



def test_heads_train_and_predict_on_the_layers_side_by_side(tiny_model_dir, tasks_dir, data_dir, tmp_path):
    """--layers concat: the head takes [L, 3D]; predict re-embeds with the view the head records."""
    from seqvec.embeddings.h5 import read_h5, read_h5_attrs

    def h5_layers(path):
        return read_h5_attrs(path)["layers"]

    cb, head = tmp_path / "cb.h5", tmp_path / "residue"
    assert main(["train", "-q", "--task", "ss3", "--embeddings", str(cb), "--model", str(tiny_model_dir),
                 "--layers", "concat", "--labels", str(tasks_dir / "CB513_small.csv"), "-o", str(head),
                 "--epochs", "1"]) == 0
    config = json.loads((head / "config.json").read_text())
    width = next(iter(read_h5(cb).values())).shape[1]
    assert config["embeddings"]["layers"] == "concat" and width == 3 * 2 * json.loads(
        (tiny_model_dir / "options.json").read_text())["lstm"]["projection_dim"]
    assert main(["evaluate", "-q", "--head", str(head), "--embeddings", str(tmp_path / "test.h5"),
                 "--labels", str(tasks_dir / "CB513_small.csv"), "--model", str(tiny_model_dir)]) == 0
    assert h5_layers(tmp_path / "test.h5") == "concat"  # evaluate embeds with the head's view
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head),
                 "--model", str(tiny_model_dir)]) == 0
    assert all(len(p["ss3"]) == p["length"] for p in json.loads(out.read_text())["predictions"].values())

def test_heads_on_language_model_plus_blosum62_predict_and_check_the_model(tiny_model_dir, tasks_dir, data_dir,
                                                                          tmp_path, capsys):
    """--encoder lm+blosum62: the head takes D + 21 values; predict rebuilds the stack and refuses another model."""
    head = tmp_path / "residue"
    assert main(["train", "-q", "--task", "ss3", "--embeddings", str(tmp_path / "cb.h5"), "--model",
                 str(tiny_model_dir), "--encoder", "lm+blosum62", "--labels", str(tasks_dir / "CB513_small.csv"),
                 "-o", str(head), "--epochs", "1"]) == 0
    config = json.loads((head / "config.json").read_text())
    lm_dim = 2 * json.loads((tiny_model_dir / "options.json").read_text())["lstm"]["projection_dim"]
    assert config["embeddings"]["encoder"] == "lm+blosum62" and config["input_dim"] == lm_dim + 21
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head),
                 "--model", str(tiny_model_dir)]) == 0
    assert all(len(p["ss3"]) == p["length"] for p in json.loads(out.read_text())["predictions"].values())
    capsys.readouterr()
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head),
                 "--overwrite"]) == 2
    assert "trained on embeddings of model" in capsys.readouterr().err  # the bundled model is not theirs


def test_predict_uses_the_registered_model_the_heads_record(tiny_model_dir, tasks_dir, data_dir, tmp_path,
                                                             monkeypatch):
    """Heads trained on a registered model other than the default predict with it when --model is left out."""
    import shutil

    from seqvec.lm import pretrained

    monkeypatch.setenv("SEQVEC_HOME", str(tmp_path / "home"))
    shutil.copytree(tiny_model_dir, tmp_path / "home" / "tiny")
    monkeypatch.setitem(pretrained.REGISTRY, "tiny", pretrained.ModelInfo("tiny", "test model", bundled=False))
    head = tmp_path / "residue"
    assert main(["train", "-q", "--task", "ss3", "--embeddings", str(tmp_path / "cb.h5"), "--model", "tiny",
                 "--encoder", "lm+blosum62", "--labels", str(tasks_dir / "CB513_small.csv"), "-o", str(head),
                 "--epochs", "1"]) == 0
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head)]) == 0
    assert json.loads(out.read_text())["provenance"]["model"] == "tiny+blosum62"


def test_bad_labels_are_named(tmp_path, data_dir, capsys):
    code = main(["train", "--task", "ss3", "--embeddings", str(tmp_path / "e.h5"),
                 "--labels", str(data_dir / "test.fasta"), "-o", str(tmp_path / "h")])
    assert code == 2 and "FASTA without labels" in capsys.readouterr().err


def test_compare_writes_table_json_plot_and_resumes(tasks_dir, tmp_path, capsys):
    args = ["compare", "-q", "--encoders", "onehot,blosum62", "--heads", "fnn,cnn",
            "--tasks", "localization,ss3,disorder", "--train", str(tasks_dir / "deeploc_pool_small.fasta"),
            "--train", str(tasks_dir / "flip_small"), "--test", str(tasks_dir / "deeploc_test_small.fasta"),
            "--test", str(tasks_dir / "CB513_small.csv"), "-o", str(tmp_path / "cmp"), "--epochs", "2",
            "--bootstrap", "50"]
    assert main(args) == 0
    results = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    runs = {(r["encoder"], r["head"]): r for r in results["runs"]}
    assert set(runs) == {("onehot", "fnn"), ("onehot", "cnn"), ("blosum62", "fnn"), ("blosum62", "cnn")}
    assert set(runs["onehot", "fnn"]["tasks"]) == {"localization"}
    assert set(runs["blosum62", "cnn"]["tasks"]) == {"ss3", "disorder"}
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| onehot | fnn |" in table and "localization Q10" in table and "disorder MCC" in table
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert main(args) == 0  # a second run reuses embeddings and heads: identical numbers
    again = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["tasks"] for r in again["runs"]] == [r["tasks"] for r in results["runs"]]
    (tmp_path / "linked").symlink_to(tasks_dir)  # the same label files through a link: still reused
    weights = tmp_path / "cmp" / "heads" / "onehot-fnn" / "weights.pt"
    before = weights.stat().st_mtime_ns
    assert main([a.replace(str(tasks_dir), str(tmp_path / "linked")) for a in args]) == 0
    assert weights.stat().st_mtime_ns == before


def test_compare_holds_one_language_model_through_two_layer_views(tiny_model_dir, tasks_dir, tmp_path):
    """Encodings: each its own folders and row name, its layer view recorded in the heads."""
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.selection.compare import Encoding, markdown_table, run_comparison
    from seqvec.embeddings.h5 import read_h5

    train, test = read_labels([tasks_dir / "flip_small"]), read_labels([tasks_dir / "CB513_small.csv"])
    encodings = [Encoding("sum", "lm", tiny_model_dir), Encoding("cat", "lm", tiny_model_dir, "concat", "tiny concat")]
    results = run_comparison(train, test, {"ss3": TASKS["ss3"]}, tmp_path, encoders=encodings, heads=["cnn"],
                             config=FitConfig(epochs=1), n_bootstrap=20)
    assert [(r["key"], r["name"], r["head"]) for r in results["runs"]] == [
        ("sum", tiny_model_dir.name, "cnn"), ("cat", "tiny concat", "cnn")]
    widths = [next(iter(read_h5(tmp_path / "embeddings" / k / "test.h5").values())).shape[1] for k in ("sum", "cat")]
    assert widths[1] == 3 * widths[0]
    assert json.loads((tmp_path / "heads" / "cat-cnn" / "config.json").read_text())["embeddings"]["layers"] == "concat"
    assert "| tiny concat | cnn |" in markdown_table(results)


def test_bundled_heads_predict_offline_with_the_bundled_model(tmp_path, capsys):
    """seqvec predict with no --heads/--model: the bundled heads on the bundled seqvec-mini-v2."""
    from seqvec.classifiers.heads.predict import load_heads

    heads = load_heads()
    assert sorted(t for h in heads for t in h.tasks) == sorted(TASKS)
    assert {h.embeddings["model"] for h in heads} == {"seqvec-mini-v2"}
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ\n>b\nMSDNGPQ\n")
    out = tmp_path / "p.json"
    assert main(["predict", str(fasta), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "localization: Q10 58.9% [95% CI 57.2%-60.7%] on the DeepLoc test set (2,768 proteins)" in printed
    assert "DeepLoc: 78.0%" in printed
    document = json.loads(out.read_text())
    predictions = document["predictions"]
    scores = {t: m for h in document["provenance"]["heads"] for t, m in h["test_set_scores"]["tasks"].items()}
    assert set(scores) == set(TASKS) and round(scores["localization"]["value"], 4) == 0.5889
    assert [round(v, 4) for v in scores["localization"]["ci95"]] == [0.5715, 0.6066] and scores["ss3"]["metric"] == "Q3"
    assert len(predictions["a"]["ss8"]) == 66 and len(predictions["b"]["disorder"]) == 7
    assert predictions["a"]["location"] in TASKS["localization"].classes


def test_bundled_heads_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    """bundled:protein / bundled:residue in predict, evaluate, plot curves and attention, listed by models."""
    monkeypatch.chdir(tmp_path)  # not the checkout: the names work anywhere
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ\n>b\nMSDNGPQ\n")
    assert main(["predict", "-q", str(fasta), "-o", "loc.tsv", "--heads", "bundled:protein"]) == 0
    rows = list(csv.DictReader(open("loc.tsv"), delimiter="\t"))
    assert [r["id"] for r in rows] == ["a", "b"] and "location:Nucleus" in rows[0]
    assert not (tmp_path / "loc.residues.tsv").exists()  # a per-protein head writes no per-residue table
    assert main(["predict", "-q", str(fasta), "-o", "ss.json", "--heads", "bundled:residue"]) == 0
    document = json.loads((tmp_path / "ss.json").read_text())
    assert [h["directory"] for h in document["provenance"]["heads"]] == ["bundled"]
    assert set(document["predictions"]["a"]) == {"length", "ss3", "ss8", "disorder"}
    assert main(["plot", "curves", "bundled:protein", "-o", "curves.png"]) == 0
    assert main(["plot", "attention", "--head", "bundled:protein", "--fasta", str(fasta), "-o", "att.png"]) == 0
    assert main(["predict", "-q", str(fasta), "-o", "x.json", "--heads", "bundled:nope"]) == 2
    assert ("no bundled head 'nope'; the bundled heads are bundled:protein, bundled:residue, bundled:multiloc"
            in capsys.readouterr().err)
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "bundled:protein" in listed and "la head on seqvec-mini-v2: localization, membrane" in listed
    assert "bundled:residue" in listed and "cnn head on seqvec-mini-v2: ss3, ss8, disorder" in listed
    assert "bundled:multiloc   convlstm head on blosum62: localization (by name only)" in listed


def test_bundled_multiloc_head_by_name_only(tmp_path, capsys):
    """The Sønderby ConvLSTM on BLOSUM62 is bundled by name: not in the default set, its own encoder and scores."""
    from seqvec.classifiers.heads.checkpoint import bundled_heads
    from seqvec.classifiers.heads.predict import load_heads

    assert "multiloc" not in {h.path.name for h in load_heads()} and "multiloc" in bundled_heads()
    fasta = tmp_path / "in.fasta"  # human serum albumin (P02768, signal peptide and all): secreted
    fasta.write_text(">alb\nMKWVTFISLLFLFSSAYSRGVFRRDAHKSEVAHRFKDLGEENFKALVLIAFAQYLQQCPFEDHVKLVNEVTEFAKTCVADESAENCDKSLHTLFGDKLCTV"
                     "ATLRETYGEMADCCAKQEPERNECFLQHKDDNPNLPRLVRPEVDVMCTAFHDNEETFLKKYLYEIARRHPYFYAPELLFFAKRYKAAFTECCQAA\n"
                     ">short\nMSDNGPQ\n")
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(fasta), "-o", str(out), "--heads", "bundled:multiloc"]) == 0
    printed = capsys.readouterr().out
    assert "localization: Q11 81.0% [95% CI 78.7%-83.1%] on the MultiLoc random fold 0 (1,192 proteins)" in printed
    document = json.loads(out.read_text())
    assert document["provenance"]["model"] == "blosum62"
    predictions = document["predictions"]
    assert predictions["alb"]["location"] == "extracellular"
    assert set(predictions["short"]["location_probabilities"]) == {
        "ER", "Golgi", "chloroplast", "cytoplasmic", "extracellular", "lysosomal", "mitochondrial", "nuclear",
        "peroxisomal", "plasma_membrane", "vacuolar"}


def test_evaluate_takes_a_bundled_head_by_name(tasks_dir, tmp_path, capsys):
    assert main(["evaluate", "-q", "--head", "bundled:residue", "--embeddings", str(tmp_path / "cb.h5"),
                 "--labels", str(tasks_dir / "CB513_small.csv"), "--bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    assert "head bundled:residue (cnn)" in printed and "Q3 (%)" in printed

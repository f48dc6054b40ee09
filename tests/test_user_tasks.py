"""A user's own labels: task kinds, biotrainer's formats and CSV, metrics per kind, train/evaluate/predict."""
import gzip
import json

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import balanced_accuracy_score, f1_score

from seqvec.classifiers.evaluation.metrics import score_task
from seqvec.classifiers.labels.files import detect_format, read_labels
from seqvec.classifiers.labels.readers import LabelFormatError
from seqvec.classifiers.labels.tasks import IGNORE, TaskKind, TaskSpec
from seqvec.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")

BIND_MAP = json.dumps({str(d): [n for bit, n in ((1, "metal"), (2, "nucleic"), (4, "small")) if d & bit]
                       for d in range(8)})
# biotrainer's examples: (file, expected format, expected kind, head that fits)
EXAMPLES = [
    ("residue_to_class/labels.fasta", "biotrainer-labels", "residue_class", "cnn"),
    ("residue_to_value/input.fasta", "biotrainer", "residue_value", "cnn"),
    ("residues_to_class/sequences.fasta", "biotrainer", "protein_class", "la"),
    ("residues_to_value/sequences.fasta", "biotrainer", "protein_value", "la"),
    ("sequence_to_class/labels.fasta", "biotrainer-labels", "protein_class", "fnn"),
    ("sequence_to_value/sequences.fasta", "biotrainer", "protein_value", "fnn"),
    ("multiple_test_sets/input.fasta", "biotrainer", "residue_class", "cnn"),
    ("multiple_test_sets/labels.fasta", "biotrainer-labels", "residue_class", "cnn"),
]


@pytest.fixture(scope="module")
def biotrainer(data_dir):
    return data_dir / "biotrainer"


@pytest.fixture(scope="module")
def user(data_dir):
    return data_dir / "user"


@pytest.mark.parametrize("name,fmt,kind,head", EXAMPLES)
def test_biotrainer_examples_train_evaluate_and_predict_unchanged(biotrainer, tmp_path, name, fmt, kind, head):
    path = biotrainer / name
    assert detect_format(path) == fmt
    labels = read_labels(path)
    (task, spec), = labels.specs.items()
    assert spec.kind.value == kind and task == path.name.split(".")[0]
    h5, out = str(tmp_path / "e.h5"), str(tmp_path / "head")
    assert main(["train", "-q", "--labels", str(path), "--embeddings", h5, "--encoder", "onehot",
                 "--head", head, "--epochs", "2", "-o", out]) == 0
    config = json.loads((tmp_path / "head" / "config.json").read_text())
    assert config["tasks"][task]["kind"] == kind
    assert main(["evaluate", "-q", "--head", out, "--labels", str(path), "--embeddings", h5,
                 "--bootstrap", "10", "-o", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    sets = report.get("sets", {"test": report})
    assert set(sets) == ({"test", "test2"} if name == "multiple_test_sets/labels.fasta" else {"test"})
    for result in sets.values():
        assert result["tasks"][task]["n_proteins"] >= 1
    fasta = tmp_path / "new.fasta"
    fasta.write_text(">new1\nMKTAYIAKQR\n>new2\nSEQWENCE\n")
    assert main(["predict", "-q", str(fasta), "--heads", out, "-o", str(tmp_path / "p.json")]) == 0
    predictions = json.loads((tmp_path / "p.json").read_text())["predictions"]
    value = predictions["new1"][task]
    if kind == "residue_class":
        assert isinstance(value, str) and len(value) == 10 and set(value) <= set(spec.classes)
    elif kind == "residue_value":
        assert len(value) == 10 and all(isinstance(v, float) for v in value)
    elif kind == "protein_class":
        assert value in spec.classes and set(predictions["new1"][f"{task}_probabilities"]) == set(spec.classes)
    else:
        assert isinstance(value, float)


def test_biotrainer_single_file_reads_targets_sets_and_masks(biotrainer):
    labels = read_labels(biotrainer / "residue_to_value" / "input.fasta")
    values = labels.labels["input"]
    assert labels.partition == {"Seq1": "train", "Seq2": "train", "Seq3": "validation", "Seq4": "test",
                                "Seq5": "pred"}
    assert "Seq5" not in values  # SET=pred: predicted only
    np.testing.assert_allclose(values["Seq1"], [0.5, 0.3, 0.1, 0.2, 0.5, 0.1, 0.0, -1])
    assert np.isnan(values["Seq2"][0]) and values["Seq2"][6] == 11.0  # MASK=0 -> not scored
    assert np.isfinite(values["Seq4"]).sum() == 2  # MASK=00010000000001
    classes = read_labels(biotrainer / "multiple_test_sets" / "input.fasta")
    spec = classes.specs["input"]
    assert spec.classes == ("C", "D", "E", "F", "V")
    seq1 = classes.labels["input"]["Seq1"]  # TARGET=DVCDVVDD MASK=01101101
    assert seq1.tolist() == [IGNORE, 4, 0, IGNORE, 4, 4, IGNORE, 1]


def test_two_file_convention_with_masks_and_named_test_sets(biotrainer):
    folder = biotrainer / "multiple_test_sets"
    labels = read_labels(folder / "labels.fasta", sequences=folder / "sequences.fasta", masks=folder / "mask.fasta")
    assert labels.partition["Seq4"] == "test2" and labels.partition["Seq5"] == "pred"
    assert (labels.labels["labels"]["Seq1"] == IGNORE).all()  # mask 00000000
    assert labels.sequences["Seq3"] == "SEQVENCEPROTEI"


def test_a_flip_file_with_sequences_is_the_two_file_convention(data_dir):
    flip = data_dir / "tasks" / "flip_small"
    assert read_labels(flip / "sampled.fasta").tasks() == ["ss3", "disorder"]  # the FLIP preset folder
    pair = read_labels(flip / "sampled.fasta", sequences=flip / "sequences.fasta", masks=flip / "mask.fasta")
    spec = pair.specs["sampled"]
    assert spec.kind == TaskKind.RESIDUE_CLASS and spec.classes == ("C", "E", "H")
    preset = read_labels(flip)
    for rid, ss3 in preset.labels["ss3"].items():  # the same residues scored, the same letters
        letters = np.array(["H", "E", "C"])[ss3[ss3 != IGNORE]]
        np.testing.assert_array_equal(np.array(spec.classes)[pair.labels["sampled"][rid][ss3 != IGNORE]], letters)
        assert (pair.labels["sampled"][rid][ss3 == IGNORE] == IGNORE).all()


def test_kind_is_inferred_and_can_be_forced(biotrainer, user, tmp_path):
    bind = read_labels(user / "bind_labels.fasta", sequences=user / "bind_sequences.fasta")
    assert bind.specs["bind_labels"].kind == TaskKind.RESIDUE_CLASS
    gb1 = read_labels(user / "gb1_small.fasta.gz")
    assert gb1.specs["gb1_small"].kind == TaskKind.PROTEIN_VALUE
    assert read_labels(user / "chezod_small.fasta").specs["chezod_small"].kind == TaskKind.RESIDUE_VALUE
    forced = read_labels(user / "gb1_small.fasta.gz", kind="protein_class", task_name="fitness_class")
    assert forced.specs["fitness_class"].kind == TaskKind.PROTEIN_CLASS
    multi = tmp_path / "loc.fasta"
    multi.write_text(">a TARGET=Nucleus;Cytoplasm SET=train\nMKV\n>b TARGET=Nucleus SET=train\nMKVL\n"
                     ">c TARGET= SET=test\nMK\n")
    spec = read_labels(multi).specs["loc"]
    assert spec.kind == TaskKind.PROTEIN_MULTILABEL and spec.classes == ("Cytoplasm", "Nucleus")
    np.testing.assert_array_equal(read_labels(multi).labels["loc"]["c"], [0, 0])


def test_label_map_reads_binding_digits_as_three_labels(user):
    labels = read_labels(user / "bind_labels.fasta", sequences=user / "bind_sequences.fasta",
                         label_map=json.loads(BIND_MAP))
    spec = labels.specs["bind_labels"]
    assert spec.kind == TaskKind.RESIDUE_MULTILABEL and spec.classes == ("metal", "nucleic", "small")
    digits = read_labels(user / "bind_labels.fasta", sequences=user / "bind_sequences.fasta")
    for rid, multi in labels.labels["bind_labels"].items():
        codes = np.array(digits.specs["bind_labels"].classes)[digits.labels["bind_labels"][rid]].astype(int)
        np.testing.assert_array_equal(multi, np.stack([codes & 1, codes >> 1 & 1, codes >> 2 & 1], 1) > 0)


def test_csv_and_tsv_labels(tmp_path):
    fasta = tmp_path / "s.fasta"
    fasta.write_text(">a\nMKVL\n>b\nMKTAYI\n>c\nMKK\n>d\nMKKA\n")
    (tmp_path / "p.csv").write_text("id,label,set\na,enzyme,train\nb,other,train\nc,enzyme,val\nd,other,test\n")
    labels = read_labels(tmp_path / "p.csv", sequences=fasta)
    assert labels.specs["p"].kind == TaskKind.PROTEIN_CLASS and labels.partition["c"] == "validation"
    (tmp_path / "r.tsv").write_text("a\tHHEE\nb\tHHHEEC\nc\tCCC\n")
    res = read_labels(tmp_path / "r.tsv", sequences=fasta)
    assert res.specs["r"].kind == TaskKind.RESIDUE_CLASS and res.labels["r"]["b"].tolist() == [2, 2, 2, 1, 1, 0]  # classes C, E, H
    (tmp_path / "v.csv").write_text("id,value\na,1.5\nb,-2\n")
    assert read_labels(tmp_path / "v.csv").specs["v"].kind == TaskKind.PROTEIN_VALUE
    (tmp_path / "flip.csv").write_text("sequence,target,set,validation\nMKV,0.5,train,False\nMKL,0.7,test,\n")
    flip = read_labels(tmp_path / "flip.csv")
    assert flip.sequences == {"flip_1": "MKV", "flip_2": "MKL"} and flip.partition["flip_2"] == "test"


@pytest.mark.parametrize("text,message", [
    (">a TARGET=1 SET=train\nMKV\n>a TARGET=2 SET=train\nMKL\n", "duplicate record ids 'a'"),
    (">a TARGET=HHE SET=train\nMKVL\n>b TARGET=HHEE SET=train\nMKVL\n>c TARGET=HHEE SET=train\nMKVL\n",
     "record 'a': 3 labels but the sequence has 4 residues"),
    (">a TARGET=1 SET=training\nMKV\n", "record 'a': unknown SET='training'"),
    (">a TARGET=1 SET=test VALIDATION=True\nMKV\n", "record 'a': SET=test with VALIDATION=True"),
    (">a TARGET=HHE SET=train MASK=0101\nMKV\n", "record 'a': MASK has 4 characters but the sequence has 3"),
    (">a TARGET=1.5 SET=train\nMKV\n>b TARGET=abc SET=train\nMKV\n", None),  # a class task then: fine
    (">a TARGET=1;2;x SET=train\nMKV\n", None),
    (">a TARGET=1;2;nan SET=train\nMKV\n", "record 'a': value 'nan' is not finite"),
    (">a TARGET=1 SET=train\nMKV\n>b SET=train\nMKV\n", "record 'b' has no TARGET="),
    (">a TARGET=1 SET=train\nMK1V\n", "record 'a': character '1' at position 3"),
])
def test_bad_biotrainer_files_name_file_record_and_value(tmp_path, text, message):
    path = tmp_path / "bad.fasta"
    path.write_text(text)
    if message is None:
        read_labels(path)
        return
    with pytest.raises(LabelFormatError, match=message.replace("(", r"\(")) as err:
        read_labels(path)
    assert str(path) in str(err.value)


def test_non_numeric_value_in_a_value_task(tmp_path):
    path = tmp_path / "v.fasta"
    path.write_text(">a TARGET=1.5 SET=train\nMKV\n>b TARGET=high SET=train\nMKV\n")
    with pytest.raises(LabelFormatError, match="record 'b': value 'high' is not a number"):
        read_labels(path, kind="protein_value")


def test_evaluating_a_class_the_head_never_saw_is_an_error(biotrainer, tmp_path):
    path = biotrainer / "sequence_to_class" / "labels.fasta"
    out, h5 = str(tmp_path / "head"), str(tmp_path / "e.h5")
    assert main(["train", "-q", "--labels", str(path), "--embeddings", h5, "--encoder", "onehot",
                 "--epochs", "1", "-o", out]) == 0
    other = tmp_path / "other.fasta"
    other.write_text(">Seq1 TARGET=Secreted SET=test\nSEQWENCE\n")
    with pytest.raises(LabelFormatError, match="record 'Seq1' has class 'Secreted', which the head never saw"):
        from seqvec.classifiers.evaluation.evaluate import evaluate_head
        from seqvec.classifiers.heads.checkpoint import load_head

        evaluate_head(load_head(out), read_labels(other, task_name="labels", kind="protein_class"), h5)
    assert main(["evaluate", "-q", "--head", out, "--labels", str(other), "--embeddings", h5]) == 2


def test_class_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    spec = TaskSpec("t", TaskKind.PROTEIN_CLASS, ("a", "b", "c", "d"))
    truth = rng.integers(0, 3, 60)  # class d never true
    probs = rng.random((60, 4))
    result = score_task(spec, list(truth), list(probs), n_bootstrap=20)
    pred = probs.argmax(1)
    assert result["metrics"]["macro_F1"]["value"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert result["metrics"]["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(truth, pred))
    assert result["per_class"]["a"]["F1"]["value"] == pytest.approx(f1_score(truth, pred, labels=[0], average=None)[0])


def test_multilabel_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    spec = TaskSpec("t", TaskKind.RESIDUE_MULTILABEL, ("x", "y", "z"), threshold=0.4)
    targets = [(rng.random((n, 3)) > 0.7).astype(np.float32) for n in (5, 9, 4)]
    targets[1][2] = np.nan  # a masked residue
    probs = [rng.random((len(t), 3)) for t in targets]
    result = score_task(spec, targets, probs, n_bootstrap=20)
    keep = [np.isfinite(t).all(1) for t in targets]
    y = np.concatenate([t[k] for t, k in zip(targets, keep)]).astype(int)
    p = np.concatenate([q[k] for q, k in zip(probs, keep)]) >= 0.4
    assert result["n_scored"] == 17
    assert result["metrics"]["micro_F1"]["value"] == pytest.approx(f1_score(y, p, average="micro"))
    assert result["metrics"]["macro_F1"]["value"] == pytest.approx(f1_score(y, p, average="macro"))
    assert result["per_label"]["y"]["F1"]["value"] == pytest.approx(f1_score(y[:, 1], p[:, 1]))


def test_value_metrics_match_scipy_and_bootstrap_spearman_is_exact():
    rng = np.random.default_rng(2)
    spec = TaskSpec("t", TaskKind.RESIDUE_VALUE)
    targets = [np.round(rng.normal(size=n), 1) for n in (6, 8, 5, 7)]  # rounding makes ties
    targets[0][1] = np.nan
    preds = [t + rng.normal(scale=0.5, size=len(t)) for t in targets]
    result = score_task(spec, targets, preds, n_bootstrap=50, seed=3)
    y = np.concatenate([t[np.isfinite(t)] for t in targets])
    f = np.concatenate([p[np.isfinite(t)] for t, p in zip(targets, preds)])
    assert result["metrics"]["Spearman"]["value"] == pytest.approx(spearmanr(y, f)[0])
    assert result["metrics"]["Pearson"]["value"] == pytest.approx(pearsonr(y, f)[0])
    assert result["metrics"]["RMSE"]["value"] == pytest.approx(np.sqrt(np.mean((f - y) ** 2)))
    # the first bootstrap draw, rebuilt by repeating proteins, gives the interval's own formula
    draw = np.bincount(np.random.default_rng(3).integers(0, 4, 4), minlength=4)
    yy = np.concatenate([np.repeat(t[np.isfinite(t)], c) for t, c in zip(targets, draw)])
    ff = np.concatenate([np.repeat(p[np.isfinite(t)], c) for t, p, c in zip(targets, preds, draw)])
    single = score_task(spec, [yy], [ff], n_bootstrap=1)
    lo, hi = result["metrics"]["Spearman"]["ci95"]
    assert lo <= single["metrics"]["Spearman"]["value"] <= hi or len(set(draw)) == 1


def test_values_are_trained_standardised_and_predicted_in_user_units(user, tmp_path):
    big = tmp_path / "gb1_scaled.fasta"
    with gzip.open(user / "gb1_small.fasta.gz", "rt") as handle:
        text = handle.read()
    lines = []
    for line in text.splitlines():
        if line.startswith(">"):
            head, target, *rest = line.split()
            line = " ".join([head, f"TARGET={float(target[7:]) * 1000 + 5000}", *rest])
        lines.append(line)
    big.write_text("\n".join(lines) + "\n")
    out = tmp_path / "head"
    assert main(["train", "-q", "--labels", str(big), "--embeddings", str(tmp_path / "e.h5"), "--encoder", "onehot",
                 "--epochs", "3", "-o", str(out)]) == 0
    spec = json.loads((out / "config.json").read_text())["tasks"]["gb1_scaled"]
    assert spec["value_mean"] > 5000 and spec["value_std"] > 100
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">q\n" + text.splitlines()[1] + "\n")
    assert main(["predict", "-q", str(fasta), "--heads", str(out), "-o", str(tmp_path / "p.json")]) == 0
    assert 3000 < json.loads((tmp_path / "p.json").read_text())["predictions"]["q"]["gb1_scaled"] < 8000


def test_multilabel_residue_head_trains_with_a_threshold_from_validation(user, tmp_path):
    out = tmp_path / "head"
    args = ["--labels", str(user / "bind_labels.fasta"), "--sequences", str(user / "bind_sequences.fasta"),
            "--label-map", BIND_MAP, "--task-name", "binding", "--embeddings", str(tmp_path / "e.h5")]
    assert main(["train", "-q", *args, "--encoder", "onehot", "--epochs", "2", "--class-weights", "balanced",
                 "-o", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    spec = config["tasks"]["binding"]
    assert spec["kind"] == "residue_multilabel" and 0.05 <= spec["threshold"] <= 0.95
    assert set(config["training"]["class_counts"]["binding"]) == {"metal", "nucleic", "small"}
    assert spec["label_map"] == {k: sorted(v, key=["metal", "nucleic", "small"].index)
                                 for k, v in json.loads(BIND_MAP).items()}
    # the head keeps its label map: evaluating it needs the label file only, not --label-map again
    plain = [a for a in args if a not in ("--label-map", BIND_MAP, "--task-name", "binding")]
    assert main(["evaluate", "-q", "--head", str(out), *plain, "--bootstrap", "10",
                 "-o", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())["tasks"]["binding"]
    assert set(result["per_label"]) == {"metal", "nucleic", "small"} and "macro_F1" in result["metrics"]
    assert main(["evaluate", "-q", "--head", str(out), *args, "--bootstrap", "10",
                 "-o", str(tmp_path / "e2.json")]) == 0
    assert json.loads((tmp_path / "e2.json").read_text())["tasks"]["binding"]["metrics"] == result["metrics"]
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">q\nMKTAYIAKQR\n")
    assert main(["predict", "-q", str(fasta), "--heads", str(out), "-o", str(tmp_path / "p.json")]) == 0
    residues = json.loads((tmp_path / "p.json").read_text())["predictions"]["q"]["binding"]
    assert len(residues) == 10 and all(set(r) <= {"metal", "nucleic", "small"} for r in residues)


def test_a_head_saved_without_its_label_map_still_loads_and_asks_for_the_map(user, tmp_path, capsys):
    out = tmp_path / "head"
    args = ["--labels", str(user / "bind_labels.fasta"), "--sequences", str(user / "bind_sequences.fasta"),
            "--embeddings", str(tmp_path / "e.h5")]
    assert main(["train", "-q", *args, "--label-map", BIND_MAP, "--encoder", "onehot", "--epochs", "1",
                 "-o", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    del config["tasks"]["bind_labels"]["label_map"]  # as heads of older seqvec versions were written
    (out / "config.json").write_text(json.dumps(config))
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">q\nMKTAYIAKQR\n")
    assert main(["predict", "-q", str(fasta), "--heads", str(out), "-o", str(tmp_path / "p.json")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "-q", "--head", str(out), *args, "--bootstrap", "10"]) != 0
    err = capsys.readouterr().err
    assert "--label-map" in err and "metal, nucleic, small" in err
    assert main(["evaluate", "-q", "--head", str(out), *args, "--label-map", BIND_MAP, "--bootstrap", "10",
                 "-o", str(tmp_path / "e.json")]) == 0
    assert "macro_F1" in json.loads((tmp_path / "e.json").read_text())["tasks"]["bind_labels"]["metrics"]


def test_value_head_on_residues_chezod_slice(user, tmp_path):
    out = tmp_path / "head"
    path = user / "chezod_small.fasta"
    assert main(["train", "-q", "--labels", str(path), "--embeddings", str(tmp_path / "e.h5"), "--encoder",
                 "blosum62", "--epochs", "2", "-o", str(out)]) == 0
    assert main(["evaluate", "-q", "--head", str(out), "--labels", str(path), "--embeddings", str(tmp_path / "e.h5"),
                 "--bootstrap", "10", "-o", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())["tasks"]["chezod_small"]
    assert result["kind"] == "residue_value" and set(result["metrics"]) == {"Spearman", "Pearson", "RMSE", "MAE"}
    assert result["n_proteins"] == 1  # the one SET=test record


def test_compare_takes_a_user_task_and_its_test_records(user, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "-q", "--train", str(user / "gb1_small.fasta.gz"), "--encoders", "onehot,blosum62",
                 "--heads", "fnn,la", "--epochs", "2", "--bootstrap", "10", "-o", str(out)]) == 0
    results = json.loads((out / "compare.json").read_text())
    assert results["tasks"] == {"gb1_small": {"metric": "Spearman", "level": "protein"}}
    assert {(r["encoder"], r["head"]) for r in results["runs"]} == {(e, h) for e in ("onehot", "blosum62")
                                                                     for h in ("fnn", "la")}
    for run in results["runs"]:
        assert run["tasks"]["gb1_small"]["n_proteins"] == 6  # the SET=test records only
        assert run["n_train"] == 20 and run["n_val"] == 4
    assert "Spearman" in (out / "compare.md").read_text()


@pytest.mark.parametrize("head", ["fnn", "la", "convlstm"])
@pytest.mark.parametrize("kind", ["protein_class", "protein_multilabel", "protein_value"])
def test_every_per_protein_head_on_every_per_protein_kind(user, tmp_path, head, kind):
    """GB1 variants (real sequences) labelled as classes, label sets or values."""
    with gzip.open(user / "gb1_small.fasta.gz", "rt") as handle:
        records = handle.read().split(">")[1:]
    lines = []
    for n, record in enumerate(records):
        header, sequence = record.split("\n", 1)
        rid, target, *rest = header.split()
        fitness = float(target[7:])
        label = {"protein_class": "fit" if fitness > 0.5 else "unfit",
                 "protein_multilabel": ";".join(x for x, on in (("binds", fitness > 0.5), ("stable", n % 2)) if on),
                 "protein_value": str(fitness)}[kind]
        lines.append(f">{rid} TARGET={label} {' '.join(rest)}\n{sequence}")
    path = tmp_path / "gb1.fasta"
    path.write_text("".join(lines))
    out = tmp_path / "head"
    common = ["--labels", str(path), "--kind", kind, "--embeddings", str(tmp_path / "e.h5")]
    assert main(["train", "-q", *common, "--encoder", "onehot", "--head", head, "--epochs", "2", "-o", str(out),
                 *(["--head-option", "n_filters=2", "--head-option", "lstm_hidden=4"] if head == "convlstm" else [])
                 ]) == 0
    assert main(["evaluate", "-q", "--head", str(out), *common, "--bootstrap", "5", "-o", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())["tasks"]["gb1"]
    assert result["kind"] == kind and result["n_proteins"] == 6

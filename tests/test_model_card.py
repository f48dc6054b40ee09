"""MODEL_CARD.md: written beside every trained head, with digests and metrics; evaluate adds test sections."""
import hashlib
import json
import re

import pytest

from seqvec.classifiers.evaluation.card import CARD_FILE
from seqvec.classifiers.heads.checkpoint import load_head
from seqvec.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def section(card: str, title: str) -> str:
    """The text under the heading ``title`` up to the next heading of the same or a higher level."""
    start = card.index(title)
    following = re.search(r"\n#{1,3} ", card[start + len(title):])
    return card[start:start + len(title) + following.start()] if following else card[start:]


@pytest.fixture
def trained(data_dir, tmp_path):
    labels = tmp_path / "gb1.fasta"
    import gzip

    labels.write_bytes(gzip.decompress((data_dir / "user" / "gb1_small.fasta.gz").read_bytes()))
    head, h5 = tmp_path / "head", tmp_path / "e.h5"
    assert main(["train", "-q", "--labels", str(labels), "--embeddings", str(h5), "--encoder", "onehot",
                 "--head", "fnn", "--epochs", "3", "--val-fraction", "0.25", "-o", str(head)]) == 0
    return labels, h5, head


def test_training_writes_a_card_with_digests_classes_protocol_and_validation_metrics(trained):
    labels, h5, head = trained
    card = (head / CARD_FILE).read_text()
    checkpoint = load_head(head)
    assert card.startswith("# Model card: fnn head for gb1")
    assert f"| training labels | gb1.fasta | `{sha256(labels)}` |" in card
    assert f"| embeddings | e.h5 | `{sha256(h5)}` |" in card
    assert f"{sum(p.numel() for p in checkpoint.head.parameters()):,} parameters" in card
    assert "encoder `onehot`" in card and checkpoint.embeddings["model_sha256"] in card
    task = section(card, "## Task")
    assert "protein_value" in task and "Spearman" in task
    split = section(card, "## Split protocol")
    n_val = checkpoint.training["n_val"]
    assert f"training: {checkpoint.training['n_train']} proteins; validation: {n_val} proteins" in split
    assert "25% random split (seed 0)" in split and "chose the early-stopping epoch" in split
    assert "6 proteins the label files put in test sets (test)" in split
    val = section(card, "## Metrics: validation proteins")
    assert f"n = {n_val};" in val
    rows = [line for line in val.splitlines() if line.startswith("| gb1 |")]
    assert {r.split("|")[2].strip() for r in rows} == {"Spearman", "Pearson", "RMSE", "MAE"}
    assert all(re.search(r"\[-?\d+\.\d{4}, -?\d+\.\d{4}\]", r) for r in rows)  # a 95% interval per metric
    assert "not calibrated" in section(card, "## Intended use and limits")


def test_evaluate_adds_one_test_section_per_set_and_refreshes_it(trained, tmp_path):
    labels, h5, head = trained
    args = ["evaluate", "-q", "--head", str(head), "--labels", str(labels), "--embeddings", str(h5)]
    before = (head / CARD_FILE).read_text()
    assert main([*args, "--bootstrap", "20"]) == 0
    card = (head / CARD_FILE).read_text()
    assert card.startswith(before.rstrip("\n"))  # the training part is kept as it was
    test = section(card, "### Test: gb1.fasta (SET=test)")
    assert "20 bootstrap draws" in test and sha256(labels)[:16] in test and sha256(h5)[:16] in test
    assert re.search(r"\| gb1 \| Spearman \| -?\d\.\d{4} \| \[", test) and "| 6 proteins |" in test
    assert main([*args, "--bootstrap", "30", "-o", str(tmp_path / "e.json")]) == 0  # the same set again: refreshed
    card = (head / CARD_FILE).read_text()
    assert card.count("### Test: gb1.fasta (SET=test)") == 1 and "30 bootstrap draws" in card
    report = json.loads((tmp_path / "e.json").read_text())
    spearman = report["tasks"]["gb1"]["metrics"]["Spearman"]
    assert f"| gb1 | Spearman | {spearman['value']:.4f} | [{spearman['ci95'][0]:.4f}, " in card
    other = tmp_path / "other.fasta"  # another test file: a second section
    other.write_text("".join(">" + r for r in labels.read_text().split(">")[1:] if "SET=test" in r.split("\n")[0]))
    assert main(["evaluate", "-q", "--head", str(head), "--labels", str(other), "--embeddings", str(h5),
                 "--bootstrap", "20"]) == 0
    card = (head / CARD_FILE).read_text()
    assert "### Test: other.fasta (SET=test)" in card and "### Test: gb1.fasta (SET=test)" in card
    assert not list(head.glob("*.lock")) and not list(head.glob(".*tmp*"))


def test_a_head_without_a_card_is_evaluated_and_left_without_one(trained):
    labels, h5, head = trained
    (head / CARD_FILE).unlink()  # as heads of older seqvec versions are
    assert main(["evaluate", "-q", "--head", str(head), "--labels", str(labels), "--embeddings", str(h5),
                 "--bootstrap", "10"]) == 0
    assert not (head / CARD_FILE).exists()


def test_each_fold_head_of_a_cross_validation_has_a_card_with_its_held_out_fold(data_dir, tmp_path):
    labels = data_dir / "tasks" / "deeploc_pool_small.fasta"
    out = tmp_path / "cv"
    assert main(["train", "-q", "--task", "localization", "--labels", str(labels), "--embeddings",
                 str(tmp_path / "e.h5"), "--encoder", "onehot", "--epochs", "2", "--cv", "2", "--bootstrap", "20",
                 "-o", str(out)]) == 0
    for k in (0, 1):
        card = (out / f"fold{k}" / CARD_FILE).read_text()
        assert f"fold {k + 1} of a 2-fold cross-validation" in card
        held = section(card, f"### Held-out fold {k + 1} of 2 (cross-validation)")
        assert re.search(r"\| localization \| Q10 \(%\) \| \d+\.\d\d \| \[", held)
        assert f"`{sha256(labels)[:16]}" in held or sha256(labels)[:16] in held

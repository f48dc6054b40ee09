"""`seqvec plot <kind>` and seqvec.viz: every picture is a valid, non-empty image."""
import json
from pathlib import Path

import numpy as np
import pytest

from seqvec.cli.main import main

TASKS = Path(__file__).resolve().parent / "data" / "tasks"
TINY_HEAD = ["--head-option", "n_filters=3", "--head-option", "conv2_filters=4", "--head-option", "lstm_hidden=4",
             "--head-option", "attention_hidden=4", "--head-option", "dense_hidden=4",
             "--head-option", "kernel_sizes=[1,3,5]"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny convlstm head trained 2 epochs on one-hot input, its evaluation, test-set embeddings."""
    d = tmp_path_factory.mktemp("plots")
    assert main(["train", "-q", "--task", "localization,membrane", "--head", "convlstm", "--encoder", "onehot",
                 "--embeddings", str(d / "pool.h5"), "--labels", str(TASKS / "deeploc_pool_small.fasta"),
                 *TINY_HEAD, "--epochs", "2", "-o", str(d / "head")]) == 0
    assert main(["evaluate", "-q", "--head", str(d / "head"), "--embeddings", str(d / "test.h5"),
                 "--labels", str(TASKS / "deeploc_test_small.fasta"), "-o", str(d / "eval.json")]) == 0
    return d


def assert_image(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    if path.suffix == ".png":
        import matplotlib.image

        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert float(pixels[..., :3].std()) > 0.01  # not a blank canvas
    else:
        from xml.etree import ElementTree

        assert ElementTree.parse(path).getroot().tag.endswith("svg")


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_attention(trained, tmp_path, suffix):
    out = tmp_path / f"attention{suffix}"
    assert main(["plot", "-q", "attention", "--head", str(trained / "head"),
                 "--fasta", str(TASKS / "deeploc_test_small.fasta"), "-n", "3", "-o", str(out)]) == 0
    assert_image(out)


def test_attention_tracks_name_prediction_and_truth(trained):
    import torch

    from seqvec.classifiers.checkpoint import load_head
    from seqvec.embeddings.encoders import onehot_encoder
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.attention import attention_tracks

    checkpoint = load_head(trained / "head")
    seqs = dict(list(read_fasta(TASKS / "deeploc_test_small.fasta").items())[:2])
    emb = {i: onehot_encoder().embed_batch([s])[0][0].numpy() for i, s in seqs.items()}
    classes = checkpoint.tasks["localization"].classes
    tracks = attention_tracks(checkpoint.head, emb, seqs, classes, true={next(iter(seqs)): "Nucleus"})
    assert [t.id for t in tracks] == list(seqs)
    assert tracks[0].true == "Nucleus" and tracks[1].true is None
    for t in tracks:
        assert len(t.weights) == len(t.sequence) and np.isclose(t.weights.sum(), 1, atol=1e-5)
        assert t.predicted in classes and 0 < t.probability <= 1
        x = torch.from_numpy(emb[t.id])[None]
        with torch.no_grad():
            probs = torch.softmax(checkpoint.head(x)["localization"][0], -1)
        assert np.isclose(float(probs.max()), t.probability, atol=1e-5)


def test_attention_shades_the_unread_middle_of_long_proteins(tmp_path):
    from seqvec.viz.attention import AttentionTrack, plot_attention

    weights = np.r_[np.full(10, 0.05), np.zeros(30), np.full(10, 0.05)]
    weights[3] = 0.2
    track = AttentionTrack("long", "M" * 50, weights / weights.sum(), "Nucleus", 0.9, "Cytoplasm")
    out = plot_attention([track], tmp_path / "a.png", max_length=20)
    assert_image(out)


def engines():
    try:
        import logomaker  # noqa: F401
    except ImportError:
        return ["matplotlib"]
    return ["matplotlib", "logomaker"]


@pytest.mark.parametrize("engine", engines())
def test_filters(trained, tmp_path, engine):
    out = tmp_path / "filters.png"
    assert main(["plot", "-q", "filters", "--head", str(trained / "head"), "--engine", engine,
                 "--fasta", str(TASKS / "deeploc_test_small.fasta"), "--top", "4", "-o", str(out)]) == 0
    assert_image(out)


def test_filter_scores_are_the_encoding_times_the_weights(trained):
    from seqvec.classifiers.checkpoint import load_head
    from seqvec.embeddings.encoders import ALPHABET
    from seqvec.viz.filters import filter_scores

    head = load_head(trained / "head").head
    identity = np.eye(len(ALPHABET), dtype=np.float32)
    filters = filter_scores(head, identity)
    assert len(filters) == 3 * 3
    norms = [f.rank_value for f in filters]
    assert norms == sorted(norms, reverse=True)
    width, weight = head.first_layer_filters()[filters[0].width // 2]  # widths 1, 3, 5 -> 0, 1, 2
    assert np.allclose(filters[0].scores, weight[filters[0].index].numpy())
    with pytest.raises(ValueError, match="activation"):
        filter_scores(head, identity, order="activation")


@pytest.mark.parametrize("column", ["location", "membrane"])
def test_projection_from_fasta_labels(trained, tmp_path, column):
    out = tmp_path / "projection.png"
    assert main(["plot", "-q", "projection", str(trained / "test.h5"), "--labels",
                 str(TASKS / "deeploc_test_small.fasta"), "--column", column, "--methods", "pca,tsne",
                 "-o", str(out)]) == 0
    assert_image(out)


def test_projection_from_a_tsv_label_file(trained, tmp_path):
    from seqvec.embeddings.h5 import read_h5

    ids = list(read_h5(trained / "test.h5", "per_protein"))
    table = tmp_path / "labels.tsv"
    table.write_text("id\tgroup\n" + "".join(f"{i}\t{'ab'[k % 2]}\n" for k, i in enumerate(ids)))
    out = tmp_path / "projection.svg"
    assert main(["plot", "-q", "projection", str(trained / "test.h5"), "--labels", str(table),
                 "--methods", "pca", "-o", str(out)]) == 0
    assert_image(out)


def test_confusion_from_evaluation_json(trained, tmp_path):
    out = tmp_path / "confusion.png"
    assert main(["plot", "-q", "confusion", str(trained / "eval.json"), "-o", str(out)]) == 0
    assert_image(out)
    from seqvec.viz.confusion import read_confusions

    panels = read_confusions(trained / "eval.json")
    assert [p[0] for p in panels] == ["localization", "membrane"]
    assert panels[0][1].shape == (10, 10) and panels[0][1].sum() == 12


def test_confusion_from_predictions_and_labels(tmp_path):
    predictions = tmp_path / "pred.tsv"
    predictions.write_text("id\tlength\tlocation\nA\t10\tNucleus\nB\t12\tCytoplasm\nC\t9\tNucleus\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("id,location\nA,Nucleus\nB,Nucleus\nC,Nucleus\n")
    out = tmp_path / "confusion.png"
    assert main(["plot", "-q", "confusion", "--predictions", str(predictions), "--labels", str(labels),
                 "-o", str(out)]) == 0
    assert_image(out)
    from seqvec.viz.confusion import confusion_from_labels

    counts, classes = confusion_from_labels(["Nucleus"] * 3, ["Nucleus", "Cytoplasm", "Nucleus"])
    assert classes == ["Cytoplasm", "Nucleus"] and counts.tolist() == [[0, 0], [1, 2]]


def test_curves_from_a_training_run(trained, tmp_path):
    out = tmp_path / "curves.png"
    assert main(["plot", "-q", "curves", str(trained / "head"), "-o", str(out)]) == 0
    assert_image(out)
    from seqvec.viz.curves import read_history

    rows = read_history(trained / "head" / "history.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and "val_loss" in rows[0]
    assert read_history(trained / "head") == rows


def test_benchmark_json_confusion(tmp_path):
    from seqvec.viz.confusion import read_confusions

    path = tmp_path / "result.json"
    path.write_text(json.dumps({"classes": ["a", "b"], "confusion": {"labels": [0, 1, 1], "predictions": [0, 0, 1]}}))
    (_, counts, classes), = read_confusions(path)
    assert classes == ["a", "b"] and counts.tolist() == [[1, 0], [1, 1]]


def test_errors_name_the_problem(trained, tmp_path, capsys):
    assert main(["plot", "curves", str(trained / "head"), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "x.jpg" in capsys.readouterr().err
    assert main(["plot", "curves", str(tmp_path / "missing"), "-o", str(tmp_path / "x.png")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["plot", "confusion", "-o", str(tmp_path / "x.png")]) == 2
    assert "--predictions" in capsys.readouterr().err
    assert main(["plot", "projection", str(trained / "test.h5"), "--labels", str(TASKS / "deeploc_test_small.fasta"),
                 "--column", "colour", "-o", str(tmp_path / "x.png")]) == 2
    assert "colour" in capsys.readouterr().err

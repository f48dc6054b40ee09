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


def assert_image(path: Path, dpi: int = 300) -> None:
    """A readable, non-blank figure in the format its suffix names (PNG at ``dpi``)."""
    assert path.is_file() and path.stat().st_size > 1000
    if path.suffix == ".png":
        import matplotlib.image
        from PIL import Image

        with Image.open(path) as image:
            assert image.format == "PNG"
            assert [round(v) for v in image.info["dpi"]] == [dpi, dpi]
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert float(pixels[..., :3].std()) > 0.01  # not a blank canvas
    elif path.suffix == ".pdf":
        data = path.read_bytes()
        assert data.startswith(b"%PDF-") and b"/Type /Page" in data and data.rstrip().endswith(b"%%EOF")
    else:
        from xml.etree import ElementTree

        root = ElementTree.parse(path).getroot()
        assert root.tag.endswith("svg")
        drawn = [e for e in root.iter() if e.tag.split("}")[-1] in ("path", "text", "use", "image")]
        assert len(drawn) > 20  # marks and text, not an empty canvas


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_attention(trained, tmp_path, suffix):
    out = tmp_path / f"attention{suffix}"
    assert main(["plot", "-q", "attention", "--head", str(trained / "head"),
                 "--fasta", str(TASKS / "deeploc_test_small.fasta"), "-n", "3", "-o", str(out)]) == 0
    assert_image(out)


def test_attention_tracks_name_prediction_and_truth(trained):
    import torch

    from seqvec.classifiers.heads.checkpoint import load_head
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
    from matplotlib.figure import Figure

    from seqvec.viz.attention import AttentionTrack, draw_attention, plot_attention, unread_span

    weights = np.r_[np.full(10, 0.05), np.zeros(30), np.full(10, 0.05)]
    weights[3] = 0.2
    track = AttentionTrack("long", "M" * 50, weights / weights.sum(), "Nucleus", 0.9, "Cytoplasm")
    # a head with max_length 20 reads residues 1-10 and 41-50: the shade covers 10.5 .. 40.5
    assert unread_span(50, 20) == (10.5, 40.5)
    assert unread_span(50, 21) == (11.5, 40.5)
    assert unread_span(20, 20) is None and unread_span(50, None) is None
    ax = Figure().subplots()
    draw_attention(ax, track, max_length=20)
    shaded = [p for p in ax.patches if p.get_label() == "not read"]
    assert len(shaded) == 1
    x0 = float(shaded[0].get_x())
    assert (x0, x0 + float(shaded[0].get_width())) == (10.5, 40.5)
    assert not np.any(track.weights[10:40])  # the shade is where the weights are zero
    assert "not read" in [t.get_text()[:8] for t in ax.texts]
    assert ax.get_title(loc="left").endswith("true Cytoplasm: WRONG")  # spelled out, not colour only
    ax = Figure().subplots()
    draw_attention(ax, track, max_length=None)
    assert not [p for p in ax.patches if p.get_label() == "not read"]
    assert_image(plot_attention([track], tmp_path / "a.png", max_length=20))


def test_attention_of_a_light_attention_head(tmp_path):
    """Any head that declares attention is accepted, not only convlstm."""
    d = tmp_path
    assert main(["train", "-q", "--task", "localization", "--head", "la", "--encoder", "onehot",
                 "--embeddings", str(d / "pool.h5"), "--labels", str(TASKS / "deeploc_pool_small.fasta"),
                 "--head-option", "hidden_dim=4", "--epochs", "1", "-o", str(d / "la")]) == 0
    out = d / "attention.png"
    assert main(["plot", "attention", "-q", "--head", str(d / "la"), "--fasta", str(TASKS / "deeploc_test_small.fasta"),
                 "-n", "2", "-o", str(out)]) == 0
    assert_image(out)


def test_heads_declare_attention_and_filters():
    import torch

    from seqvec.classifiers.heads.registry import HEADS

    assert {n for n, c in HEADS.items() if c.has_attention} == {"la", "convlstm"}
    assert {n for n, c in HEADS.items() if c.has_filters} == {"convlstm"}
    head = HEADS["la"](6, {"t": 3}, hidden_dim=4).eval()
    x, mask = torch.randn(2, 9, 6), torch.ones(2, 9, dtype=torch.bool)
    mask[1, 5:] = False
    logits, attention = head.attention_weights(x, mask)
    assert torch.equal(logits["t"], head(x, mask)["t"])
    assert attention.shape == (2, 9) and torch.allclose(attention.sum(1), torch.ones(2))
    assert not attention[1, 5:].any()
    with pytest.raises(NotImplementedError):
        HEADS["fnn"](6, {"t": 3}).attention_weights(torch.randn(2, 6))


def test_plotting_leaves_the_callers_matplotlib_alone(tmp_path):
    """No pyplot import and no backend switch: a user's interactive session is untouched."""
    import subprocess
    import sys

    code = ("import sys, matplotlib\nmatplotlib.use('svg')\nfrom seqvec.viz.curves import plot_curves\n"
            f"plot_curves([{{'epoch': 1, 'train_loss': 1.0}}, {{'epoch': 2, 'train_loss': 0.5}}], {str(tmp_path / 'c.png')!r})\n"
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["svg", "False"]
    assert_image(tmp_path / "c.png")


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
    from seqvec.classifiers.heads.checkpoint import load_head
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
    assert [p.title for p in panels] == ["localization", "membrane"]
    assert panels[0].counts.shape == (10, 10) and panels[0].counts.sum() == 12
    assert {p.unit for p in panels} == {"proteins"}


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
    panel, = read_confusions(path)
    assert panel.classes == ["a", "b"] and panel.counts.tolist() == [[1, 0], [1, 1]]


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


def test_projection_axes_export_and_interactive_html(trained, tmp_path):
    from seqvec.viz.projection import project

    out, coords, html = tmp_path / "p.pdf", tmp_path / "coords.tsv", tmp_path / "p.html"
    args = ["plot", "projection", str(trained / "test.h5"), "--labels", str(TASKS / "deeploc_test_small.fasta"),
            "--methods", "pca,tsne", "-q"]
    assert main([*args, "-o", str(out), "--export", str(coords)]) == 0
    assert_image(out)
    rows = [line.split("\t") for line in coords.read_text().splitlines()]
    assert rows[0] == ["id", "localization", "pca_1", "pca_2", "tsne_1", "tsne_2"] and len(rows) == 13
    assert all(float(v) == float(v) for row in rows[1:] for v in row[2:])
    projection = project(np.random.default_rng(0).normal(size=(20, 5)), "pca")
    assert projection.axes[0].startswith("PC1 (") and "% of variance" in projection.axes[0]
    assert main([*args, "-o", str(html)]) == 0
    page = html.read_text()
    assert "plotly" in page.lower() and rows[1][0] in page and rows[1][1] in page  # hover ids and labels


def test_interactive_projection_without_plotly_says_what_to_install(trained, tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_plotly(name, *args, **kwargs):
        if name.startswith("plotly"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_plotly)
    assert main(["plot", "projection", str(trained / "test.h5"), "--labels", str(TASKS / "deeploc_test_small.fasta"),
                 "--methods", "pca", "-o", str(tmp_path / "p.html")]) == 2
    assert "seqvec[interactive]" in capsys.readouterr().err


def test_confusion_reads_labels_like_train_does(tmp_path):
    """A DeepLoc FASTA gives DeepLoc classes (not header words such as 'length' or 'lower')."""
    from seqvec.classifiers.labels.files import class_labels
    from seqvec.classifiers.labels.tasks import DEEPLOC_CLASSES
    from seqvec.viz.confusion import read_confusions  # noqa: F401  (module imports cleanly)

    true, column = class_labels(TASKS / "deeploc_test_small.fasta", "location")
    assert column == "localization" and set(true.values()) <= set(DEEPLOC_CLASSES) and len(true) == 12
    predictions = tmp_path / "pred.tsv"
    predictions.write_text("id\tlength\tlocation\n" + "".join(f"{i}\t10\tNucleus\n" for i in true))
    out = tmp_path / "confusion.svg"
    assert main(["plot", "confusion", "--predictions", str(predictions), "--labels",
                 str(TASKS / "deeploc_test_small.fasta"), "-o", str(out), "-q"]) == 0
    assert_image(out)
    text = out.read_text()
    assert "Nucleus" in text and "length" not in text and "lower" not in text


def test_residue_confusion_counts_residues(tmp_path):
    from matplotlib.figure import Figure  # noqa: F401

    from seqvec.viz.confusion import read_confusions

    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"head": "heads/ss", "head_name": "cnn", "labels": ["CB513_small.csv"],
                                "embeddings": {"model": "seqvec-mini"},
                                "tasks": {"ss3": {"level": "residue", "classes": ["H", "E", "C"],
                                                  "confusion_matrix": [[50, 3, 7], [2, 30, 8], [9, 4, 80]]}}}))
    panel, = read_confusions(path)
    assert panel.unit == "residues"
    out = tmp_path / "ss3.svg"
    assert main(["plot", "confusion", str(path), "-o", str(out), "-q"]) == 0
    text = out.read_text()
    assert "true class (residues)" in text and "seqvec-mini" in text and "CB513_small.csv" in text


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_curves_every_format_and_quiet_after_the_kind(trained, tmp_path, suffix, capsys):
    out = tmp_path / f"curves{suffix}"
    assert main(["plot", "curves", str(trained / "head"), "-o", str(out), "-q", "--dpi", "120"]) == 0
    assert_image(out, dpi=120)
    assert capsys.readouterr().out.count("wrote") == 1


def test_filter_activations_average_over_residues(trained):
    import torch

    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.embeddings.encoders import onehot_encoder
    from seqvec.viz.filters import mean_activations

    head = load_head(trained / "head").head
    encoder = onehot_encoder()
    sequences = ["MKTAYIAKQR", "MSSHEGGKKK"]
    per_protein = [head.first_layer_activations(encoder.embed_batch([s])[0])[0] for s in sequences]
    expected = torch.cat(per_protein).double().mean(0).numpy()
    assert np.allclose(mean_activations(head, encoder, sequences), expected)


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_comparison_chart_and_lm_curve(tmp_path, suffix):
    from seqvec.viz.comparison import plot_comparison
    from seqvec.viz.curves import plot_lm_curve

    def run(model, head, value):
        return {"model": model, "name": model, "head": head, "tasks": {"localization": {"metrics": {"Q10": {
            "value": value, "ci95": [value - 0.02, value + 0.02]}}}}}

    results = {"tasks": {"localization": {"metric": "Q10", "level": "protein"}},
               "runs": [run("onehot", "fnn", 0.44), run("seqvec-mini", "la", 0.49)]}
    assert_image(plot_comparison(results, tmp_path / f"c{suffix}", caption="test: DeepLoc"))
    rows = [{"residues": str(1000 * i), "train_loss": str(3 - 0.1 * i), "val_loss": str(3 - 0.08 * i) if i % 3 == 0
             else ""} for i in range(1, 10)]
    assert_image(plot_lm_curve(rows, tmp_path / f"lm{suffix}"))




def test_caption_stays_under_the_axis_labels_when_saved(tmp_path, monkeypatch):
    """The caption gets a band of its own: tick and axis labels are never drawn over it."""
    from seqvec.viz import common, confusion

    drawn = []  # caption and x-axis label extents at each draw, the saved image's last

    def save_figure(fig, path, dpi):
        ax = fig.axes[0]
        fig.canvas.mpl_connect("draw_event", lambda event: drawn.append(
            (fig.texts[-1].get_window_extent(event.renderer), ax.xaxis.label.get_window_extent(event.renderer))))
        return common.save_figure(fig, path, dpi)

    monkeypatch.setattr(confusion, "save_figure", save_figure)
    classes = [f"compartment_{k}" for k in range(11)]
    counts = np.random.default_rng(0).integers(0, 100, (11, 11))
    confusion.plot_confusion([confusion.ConfusionPanel("test", counts, classes)], tmp_path / "c.png", dpi=60,
                             caption="a caption naming the model and the data " * 4)
    caption, label = drawn[-1]
    assert caption.y1 < label.y0


def drawn_figure(monkeypatch, module):
    """Capture the figure a plot function of ``module`` saves (to look at its axes and legend)."""
    figures = []
    original = module.save_figure

    def keep(fig, path, dpi=300):
        figures.append(fig)
        return original(fig, path, dpi)

    monkeypatch.setattr(module, "save_figure", keep)
    return figures


@pytest.mark.parametrize("n_panels", [1, 2, 3])
def test_confusion_panels_fill_the_figure_with_one_colour_bar(tmp_path, monkeypatch, n_panels):
    from seqvec.viz import confusion

    figures = drawn_figure(monkeypatch, confusion)
    panels = [confusion.ConfusionPanel(f"task{i}", np.arange(1, (k * k) + 1).reshape(k, k), [f"c{j}" for j in range(k)])
              for i, k in zip(range(n_panels), (3, 8, 2))]
    confusion.plot_confusion(panels, tmp_path / "c.png", caption="head x on y")
    assert_image(tmp_path / "c.png")
    axes = figures[0].axes
    heatmaps = [ax for ax in axes if ax.images]
    colour_bars = [ax for ax in axes if not ax.images]
    assert len(heatmaps) == n_panels and len(colour_bars) == 1  # nothing blank: no third empty panel
    assert [ax.get_title().split("\n")[0] for ax in heatmaps] == [p.title for p in panels]
    assert "share of the true class" in colour_bars[0].get_ylabel()


def test_class_styles_tell_twelve_classes_apart_by_colour_and_by_marker():
    from seqvec.viz.common import class_style

    first = [class_style(k) for k in range(12)]
    assert len({s["color"] for s in first}) == 12 and len({s["marker"] for s in first}) == 12
    assert len({(s["color"], s["marker"]) for s in map(class_style, range(144))}) == 144


def test_projection_of_eleven_classes_has_a_legend_entry_each_with_its_own_colour_and_marker(tmp_path, monkeypatch):
    from matplotlib.colors import to_hex

    from seqvec.viz import projection

    figures = drawn_figure(monkeypatch, projection)
    rng = np.random.default_rng(0)
    labels = [f"class {k}" for k in range(11) for _ in range(30 + 10 * k)]
    points = projection.compute_projections(rng.normal(size=(len(labels), 6)), ["pca"])
    projection.plot_projection(points, labels, tmp_path / "p.png", label_name="location")
    assert_image(tmp_path / "p.png")
    legend = figures[0].axes[-1].get_legend()
    entries = [t.get_text() for t in legend.get_texts()]
    assert len(entries) == 11 and entries[0] == "class 10 (130)"  # largest class first, with its size
    styles = {(to_hex(h.get_facecolor()[0]), h.get_paths()[0].vertices.tobytes()) for h in legend.legend_handles}
    assert len({c for c, _ in styles}) == 11 and len({m for _, m in styles}) == 11
    assert projection.marker_size(len(labels)) >= 8  # shapes legible in a dense cloud too

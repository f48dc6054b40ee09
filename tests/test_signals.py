"""MultiLoc sorting-signal annotations: the header grammar, PTS1 from the C terminus, and
attention inside annotated signals (enrichment against uniform, per-class profiles)."""
from pathlib import Path

import numpy as np
import pytest

from seqvec.classifiers.labels.signals import SortingSignal, parse_signal, pts1_signal, read_signals
from seqvec.errors import LabelFormatError

DATA = Path(__file__).parent / "data" / "signals"


def test_real_headers_parse_to_their_signals():
    sequences, signals = read_signals(DATA / "multiloc_signals.fasta")
    assert len(sequences) == 9
    assert signals["P15839"] == SortingSignal("SP", 1, 24)
    assert signals["P33754"] == SortingSignal("SA", 28, 48)
    assert signals["P42857"] == SortingSignal("SA", 83, 103)
    assert signals["P12352"] == SortingSignal("cTP", 1, 24)
    assert signals["P56392"] == SortingSignal("mTP", 1, 21)
    n = len(sequences["P14292"])  # peroxisomal, ends in AKL: PTS1 from the sequence
    assert signals["P14292"] == SortingSignal("PTS1", n - 2, n)
    assert sequences["P14292"][signals["P14292"].span()] == "AKL"
    assert "Q00680" not in signals and "Q25088" not in signals  # ends PKL / LLCQLK: no signal
    assert sequences["P33754"][signals["P33754"].span()] == "ISVYTPLIYVFILVVSLVMFA"  # the hydrophobic anchor
    assert signals["P33754"].length == 21


def test_pts1_can_be_turned_off():
    _, signals = read_signals(DATA / "multiloc_signals.fasta", pts1=False)
    assert "P14292" not in signals and len(signals) == 6


@pytest.mark.parametrize("header, expected", [
    ("P31946", None),
    ("P20698 SP 14", SortingSignal("SP", 1, 14)),
    ("Q8TC12 SA 1 21", SortingSignal("SA", 1, 21)),
    ("P00505   mTP  29  ", SortingSignal("mTP", 1, 29)),
])
def test_parse_signal(header, expected):
    assert parse_signal(header) == expected


@pytest.mark.parametrize("header, length, words", [
    ("P1 XX 14", None, "unknown signal type 'XX'"),
    ("P1 SP", None, "SP takes 'SP END', got 0"),
    ("P1 SA 14", None, "SA takes 'SA START END', got 1"),
    ("P1 SP 0", None, "not a whole number >= 1"),
    ("P1 SP 1.5", None, "not a whole number"),
    ("P1 SA 30 16", None, "starts at 30, after its end 16"),
    ("P1 SP 50", 40, "past the protein's 40 residues"),
])
def test_bad_annotations_are_named(header, length, words):
    with pytest.raises(LabelFormatError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_signal(header, length)


def test_bad_file_names_the_file(tmp_path):
    path = tmp_path / "bad.fasta"
    path.write_text(">P1 SP 14\nMKKLLA\n")
    with pytest.raises(LabelFormatError, match="bad.fasta.*past the protein's 6 residues"):
        read_signals(path)


def test_pts1_consensus():
    assert pts1_signal("MAAASKL") == SortingSignal("PTS1", 5, 7)
    assert pts1_signal("MAAACRM") == SortingSignal("PTS1", 5, 7)
    assert pts1_signal("MAAASKV") is None and pts1_signal("KL") is None
    assert np.array_equal(np.arange(7)[pts1_signal("MAAASKL").span()], [4, 5, 6])


# --- attention inside signals and along the protein -------------------------------------------------

from seqvec.classifiers.evaluation.attention import (  # noqa: E402
    attention_profiles,
    edge_attention,
    protein_profile,
    read_positions,
    signal_enrichment,
)


def _peaked(length: int, lo: int, hi: int, inside: float) -> np.ndarray:
    """Weights summing to 1 with ``inside`` of the mass spread evenly over residues lo..hi (1-based)."""
    w = np.full(length, (1 - inside) / (length - (hi - lo + 1)))
    w[lo - 1:hi] = inside / (hi - lo + 1)
    return w


def test_uniform_attention_has_enrichment_one_and_a_peak_shows():
    signals = {f"p{i}": SortingSignal("SP", 1, 20) for i in range(30)}
    uniform = {f"p{i}": np.full(100 + i, 1 / (100 + i)) for i in range(30)}
    row = signal_enrichment(uniform, signals)["SP"]
    assert row.n == 30 and row.enrichment == pytest.approx(1.0) and row.mean_ratio == pytest.approx(1.0)
    assert row.ci95[0] == pytest.approx(1.0) and row.ci95[1] == pytest.approx(1.0)
    peaked = {k: _peaked(len(w), 1, 20, 0.6) for k, w in uniform.items()}  # 60% of the mass on 20 residues
    row = signal_enrichment(peaked, signals)["SP"]
    share = np.mean([20 / (100 + i) for i in range(30)])
    assert row.enrichment == pytest.approx(0.6 / share) and row.enrichment > 3
    assert row.ci95[0] <= row.enrichment <= row.ci95[1]


def test_enrichment_interval_is_wide_when_proteins_disagree():
    signals = {f"p{i}": SortingSignal("mTP", 1, 10) for i in range(40)}
    attention = {f"p{i}": _peaked(100, 1, 10, 0.5 if i % 2 else 0.02) for i in range(40)}
    row = signal_enrichment(attention, signals)["mTP"]
    assert row.ci95[0] < row.enrichment < row.ci95[1] and row.ci95[1] - row.ci95[0] > 0.5


def test_enrichment_counts_only_read_residues_and_ignores_proteins_without_attention():
    # 1,200 residues, max_length 1000: residues 501-700 are not read; an anchor at 491-520 has 10 read
    w = np.zeros(1200)
    read = read_positions(1200, 1000)
    assert read.sum() == 1000 and not read[500:700].any() and read[:500].all() and read[700:].all()
    w[read] = 1 / 1000
    signals = {"long": SortingSignal("SA", 491, 520), "absent": SortingSignal("SA", 1, 5)}
    row = signal_enrichment({"long": w}, signals, max_length=1000)["SA"]
    assert row.n == 1 and row.mass == pytest.approx(10 / 1000) and row.share == pytest.approx(10 / 1000)


def test_profiles_show_terminal_peaks_per_class():
    attention = {f"n{i}": _peaked(80 + i, 1, 5, 0.5) for i in range(10)}          # N-terminal peak
    attention.update({f"c{i}": _peaked(90 + i, 88 + i, 90 + i, 0.3) for i in range(10)})  # last 3 residues
    classes = {**{f"n{i}": "secreted" for i in range(10)}, **{f"c{i}": "peroxisomal" for i in range(10)}}
    profiles = {p.name: p for p in attention_profiles(attention, classes, terminal=10, bins=5)}
    sec, per = profiles["secreted"], profiles["peroxisomal"]
    assert sec.n == 10 and per.n == 10
    assert sec.first[:5].min() > 5 and sec.first[5:].max() < 1 and np.all(sec.last < 1)
    assert per.last[-3:].min() > 5 and per.last[:-3].max() < 1 and np.all(per.first < 1)
    assert sec.relative[0] > 1 > sec.relative[-1] and per.relative[-1] > 1 > per.relative[0]
    assert np.all(sec.first_band >= 0)
    assert set(sec.to_dict()) >= {"name", "n", "first", "last", "relative"}


def test_profile_of_a_short_and_a_long_protein():
    first, last, rel = protein_profile(np.full(4, 0.25), None, terminal=6, bins=2)
    assert np.allclose(first[:4], 1) and np.isnan(first[4:]).all()
    assert np.allclose(last[2:], 1) and np.isnan(last[:2]).all() and np.allclose(rel, 1)
    w = np.zeros(1200)
    w[read_positions(1200, 1000)] = 1 / 1000
    _, _, rel = protein_profile(w, 1000, terminal=5, bins=6)  # bin 3 (600-799) is partly unread
    assert np.allclose(rel, 1)  # unread residues are left out, not averaged in as zeros


def test_edge_attention():
    attention = {"a": np.array([0.5, 0.1, 0.1, 0.3]), "b": np.array([0.1, 0.1, 0.2, 0.6])}
    edges = edge_attention(attention)
    assert edges["n"] == 2 and edges["first_vs_uniform"] == pytest.approx((0.5 + 0.1) * 4 / 2)
    assert edges["share_peak_at_1"] == 0.5 and edges["share_peak_at_L"] == 0.5


# --- seqvec plot attention --per-class --signals ----------------------------------------------------

MULTILOC = ("ER", "Golgi", "chloroplast", "cytoplasmic", "extracellular", "lysosomal", "mitochondrial",
            "nuclear", "peroxisomal", "plasma_membrane", "vacuolar")


@pytest.fixture
def multiloc_head(tmp_path):
    """An untrained small convlstm head on BLOSUM62 rows with MultiLoc's 11 classes."""
    import torch

    from seqvec.classifiers.heads.checkpoint import save_head
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.labels.tasks import TaskSpec

    torch.manual_seed(0)
    head = head_class("convlstm")(21, {"localization": 11}, n_filters=3, kernel_sizes=[1, 3, 21], conv2_filters=4,
                                  lstm_hidden=4, attention_hidden=4, dense_hidden=4, max_length=100)
    task = TaskSpec("localization", "protein", MULTILOC, "Q11", "MultiLoc location")
    return save_head(tmp_path / "head", head, {"localization": task}, embeddings={"encoder": "blosum62"})


def test_plot_attention_per_class_with_signals(multiloc_head, tmp_path, capsys):
    import json

    import torch

    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.cli.main import main
    from seqvec.embeddings.encoders import ENCODERS

    out, export = tmp_path / "profiles.png", tmp_path / "profiles.json"
    assert main(["plot", "-q", "attention", "--per-class", "--signals", "--head", str(multiloc_head),
                 "--fasta", str(DATA / "multiloc_signals.fasta"), "--labels", str(DATA / "multiloc_signals_classes.tsv"),
                 "--terminal", "20", "--bins", "5", "-o", str(out), "--export", str(export)]) == 0
    printed = capsys.readouterr().out
    assert "SP: signal peptide" in printed and "PTS1" in printed and "first residue" in printed
    assert out.stat().st_size > 1000
    report = json.loads(export.read_text())
    assert report["n"] == 9 and list(report["enrichment"]) == ["SP", "SA", "mTP", "cTP", "PTS1"]
    # max_length 100: P42857's anchor (83-103 of 186) lies in the unread middle, so one SA protein counts
    assert report["enrichment"]["SA"]["n"] == 1 and report["enrichment"]["SP"]["n"] == 2
    assert [p["name"] for p in report["profiles"]] == ["ER", "Golgi", "chloroplast", "cytoplasmic",
                                                       "extracellular", "mitochondrial", "peroxisomal"]
    assert len(report["profiles"][0]["first"]) == 20 and len(report["profiles"][0]["relative"]) == 5
    # the numbers are the head's own attention: recompute the SA mass of P33754 (residues 28-48)
    sequence = read_signals(DATA / "multiloc_signals.fasta")[0]["P33754"]
    x = ENCODERS["blosum62"]().embed_batch([sequence])[0]
    with torch.no_grad():
        _, attention = load_head(multiloc_head).head.eval().attention_weights(x, torch.ones(x.shape[:2], dtype=torch.bool))
    assert float(attention[0, 50:len(sequence) - 50].sum()) == 0  # the unread middle
    assert report["enrichment"]["SA"]["mass"] == pytest.approx(float(attention[0, 27:48].sum()), rel=1e-5)
    assert report["enrichment"]["SA"]["share"] == pytest.approx(21 / 100)


def test_per_class_options_need_per_class(multiloc_head, tmp_path, capsys):
    from seqvec.cli.main import main

    assert main(["plot", "attention", "--signals", "--head", str(multiloc_head),
                 "--fasta", str(DATA / "multiloc_signals.fasta"), "-o", str(tmp_path / "a.png")]) != 0
    assert "add --per-class" in capsys.readouterr().err


# --- first-layer filters against known motifs -------------------------------------------------------


def _hydrophobic_detector():
    """A one-hot convlstm head whose width-1 filter 0 scores each residue by its Kyte-Doolittle value
    and whose filter 1 detects K; the other filters are zero."""
    import torch

    from seqvec.classifiers.evaluation.filters import KYTE_DOOLITTLE
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.embeddings.encoders import ALPHABET

    head = head_class("convlstm")(21, {"localization": 2}, n_filters=2, kernel_sizes=[1, 3], conv2_filters=2,
                                  lstm_hidden=2, attention_hidden=2, dense_hidden=2)
    with torch.no_grad():
        for conv in head.convs:
            conv.weight.zero_()
            conv.bias.zero_()
        for a, value in KYTE_DOOLITTLE.items():
            head.convs[0].weight[0, ALPHABET.index(a), 0] = value
        head.convs[0].weight[1, ALPHABET.index("K"), 0] = 1.0
    return head.eval()


def test_filters_on_signals_find_the_hydrophobic_core_and_the_lysine():
    from seqvec.classifiers.evaluation.filters import hydropathy_correlation, signal_filters, signal_filters_table
    from seqvec.embeddings.encoders import ALPHABET, ENCODERS

    head = _hydrophobic_detector()
    encoder = ENCODERS["onehot"]()
    table = encoder.embed_batch([ALPHABET])[0][0].numpy()
    sequences = {f"sp{i}": "MKLLLAVLLAIVLS" + "DEKSTNQDEKSTNQ" * 3 for i in range(4)}   # signal: residues 1-14
    sequences.update({f"none{i}": "MSDEKSTNQDEKSTNQ" * 3 + "VLI" for i in range(4)})
    sequences.update({f"px{i}": "MDEKSTNQDEKSTNQ" * 3 + "SKL" for i in range(2)})
    signals = {f"sp{i}": SortingSignal("SP", 1, 14) for i in range(4)}
    signals.update({f"px{i}": pts1_signal(sequences[f"px{i}"]) for i in range(2)})
    result = signal_filters(head, encoder, table, ALPHABET, sequences, signals)
    sp = result["SP"]
    assert sp["n"] == 4 and sp["n_control"] == 4 and sp["control_span"] == [1, 14, False]
    best = sp["filters"][0]
    assert (best.width, best.index) == (1, 0) and best.enrichment > 3 and best.hydropathy_r == pytest.approx(1.0)
    pts1 = result["PTS1"]
    assert pts1["control_span"] == [1, 3, True]
    assert (pts1["filters"][0].width, pts1["filters"][0].index) == (1, 1)  # K of SKL; the controls end in VLI
    text = signal_filters_table(result)
    assert "SP: 4 protein(s)" in text and "width  1, filter  0" in text
    scores = np.zeros((21, 1))
    scores[[ALPHABET.index(a) for a in "AVLIMFWC"], 0] = 1
    assert hydropathy_correlation(scores, ALPHABET) > 0.5


def test_plot_filters_with_signals_prints_and_ranks(multiloc_head, tmp_path, capsys):
    import json

    from seqvec.cli.main import main

    out, export = tmp_path / "filters.png", tmp_path / "filters.json"
    assert main(["plot", "-q", "filters", "--head", str(multiloc_head), "--fasta", str(DATA / "multiloc_signals.fasta"),
                 "--signals", "--rank", "SP", "--widths", "1,21", "--top", "3", "-o", str(out),
                 "--export", str(export)]) == 0
    printed = capsys.readouterr().out
    assert "SP: 2 protein(s), control residues 1-22 of 2" in printed and "PTS1: 1 protein(s)" in printed
    numbers = json.loads(export.read_text())
    assert set(numbers) == {"SP", "SA", "cTP", "mTP", "PTS1"} and len(numbers["SP"]["filters"]) == 3 * 3
    assert out.stat().st_size > 1000
    assert main(["plot", "filters", "--head", str(multiloc_head), "--fasta", str(DATA / "multiloc_signals.fasta"),
                 "--signals", "--rank", "NLS", "-o", str(tmp_path / "b.png")]) != 0
    assert "--rank NLS" in capsys.readouterr().err


# --- the attention at residues 1 and L is learned, not made by padding or masking -------------------


@pytest.mark.parametrize("name, options", [
    ("convlstm", dict(n_filters=4, conv2_filters=8, lstm_hidden=8, attention_hidden=8, dense_hidden=8)),
    ("la", dict(hidden_dim=8)),
])
def test_untrained_heads_put_no_extra_weight_on_the_first_and_last_residue(name, options):
    """Zero padding at the ends, the masked softmax and the LSTMs' start states give the edges no
    weight of their own: before training, residues 1 and L get about the uniform weight, alone or
    padded in a batch. (Trained heads do weigh the N-terminus: docs/convlstm.md, 'residues 1 and L'.)"""
    import torch

    from seqvec.classifiers.heads.registry import head_class
    from seqvec.embeddings.encoders import ENCODERS

    sequences, _ = read_signals(DATA / "multiloc_signals.fasta")
    encoder = ENCODERS["blosum62"]()
    x = {i: encoder.embed_batch([s])[0] for i, s in sequences.items()}
    first, last = [], []
    for seed in range(5):
        torch.manual_seed(seed)
        head = head_class(name)(21, {"localization": 11}, **options).eval()
        for xi in x.values():
            with torch.no_grad():
                weights = head.attention_weights(xi, torch.ones(xi.shape[:2], dtype=torch.bool))[1][0]
            first.append(float(weights[0] * len(weights)))
            last.append(float(weights[-1] * len(weights)))
        # the same proteins padded into one batch: the same weights (padding gets exactly 0)
        lengths = [v.shape[1] for v in x.values()]
        batch = torch.zeros(len(x), max(lengths), 21)
        mask = torch.zeros(len(x), max(lengths), dtype=torch.bool)
        for k, (xi, n) in enumerate(zip(x.values(), lengths)):
            batch[k, :n], mask[k, :n] = xi[0], True
        with torch.no_grad():
            padded = head.attention_weights(batch, mask)[1]
            alone = head.attention_weights(x[next(iter(x))], torch.ones(1, lengths[0], dtype=torch.bool))[1][0]
        assert float(padded[~mask].abs().max()) == 0.0
        assert padded[0, :lengths[0]].numpy() == pytest.approx(alone.numpy(), abs=1e-6)
    assert 0.7 < np.mean(first) < 1.3 and 0.7 < np.mean(last) < 1.3

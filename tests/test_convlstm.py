"""The conv + BiLSTM + attention localization network (seqvec.classifiers.heads.convlstm)."""
import pytest
import torch

from seqvec.classifiers.heads.convlstm import ConvLSTMHead, terminal_index

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = dict(n_filters=4, conv2_filters=8, lstm_hidden=8, attention_hidden=8, dense_hidden=8)


OUTPUTS = {"localization": 10, "membrane": 2}


def small_model(outputs=OUTPUTS, **kw) -> ConvLSTMHead:
    torch.manual_seed(0)
    return ConvLSTMHead(6, outputs, **{**SMALL, **kw}).eval()


def batch(lengths, dim=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), dim, generator=g)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    return x, mask


def test_output_shapes_and_attention_is_a_masked_distribution():
    model = small_model()
    x, mask = batch([9, 4, 7])
    out, att = model(x, mask, return_attention=True)
    assert set(out) == {"localization", "membrane"}
    assert out["localization"].shape == (3, 10) and out["membrane"].shape == (3, 2)
    assert torch.equal(model(x, mask)["localization"], out["localization"])
    assert att.shape == (3, 9)
    assert torch.allclose(att.sum(1), torch.ones(3), atol=1e-6)
    assert torch.all(att[~mask] == 0)
    assert torch.all(att[mask] > 0)


def test_one_output_per_task():
    out = small_model({"localization": 11})(*batch([5]))
    assert list(out) == ["localization"] and out["localization"].shape == (1, 11)


def test_a_protein_alone_equals_the_same_protein_in_a_padded_batch():
    model = small_model()
    x, mask = batch([12, 3, 8])
    x[~mask] = 1e3                                  # garbage in the padding must not matter
    together, att = model(x, mask, return_attention=True)
    for i, n in enumerate([12, 3, 8]):
        alone, att_alone = model(x[i:i + 1, :n], mask[i:i + 1, :n], return_attention=True)
        for task in OUTPUTS:
            assert torch.allclose(alone[task], together[task][i:i + 1], atol=1e-5)
        assert torch.allclose(att_alone, att[i:i + 1, :n], atol=1e-6)


def test_terminal_index_keeps_n_and_c_termini():
    mask = torch.arange(9)[None, :] < torch.tensor([9, 3, 6])[:, None]
    index, kept = terminal_index(mask, 5)
    assert index.tolist() == [[0, 1, 2, 7, 8], [0, 1, 2, 3, 4], [0, 1, 2, 4, 5]]
    assert kept.tolist() == [[True] * 5, [True] * 3 + [False] * 2, [True] * 5]


def test_long_proteins_ignore_their_middle_but_not_their_termini():
    model = small_model(max_length=10)
    x, mask = batch([30])
    out, att = model(x, mask, return_attention=True)
    att = att[0]
    assert torch.all(att[5:25] == 0) and torch.all(att[:5] > 0) and torch.all(att[25:] > 0)
    middle = x.clone()
    middle[0, 10:20] = 5.0
    assert torch.allclose(model(middle, mask)["localization"], out["localization"])
    n_term = x.clone()
    n_term[0, 0] = 5.0
    assert not torch.allclose(model(n_term, mask)["localization"], out["localization"])


def test_input_position_dropout_only_in_training():
    model = small_model(input_dropout=0.5)
    x, mask = batch([20, 20])
    model.eval()
    assert torch.equal(model(x, mask)["localization"], model(x, mask)["localization"])
    model.train()
    torch.manual_seed(3)
    a = model(x, mask)["localization"]
    assert not torch.allclose(a, model(x, mask)["localization"])


@pytest.mark.parametrize("bad, message", [
    (lambda x, m: (x[..., :5], m), "expects x of shape"),
    (lambda x, m: (x, m[:, :2]), "does not match"),
    (lambda x, m: (x, m.flip(1)), "padding after"),
    (lambda x, m: (x, m & torch.tensor([[True], [False]])), "empty protein"),
])
def test_bad_inputs_raise_with_the_shape_named(bad, message):
    x, mask = batch([4, 3])
    with pytest.raises(ValueError, match=message):
        small_model()(*bad(x, mask))


def test_hparams_rebuild_the_same_module_and_are_validated():
    model = small_model(kernel_sizes="3,5")
    assert model.hparams["kernel_sizes"] == [3, 5]
    twin = ConvLSTMHead(model.input_dim, model.outputs, **model.hparams)
    twin.load_state_dict(model.state_dict())
    assert torch.equal(twin.eval()(*batch([6]))["membrane"], model(*batch([6]))["membrane"])
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMHead(21, OUTPUTS, kernel_sizes=(2,))
    with pytest.raises(ValueError, match="dropout"):
        ConvLSTMHead(21, OUTPUTS, dropout=1.0)
    with pytest.raises(TypeError):
        ConvLSTMHead(21, OUTPUTS, colour=1)


def test_first_layer_filters_and_activations_are_reachable():
    model = small_model(kernel_sizes=(1, 3))
    filters = model.first_layer_filters()
    assert [(w, tuple(f.shape)) for w, f in filters] == [(1, (4, 6, 1)), (3, (4, 6, 3))]
    x, mask = batch([7, 5])
    act = model.first_layer_activations(x, mask)
    assert act.shape == (2, 7, 8) and torch.all(act >= 0) and torch.all(act[1, 5:] == 0)


def test_learns_an_n_terminal_signal():
    """Class 1 iff the protein starts with a 'signal' residue: the attention must find it."""
    g = torch.Generator().manual_seed(0)
    n, length = 64, 25
    y = torch.randint(0, 2, (n,), generator=g)
    residues = torch.randint(1, 6, (n, length), generator=g)
    residues[:, 0] = torch.where(y == 1, 0, residues[:, 0])
    x = torch.nn.functional.one_hot(residues, 6).float()
    mask = torch.ones(n, length, dtype=torch.bool)
    torch.manual_seed(0)
    model = ConvLSTMHead(6, {"signal": 2}, input_dropout=0.0, dropout=0.0, **SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x, mask)["signal"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    accuracy = (model(x, mask)["signal"].argmax(1) == y).float().mean()
    assert accuracy > 0.95


def test_registered_as_convlstm_head():
    from seqvec.classifiers.heads.registry import head_class, head_name

    head = head_class("convlstm")(6, OUTPUTS, **SMALL)
    assert isinstance(head, ConvLSTMHead) and head_name(head) == "convlstm"
    assert head.input_level == "residue" and head.output_level == "protein"


def test_compare_runs_the_convlstm_head(tmp_path):
    import json
    from pathlib import Path

    from seqvec.cli.main import main

    tasks = Path(__file__).resolve().parent / "data" / "tasks"
    options = [f"convlstm:{k}={v}" for k, v in {**SMALL, "kernel_sizes": "[1,3]"}.items()]
    assert main(["compare", "-q", "--encoders", "onehot", "--heads", "convlstm", "--tasks", "localization,membrane",
                 "--train", str(tasks / "deeploc_pool_small.fasta"), "--test", str(tasks / "deeploc_test_small.fasta"),
                 *(a for o in options for a in ("--head-option", o)), "--epochs", "1", "--bootstrap", "20",
                 "-o", str(tmp_path / "cmp")]) == 0
    runs = json.loads((tmp_path / "cmp" / "compare.json").read_text())["runs"]
    assert [(r["encoder"], r["head"]) for r in runs] == [("onehot", "convlstm")]
    assert set(runs[0]["tasks"]) == {"localization", "membrane"}


@pytest.mark.parametrize("options", [{"pooling": "mean"}, {"pooling": "last"},
                                     {"convolutions": "false", "pooling": "last"}, {"convolutions": False}])
def test_ablations_are_padding_invariant_and_rebuild_from_hparams(options):
    """The paper's ablations: no attention (mean or last states), no convolutions (BiLSTM alone)."""
    model = small_model(**options)
    x, mask = batch([12, 3, 8])
    x[~mask] = 1e3
    together = model(x, mask)
    for i, n in enumerate([12, 3, 8]):
        alone = model(x[i:i + 1, :n], mask[i:i + 1, :n])
        assert torch.allclose(alone["localization"], together["localization"][i:i + 1], atol=1e-5)
    rebuilt = ConvLSTMHead(6, OUTPUTS, **model.hparams)
    assert set(rebuilt.state_dict()) == set(model.state_dict())
    if model.hparams["convolutions"] is False:
        assert not any(k.startswith(("convs", "conv2")) for k in model.state_dict())
        with pytest.raises(ValueError, match="no convolutions"):
            model.first_layer_filters()
    if model.hparams["pooling"] != "attention":
        assert not any(k.startswith("align") for k in model.state_dict())


def test_last_pooling_reads_the_last_forward_and_first_backward_state():
    model = small_model(pooling="last")
    x, mask = batch([7, 4])
    with pytest.raises(ValueError, match="no attention"):
        model(x, mask, return_attention=True)
    y = x.clone()
    y[1, 2] += 5.0  # a change inside the short protein changes its prediction, not the other's
    a, b = model(x, mask)["localization"], model(y, mask)["localization"]
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])


@pytest.mark.parametrize("bad, message", [({"pooling": "max"}, "pooling"), ({"convolutions": "maybe"}, "true or false")])
def test_bad_ablation_options(bad, message):
    with pytest.raises(ValueError, match=message):
        ConvLSTMHead(6, OUTPUTS, **bad)

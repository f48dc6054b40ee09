"""The conv + BiLSTM + attention localization network (seqvec.classifiers.convlstm)."""
import pytest
import torch

from seqvec.classifiers.convlstm import ConvLSTM, ConvLSTMConfig, terminal_index



@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = dict(n_filters=4, conv2_filters=8, lstm_hidden=8, attention_hidden=8, dense_hidden=8)


def small_model(**kw) -> ConvLSTM:
    torch.manual_seed(0)
    return ConvLSTM(ConvLSTMConfig(input_dim=6, **{**SMALL, **kw})).eval()


def batch(lengths, dim=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), dim, generator=g)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    return x, mask


def test_output_shapes_and_attention_is_a_masked_distribution():
    model = small_model()
    x, mask = batch([9, 4, 7])
    out = model(x, mask)
    assert out["logits"].shape == (3, 10)
    assert out["membrane_logits"].shape == (3, 2)
    assert out["representation"].shape == (3, 16)
    att = out["attention"]
    assert att.shape == (3, 9)
    assert torch.allclose(att.sum(1), torch.ones(3), atol=1e-6)
    assert torch.all(att[~mask] == 0)
    assert torch.all(att[mask] > 0)


def test_no_membrane_output_when_n_membrane_is_zero():
    out = small_model(n_classes=11, n_membrane=0)(*batch([5]))
    assert "membrane_logits" not in out and out["logits"].shape == (1, 11)


def test_a_protein_alone_equals_the_same_protein_in_a_padded_batch():
    model = small_model()
    x, mask = batch([12, 3, 8])
    x[~mask] = 1e3                                  # garbage in the padding must not matter
    together = model(x, mask)
    for i, n in enumerate([12, 3, 8]):
        alone = model(x[i:i + 1, :n], mask[i:i + 1, :n])
        assert torch.allclose(alone["logits"], together["logits"][i:i + 1], atol=1e-5)
        assert torch.allclose(alone["attention"], together["attention"][i:i + 1, :n], atol=1e-6)


def test_terminal_index_keeps_n_and_c_termini():
    mask = torch.arange(9)[None, :] < torch.tensor([9, 3, 6])[:, None]
    index, kept = terminal_index(mask, 5)
    assert index.tolist() == [[0, 1, 2, 7, 8], [0, 1, 2, 3, 4], [0, 1, 2, 4, 5]]
    assert kept.tolist() == [[True] * 5, [True] * 3 + [False] * 2, [True] * 5]


def test_long_proteins_ignore_their_middle_but_not_their_termini():
    model = small_model(max_length=10)
    x, mask = batch([30])
    out = model(x, mask)
    att = out["attention"][0]
    assert torch.all(att[5:25] == 0) and torch.all(att[:5] > 0) and torch.all(att[25:] > 0)
    middle = x.clone()
    middle[0, 10:20] = 5.0
    assert torch.allclose(model(middle, mask)["logits"], out["logits"])
    n_term = x.clone()
    n_term[0, 0] = 5.0
    assert not torch.allclose(model(n_term, mask)["logits"], out["logits"])


def test_input_position_dropout_only_in_training():
    model = small_model(input_dropout=0.5)
    x, mask = batch([20, 20])
    model.eval()
    assert torch.equal(model(x, mask)["logits"], model(x, mask)["logits"])
    model.train()
    torch.manual_seed(3)
    a = model(x, mask)["logits"]
    assert not torch.allclose(a, model(x, mask)["logits"])


@pytest.mark.parametrize("bad, message", [
    (lambda x, m: (x[..., :5], m), "must be"),
    (lambda x, m: (x, m.float()), "bool"),
    (lambda x, m: (x, m.flip(1)), "padding after"),
    (lambda x, m: (x, m & torch.tensor([[True], [False]])), "empty protein"),
])
def test_bad_inputs_raise_with_the_shape_named(bad, message):
    x, mask = batch([4, 3])
    with pytest.raises(ValueError, match=message):
        small_model()(*bad(x, mask))


def test_config_round_trip_and_validation():
    cfg = ConvLSTMConfig(input_dim=21, kernel_sizes=(3, 5))
    assert ConvLSTMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        ConvLSTMConfig.from_dict({**cfg.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMConfig(input_dim=21, kernel_sizes=(2,))
    with pytest.raises(ValueError, match="dropout"):
        ConvLSTMConfig(input_dim=21, dropout=1.0)


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
    model = ConvLSTM(ConvLSTMConfig(input_dim=6, n_classes=2, n_membrane=0, input_dropout=0.0,
                                    dropout=0.0, **SMALL))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x, mask)["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    accuracy = (model(x, mask)["logits"].argmax(1) == y).float().mean()
    assert accuracy > 0.95

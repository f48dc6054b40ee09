"""Heads: shapes, the registry, input checks, and padding invariance for every registered head."""
import pytest
import torch

from seqvec.classifiers.heads.light_attention import LightAttentionHead
from seqvec.classifiers.heads.registry import HEADS, head_class, head_name

pytestmark = pytest.mark.usefixtures("one_thread")


D = 6
LENGTHS = [13, 4, 9, 1]


def outputs_for(cls):
    return {"ss3": 3, "disorder": 2} if cls.output_level == "residue" else {"localization": 10, "membrane": 2}


def make(name):
    torch.manual_seed(0)
    cls = HEADS[name]
    return head_class(name)(D, outputs_for(cls)).eval()


def padded(lengths, garbage=1e3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), D, generator=g)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    x[~mask] = garbage  # whatever sits in the padding must not matter
    return x, mask


@pytest.mark.parametrize("name", list(HEADS))
def test_shapes_and_registry_name(name):
    head = make(name)
    assert head_name(head) == name
    x, mask = padded(LENGTHS)
    if head.input_level == "protein":
        out = head(x[:, 0], None)
    else:
        out = head(x, mask)
    assert set(out) == set(head.outputs)
    for task, logits in out.items():
        if head.output_level == "residue":
            assert logits.shape == (len(LENGTHS), max(LENGTHS), head.outputs[task])
        else:
            assert logits.shape == (len(LENGTHS), head.outputs[task])
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(HEADS))
def test_a_protein_alone_equals_the_same_protein_in_a_padded_batch(name):
    head = make(name)
    x, mask = padded(LENGTHS)
    with torch.no_grad():
        if head.input_level == "protein":
            together = head(x[:, 0], None)
            alone = [head(x[i:i + 1, 0], None) for i in range(len(LENGTHS))]
        else:
            together = head(x, mask)
            alone = [head(x[i:i + 1, :n], mask[i:i + 1, :n]) for i, n in enumerate(LENGTHS)]
    for i, n in enumerate(LENGTHS):
        for task in head.outputs:
            a, b = alone[i][task][0], together[task][i]
            if head.output_level == "residue":
                b = b[:n]
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_light_attention_masks_softmax_and_max():
    head = make("la")
    x, mask = padded([7, 3], garbage=0.0)
    with torch.no_grad():
        pooled, weights = head.pool(x, mask)
        assert torch.all(weights[1, :, 3:] == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, D))
        # max pooling sees only real residues: a huge value in the padding changes nothing
        x2 = x.clone()
        x2[1, 3:] = 1e4
        torch.testing.assert_close(head.pool(x2, mask)[0], pooled)


def test_cnn_keeps_positions_local():
    """Changing residue 0 of a long protein cannot reach residue 12 (two kernel-7 convs: reach 6)."""
    head = make("cnn")
    x, mask = padded([20], garbage=0.0)
    x2 = x.clone()
    x2[0, 0] += 5.0
    with torch.no_grad():
        a, b = head(x, mask)["ss3"], head(x2, mask)["ss3"]
    torch.testing.assert_close(a[0, 7:], b[0, 7:])
    assert not torch.allclose(a[0, :7], b[0, :7])


def test_input_checks():
    with pytest.raises(ValueError, match=r"\[B, L, 6\]"):
        make("cnn")(torch.zeros(2, 5, 7), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask shape"):
        make("la")(torch.zeros(2, 5, D), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\[B, 6\]"):
        make("fnn")(torch.zeros(2, 5, D))
    with pytest.raises(ValueError, match="odd"):
        LightAttentionHead(D, {"localization": 10}, kernel_size=4)
    with pytest.raises(ValueError, match=">= 1 output"):
        head_class("fnn")(D, {})


def test_hparams_rebuild_the_same_architecture():
    head = head_class("la")(D, {"localization": 10}, hidden_dim=16, kernel_size=5)
    again = type(head)(head.input_dim, head.outputs, **head.hparams)
    assert {k: v.shape for k, v in head.state_dict().items()} == {k: v.shape for k, v in again.state_dict().items()}
    assert head.hparams["hidden_dim"] == 16 and head.values.kernel_size == (5,)

"""The language model against allennlp's own outputs, and the weight format."""
import copy
import io
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from Bio import SeqIO

from seqvec.errors import WeightFileError
from seqvec.lm.allennlp_io import load_allennlp, load_weights, save_allennlp
from seqvec.lm.config import PRESETS, SeqVecConfig
from seqvec.lm.model import SeqVecLM
from seqvec.lm.tokens import encode, token_char_ids


def _records(data_dir):
    return [(r.id, str(r.seq).upper()) for r in SeqIO.parse(data_dir / "test.fasta", "fasta")]


def _key(record_id):
    return record_id.replace("%", "%25").replace("/", "%2F")


def test_token_char_ids_match_allennlp():
    # residue M (byte 77): [BOW, M, EOW, PAD...] + 1 (reference README, elmo_indexer.py)
    assert token_char_ids(77) == [259, 78, 260] + [261] * 47
    assert token_char_ids(256)[:4] == [259, 257, 260, 261]  # <S>
    assert token_char_ids(257)[:4] == [259, 258, 260, 261]  # </S>
    assert encode("MK").tolist() == [256, 77, 75, 257]


@pytest.mark.parametrize("batched", [False, True])
def test_fresh_state_matches_allennlp(tiny_model, data_dir, batched):
    records = _records(data_dir)
    if batched:
        outputs = tiny_model.embed_batch([s for _, s in records])
    else:
        outputs = [torch.from_numpy(tiny_model.embed(s)) for _, s in records]
    with h5py.File(data_dir / "tiny_fresh.h5") as ref:
        for (rid, _), out in zip(records, outputs):
            expected = ref["per_residue"][_key(rid)][...]
            assert out.shape == expected.shape
            np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, rtol=0)
            np.testing.assert_allclose(out.numpy().sum(0).mean(0), ref["per_protein"][_key(rid)][...], atol=1e-5)


def test_carried_state_matches_allennlp_readme_recipe(tiny_model, data_dir):
    state = None
    with h5py.File(data_dir / "tiny_readme.h5") as ref:
        for rid, seq in _records(data_dir):
            out, state = tiny_model.embed_with_state(seq, state)
            np.testing.assert_allclose(out.numpy(), ref["per_residue"][_key(rid)][...], atol=1e-5, rtol=0)


def test_stateless_and_batch_invariant(tiny_model, data_dir):
    seqs = [s for _, s in _records(data_dir)]
    target = seqs[8]  # the 142-residue haemoglobin
    alone = tiny_model.embed(target)
    again = tiny_model.embed(target)
    in_batch = tiny_model.embed_batch([seqs[10], target, seqs[0], seqs[4]])[1].numpy()
    np.testing.assert_array_equal(alone, again)  # no state carried between calls
    np.testing.assert_allclose(in_batch, alone, atol=5e-6, rtol=0)  # BLAS order only


def test_weights_round_trip_bit_exact(tiny_model_dir, tmp_path):
    model = load_allennlp(tiny_model_dir / "options.json", tiny_model_dir / "weights.hdf5")
    save_allennlp(model, tmp_path)
    with h5py.File(tiny_model_dir / "weights.hdf5") as a, h5py.File(tmp_path / "weights.hdf5") as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert len(names) == 5 * 2 + 2 * 4 + 2 + 1 + 2 * 2 * 3  # 33 datasets for the tiny shape
        for n in names:
            assert a[n].dtype == b[n].dtype and a[n].shape == b[n].shape
            np.testing.assert_array_equal(a[n][...], b[n][...])
    assert SeqVecConfig.from_json(tmp_path / "options.json") == model.config


def test_options_round_trip_keeps_training_keys(tmp_path):
    options = {"char_cnn": {"activation": "relu", "embedding": {"dim": 4}, "filters": [[1, 4]],
                            "max_characters_per_token": 50, "n_characters": 262, "n_highway": 1},
               "lstm": {"cell_clip": 3, "dim": 8, "n_layers": 2, "proj_clip": 3, "projection_dim": 4,
                        "use_skip_connections": True},
               "n_train_tokens": 123, "dropout": 0.1, "bidirectional": True}
    assert SeqVecConfig.from_allennlp_options(options).to_allennlp_options() == options


def _corrupt(src: Path, dst: Path, edit) -> Path:
    with h5py.File(src) as a, h5py.File(dst, "w") as b:
        for name in ("char_embed", "CNN", "CNN_high_0", "CNN_high_1", "CNN_proj", "RNN_0", "RNN_1"):
            a.copy(name, b)
        edit(b)
    return dst


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.__delitem__("CNN_proj/b_proj"), "'CNN_proj/b_proj' is missing"),
    (lambda f: f.create_dataset("extra/thing", data=np.zeros(3)), "not used by this model: ['extra/thing']"),
    (lambda f: (f.__delitem__("CNN/b_cnn_2"), f.create_dataset("CNN/b_cnn_2", data=np.zeros(5, "f4"))),
     "'CNN/b_cnn_2' gives char_cnn.convs.2.bias the shape (5,), the options expect (16,)"),
])
def test_loader_fails_loudly(tiny_model_dir, tmp_path, edit, message):
    bad = _corrupt(tiny_model_dir / "weights.hdf5", tmp_path / "bad.hdf5", edit)
    model = SeqVecLM(SeqVecConfig.from_json(tiny_model_dir / "options.json"))
    with pytest.raises(WeightFileError) as err:
        load_weights(model, bad)
    assert message in str(err.value)


def test_wrong_options_for_weights(tiny_model_dir):
    model = SeqVecLM(PRESETS["mini"])
    with pytest.raises(WeightFileError, match="the options expect"):
        load_weights(model, tiny_model_dir / "weights.hdf5")


def test_random_init_is_not_reference(tiny_model_dir, data_dir):
    # guards the parity tests: an unloaded model must not pass them by accident
    model = SeqVecLM(SeqVecConfig.from_json(tiny_model_dir / "options.json"))
    with h5py.File(data_dir / "tiny_fresh.h5") as ref:
        assert np.abs(model.embed("PROTEIN") - ref["per_residue"]["protein"][...]).max() > 1e-2


REFERENCE = os.environ.get("SEQVEC_REFERENCE_DIR")
REFERENCE_WEIGHTS = os.environ.get("SEQVEC_REFERENCE_WEIGHTS")


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.skipif(not (REFERENCE and REFERENCE_WEIGHTS), reason="set SEQVEC_REFERENCE_DIR and "
                    "SEQVEC_REFERENCE_WEIGHTS (make_random_weights.py seqvec_options.json W.hdf5 --seed 1)")
def test_full_size_seqvec_matches_allennlp():
    ref_dir = Path(REFERENCE)
    model = load_allennlp(ref_dir / "seqvec_options.json", REFERENCE_WEIGHTS)
    records = [(r.id, str(r.seq).upper()) for r in SeqIO.parse(ref_dir / "test.fasta", "fasta")]
    outputs = model.embed_batch([s for _, s in records])
    worst = 0.0
    with h5py.File(ref_dir / "seqvec_fresh.h5") as ref:
        for (rid, _), out in zip(records, outputs):
            expected = ref["per_residue"][_key(rid)][...]
            assert out.shape == expected.shape and expected.shape[2] == 1024
            np.testing.assert_allclose(out.numpy(), expected, atol=1e-4, rtol=1e-4)
            np.testing.assert_allclose(out.numpy().sum(0).mean(0), ref["per_protein"][_key(rid)][...], atol=1e-4)
            worst = max(worst, float(np.abs(out.numpy() - expected).max()))
    print(f"full-size worst |diff| {worst:.2e}")


def test_bf16_precision_stays_close_and_float32_stays_exact(tiny_model_dir, data_dir):
    model = load_allennlp(tiny_model_dir / "options.json", tiny_model_dir / "weights.hdf5")
    seqs = [s for _, s in _records(data_dir)]
    exact = model.embed_batch(seqs)
    low = model.set_precision("bf16").embed_batch(seqs)
    for a, b in zip(exact, low):
        pa, pb = a.sum(0).mean(0), b.sum(0).mean(0)
        assert torch.nn.functional.cosine_similarity(pa, pb, dim=0) > 0.999
        assert 0 < (a - b).abs().max() < 0.1  # really computed in bfloat16, and close
    clone = copy.deepcopy(model)  # the packed bf16 weights are a cache, not copied
    torch.save(model, io.BytesIO())
    for a, b in zip(low, clone.embed_batch(seqs)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    back = model.set_precision("float32").embed_batch(seqs)
    for a, b in zip(exact, back):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(ValueError, match="precision"):
        model.set_precision("int8")


@pytest.mark.parametrize("clip", [3.0, 0.0])
def test_inference_cell_step_matches_the_autograd_step(clip):
    """Inference computes the gates' tanh as 2 sigmoid(2x) - 1, in place; training keeps torch.tanh."""
    from seqvec.lm.bilstm import ProjectedLSTM
    from seqvec.lm.kernels import MatrixProduct

    torch.manual_seed(0)
    layer = ProjectedLSTM(8, 32, 16, clip, clip)
    w_rec, w_proj = MatrixProduct(layer.recurrent_weight), MatrixProduct(layer.projection_weight)
    xin, h, c = torch.randn(5, 128) * 4, torch.randn(5, 16), torch.randn(5, 32) * 2
    xin_before = xin.clone()
    h_grad, c_grad = layer._step(xin, h, c, w_rec, w_proj)
    with torch.no_grad():
        h_fast, c_fast = layer._step(xin, h, c, w_rec, w_proj)
    assert torch.equal(xin, xin_before)  # the in-place work stays in the product's own output
    torch.testing.assert_close(c_fast, c_grad.detach(), atol=1e-6, rtol=0)
    torch.testing.assert_close(h_fast, h_grad.detach(), atol=1e-6, rtol=0)
    assert float(c_grad.detach().abs().max()) > 1.0  # the gates were driven away from 0, where both forms agree trivially

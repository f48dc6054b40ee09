"""Head training under bfloat16 autocast (FitConfig.precision = "bf16")."""
import logging

import numpy as np
import pytest
import torch

from seqvec.classifiers.heads.registry import HEADS, head_class
from seqvec.classifiers.labels.files import read_labels
from seqvec.classifiers.labels.tasks import get_tasks
from seqvec.classifiers.training.data import build_dataset
from seqvec.classifiers.training.train import FitConfig, fit
from seqvec.embeddings.encoders import onehot_encoder
from seqvec.errors import SeqVecError

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {"convlstm": dict(n_filters=4, conv2_filters=8, lstm_hidden=8, attention_hidden=8, dense_hidden=8)}


def _dataset(data_dir, name):
    residue = HEADS[name].output_level == "residue"
    labels = read_labels([data_dir / "tasks" / ("CB513_small.csv" if residue else "deeploc_pool_small.fasta")])
    encoder = onehot_encoder()
    arrays = {rid: encoder.embed(seq)[0] for rid, seq in labels.sequences.items()}
    tasks = get_tasks("ss3" if residue else "localization,membrane")
    return build_dataset(labels, arrays, tasks, HEADS[name].input_level), tasks


# the convlstm ablation without convolutions hands its float32 input to the LSTM itself
NO_CONV = dict(SMALL["convlstm"], convolutions=False, pooling="last")


@pytest.mark.parametrize("name, options", [("convlstm", SMALL["convlstm"]), ("convlstm", NO_CONV), ("cnn", {}),
                                           ("la", {})], ids=["convlstm", "convlstm-no-conv", "cnn", "la"])
def test_bf16_training_learns_and_keeps_float32_weights(data_dir, name, options):
    train, tasks = _dataset(data_dir, name)
    final = {}
    for precision in ("float32", "bf16"):
        torch.manual_seed(0)
        head = head_class(name)(train.input_dim, {t: len(s.classes) for t, s in tasks.items()}, **options)
        result = fit(head, train, None, FitConfig(epochs=6, lr=1e-2, batch_size=16, precision=precision))
        losses = [row["train_loss"] for row in result.history]
        assert np.mean(losses[-2:]) < losses[0]  # it learns
        assert all(p.dtype == torch.float32 for p in head.parameters())
        final[precision] = torch.cat([p.detach().flatten() for p in head.parameters()])
    assert not torch.equal(final["float32"], final["bf16"])  # really computed in bfloat16


def test_unknown_precision_is_an_error(data_dir):
    train, tasks = _dataset(data_dir, "cnn")
    head = head_class("cnn")(train.input_dim, {t: len(s.classes) for t, s in tasks.items()})
    with pytest.raises(SeqVecError, match="precision"):
        fit(head, train, None, FitConfig(epochs=1, precision="fp8"))  # type: ignore[arg-type]


@pytest.mark.parametrize("flags, warned", [({"avx2", "fma"}, True), ({"avx2", "avx512f", "avx512_bf16"}, False)])
def test_bf16_training_warns_where_the_cpu_has_no_bfloat16(data_dir, monkeypatch, caplog, seqvec_logs_to_caplog,
                                                           flags, warned):
    from seqvec.lm import host, kernels

    monkeypatch.setattr(kernels, "cpu_info", lambda: host.CpuInfo("Some CPU", "x86_64", frozenset(flags), "AVX2", 2))
    train, tasks = _dataset(data_dir, "cnn")
    head = head_class("cnn")(train.input_dim, {t: len(s.classes) for t, s in tasks.items()})
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        fit(head, train, None, FitConfig(epochs=1, precision="bf16"))
    assert ("Some CPU" in caplog.text and "no bfloat16 instructions" in caplog.text) is warned

"""The training loop and checkpoints, on one-hot encodings of small real slices."""
import json

import numpy as np
import pytest
import torch

from seqvec.classifiers.heads.checkpoint import load_head, save_head
from seqvec.classifiers.heads.registry import HEADS, head_class
from seqvec.classifiers.labels.files import read_labels
from seqvec.classifiers.labels.tasks import IGNORE, get_tasks
from seqvec.classifiers.training.data import Example, TaskDataset, build_dataset
from seqvec.classifiers.training.train import (
    FitConfig,
    balanced_class_weights,
    fit,
    predict_dataset,
    task_losses,
    validate,
)
from seqvec.embeddings.encoders import onehot_encoder
from seqvec.errors import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"convlstm": dict(n_filters=4, conv2_filters=8, lstm_hidden=8, attention_hidden=8, dense_hidden=8)}


def onehot_arrays(labels):
    encoder = onehot_encoder()
    return {rid: encoder.embed(seq)[0] for rid, seq in labels.sequences.items()}


@pytest.fixture(scope="module")
def deeploc(data_dir):
    labels = read_labels([data_dir / "tasks" / "deeploc_pool_small.fasta"])
    return labels, onehot_arrays(labels)


@pytest.fixture(scope="module")
def cb513(data_dir):
    labels = read_labels([data_dir / "tasks" / "CB513_small.csv"])
    return labels, onehot_arrays(labels)


def dataset_for(name, deeploc, cb513, chezod=None):
    cls = HEADS[name]
    labels, arrays = cb513 if cls.output_level == "residue" else deeploc
    tasks = get_tasks("ss3,ss8,disorder" if cls.output_level == "residue" else "localization,membrane")
    if cls.input_level == "protein":
        arrays = {k: v.mean(0) for k, v in arrays.items()}
    return build_dataset(labels, arrays, tasks, cls.input_level), tasks


@pytest.mark.parametrize("name", list(HEADS))
def test_each_head_learns_on_a_real_slice(name, deeploc, cb513):
    train, tasks = dataset_for(name, deeploc, cb513)
    torch.manual_seed(0)
    head = head_class(name)(train.input_dim, {t: len(s.classes) for t, s in tasks.items()}, **SMALL.get(name, {}))
    result = fit(head, train, None, FitConfig(epochs=8, lr=1e-2, batch_size=16))
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 8 and np.mean(losses[-2:]) < losses[0]
    probs = predict_dataset(head, train)
    assert set(probs) == set(tasks)
    for task, spec in tasks.items():
        for ex, p in zip(train.examples, probs[task]):
            expected = (ex.length, len(spec.classes)) if spec.level == "residue" else (len(spec.classes),)
            assert p.shape == expected
            np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)


def test_disorder_from_chezod_trains(data_dir):
    labels = read_labels([data_dir / "tasks" / "CheZOD_small_sequences.fasta"])
    ds = build_dataset(labels, onehot_arrays(labels), get_tasks("disorder"), "residue")
    head = head_class("cnn")(ds.input_dim, {"disorder": 2})
    result = fit(head, ds, ds, FitConfig(epochs=6, lr=1e-2, patience=10))
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]


def test_fit_is_seeded(cb513):
    labels, arrays = cb513
    ds = build_dataset(labels, arrays, get_tasks("ss3"), "residue")
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        head = head_class("cnn")(ds.input_dim, {"ss3": 3})
        fit(head, ds, None, FitConfig(epochs=2, batch_size=4, seed=7))
        states.append(head.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key])


def test_early_stopping_and_best_weights(cb513, tmp_path):
    labels, arrays = cb513
    tasks = get_tasks("ss3")
    ds = build_dataset(labels, arrays, tasks, "residue")
    train, val = ds.subset(ds.ids[:14]), ds.subset(ds.ids[14:])
    head = head_class("cnn")(ds.input_dim, {"ss3": 3})
    frozen = fit(head, train, val, FitConfig(epochs=20, lr=1e-30, patience=2))  # steps below float32 resolution: nothing can improve
    assert frozen.best_epoch == 1 and len(frozen.history) == 3
    config = FitConfig(epochs=12, lr=3e-2, patience=3, batch_size=4)
    result = fit(head, train, val, config, run_dir=tmp_path)
    best = result.history[result.best_epoch - 1]
    assert best["val_loss"] == min(row["val_loss"] for row in result.history)
    assert validate(head, val, config)["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,val_loss,val_accuracy,val_accuracy_ss3")
    assert len(rows) == len(result.history) + 1
    assert json.loads((tmp_path / "history.json").read_text()) == result.history


def test_losses_skip_ignored_targets_and_weight_classes():
    logits = {"ss3": torch.randn(2, 4, 3)}
    targets = {"ss3": torch.tensor([[0, 1, IGNORE, IGNORE], [2, IGNORE, IGNORE, IGNORE]])}
    total, n = task_losses(logits, targets)["ss3"]
    scored = torch.nn.functional.cross_entropy(logits["ss3"][[0, 0, 1], [0, 1, 0]], torch.tensor([0, 1, 2]),
                                               reduction="sum")
    assert n == 3 and total.item() == pytest.approx(scored.item())
    ds = TaskDataset([Example("a", np.zeros(2), {"membrane": 0}), Example("b", np.zeros(2), {"membrane": 0}),
                      Example("c", np.zeros(2), {"membrane": 0}), Example("d", np.zeros(2), {"membrane": 1}),
                      Example("e", np.zeros(2), {})], get_tasks("membrane"), "protein")
    weights = balanced_class_weights(ds)["membrane"]  # n / (C * n_c) = 4 / (2 * 3), 4 / (2 * 1)
    torch.testing.assert_close(weights, torch.tensor([4 / 6, 2.0]))


def test_checkpoint_round_trip_and_errors(tmp_path):
    tasks = get_tasks("localization,membrane")
    head = head_class("la")(40, {"localization": 10, "membrane": 2}, hidden_dim=8).eval()
    identity = {"encoder": "onehot", "model": "onehot", "model_sha256": "ab" * 32, "layers": "sum"}
    save_head(tmp_path / "h", head, tasks, embeddings=identity, training={"best_epoch": 3})
    loaded = load_head(tmp_path / "h")
    assert loaded.name == "la" and list(loaded.tasks) == list(tasks) and loaded.embeddings == identity
    assert loaded.head.hparams["hidden_dim"] == 8 and loaded.training["best_epoch"] == 3
    x, mask = torch.randn(3, 7, 40), torch.ones(3, 7, dtype=torch.bool)
    with torch.no_grad():
        for task in tasks:
            torch.testing.assert_close(loaded.head(x, mask)[task], head(x, mask)[task])
    state = torch.load(tmp_path / "h" / "weights.pt", weights_only=True)  # plain tensors, no pickled objects
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    save_head(tmp_path / "half", head, tasks, half=True)
    assert (tmp_path / "half" / "weights.pt").stat().st_size < 0.7 * (tmp_path / "h" / "weights.pt").stat().st_size
    assert load_head(tmp_path / "half").head.values.weight.dtype == torch.float32

    config = json.loads((tmp_path / "h" / "config.json").read_text())
    (tmp_path / "h" / "config.json").write_text(json.dumps({**config, "input_dim": 41}))
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_head(tmp_path / "h")
    (tmp_path / "h" / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_head(tmp_path / "h")
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_head(tmp_path)
    (tmp_path / "h" / "config.json").write_text(json.dumps(config))
    (tmp_path / "h" / "weights.pt").unlink()
    with pytest.raises(CheckpointError, match="weights.pt is missing"):
        load_head(tmp_path / "h")


def test_save_head_interrupted_leaves_no_head_under_an_old_config(tmp_path, monkeypatch):
    """A crash while the weights are written must not pair new weights with an old config,
    nor leave a truncated weights file: the folder is simply not a head until a save completes."""
    tasks = get_tasks("localization")
    old = head_class("la")(40, {"localization": 10}, hidden_dim=8)
    save_head(tmp_path / "h", old, tasks, training={"best_epoch": 1})
    old_bytes = (tmp_path / "h" / "weights.pt").read_bytes()

    def crash(state, handle):
        handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_head(tmp_path / "h", head_class("la")(40, {"localization": 10}, hidden_dim=8), tasks,
                  training={"best_epoch": 2})
    assert not (tmp_path / "h" / "config.json").exists()
    assert (tmp_path / "h" / "weights.pt").read_bytes() == old_bytes  # never a partial file
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == ["weights.pt"]  # no temporary left
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_head(tmp_path / "h")

"""fit() checkpoints every epoch and a resumed run ends bit-identical to an uninterrupted one."""
import pytest
import torch

from seqvec.classifiers.heads.registry import head_class
from seqvec.classifiers.labels.files import read_labels
from seqvec.classifiers.labels.tasks import get_tasks
from seqvec.classifiers.training import train as train_module
from seqvec.classifiers.training.data import build_dataset
from seqvec.classifiers.training.resume import state_path
from seqvec.classifiers.training.train import FitConfig, fit, seed_everything
from seqvec.embeddings.encoders import onehot_encoder
from seqvec.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = dict(n_filters=4, conv2_filters=8, lstm_hidden=8, attention_hidden=8, dense_hidden=8)


@pytest.fixture(scope="module")
def datasets(data_dir):
    labels = read_labels([data_dir / "tasks" / "deeploc_pool_small.fasta"])
    encoder = onehot_encoder()
    arrays = {rid: encoder.embed(seq)[0] for rid, seq in labels.sequences.items()}
    tasks = get_tasks("localization")
    data = build_dataset(labels, arrays, tasks, "residue")
    ids = [ex.id for ex in data.examples]
    return data.subset(ids[10:]), data.subset(ids[:10]), tasks


def _head(train, tasks):
    seed_everything(0)
    return head_class("convlstm")(train.input_dim, {t: len(s.classes) for t, s in tasks.items()}, **SMALL)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_interrupted_run_resumes_bit_identically(datasets, tmp_path, monkeypatch):
    train, val, tasks = datasets
    config = FitConfig(epochs=5, lr=1e-2, batch_size=8, patience=10, seed=3)
    whole = _head(train, tasks)
    reference = fit(whole, train, val, config, state_file=tmp_path / "a" / "state.pt")

    real_epoch = train_module._train_epoch

    def crash_in_epoch_3(*args):  # (model, train, config, optimizer, weights, rng, device, epoch)
        if args[7] == 3:
            raise KeyboardInterrupt
        return real_epoch(*args)

    monkeypatch.setattr(train_module, "_train_epoch", crash_in_epoch_3)
    state = tmp_path / "b" / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(_head(train, tasks), train, val, config, state_file=state, resume=True)
    assert torch.load(state, weights_only=True)["epoch"] == 2  # the last finished epoch, whole
    monkeypatch.setattr(train_module, "_train_epoch", real_epoch)

    torch.manual_seed(123)  # a resumed run must not depend on the state of the new process
    resumed_head = head_class("convlstm")(train.input_dim, {t: len(s.classes) for t, s in tasks.items()}, **SMALL)
    resumed = fit(resumed_head, train, val, config, state_file=state, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4, 5]
    assert resumed.best_epoch == reference.best_epoch
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]
    expected, got = _weights(whole), _weights(resumed_head)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_finished_run_resumes_to_the_same_head_and_settings_are_checked(datasets, tmp_path):
    train, val, tasks = datasets
    config = FitConfig(epochs=3, lr=1e-2, batch_size=8, seed=1)
    first = _head(train, tasks)
    fit(first, train, val, config, state_file=state_path(tmp_path))
    again = _head(train, tasks)
    torch.nn.init.zeros_(again.dense.weight)
    result = fit(again, train, val, config, state_file=state_path(tmp_path), resume=True)
    assert len(result.history) == 3
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    with pytest.raises(UsageError, match="lr 0.01 there, 0.001 now"):
        fit(_head(train, tasks), train, val, FitConfig(epochs=3, lr=1e-3, batch_size=8, seed=1),
            state_file=state_path(tmp_path), resume=True)
    with pytest.raises(UsageError, match="state file"):
        fit(_head(train, tasks), train, val, config, resume=True)

"""Language-model training: objective, export, resume after SIGKILL, two processes."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from seqvec.lm.bilm import BiLM
from seqvec.lm.config import PRESETS, SeqVecConfig, TrainSettings
from seqvec.lm.pretrained import load_model
from seqvec.lm.tokens import encode_batch
from seqvec.lm.training.train import load_checkpoint, train_lm

SMALL = {"char_cnn": {"activation": "relu", "embedding": {"dim": 4}, "filters": [[1, 8], [2, 8]],
                      "max_characters_per_token": 50, "n_characters": 262, "n_highway": 1},
         "lstm": {"cell_clip": 0, "dim": 32, "n_layers": 2, "proj_clip": 0, "projection_dim": 16,
                  "use_skip_connections": True}}
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def small_options(tmp_path) -> Path:
    path = tmp_path / "small_options.json"
    path.write_text(json.dumps(SMALL))
    return path


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def _cli(corpus, out, options, *extra) -> list[str]:
    return ["train-lm", str(corpus), "-o", str(out), "--config", str(options), "--window", "64",
            "--max-tokens", "512", "--warmup-steps", "2", "--val-fraction", "0.1", "--threads", "1", "-q", *extra]


@pytest.mark.parametrize("preset", ["mini", "tiny"])
def test_training_model_exports_exactly(preset):
    """Both LSTM formulations (nn.LSTM unclipped, own loop clipped) map onto SeqVecLM exactly."""
    torch.manual_seed(0)
    bilm = BiLM(PRESETS[preset], dropout=0.0)
    for p in bilm.parameters():
        torch.nn.init.normal_(p, std=0.1)  # larger random weights make the unclipped LSTM chaotic
    types, lengths = encode_batch(["MKTAYIAKQRQISFVKSHFSRQ", "SEQWENCE", "M"])
    with torch.no_grad():
        x = bilm.char_cnn.token_table()[types]
        out = bilm.lstm(x, lengths)
        train_layers = out if isinstance(out, list) else out[0]
        lm_layers, _ = bilm.to_seqvec_lm()(types, lengths)
    for i, layer in enumerate(train_layers):
        for b, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(layer[b, :n], lm_layers[i + 1][b, :n], atol=1e-5, rtol=0)


def test_loss_falls_and_export_reloads_identically(data_dir, small_options, tmp_path):
    torch.set_num_threads(1)
    config = SeqVecConfig.from_json(small_options)
    settings = TrainSettings(epochs=4, window=64, max_tokens=512, lr=1e-2, warmup_steps=2, val_fraction=0.1,
                             checkpoint_every=1000, log_every=1, dropout=0.0)
    out = train_lm(data_dir / "lm_corpus.fasta", tmp_path / "run", config, settings, progress=False)
    with open(tmp_path / "run" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    train = [float(r["train_loss"]) for r in rows if r["train_loss"]]
    val = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    assert np.mean(train[-5:]) < np.mean(train[:5]) - 0.1
    assert val[-1] < val[0]
    from seqvec.viz.curves import plot_lm_curve, read_lm_log

    curve = plot_lm_curve(read_lm_log(tmp_path / "run"), tmp_path / "run" / "learning_curve.png")
    assert curve.stat().st_size > 1000
    assert json.loads((tmp_path / "run" / "log.json").read_text())[0]["step"] == 1

    reloaded = load_model(out)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    bilm = BiLM(config)
    bilm.load_state_dict(state["model"])
    direct = bilm.to_seqvec_lm()
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    np.testing.assert_array_equal(reloaded.embed(seq), direct.embed(seq))
    options = json.loads((out / "options.json").read_text())
    assert options["lstm"]["cell_clip"] == 0 and options["n_train_tokens"] > 0

    from seqvec.lm.training.evaluate import score
    scores = score(reloaded, out / "softmax.hdf5", ["MKTAYIAKQRQISFVKSHFSRQ"] * 3)
    assert 0 < scores.both < 4 and scores.n_predictions == 3 * 23


def _final_weights(run: Path) -> dict:
    return load_checkpoint(run / "checkpoint.pt")["model"]


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted(data_dir, small_options, tmp_path):
    args = ["--max-steps", "30", "--checkpoint-every", "3", "--dropout", "0.1"]
    corpus = data_dir / "lm_corpus.fasta"
    subprocess.run([sys.executable, "-m", "seqvec", *_cli(corpus, tmp_path / "full", small_options, *args)],
                   check=True, env=_env(), capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "seqvec", *_cli(corpus, run, small_options, *args)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        ckpt = run / "checkpoint.pt"
        if ckpt.exists() and load_checkpoint(ckpt)["position"]["step"] >= 9:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = load_checkpoint(run / "checkpoint.pt")["position"]["step"]
    assert 9 <= step_at_kill < 30
    assert not (run / "model").exists()
    subprocess.run([sys.executable, "-m", "seqvec", *_cli(corpus, run, small_options, *args), "--resume"],
                   check=True, env=_env(), capture_output=True)
    full, resumed = _final_weights(tmp_path / "full"), _final_weights(run)
    assert load_checkpoint(run / "checkpoint.pt")["position"]["step"] == 30
    for name in full:
        torch.testing.assert_close(resumed[name], full[name], atol=1e-6, rtol=0, msg=name)
    steps = [int(r["step"]) for r in csv.DictReader(open(run / "log.csv")) if r["train_loss"]]
    assert steps == sorted(set(steps))  # no duplicated rows from the killed run


@pytest.mark.slow
def test_two_processes_match_one(data_dir, small_options, tmp_path):
    args = ["--max-steps", "6", "--dropout", "0", "--log-every", "1"]
    corpus = data_dir / "lm_corpus.fasta"
    subprocess.run([sys.executable, "-m", "seqvec", *_cli(corpus, tmp_path / "one", small_options, *args)],
                   check=True, env=_env(), capture_output=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    result = subprocess.run([*torchrun, "-m", "seqvec", *_cli(corpus, tmp_path / "two", small_options, *args)],
                            env=_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]

    def losses(run):
        return [float(r["train_loss"]) for r in csv.DictReader(open(run / "log.csv")) if r["train_loss"]]

    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 6
    np.testing.assert_allclose(two, one, atol=1e-4, rtol=0)
    assert one[0] != one[-1]  # the steps really changed the model


def _settings(**kw) -> TrainSettings:
    base = dict(epochs=1, window=64, max_tokens=512, lr=1e-2, warmup_steps=2, val_fraction=0.1, dropout=0.0,
                checkpoint_every=1000, log_every=2, max_steps=8)
    return TrainSettings(**{**base, **kw})


def _rows(run: Path) -> list[dict]:
    with open(run / "log.csv") as fh:
        return list(csv.DictReader(fh))


def test_warm_start_imports_exactly_and_continues(data_dir, small_options, tmp_path, one_thread):
    """--init: BiLM.from_pretrained is the exact inverse of the export; the tokens add up."""
    torch.manual_seed(0)
    bilm = BiLM(SeqVecConfig.from_json(small_options), dropout=0.0)
    for p in bilm.parameters():
        torch.nn.init.normal_(p, std=0.1)
    again = BiLM.from_pretrained(bilm.to_seqvec_lm(), bilm.softmax, dropout=0.0)
    for name, value in bilm.state_dict().items():
        if "bias_" not in name:  # the export sums nn.LSTM's two biases into one
            torch.testing.assert_close(again.state_dict()[name], value,
                                       atol=1e-6, rtol=0, msg=name)
    types, lengths = encode_batch(["MKTAYIAKQRQISFVKSHFSRQ", "SEQWENCE"])
    with torch.no_grad():
        torch.testing.assert_close(again(types, lengths), bilm(types, lengths), atol=1e-4, rtol=0)

    corpus = data_dir / "lm_corpus.fasta"
    first = train_lm(corpus, tmp_path / "first", SeqVecConfig.from_json(small_options), _settings(max_steps=3),
                     progress=False)
    second = train_lm(corpus, tmp_path / "second", settings=_settings(max_steps=2), init=str(first), progress=False)
    assert second is not None and first is not None
    options = [json.loads((d / "options.json").read_text()) for d in (first, second)]
    assert options[1]["warm_start"] == "model" and options[1]["lstm"] == options[0]["lstm"]
    step_residues = int(_rows(tmp_path / "second")[-1]["residues"])
    assert options[1]["n_train_tokens"] == options[0]["n_train_tokens"] + step_residues


def test_resume_of_a_finished_run_trains_nothing(data_dir, small_options, tmp_path, one_thread):
    corpus, run = data_dir / "lm_corpus.fasta", tmp_path / "run"
    config = SeqVecConfig.from_json(small_options)
    out = train_lm(corpus, run, config, _settings(), progress=False)
    assert out is not None
    weights = (out / "weights.hdf5").read_bytes()
    rows = _rows(run)
    for _ in range(2):
        train_lm(corpus, run, resume=True, progress=False)
        assert load_checkpoint(run / "checkpoint.pt")["position"]["step"] == 8
        assert _rows(run) == rows
    reloaded = h5_arrays(out / "weights.hdf5")
    assert all(np.array_equal(v, h5_arrays_from_bytes(weights, tmp_path)[k]) for k, v in reloaded.items())


def h5_arrays(path: Path) -> dict:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
    return out


def h5_arrays_from_bytes(data: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "before.hdf5"
    path.write_bytes(data)
    return h5_arrays(path)


def test_resume_honours_more_steps_and_refuses_other_settings(data_dir, small_options, tmp_path, one_thread):
    from seqvec.errors import OutputMismatchError

    corpus, run = data_dir / "lm_corpus.fasta", tmp_path / "run"
    train_lm(corpus, run, SeqVecConfig.from_json(small_options), _settings(max_steps=4), progress=False)
    with pytest.raises(OutputMismatchError, match="lr 0.01 -> 0.5"):
        train_lm(corpus, run, resume=True, changes={"lr": 0.5}, progress=False)
    with pytest.raises(OutputMismatchError, match="window"):
        train_lm(corpus, run, resume=True, changes={"window": 32, "max_steps": 9}, progress=False)
    with pytest.raises(OutputMismatchError, match="shape"):
        train_lm(corpus, run, PRESETS["tiny"], resume=True, progress=False)
    other = tmp_path / "other.fasta"
    other.write_text((data_dir / "lm_corpus.fasta").read_text().replace("M", "A", 1))
    with pytest.raises(OutputMismatchError, match="not the corpus"):
        train_lm(other, run, resume=True, progress=False)
    assert load_checkpoint(run / "checkpoint.pt")["position"]["step"] == 4
    train_lm(corpus, run, resume=True, changes={"max_steps": 6, "lr": 1e-2}, progress=False)  # same lr: fine
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["position"]["step"] == 6 and state["settings"]["max_steps"] == 6
    assert [int(r["step"]) for r in _rows(run) if r["train_loss"]] == [2, 4, 6]


def test_new_run_forgets_the_log_of_a_run_killed_before_its_first_checkpoint(data_dir, small_options, tmp_path,
                                                                            one_thread):
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("step,epoch,residues,train_loss,val_loss,val_perplexity,lr,residues_per_s,"
                                 "elapsed_s\n2,0,100,3.1,,,1e-3,10,1.0\n4,0,200,3.0,,,1e-3,10,2.0\n")
    train_lm(data_dir / "lm_corpus.fasta", run, SeqVecConfig.from_json(small_options), _settings(max_steps=4),
             resume=True, progress=False)
    steps = [int(r["step"]) for r in _rows(run) if r["train_loss"]]
    assert steps == [2, 4] and _rows(run)[0]["train_loss"] != "3.1"


def test_first_loss_after_resume_matches_uninterrupted(data_dir, small_options, tmp_path, one_thread, monkeypatch):
    """--checkpoint-every 3, --log-every 2, killed after step 5: the row at step 4 covers steps 3 and 4."""
    import seqvec.lm.training.train as train_module

    corpus, config = data_dir / "lm_corpus.fasta", SeqVecConfig.from_json(small_options)
    settings = _settings(checkpoint_every=3, log_every=2, max_steps=8)
    train_lm(corpus, tmp_path / "full", config, settings, progress=False)

    real_step, calls = train_module._train_step, []

    def dying_step(*args):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        real_step(*args)

    monkeypatch.setattr(train_module, "_train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train_lm(corpus, tmp_path / "killed", config, settings, progress=False)
    monkeypatch.setattr(train_module, "_train_step", real_step)
    assert [int(r["step"]) for r in _rows(tmp_path / "killed")] == [2, 4]
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["position"]["step"] == 3
    train_lm(corpus, tmp_path / "killed", resume=True, progress=False)

    def losses(run):
        return [(r["step"], r["train_loss"], r["val_loss"]) for r in _rows(run)]

    assert losses(tmp_path / "killed") == losses(tmp_path / "full")


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "epochs must be at least 1"),
    ("--window", "0", "window must be at least 2"),
    ("--window", "1", "window must be at least 2"),
    ("--checkpoint-every", "0", "checkpoint_every must be at least 1"),
    ("--log-every", "0", "log_every must be at least 1"),
    ("--threads", "-1", "--threads must be 0"),
    ("--dropout", "2", r"dropout must be in \[0, 1\)"),
    ("--val-fraction", "1", r"val_fraction must be in \(0, 1\)"),
    ("--lr", "nan", "argument --lr: must be a finite number, got nan"),
    ("--max-steps", "-1", "max_steps must be 0"),
])
def test_train_lm_rejects_nonsense_settings(data_dir, tmp_path, caplog, seqvec_logs_to_caplog, capsys, option,
                                           value, message):
    from seqvec.cli.main import main

    try:
        code = main(["train-lm", str(data_dir / "lm_corpus.fasta"), "-o", str(tmp_path / "run"), "-q", option, value])
    except SystemExit as stop:  # refused by the argument parser (non-finite numbers)
        code = stop.code
    assert code != 0
    said = [r.getMessage() for r in caplog.records] + [capsys.readouterr().err]
    assert any(re.search(message, text) for text in said), said
    assert not (tmp_path / "run").exists()


def test_evaluate_scores_per_protein_with_an_interval(one_thread):
    """evaluate-lm's per-protein sums add up to the batched loss; the interval brackets the estimate."""
    from seqvec.lm.bilm import direction_losses
    from seqvec.lm.lm_head import load_softmax
    from seqvec.lm.pretrained import model_dir
    from seqvec.lm.training.evaluate import format_scores, model_types_to_vocab, score

    model = load_model("seqvec-mini")
    softmax_path = model_dir("seqvec-mini") / "softmax.hdf5"
    seqs = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "SEQWENCE", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQWERPSG", "GG"]
    scores = score(model, softmax_path, seqs, max_residues=60)
    types, lengths = encode_batch(seqs)
    softmax, _ = load_softmax(softmax_path, model.config.projection_dim)
    with torch.no_grad():
        fwd, bwd = direction_losses(softmax, model(types, lengths)[0][-1], model_types_to_vocab(types), lengths)
    n = sum(len(s) + 1 for s in seqs)
    assert scores.n_predictions == n and scores.n_proteins == 4
    assert scores.forward == pytest.approx(float(fwd) / n, abs=1e-5)
    assert scores.backward == pytest.approx(float(bwd) / n, abs=1e-5)
    low, high = scores.both_ci
    assert low < scores.both < high and scores.unigram_ci[0] < scores.unigram < scores.unigram_ci[1]
    assert "95% CI" in format_scores(scores)

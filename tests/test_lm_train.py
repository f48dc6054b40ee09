"""Language-model training: objective, export, resume after SIGKILL, two processes."""
import csv
import json
import os
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
from seqvec.lm.train import load_checkpoint, train_lm

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

    from seqvec.lm.evaluate import score
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

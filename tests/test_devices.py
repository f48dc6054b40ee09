"""--device parsing and resolution (no GPU here: CUDA/MPS availability is monkeypatched)."""
import pytest
import torch

from seqvec.cli.main import main
from seqvec.devices import check_device_spec, resolve_device
from seqvec.errors import DeviceError


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"),
                                            ("cuda:1", "cuda:1"), ("mps", "mps")])
def test_spellings_accepted(text, expected):
    assert check_device_spec(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cuda1", "tpu", ""])
def test_bad_spellings_rejected(text):
    with pytest.raises(DeviceError, match="unknown device"):
        check_device_spec(text)


def test_auto_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_auto_is_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_on_a_cpu_only_build_says_how_to_get_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    with pytest.raises(DeviceError, match="CPU-only build.*download.pytorch.org/whl/cu"):
        resolve_device("cuda")


def test_cuda_index_beyond_the_devices(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


def test_cuda_built_but_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="sees no GPU"):
        resolve_device("cuda:0")


def test_mps_unavailable(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("command", [["embed", "x.fasta", "-o", "x.h5"], ["predict", "x.fasta", "-o", "x.json"],
                                     ["evaluate-lm", "x.fasta"], ["train-lm", "x.fasta", "-o", "run"],
                                     ["train", "--task", "ss3", "--embeddings", "e.h5", "--labels", "l.csv", "-o", "h"],
                                     ["evaluate", "--head", "h", "--embeddings", "e.h5", "--labels", "l.csv"],
                                     ["compare", "--tasks", "ss3", "--train", "a", "--test", "b", "-o", "c"]])
def test_every_model_command_rejects_cuda_on_cpu_torch(command, monkeypatch, capsys, tmp_path):
    """The error comes before any file is read, as a one-line message, not torch's AssertionError."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    assert main([*command, "--device", "cuda:0"]) == 2
    assert "CPU-only build" in capsys.readouterr().err


def test_bad_device_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["embed", "x.fasta", "-o", "x.h5", "--device", "gpu"])
    assert "unknown device 'gpu'" in capsys.readouterr().err

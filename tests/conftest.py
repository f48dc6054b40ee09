"""Shared fixtures: the tiny reference model and its allennlp outputs."""
import logging
import os
import subprocess
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A model directory (options.json + weights.hdf5) holding the tiny reference model."""
    import shutil

    d = tmp_path_factory.mktemp("tiny_model")
    shutil.copy(DATA / "tiny_options.json", d / "options.json")
    shutil.copy(DATA / "tiny_weights.hdf5", d / "weights.hdf5")
    return d


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from seqvec.lm.pretrained import load_model

    return load_model(tiny_model_dir)


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread (and the test machine is shared)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def short_fasta(tmp_path_factory) -> Path:
    """test.fasta without its two long records (fast)."""
    text = (DATA / "test.fasta").read_text()
    path = tmp_path_factory.mktemp("short") / "short.fasta"
    path.write_text(text[: text.index(">random_350")])
    return path


@pytest.fixture
def seqvec_logs_to_caplog(monkeypatch):
    """Let caplog see seqvec's records even if a CLI test configured the logger before."""
    logger = logging.getLogger("seqvec")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", True)


@pytest.fixture(scope="session", autouse=True)
def seqvec_home(tmp_path_factory):
    """A private SEQVEC_HOME: tests never read or write the user's cache (kernels.json, models)."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("seqvec_home")
        patch.setenv("SEQVEC_HOME", str(home))
        yield home


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write in: chmod, or (as root, whom chmod does not stop) a read-only tmpfs."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)]).returncode:
        pytest.skip("running as root without permission to mount a read-only file system")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)

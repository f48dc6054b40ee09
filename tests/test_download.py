"""`seqvec models download` end to end against a local HTTP server (127.0.0.1; nothing leaves the machine)."""
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from seqvec.cli.main import main
from seqvec.errors import DownloadError
from seqvec.lm import pretrained
from seqvec.lm.download import download_model, is_installed
from seqvec.lm.pretrained import ModelFile, ModelInfo

DATA = Path(__file__).resolve().parent / "data"
FILES = {"options.json": (DATA / "tiny_options.json").read_bytes(),
         "weights.hdf5": (DATA / "tiny_weights.hdf5").read_bytes()}


class Server:
    """Serves ``files`` with Range support; ``cut_after`` closes the connection after that many body bytes."""

    def __init__(self):
        self.files = dict(FILES)
        self.cut_after: int | None = None
        self.requests: list[tuple[str, str | None]] = []
        self.missing: set[str] = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                outer.requests.append((name, self.headers.get("Range")))
                if name not in outer.files or name in outer.missing:
                    self.send_error(404)
                    return
                data, start, status = outer.files[name], 0, 200
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                if outer.cut_after is not None and name == "weights.hdf5":
                    body = body[: outer.cut_after]
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def registered(server, tmp_path, monkeypatch):
    """A model 'tiny' published on the local server (sizes and sha256 known), SEQVEC_HOME in tmp_path."""
    monkeypatch.setenv("SEQVEC_HOME", str(tmp_path / "home"))
    files = tuple(ModelFile(name, (server.url + name,), size=len(data), sha256=hashlib.sha256(data).hexdigest())
                  for name, data in FILES.items())
    monkeypatch.setitem(pretrained.REGISTRY, "tiny", ModelInfo("tiny", "test model", bundled=False, files=files))
    return tmp_path / "home" / "tiny"


def test_download_installs_a_model_that_loads(registered, server, capsys):
    assert main(["models", "download", "tiny", "-q"]) == 0
    assert "installed" in capsys.readouterr().out
    for name, data in FILES.items():
        assert (registered / name).read_bytes() == data
    assert not (registered / ".download").exists()
    model = pretrained.load_model("tiny")
    assert model.output_dim == 32
    server.requests.clear()
    assert main(["models", "download", "tiny", "-q"]) == 0  # installed: nothing fetched
    assert server.requests == []


def test_interrupted_transfer_resumes_with_range(registered, server):
    server.cut_after = 100_000
    with pytest.raises(DownloadError, match="bytes received are kept"):
        download_model("tiny", progress=False)
    part = registered / ".download" / "weights.hdf5.part"
    assert part.stat().st_size == 100_000
    assert not is_installed("tiny") and not (registered / "weights.hdf5").exists()
    server.cut_after = None
    server.requests.clear()
    download_model("tiny", progress=False)
    assert server.requests == [("weights.hdf5", "bytes=100000-")]  # only the rest was asked for
    assert (registered / "weights.hdf5").read_bytes() == FILES["weights.hdf5"]


def test_corrupted_file_is_rejected_and_not_cached(registered, server):
    data = bytearray(FILES["weights.hdf5"])
    data[200_000] ^= 0xFF
    server.files["weights.hdf5"] = bytes(data)
    with pytest.raises(DownloadError, match="corrupt.*sha256.*deleted"):
        download_model("tiny", progress=False)
    assert not (registered / "weights.hdf5").exists() and not is_installed("tiny")
    assert not list((registered / ".download").glob("weights.hdf5*"))
    server.files["weights.hdf5"] = FILES["weights.hdf5"]  # a fixed mirror: the next run succeeds
    download_model("tiny", progress=False)
    assert is_installed("tiny")


def test_without_checksums_a_model_that_does_not_load_is_rejected(registered, server, monkeypatch):
    """No size or hash known: the strict load is what stops a truncated weights file."""
    info = pretrained.REGISTRY["tiny"]
    bare = tuple(ModelFile(f.name, f.urls) for f in info.files)
    monkeypatch.setitem(pretrained.REGISTRY, "tiny", ModelInfo("tiny", "test", bundled=False, files=bare))
    server.files["weights.hdf5"] = FILES["weights.hdf5"][:300_000]
    with pytest.raises(DownloadError, match="does not load"):
        download_model("tiny", progress=False)
    assert not is_installed("tiny") and not (registered / "weights.hdf5").exists()


def test_http_error_and_offline_give_clear_errors(registered, server, monkeypatch, capsys):
    server.missing.add("options.json")
    assert main(["models", "download", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "could not download options.json" in err and "HTTP 404" in err and "may have moved" in err
    assert err.count("HTTP 404") == 1  # said once, as the error (not "404": the random port may hold it)
    server.close()  # nobody listening: offline
    server.missing.clear()
    with pytest.raises(DownloadError, match="Check the network connection"):
        download_model("tiny", progress=False, timeout=5)


def test_download_flag_on_a_command_that_takes_a_model(registered, tmp_path, capsys):
    fasta = tmp_path / "x.fasta"
    fasta.write_text(">a\nMKVL\n>b\nMSTQ\n")
    assert main(["embed", str(fasta), "-o", str(tmp_path / "x.h5"), "--model", "tiny", "-q"]) == 2
    assert "seqvec models download tiny" in capsys.readouterr().err
    assert main(["embed", str(fasta), "-o", str(tmp_path / "x.h5"), "--model", "tiny", "--download", "-q"]) == 0
    assert is_installed("tiny")


def test_two_processes_do_not_download_at_once(registered, server):
    """The lock serialises downloads; the one that waited finds the model installed and fetches nothing."""
    import fcntl

    staging = registered / ".download"
    staging.mkdir(parents=True)
    results = []
    with open(staging / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: results.append(download_model("tiny", progress=False)))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and server.requests == []  # waiting for the lock
        for name, data in FILES.items():  # meanwhile "the other process" installs the model
            (registered / name).write_bytes(data)
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(timeout=30)
    assert results == [registered] and server.requests == []

"""Matrix-product kernels: each one exact against allennlp, chosen by measurement, cached on disk."""
import json
import logging
import platform

import h5py
import numpy as np
import pytest
import torch
from Bio import SeqIO

from seqvec.errors import KernelError
from seqvec.lm import host, kernels
from seqvec.lm.kernels import CACHE, KERNEL_ENV, MatrixProduct
from seqvec.lm.pretrained import load_model

X86_ONEDNN = platform.machine() in ("x86_64", "AMD64") and torch.backends.mkldnn.is_available()


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """Each test starts with its own empty kernel cache (file and memory)."""
    monkeypatch.setenv("SEQVEC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(KERNEL_ENV, raising=False)
    CACHE.forget()
    yield
    CACHE.forget()


def _records(data_dir):
    return [(r.id, str(r.seq).upper()) for r in SeqIO.parse(data_dir / "test.fasta", "fasta")]


def _assert_matches_allennlp(model, data_dir):
    records = _records(data_dir)
    batched = model.embed_batch([s for _, s in records])
    single = [model.embed_batch([s])[0] for _, s in records[:6]]
    with h5py.File(data_dir / "tiny_fresh.h5") as ref:
        for (rid, _), out in zip(records, batched):
            expected = ref["per_residue"][rid.replace("%", "%25").replace("/", "%2F")][...]
            np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, rtol=0)
        for (rid, _), out in zip(records, single):
            np.testing.assert_allclose(out.numpy(), ref["per_residue"][rid][...], atol=1e-5, rtol=0)


def _kernels_used(model) -> set[str]:
    """Every kernel the model's products ran with (per row count, or the one of a batch-invariant product)."""
    return {kernel for layer in model.lstm.layers() for products in layer._cached[1].values() for product in products
            for kernel in (product.kernels.values() if isinstance(product, MatrixProduct) else [product.kernel])}


def _require(kernel: str, dtype: torch.dtype = torch.float32) -> None:
    if kernel not in kernels.available_kernels(dtype, torch.device("cpu")):
        if X86_ONEDNN and dtype == torch.float32:
            pytest.fail(f"this x86 torch with oneDNN lacks the {kernel} kernel: have the private ops changed?")
        pytest.skip(f"{kernel} is not available for {dtype} with this torch build on this CPU")


@pytest.mark.parametrize("kernel", ["mkl", "onednn"])
def test_each_kernel_matches_allennlp(kernel, tiny_model_dir, data_dir, monkeypatch, one_thread):
    _require(kernel)
    monkeypatch.setenv(KERNEL_ENV, kernel)
    model = load_model(tiny_model_dir)
    _assert_matches_allennlp(model, data_dir)
    assert _kernels_used(model) == {kernel}
    assert not kernels.cache_path().exists()  # forced: nothing measured


def test_measured_choice_is_cached_and_exact(tiny_model_dir, data_dir, monkeypatch, one_thread):
    model = load_model(tiny_model_dir)
    _assert_matches_allennlp(model, data_dir)
    stored = json.loads(kernels.cache_path().read_text())
    entries = stored["hosts"][host.host_key()]
    assert "float32 rows 1 x 16 -> 256" in entries  # the recurrent product of one protein (P=16, 4D=256)
    assert "float32 rows 1 x 64 -> 16" in entries  # its projection (D=64)
    for entry in entries.values():
        assert entry["kernel"] in kernels.available_kernels(torch.float32, torch.device("cpu"))
        assert entry["ms"][entry["kernel"]] == min(entry["ms"].values())
    # a new process reads the file and measures nothing
    CACHE.forget()
    monkeypatch.setattr(kernels, "measure", lambda *a, **k: pytest.fail("measured although cached"))
    again = load_model(tiny_model_dir)
    _assert_matches_allennlp(again, data_dir)
    assert _kernels_used(again) <= {e["kernel"] for e in entries.values()}


def test_unreadable_cache_is_measured_again(tiny_model_dir, data_dir, caplog, seqvec_logs_to_caplog, one_thread):
    path = kernels.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "hosts": {"')  # a write cut short
    with caplog.at_level(logging.DEBUG, logger="seqvec"):
        _assert_matches_allennlp(load_model(tiny_model_dir), data_dir)
    assert "ignoring the kernel cache" in caplog.text and "measured" in caplog.text
    assert json.loads(path.read_text())["hosts"][host.host_key()]  # rewritten whole


def test_the_faster_candidate_is_kept():
    import time

    shape = kernels.Shape.of(torch.float32, 12, 3, 5)
    assert str(shape) == "float32 rows 8-15 x 3 -> 5"
    chosen = CACHE.choose(shape, {"mkl": lambda: time.sleep(0.004), "onednn": lambda: None})
    assert chosen == "onednn"
    entry = json.loads(kernels.cache_path().read_text())["hosts"][host.host_key()][str(shape)]
    assert entry["kernel"] == "onednn" and entry["ms"]["mkl"] >= 4 and entry["rows"] == 8 and entry["n"] == 5
    assert CACHE.choose(shape, {"mkl": lambda: None, "onednn": lambda: time.sleep(0.004)}) == "onednn"  # cached


@pytest.mark.parametrize("kernel", ["mkl", "onednn"])
def test_bf16_products_of_each_kernel(kernel):
    _require(kernel, torch.bfloat16)
    torch.manual_seed(0)
    weight, bias = torch.randn(64, 96), torch.randn(96)
    product = MatrixProduct(weight, torch.bfloat16, kernel=kernel)
    reference = MatrixProduct(weight, torch.bfloat16, kernel="mkl")
    for rows in (1, 5, 40):
        a, add = torch.randn(rows, 64), torch.randn(rows, 96)
        exact = add + a @ weight
        out = product(a, add)
        assert out.dtype == torch.float32 and out.shape == (rows, 96)
        torch.testing.assert_close(out, exact, atol=0.1, rtol=0.02)
        assert (out - exact).abs().max() > 0  # really rounded to bfloat16
        torch.testing.assert_close(product(a, bias), reference(a, bias), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(product(a), reference(a), atol=1e-5, rtol=1e-5)
    assert set(product.kernels.values()) == {kernel}


@pytest.mark.parametrize("kernel", ["mkl", "onednn"])
def test_float32_products_of_each_kernel(kernel):
    _require(kernel)
    torch.manual_seed(0)
    weight, bias = torch.randn(64, 96), torch.randn(96)
    product = MatrixProduct(weight, kernel=kernel)
    for rows in (1, 3, 200):
        a, add = torch.randn(rows, 64), torch.randn(rows, 96)
        torch.testing.assert_close(product(a, add), torch.addmm(add, a, weight), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(product(a, bias), torch.addmm(bias, a, weight), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(product(a), a @ weight, atol=1e-5, rtol=1e-5)
    assert product.kernel_for(200) == kernel


def test_bad_kernel_requests_fail_loudly(monkeypatch):
    monkeypatch.setenv(KERNEL_ENV, "fastest")
    with pytest.raises(KernelError, match="SEQVEC_KERNEL='fastest'"):
        MatrixProduct(torch.zeros(4, 4))
    monkeypatch.setenv(KERNEL_ENV, "onednn")
    with pytest.raises(KernelError, match="not available .* on meta"):
        MatrixProduct(torch.zeros(4, 4, device="meta"))


@pytest.mark.skipif(not X86_ONEDNN, reason="oneDNN's private ops are only relied on in x86 builds with oneDNN")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_private_torch_ops_exist_and_agree_with_linear(dtype):
    """seqvec relies on torch.ops.mkldnn's private linear ops: a torch upgrade that changes them fails here."""
    if dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("oneDNN has no bfloat16 on this CPU")
    torch.manual_seed(0)
    weight_t, bias = torch.randn(96, 64).to(dtype), torch.randn(96).to(dtype)  # (N, K) as F.linear
    packed = torch.ops.mkldnn._reorder_linear_weight(weight_t, 1)
    for rows in (1, 7, 300):
        a = torch.randn(rows, 64).to(dtype)
        expected = torch.nn.functional.linear(a.float(), weight_t.float(), bias.float())
        got = torch.ops.mkldnn._linear_pointwise(a, packed, bias, "none", [], "")
        assert got.dtype == dtype and got.shape == (rows, 96)
        tolerance = 1e-5 if dtype == torch.float32 else 0.1
        torch.testing.assert_close(got.float(), expected, atol=tolerance, rtol=tolerance)


def test_tensor_version_counts_in_place_changes(tiny_model_dir, data_dir, one_thread):
    """The inference caches (token table, packed weights) rely on ``Tensor._version``."""
    p = torch.zeros(3)
    before = p._version
    p.add_(1)
    assert p._version > before
    model = load_model(tiny_model_dir)
    seq = _records(data_dir)[8][1]
    first = model.embed(seq)
    with torch.no_grad():
        model.lstm.directions[0][0].recurrent_weight.mul_(0.5)
        model.char_cnn.projection.weight.mul_(0.5)
    changed = model.embed(seq)
    fresh = load_model(tiny_model_dir)
    fresh.load_state_dict(model.state_dict())
    assert np.abs(changed - first).max() > 1e-3
    np.testing.assert_allclose(changed, fresh.embed(seq), atol=1e-6, rtol=0)


def test_info_reports_cpu_torch_and_measured_kernels(capsys):
    from seqvec.cli.main import main

    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cpu = host.cpu_info()
    assert report["cpu"]["model"] == cpu.model and report["torch"]["version"] == torch.__version__
    assert report["threads"] == torch.get_num_threads() and report["kernels"] == {}
    if platform.machine() == "x86_64" and cpu.flags_known:
        assert set(report["cpu"]["features"]) == {"AVX2", "AVX-512", "AVX512_BF16", "AMX"}
        assert report["cpu"]["features"]["AVX2"] == ("avx2" in cpu.flags)
    assert main(["info", "--measure", "--shape", "tiny", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert f"CPU       {cpu.model}" in text and "torch     " + torch.__version__ in text
    assert "float32 rows 1 x 16 -> 256" in text and "float32 rows 256+ x 16 -> 256" in text  # recurrent, chunk
    assert "float32 rows 32-63 x 64 -> 16" in text and "(measured now" in text  # projection of 32 proteins
    stored = json.loads(kernels.cache_path().read_text())["hosts"]
    assert len(stored[host.host_key()]) >= 15
    assert main(["info"]) == 0
    again = capsys.readouterr().out
    assert "float32 rows 1 x 16 -> 256" in again and "measured now" not in again  # read back from the file


def test_bf16_warns_where_the_cpu_has_no_bfloat16(monkeypatch, caplog, seqvec_logs_to_caplog):
    from seqvec.lm.config import PRESETS
    from seqvec.lm.model import SeqVecLM

    plain = host.CpuInfo("Old CPU", "x86_64", frozenset({"avx2", "fma"}), "AVX2", 2)
    monkeypatch.setattr(kernels, "cpu_info", lambda: plain)
    model = SeqVecLM(PRESETS["tiny"])
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        model.set_precision("bf16")
    assert "Old CPU" in caplog.text and "will not be faster" in caplog.text
    amx = host.CpuInfo("New CPU", "x86_64", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}), "AVX512", 2)
    assert amx.bf16_instructions() == "AMX" and plain.bf16_instructions() is None
    zen4 = host.CpuInfo("AMD EPYC 9R14", "x86_64", frozenset({"avx2", "avx512f", "avx512_bf16"}), "AVX512", 2)
    assert zen4.bf16_instructions() == "AVX512_BF16"
    monkeypatch.setattr(kernels, "cpu_info", lambda: zen4)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        model.set_precision("float32").set_precision("bf16")
    assert "will not be faster" not in caplog.text


def test_embed_logs_the_kernel_choices_with_v_only(tiny_model_dir, short_fasta, tmp_path, capsys, one_thread):
    from seqvec.cli.main import main

    for flags, shown in (([], False), (["-v"], True)):
        CACHE.forget()  # each shape is logged once per process: start afresh
        out = tmp_path / f"out{len(flags)}.h5"
        assert main(["embed", str(short_fasta), "-o", str(out), "--model", str(tiny_model_dir), *flags]) == 0
        assert ("kernel for float32 rows" in capsys.readouterr().err) == shown

"""seqvec export HEAD -o head.onnx: ONNX files whose onnxruntime outputs equal the PyTorch head's, at any length."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")  # the [onnx] extra (in [test])
onnxruntime = pytest.importorskip("onnxruntime")

from seqvec.classifiers.heads.checkpoint import load_head  # noqa: E402
from seqvec.classifiers.heads.onnx_export import compare_with_torch, export_head  # noqa: E402
from seqvec.cli.main import main  # noqa: E402


@pytest.mark.parametrize("name", ["bundled:protein", "bundled:residue"])
def test_bundled_heads_export_and_match_torch_at_other_lengths(name, tmp_path):
    path = export_head(name, tmp_path / "head.onnx")
    checkpoint = load_head(name)
    for batch, length in ((1, 5), (4, 130)):  # other shapes than the export's: the axes are dynamic
        assert compare_with_torch(path, checkpoint, batch=batch, length=length) < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    tasks = json.loads(meta["seqvec_tasks"])
    assert list(tasks) == list(checkpoint.tasks)
    assert tasks[next(iter(tasks))]["classes"] == list(next(iter(checkpoint.tasks.values())).classes)
    assert json.loads(meta["seqvec_embeddings"])["model"] == "seqvec-mini-v2"


def test_padding_does_not_change_a_protein_s_logits_in_onnx(tmp_path):
    """A protein alone equals the same protein inside a padded batch, in the exported graph too."""
    path = export_head("bundled:protein", tmp_path / "p.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 40, 256).numpy()
    alone = session.run(None, {"x": x, "mask": np.ones((1, 40), bool)})
    padded_x = np.concatenate([np.concatenate([x, np.zeros((1, 20, 256), np.float32)], 1),
                               np.random.default_rng(0).standard_normal((1, 60, 256)).astype(np.float32)])
    mask = np.ones((2, 60), bool)
    mask[0, 40:] = False
    batch = session.run(None, {"x": padded_x, "mask": mask})
    for a, b in zip(alone, batch):
        np.testing.assert_allclose(a[0], b[0], atol=1e-5)


def test_cli_writes_a_per_protein_fnn_head(data_dir, tmp_path, capsys):
    head = tmp_path / "fnn"
    assert main(["train", "-q", "--labels", str(data_dir / "tasks" / "deeploc_pool_small.fasta"), "--task",
                 "localization", "--encoder", "onehot", "--embeddings", str(tmp_path / "p.h5"), "--head", "fnn",
                 "-o", str(head), "--epochs", "1"]) == 0
    assert main(["export-head", str(head), "-o", str(tmp_path / "fnn.onnx")]) == 0
    assert "checked with onnxruntime" in capsys.readouterr().out
    written = (tmp_path / "fnn.onnx").read_bytes()
    assert main(["export-head", str(head), "-o", str(tmp_path / "fnn.onnx")]) != 0  # a result is kept ...
    assert "--overwrite" in capsys.readouterr().err and (tmp_path / "fnn.onnx").read_bytes() == written
    assert main(["export-head", str(head), "-o", str(head), "-q", "--overwrite"]) != 0  # never over the head
    assert (head / "weights.pt").is_file()
    assert main(["export", str(head), "-o", str(tmp_path / "fnn.onnx"), "--overwrite"]) == 0  # the older spelling
    assert not list(tmp_path.glob(".fnn.onnx*"))
    session = onnxruntime.InferenceSession(str(tmp_path / "fnn.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"] and [o.name for o in session.get_outputs()] == ["localization"]
    assert compare_with_torch(tmp_path / "fnn.onnx", load_head(head), batch=7) < 1e-4
    from seqvec.errors import UsageError

    with pytest.raises(UsageError, match="must end in .onnx"):
        export_head(head, tmp_path / "fnn.pt")

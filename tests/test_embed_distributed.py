"""`torchrun --nproc-per-node 2 -m seqvec embed`: two CPU processes (gloo) give the single-process file."""
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqvec.embeddings import inplace
from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.inplace import InPlaceRun
from seqvec.embeddings.parts import PartialRun
from seqvec.embeddings.pipeline import embed_fasta

REPO = Path(__file__).resolve().parent.parent


class Crash(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["columnar", "per-id"])
def test_torchrun_two_processes_resume_and_merge(tmp_path, tiny_model_dir, tiny_model, monkeypatch, layout):
    rng = random.Random(7)
    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">q{i}\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(rng.randint(20, 80)))}\n"
                             for i in range(40)))
    options = dict(layers="all", max_residues=100, layout=layout)
    reference = embed_fasta(fasta, tmp_path / "single.h5", tiny_model, **options)

    # a single-process run dies after 2 batches; the 2-process job must redo only the rest
    out = tmp_path / "multi.h5"
    cls, method = (PartialRun, "write_part") if layout == "per-id" else (InPlaceRun, "write")
    original, written = getattr(cls, method), []

    def write(self, *args, **kwargs):
        if len(written) == 2:
            raise Crash()
        written.append(original(self, *args, **kwargs))

    with monkeypatch.context() as m:
        m.setattr(cls, method, write)
        m.setattr(inplace, "COMMIT_SECONDS", 0.0)
        with pytest.raises(Crash):
            embed_fasta(fasta, out, tiny_model, **options)

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "seqvec", "embed", str(fasta), "-o", str(out), "--model", str(tiny_model_dir),
               "--layers", "all", "--max-residues", "100", "--layout", layout]
    result = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = re.findall(r"rank (\d): (\d+) batches to embed \((\d+) of \d+ (?:records|batches) already done\)",
                       result.stderr)
    assert sorted(r[0] for r in ranks) == ["0", "1"]
    assert all(int(r[2]) >= 2 for r in ranks)  # both saw the parts of the interrupted run
    assert all(int(r[1]) >= 1 for r in ranks)  # and both had work left

    assert not Path(f"{out}.partial").exists()
    assert read_h5_attrs(out)["fingerprint"] == read_h5_attrs(reference)["fingerprint"]
    for view in ("per_residue", "per_protein"):
        multi, single = read_h5(out, view), read_h5(reference, view)
        assert list(multi) == list(single)  # every record once, in input order
        for record_id, x in single.items():
            np.testing.assert_allclose(multi[record_id], x, atol=1e-6, rtol=1e-6, err_msg=record_id)


@pytest.mark.slow
def test_torchrun_ranks_write_shards_of_a_folder(tmp_path):
    """With an output folder every rank is a shard (no rank-0 copy); the folder reads as the single-process file."""
    import seqvec

    rng = random.Random(3)
    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">s{i}\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(rng.randint(5, 90)))}\n"
                             for i in range(50)))
    single = embed_fasta(fasta, tmp_path / "single.h5", encoder="onehot")
    folder = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "seqvec", "embed", str(fasta), "-o", str(folder), "--encoder", "onehot", "-q"]
    result = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in folder.glob("*.h5")) == ["index.h5", "shard-1-of-2.h5", "shard-2-of-2.h5"]
    with seqvec.open_embeddings(folder) as a, seqvec.open_embeddings(single) as b:
        assert a.layout == "shards" and a.ids == b.ids
        np.testing.assert_array_equal(a.per_protein(), b.per_protein())
        for record_id in b.ids:
            np.testing.assert_array_equal(a.per_residue(record_id), b.per_residue(record_id))

"""The public Python API: dir(seqvec) lists it; to_dataframe joins embeddings and labels."""
from __future__ import annotations

import numpy as np
import pytest

import seqvec

pytest.importorskip("pandas")  # an optional extra ([pandas], in [test])


def test_dir_lists_the_public_api():
    names = dir(seqvec)
    for name in ("load_model", "embed_fasta", "embed_sequences", "open_embeddings", "to_dataframe", "read_labels",
                 "get_tasks", "train_head", "FitConfig", "evaluate_head", "load_head", "load_heads",
                 "predict_sequences", "build_head", "__version__"):
        assert name in names and getattr(seqvec, name) is not None


@pytest.fixture(scope="module")
def test_h5(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "test.h5"
    seqvec.embed_fasta(data_dir / "tasks" / "deeploc_test_small.fasta", out, encoder="onehot")
    return out


def test_to_dataframe_joins_labels_by_id(test_h5, data_dir):
    frame = seqvec.to_dataframe(test_h5, labels=data_dir / "tasks" / "deeploc_test_small.fasta")
    with seqvec.open_embeddings(test_h5) as store:
        ids, vectors, lengths = store.ids, store.per_protein(), store.lengths
    assert list(frame.index) == ids and frame.index.name == "id"
    assert list(frame["length"]) == list(lengths)
    np.testing.assert_array_equal(np.stack(frame["embedding"]), vectors)
    assert frame.loc["P45846", "localization"] == "Extracellular" and frame.loc["P45846", "membrane"] == "soluble"
    assert set(frame["set"]) == {"test"}


def test_to_dataframe_wide_and_proteins_without_labels(test_h5, data_dir):
    wide = seqvec.to_dataframe(test_h5, wide=True)
    assert wide.shape[1] == 1 + 21 and list(wide.columns[:3]) == ["length", "e0", "e1"]  # one-hot: 21 values
    other = seqvec.to_dataframe(test_h5, labels=data_dir / "tasks" / "deeploc_pool_small.fasta")
    assert other["localization"].isna().all()  # no protein of the test file is in the pool's labels

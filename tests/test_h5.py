"""The per-id layout: reversible keys, layout and attrs, the dict-style reader API."""
import h5py
import numpy as np
import pytest

from seqvec.embeddings.h5 import id_to_key, iter_h5, key_to_id, read_h5, read_h5_attrs
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.errors import EmbeddingFileError

ODD_IDS = ["a/b/c", ".hidden", "..", ".", "with space", "Ünïcødé_β", "100%", "%2F", "%252E", "x.y", "a%2Fb/c"]


@pytest.mark.parametrize("record_id", ODD_IDS)
def test_keys_round_trip(record_id):
    key = id_to_key(record_id)
    assert "/" not in key and not key.startswith(".")
    assert key_to_id(key) == record_id


def test_key_examples():
    assert id_to_key("sp|P1|X/2") == "sp|P1|X%2F2"
    assert id_to_key(".a.b") == "%2Ea.b"
    assert id_to_key("50%/x") == "50%25%2Fx"
    assert len({id_to_key(i) for i in ODD_IDS}) == len(ODD_IDS)


@pytest.fixture
def odd_file(tmp_path):
    fasta = tmp_path / "odd.fasta"
    fasta.write_text("".join(f">{i}\tdescription\n{'MKL' * (n + 1)}\n" for n, i in enumerate(ODD_IDS)),
                     encoding="utf-8")
    return embed_fasta(fasta, tmp_path / "odd.h5", encoder="onehot", split_char="\t", id_field=0, layout="per-id")


def test_odd_ids_stored_and_read_back(odd_file):
    with h5py.File(odd_file) as f:
        assert set(f) == {"per_residue", "per_protein"}
        for n, record_id in enumerate(ODD_IDS):
            for view in ("per_residue", "per_protein"):
                ds = f[view][id_to_key(record_id)]
                assert ds.attrs["id"] == record_id
                assert ds.attrs["length"] == 3 * (n + 1)
    per_residue = read_h5(odd_file)
    assert list(per_residue) == ODD_IDS  # input order
    assert per_residue["with space"].shape == (15, 21)
    assert read_h5(odd_file, "per_protein")["Ünïcødé_β"].shape == (21,)


def test_read_subset_and_iterate(odd_file):
    subset = read_h5(odd_file, "per_protein", ids=["..", "a/b/c"])
    assert list(subset) == ["..", "a/b/c"]
    streamed = list(iter_h5(odd_file, "per_residue"))
    assert [i for i, _ in streamed] == ODD_IDS
    np.testing.assert_array_equal(streamed[0][1], read_h5(odd_file)["a/b/c"])


def test_reader_errors(odd_file, tmp_path):
    with pytest.raises(EmbeddingFileError, match=r"2 ids not in .*'nope', 'a/b'"):
        read_h5(odd_file, ids=["nope", "a/b", "a/b/c"])
    with pytest.raises(EmbeddingFileError, match="view 'per_token' is not one of"):
        read_h5(odd_file, "per_token")
    with pytest.raises(EmbeddingFileError, match="not found"):
        read_h5(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(EmbeddingFileError, match="not a readable HDF5 file"):
        read_h5(tmp_path / "text.h5")


def test_missing_view_is_named(tmp_path, data_dir):
    out = embed_fasta(data_dir / "test.fasta", tmp_path / "p.h5", encoder="onehot", per_residue=False,
                      layout="per-id")
    with h5py.File(out) as f:
        assert list(f) == ["per_protein"]
    with pytest.raises(EmbeddingFileError, match="has no per_residue embeddings \\(it holds: per_protein\\)"):
        read_h5(out)


def test_root_attrs(odd_file):
    attrs = read_h5_attrs(odd_file)
    for key in ("seqvec_version", "model", "model_sha256", "layers", "dtype", "encoder", "command",
                "compression", "per_protein_reduction", "n_records", "input_sha256"):
        assert key in attrs, key
    assert attrs["layers"] == "sum" and attrs["dtype"] == "float32" and attrs["n_records"] == len(ODD_IDS)
    assert attrs["fingerprint"]["split_char"] == "\t"
    assert attrs["command"].startswith("embed_fasta(") and "split_char='\\t'" in attrs["command"]


@pytest.mark.parametrize("compression, expected", [("gzip", "gzip"), ("lzf", "lzf"), ("none", None)])
def test_compression_and_dtype(tmp_path, data_dir, compression, expected):
    out = embed_fasta(data_dir / "test.fasta", tmp_path / f"{compression}.h5", encoder="blosum62",
                      compression=compression, dtype="float16", layout="per-id")
    with h5py.File(out) as f:
        for view in ("per_residue", "per_protein"):
            ds = f[view]["protein"]
            assert ds.compression == expected and ds.dtype == np.float16

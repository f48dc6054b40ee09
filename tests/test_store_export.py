"""`seqvec export`: npz, csv, biotrainer's and UniProt's HDF5, Parquet; from any layout, streaming."""
import numpy as np
import pyarrow.parquet as pq
import pytest

import seqvec
from seqvec.cli.main import main
from seqvec.embeddings.export import export
from seqvec.embeddings.pipeline import embed_fasta


@pytest.fixture(scope="module")
def store(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("e") / "e.h5"
    return embed_fasta(data_dir / "test.fasta", out, encoder="blosum62")


@pytest.mark.parametrize("fmt, view", [("biotrainer", "per_protein"), ("biotrainer", "per_residue"),
                                       ("uniprot", "per_protein"), ("uniprot", "per_residue")])
def test_hdf5_exports_read_back(tmp_path, store, fmt, view):
    out = tmp_path / "x.h5"
    assert main(["export", str(store), "-o", str(out), "--format", fmt, "--view", view, "-q"]) == 0
    with seqvec.open_embeddings(store) as a, seqvec.open_embeddings(out) as b:
        assert b.layout == fmt and b.views == (view,)
        assert b.ids == a.ids or (fmt == "uniprot" and sorted(b.ids) == sorted(a.ids))
        if view == "per_protein":
            np.testing.assert_array_equal(b.per_protein(a.ids), a.per_protein())
        else:
            for record_id in a.ids:
                np.testing.assert_array_equal(b.per_residue(record_id), a.per_residue(record_id))


def test_biotrainer_file_layout_as_documented(tmp_path, store):
    import h5py

    out = export(store, tmp_path / "b.h5", fmt="biotrainer")
    with h5py.File(out) as f, seqvec.open_embeddings(store) as a:
        assert list(f) == [str(i) for i in range(len(a))]
        assert [f[str(i)].attrs["original_id"] for i in range(len(a))] == a.ids


def test_parquet_one_row_per_protein(tmp_path, store):
    out = export(store, tmp_path / "e.parquet")
    table = pq.read_table(out)
    with seqvec.open_embeddings(store) as a:
        assert table.column("id").to_pylist() == a.ids
        assert table.column("length").to_pylist() == a.lengths.tolist()
        matrix = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
        np.testing.assert_array_equal(matrix, a.per_protein())


def test_export_from_a_shard_folder(tmp_path, data_dir):
    folder = tmp_path / "shards"
    for k in (2, 1):
        embed_fasta(data_dir / "test.fasta", folder, encoder="onehot", shard=f"{k}/2")
    out = export(folder, tmp_path / "e.npz")
    with np.load(out) as z, seqvec.open_embeddings(folder) as a:
        assert z.files == a.ids
        np.testing.assert_array_equal(np.stack([z[i] for i in z.files]), a.per_protein())

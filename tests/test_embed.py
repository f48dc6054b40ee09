"""embed_fasta against allennlp's reference outputs, layer views, dtypes, reruns."""
import logging

import h5py
import numpy as np
import pytest

from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.pipeline import embed_fasta, embed_sequences
from seqvec.errors import EmbedOptionError, InvalidSequenceError, ModelNotFoundError, OutputMismatchError
from seqvec.io.fasta import read_fasta

pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


def assert_matches_reference(ours, reference, atol=1e-4):
    """Per-residue [3, L, D] and per-protein [D] of every reference record within atol."""
    for view in ("per_residue", "per_protein"):
        ref, got = read_h5(reference, view), read_h5(ours, view)
        assert set(got) == set(ref), view
        for record_id, expected in ref.items():
            assert got[record_id].shape == expected.shape, (view, record_id)
            np.testing.assert_allclose(got[record_id], expected, atol=atol, rtol=0, err_msg=f"{view} {record_id}")


@pytest.fixture(scope="module")
def fresh_all(tmp_path_factory, data_dir, tiny_model_dir):
    out = tmp_path_factory.mktemp("fresh") / "all.h5"
    return embed_fasta(data_dir / "test.fasta", out, tiny_model_dir, layers="all")


def test_matches_allennlp_fresh(fresh_all, data_dir):
    assert_matches_reference(fresh_all, data_dir / "tiny_fresh.h5")
    assert list(read_h5(fresh_all, "per_protein"))[:2] == ["seqwence", "protein"]  # file order


def test_carry_state_matches_allennlp_readme_recipe(tmp_path, data_dir, tiny_model_dir):
    out = embed_fasta(data_dir / "test.fasta", tmp_path / "carry.h5", tiny_model_dir, layers="all",
                      carry_state=True, max_residues=200)
    assert_matches_reference(out, data_dir / "tiny_readme.h5")
    # and it differs from the stateless default where the state matters (short proteins)
    fresh = read_h5(data_dir / "tiny_fresh.h5")["protein"]
    assert np.abs(read_h5(out)["protein"] - fresh).max() > 1e-2


@pytest.mark.parametrize("layers, select", [
    ("sum", lambda x: x.sum(0)), ("cnn", lambda x: x[0]), ("lstm1", lambda x: x[1]), ("lstm2", lambda x: x[2]),
    ("concat", lambda x: np.hstack([x[0], x[1], x[2]]))])
def test_layer_views(tmp_path, short_fasta, tiny_model_dir, fresh_all, layers, select):
    out = embed_fasta(short_fasta, tmp_path / "v.h5", tiny_model_dir, layers=layers)
    full = read_h5(fresh_all)
    per_residue, per_protein = read_h5(out), read_h5(out, "per_protein")
    assert len(per_residue) == 9
    for record_id, got in per_residue.items():
        x = full[record_id]
        np.testing.assert_allclose(got, select(x), atol=1e-5)
        np.testing.assert_allclose(per_protein[record_id], select(x).mean(0), atol=1e-5)
    assert read_h5_attrs(out)["layers"] == layers


def test_sum_view_per_protein_equals_seqvec_recipe(fresh_all, tmp_path, short_fasta, tiny_model_dir):
    out = embed_fasta(short_fasta, tmp_path / "s.h5", tiny_model_dir)
    full = read_h5(fresh_all)
    for record_id, vector in read_h5(out, "per_protein").items():
        np.testing.assert_allclose(vector, full[record_id].sum(0).mean(0), atol=1e-5)


@pytest.mark.parametrize("layers, select", [
    ("sum", lambda x, row: np.hstack([x.sum(0), row])),
    ("concat", lambda x, row: np.hstack([x[0], row, x[1], 0 * row, x[2], 0 * row]))])
def test_language_model_with_blosum62_rows(tmp_path, short_fasta, tiny_model_dir, fresh_all, layers, select):
    """--encoder lm+blosum62: the LM's numbers unchanged, each residue's BLOSUM62 row once (on layer 0)."""
    from seqvec.embeddings.encoders import blosum62_encoder

    out = embed_fasta(short_fasta, tmp_path / "b.h5", tiny_model_dir, encoder="lm+blosum62", layers=layers)
    full, table, sequences = read_h5(fresh_all), blosum62_encoder(), dict(read_fasta(short_fasta))
    for record_id, got in read_h5(out).items():
        rows = table.embed(sequences[record_id])[0]
        np.testing.assert_allclose(got, select(full[record_id], rows), atol=1e-5)
    attrs = read_h5_attrs(out)
    assert attrs["encoder"] == "lm+blosum62" and attrs["model"].endswith("+blosum62")
    plain = read_h5_attrs(embed_fasta(short_fasta, tmp_path / "p.h5", tiny_model_dir))
    assert attrs["model_sha256"] != plain["model_sha256"]  # heads trained on one are refused on the other


def test_float16_reduced_in_float32(tmp_path, short_fasta, tiny_model_dir, fresh_all):
    out = embed_fasta(short_fasta, tmp_path / "h.h5", tiny_model_dir, layers="all", dtype="float16")
    half, full = read_h5(out, "per_protein"), read_h5(fresh_all, "per_protein")
    for record_id, vector in half.items():
        assert vector.dtype == np.float16
        # the mean was taken in float32, then cast: equal to the cast of the float32 result
        np.testing.assert_array_equal(vector, full[record_id].astype(np.float16))
    assert read_h5(out)["sp|P69905|HBA_HUMAN"].dtype == np.float16


def test_only_per_protein(tmp_path, short_fasta, tiny_model_dir):
    out = embed_fasta(short_fasta, tmp_path / "p.h5", tiny_model_dir, per_residue=False)
    with h5py.File(out) as f:
        assert "per_residue" not in f and f["per_protein"].shape[0] == 9 and len(f["records/id"]) == 9


def test_option_errors(tmp_path, data_dir, tiny_model_dir):
    fasta = data_dir / "test.fasta"
    with pytest.raises(EmbedOptionError, match="both off"):
        embed_fasta(fasta, tmp_path / "x.h5", tiny_model_dir, per_residue=False, per_protein=False)
    with pytest.raises(EmbedOptionError, match="layers='mean' is not one of sum, all"):
        embed_fasta(fasta, tmp_path / "x.h5", tiny_model_dir, layers="mean")
    with pytest.raises(EmbedOptionError, match="unknown option: layer"):
        embed_fasta(fasta, tmp_path / "x.h5", tiny_model_dir, layer="sum")
    with pytest.raises(EmbedOptionError, match="max_residues must be a positive integer"):
        embed_fasta(fasta, tmp_path / "x.h5", tiny_model_dir, max_residues=0)
    assert not list(tmp_path.iterdir())


def test_input_checked_before_the_model(tmp_path):
    fasta = tmp_path / "bad.fasta"
    fasta.write_text(">good\nMKL\n>bad\nMK-L\n")
    with pytest.raises(InvalidSequenceError, match="record 'bad': invalid character '-' at position 3"):
        embed_fasta(fasta, tmp_path / "x.h5", tmp_path / "no_such_model")
    fasta.write_text(">good\nMKL\n")
    with pytest.raises(ModelNotFoundError):
        embed_fasta(fasta, tmp_path / "x.h5", tmp_path / "no_such_model")
    with pytest.raises(InvalidSequenceError, match="record 'b': empty sequence"):
        embed_sequences({"a": "MK", "b": ""}, tmp_path / "no_such_model")


def test_rerun_complete_does_nothing(tmp_path, short_fasta, tiny_model_dir, caplog):
    out = embed_fasta(short_fasta, tmp_path / "r.h5", tiny_model_dir, encoder="lm")
    before = out.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="seqvec"):
        embed_fasta(short_fasta, out, tiny_model_dir, max_residues=123)  # speed only: same output
    assert out.stat().st_mtime_ns == before
    assert "nothing to do" in caplog.text
    assert not (tmp_path / "r.h5.partial").exists()


def test_mismatch_and_overwrite(tmp_path, short_fasta, tiny_model_dir):
    out = embed_fasta(short_fasta, tmp_path / "m.h5", tiny_model_dir)
    with pytest.raises(OutputMismatchError, match=r"layers: 'sum' -> 'all'.*`overwrite`"):
        embed_fasta(short_fasta, out, tiny_model_dir, layers="all")
    with pytest.raises(OutputMismatchError, match="model_sha256"):
        embed_fasta(short_fasta, out, encoder="onehot")
    other = tmp_path / "other.fasta"
    other.write_text(">x\nMKL\n")
    with pytest.raises(OutputMismatchError, match="input_sha256"):
        embed_fasta(other, out, tiny_model_dir)
    embed_fasta(short_fasta, out, tiny_model_dir, layers="all", overwrite=True)
    assert read_h5(out)["protein"].shape == (3, 7, 32)


def test_existing_foreign_file(tmp_path, short_fasta, tiny_model_dir):
    out = tmp_path / "foreign.h5"
    out.write_text("not mine")
    with pytest.raises(OutputMismatchError, match="not a seqvec embedding file"):
        embed_fasta(short_fasta, out, tiny_model_dir)
    assert out.read_text() == "not mine"


def test_embed_sequences_api(tiny_model):
    seqs = {"a": "MKTAYIAK", "b": "mkl*", "c": "X"}
    got = dict(embed_sequences(seqs, tiny_model))
    assert {k: v.shape for k, v in got.items()} == {"a": (8, 32), "b": (3, 32), "c": (1, 32)}
    np.testing.assert_allclose(got["b"], tiny_model.embed("MKL").sum(0), atol=1e-5)
    layers = dict(embed_sequences(seqs, tiny_model, layers="lstm2"))
    np.testing.assert_allclose(layers["a"], tiny_model.embed("MKTAYIAK")[2], atol=1e-5)


def test_library_entry_points(tmp_path, short_fasta, tiny_model):
    import seqvec

    out = seqvec.embed_fasta(short_fasta, tmp_path / "lib.h5", tiny_model, per_residue=False)
    vectors = seqvec.read_h5(out, "per_protein")
    assert len(vectors) == 9 and vectors["single_M"].shape == (32,)
    assert read_h5_attrs(out)["model_sha256"] == tiny_model.weights_sha256

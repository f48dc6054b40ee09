"""One-hot and BLOSUM62 baseline encoders: exact vectors, and the pipeline treating them as models."""
import numpy as np
import pytest

from seqvec.embeddings.encoders import ALPHABET, ENCODERS, blosum62_encoder, onehot_encoder
from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.options import ENCODER_CHOICES, TABLE_ENCODERS
from seqvec.embeddings.pipeline import embed_fasta, embed_sequences
from seqvec.errors import EmbedOptionError

# rows of NCBI's BLOSUM62 (ftp.ncbi.nih.gov/blast/matrices/BLOSUM62), columns ACDEFGHIKLMNPQRSTVWY X
BLOSUM62_ROWS = {
    "A": [4, 0, -2, -1, -2, 0, -2, -1, -1, -1, -1, -2, -1, -1, -1, 1, 0, 0, -3, -2, 0],
    "W": [-3, -2, -4, -3, 1, -2, -2, -3, -3, -2, -1, -4, -4, -2, -3, -3, -2, -3, 11, 2, -2],
    "B": [-2, -3, 4, 1, -3, -1, 0, -3, 0, -4, -3, 3, -2, 0, -1, 0, -1, -3, -4, -3, -1],
    "X": [0, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, 0, 0, -1, -2, -1, -1],
}


def test_alphabet():
    assert ALPHABET == "ACDEFGHIKLMNPQRSTVWYX"
    assert set(ENCODERS) == set(TABLE_ENCODERS)  # the light options module names them without importing torch
    assert set(ENCODER_CHOICES) == {"lm", *ENCODERS, *(f"lm+{name}" for name in ENCODERS)}


def test_onehot_exact():
    enc = onehot_encoder()
    assert (enc.name, enc.output_dim, enc.n_output_layers) == ("onehot", 21, 1)
    x = enc.embed_batch(["ACY", "XBZUOJ"])
    assert [tuple(t.shape) for t in x] == [(1, 3, 21), (1, 6, 21)]
    assert x[0].dtype.is_floating_point
    expected = np.zeros((3, 21), np.float32)
    expected[[0, 1, 2], [0, 1, 19]] = 1
    np.testing.assert_array_equal(x[0][0].numpy(), expected)
    # X and the letters that are not standard residues all map to X (the last column)
    np.testing.assert_array_equal(x[1][0].numpy().argmax(1), [20] * 6)
    assert x[1][0].numpy().sum() == 6


def test_onehot_mean_is_composition():
    composition = onehot_encoder().embed("AACDXB")[0].mean(0)
    assert composition[ALPHABET.index("A")] == pytest.approx(2 / 6)
    assert composition[ALPHABET.index("X")] == pytest.approx(2 / 6)  # X and B
    assert composition.sum() == pytest.approx(1.0)


def test_blosum62_exact_rows():
    enc = blosum62_encoder()
    assert (enc.name, enc.output_dim, enc.n_output_layers) == ("blosum62", 21, 1)
    x = enc.embed("AWBX")[0]
    for i, letter in enumerate("AWBX"):
        np.testing.assert_array_equal(x[i], np.array(BLOSUM62_ROWS[letter], np.float32), err_msg=letter)
    # letters absent from BLOSUM62 take X's row; Z has a row of its own
    u = enc.embed("UOJ")[0]
    np.testing.assert_array_equal(u, np.array([BLOSUM62_ROWS["X"]] * 3, np.float32))
    assert enc.embed("Z")[0][0][ALPHABET.index("E")] == 4


def test_identities_are_fixed_and_distinct():
    assert onehot_encoder().weights_sha256 == onehot_encoder().weights_sha256
    assert onehot_encoder().weights_sha256 != blosum62_encoder().weights_sha256


@pytest.mark.parametrize("encoder", ["onehot", "blosum62"])
def test_pipeline_with_encoder(tmp_path, data_dir, encoder):
    out = embed_fasta(data_dir / "test.fasta", tmp_path / "e.h5", encoder=encoder)
    per_residue = read_h5(out)
    per_protein = read_h5(out, "per_protein")
    enc = ENCODERS[encoder]()
    np.testing.assert_array_equal(per_residue["rare_letters"], enc.embed("MKXUZBOAXXXLLUZBOZZBBOOUUXGT")[0])
    np.testing.assert_allclose(per_protein["protein"], enc.embed("PROTEIN")[0].mean(0), rtol=1e-6)
    attrs = read_h5_attrs(out)
    assert (attrs["encoder"], attrs["model"], attrs["model_sha256"]) == (encoder, encoder, enc.weights_sha256)


def test_composition_through_pipeline(tmp_path):
    fasta = tmp_path / "c.fasta"
    fasta.write_text(">p\nAAAC\n")
    out = embed_fasta(fasta, tmp_path / "c.h5", encoder="onehot", per_residue=False)
    vector = read_h5(out, "per_protein")["p"]
    assert vector[0] == 0.75 and vector[1] == 0.25 and vector.sum() == 1.0


@pytest.mark.parametrize("layers", ["cnn", "lstm1", "lstm2"])
def test_single_lm_layer_is_an_error_for_encoders(tmp_path, data_dir, layers):
    with pytest.raises(EmbedOptionError, match=f"layers='{layers}' names a layer of the language model, "
                                               f"but onehot has 1 output layer; use 'sum' or 'all'"):
        embed_fasta(data_dir / "test.fasta", tmp_path / "e.h5", encoder="onehot", layers=layers)
    assert not (tmp_path / "e.h5").exists()


def test_layers_all_keeps_one_layer():
    (record_id, x), = embed_sequences({"a": "MKL"}, encoder="blosum62", layers="all")
    assert record_id == "a" and x.shape == (1, 3, 21)


def test_encoder_takes_no_model(tmp_path, data_dir, tiny_model_dir):
    with pytest.raises(EmbedOptionError, match="takes no language model"):
        embed_fasta(data_dir / "test.fasta", tmp_path / "e.h5", tiny_model_dir, encoder="onehot")

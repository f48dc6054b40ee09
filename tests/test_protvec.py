"""ProtVec: training with gensim, the vector files, and the encoder checked against gensim's own ``wv``."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqvec.cli.main import main
from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.embeddings.protvec import (
    UNKNOWN,
    ProtVecEncoder,
    ProtVecSettings,
    ProtVecVectors,
    bundled_protvec,
    centred_kmers,
    load_protvec,
    reading_frames,
    train_word2vec,
)
from seqvec.errors import ConfigError, MissingDependencyError, ModelNotFoundError, OutputMismatchError, WeightFileError
from seqvec.io.fasta import read_fasta

gensim = pytest.importorskip("gensim")  # in the [test] extra; only training needs it

TINY = ProtVecSettings(vector_size=16, window=5, epochs=2, min_count=2, seed=3)
TINY_FLAGS = ["--vector-size", "16", "--window", "5", "--epochs", "2", "--min-count", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def corpus(data_dir) -> Path:
    return data_dir / "lm_corpus.fasta"


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """(gensim model, directory written by `seqvec train-protvec` with the same settings)."""
    model = train_word2vec(list(read_fasta(corpus).values()), TINY)
    out = tmp_path_factory.mktemp("protvec") / "vectors"
    assert main(["train-protvec", str(corpus), "-o", str(out), "-q", *TINY_FLAGS]) == 0
    return model, out


def test_reading_frames_and_unknown_words():
    assert reading_frames("AGAMQSASM") == [["AGA", "MQS", "ASM"], ["GAM", "QSA"], ["AMQ", "SAS"]]
    assert reading_frames("AGXMQSA") == [[UNKNOWN, "MQS"], [UNKNOWN, "QSA"], [UNKNOWN]]
    assert reading_frames("AG") == []
    assert centred_kmers("ACDEF") == ["ACD", "ACD", "CDE", "DEF", "DEF"]
    assert centred_kmers("AC") == [UNKNOWN, UNKNOWN]


def test_cli_training_is_reproducible_and_matches_gensim(trained):
    model, out = trained
    vectors = ProtVecVectors.load(out)
    assert vectors.words == list(model.wv.index_to_key)
    np.testing.assert_array_equal(vectors.vectors, model.wv.vectors)  # another process, same seed: same bits
    meta = json.loads((out / "protvec.json").read_text())
    assert meta["settings"]["window"] == 5 and meta["corpus"]["sequences"] == 80
    assert meta["counts"][vectors.words[0]] == model.wv.get_vecattr(vectors.words[0], "count")


def from_wv(wv, kmer: str) -> np.ndarray:
    """gensim's vector of a 3-gram; <unk>'s (or zeros) for one it does not know."""
    if kmer in wv.key_to_index:
        return wv[kmer]
    return wv[UNKNOWN] if UNKNOWN in wv.key_to_index else np.zeros(wv.vector_size, np.float32)


def expected_from_wv(wv, sequence: str) -> np.ndarray:
    """Per residue, the gensim vector of the 3-gram centred on it (written out here, not with the encoder's code)."""
    starts = [min(max(i - 1, 0), len(sequence) - 3) for i in range(len(sequence))]
    return np.stack([from_wv(wv, sequence[s:s + 3]) for s in starts])


def test_encoder_equals_gensim_vectors(trained, corpus):
    model, out = trained
    encoder = load_protvec(out)
    known = next(iter(read_fasta(corpus).values()))
    rare = known[:40] + "XBWWW" + known[40:80]  # a non-standard letter, and 3-grams not in the corpus
    assert any(k not in model.wv.key_to_index for k in centred_kmers(rare))  # the unknown path is exercised
    for sequence in (known, rare):
        got = encoder.embed(sequence)
        assert got.shape == (1, len(sequence), 16)
        np.testing.assert_array_equal(got[0], expected_from_wv(model.wv, sequence))
    overlapping = [known[i:i + 3] for i in range(len(known) - 2)]
    np.testing.assert_allclose(encoder.protein_sum(known), np.sum([from_wv(model.wv, k) for k in overlapping], axis=0),
                               rtol=1e-5, atol=1e-5)
    assert encoder.embed("AC").shape == (1, 2, 16)


def test_unknown_vector_is_unk_word_or_zeros():
    words = ["AAA", UNKNOWN]
    with_unk = ProtVecEncoder(ProtVecVectors(words, np.array([[1, 2], [3, 4]], np.float32)))
    np.testing.assert_array_equal(with_unk.embed("AAAX")[0], [[1, 2], [1, 2], [3, 4], [3, 4]])
    without = ProtVecEncoder(ProtVecVectors(["AAA"], np.array([[1, 2]], np.float32)))
    np.testing.assert_array_equal(without.embed("AAAC")[0], [[1, 2], [1, 2], [0, 0], [0, 0]])


def test_vector_files_are_checked(tmp_path):
    vectors = ProtVecVectors(["AAA", "CCC"], np.ones((2, 4), np.float32), {"note": "x"})
    vectors.save(tmp_path / "v")
    assert ProtVecVectors.load(tmp_path / "v").meta["note"] == "x"
    with np.load(tmp_path / "v" / "vectors.npz", allow_pickle=False) as data:  # plain arrays, no pickle
        assert data["words"].dtype.kind == "U"
    np.savez(tmp_path / "v" / "vectors.npz", words=np.array(["AAA", "CCC"]), vectors=np.zeros((2, 4), np.float32))
    with pytest.raises(WeightFileError, match="checksum"):
        ProtVecVectors.load(tmp_path / "v")
    np.savez(tmp_path / "v" / "vectors.npz", words=np.array([{"a": 1}], dtype=object), vectors=np.zeros((1, 4)))
    with pytest.raises(WeightFileError, match="cannot read"):
        ProtVecVectors.load(tmp_path / "v")
    with pytest.raises(ModelNotFoundError, match="train-protvec"):
        load_protvec(tmp_path)
    with pytest.raises(WeightFileError, match="do not match"):
        ProtVecVectors(["AAA"], np.ones((2, 4), np.float32))


def test_training_errors(corpus, tmp_path, trained, monkeypatch):
    _, out = trained
    with pytest.raises(ConfigError, match="`overwrite`"):
        from seqvec.embeddings.protvec import train_protvec

        train_protvec(corpus, out, TINY)
    with pytest.raises(ConfigError, match="`ProtVecSettings.min_count`"):
        train_word2vec(["ACDEFGHIK"], ProtVecSettings(min_count=5))
    with pytest.raises(ConfigError, match="`ProtVecSettings.window` must be a positive integer"):
        ProtVecSettings(window=0)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(MissingDependencyError, match=r"seqvec\[protvec\]"):
        train_word2vec(["ACDEFGHIK"], TINY)


def test_bundled_vectors():
    encoder = bundled_protvec()
    assert (encoder.name, encoder.output_dim, encoder.n_output_layers) == ("protvec", 100, 1)
    assert len(encoder.vectors.words) == 8001 and UNKNOWN in encoder.vectors.words  # all 8,000 3-grams + <unk>
    assert encoder.vectors.meta["settings"]["window"] == 25
    assert load_protvec("protvec") is encoder


def test_models_lists_and_checks_protvec(capsys):
    assert main(["models"]) == 0
    assert "ProtVec 3-gram skip-gram vectors" in capsys.readouterr().out
    assert main(["models", "--check", "protvec"]) == 0
    assert f"vectors sha256 {bundled_protvec().weights_sha256}" in capsys.readouterr().out


def test_embed_cli_without_gensim(tmp_path, data_dir):
    """`seqvec embed --encoder protvec` works with gensim not importable (plain numpy look-ups)."""
    out = tmp_path / "x.h5"
    code = ("import sys; sys.modules['gensim'] = None; from seqvec.cli.main import main; "
            f"sys.exit(main(['embed', {str(data_dir / 'test.fasta')!r}, '-o', {str(out)!r}, '--encoder', 'protvec', "
            "'-q']))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
    per_residue, per_protein = read_h5(out, "per_residue"), read_h5(out, "per_protein")
    sequences = read_fasta(data_dir / "test.fasta")
    encoder = bundled_protvec()
    for key, sequence in list(sequences.items())[:4]:
        np.testing.assert_array_equal(per_residue[key], encoder.embed(sequence)[0])
        np.testing.assert_allclose(per_protein[key], per_residue[key].mean(0), rtol=1e-6)
    assert read_h5_attrs(out)["model"] == "protvec"


def test_own_vectors_by_directory_and_identity_check(trained, short_fasta, tmp_path):
    _, out = trained
    h5 = tmp_path / "mine.h5"
    assert main(["embed", str(short_fasta), "-o", str(h5), "--encoder", "protvec", "--model", str(out), "-q"]) == 0
    assert next(iter(read_h5(h5, "per_residue").values())).shape[1] == 16
    with pytest.raises(OutputMismatchError):  # the same output with the bundled vectors is another content
        embed_fasta(short_fasta, h5, encoder="protvec")


def test_lm_plus_protvec(tiny_model_dir, short_fasta, tmp_path):
    h5 = tmp_path / "both.h5"
    assert main(["embed", str(short_fasta), "-o", str(h5), "--encoder", "lm+protvec", "--model",
                 str(tiny_model_dir), "-q"]) == 0
    sequences = read_fasta(short_fasta)
    key, sequence = next(iter(sequences.items()))
    x = read_h5(h5, "per_residue")[key]
    assert x.shape == (len(sequence), 32 + 100)  # tiny LM (32 dims) + ProtVec
    np.testing.assert_array_equal(x[:, 32:], bundled_protvec().embed(sequence)[0])


@pytest.mark.slow
def test_train_evaluate_predict_with_protvec(data_dir, trained, tmp_path, capsys):
    """A head on the bundled ProtVec predicts from FASTA; one on other vectors is refused by predict."""
    tasks = data_dir / "tasks"
    labels = ["--labels", str(tasks / "deeploc_pool_small.fasta")]
    head = tmp_path / "heads" / "protein"
    assert main(["train", "-q", "--task", "localization", "--embeddings", str(tmp_path / "pool.h5"),
                 "--encoder", "protvec", *labels, "-o", str(head), "--epochs", "2", "--val-fraction", "0.2"]) == 0
    config = json.loads((head / "config.json").read_text())
    assert config["input_dim"] == 100 and config["embeddings"]["encoder"] == "protvec"
    assert main(["evaluate", "-q", "--head", str(head), "--embeddings", str(tmp_path / "test.h5"),
                 "--labels", str(tasks / "deeploc_test_small.fasta"), "-o", str(tmp_path / "m.json")]) == 0
    out = tmp_path / "p.json"
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(out), "--heads", str(head)]) == 0
    assert len(json.loads(out.read_text())["predictions"]) == 11
    _, own = trained
    other = tmp_path / "own"
    assert main(["train", "-q", "--task", "localization", "--embeddings", str(tmp_path / "own.h5"),
                 "--encoder", "protvec", "--model", str(own), *labels, "-o", str(other), "--epochs", "1"]) == 0
    assert main(["predict", "-q", str(data_dir / "test.fasta"), "-o", str(tmp_path / "q.json"),
                 "--heads", str(other)]) == 2
    assert "not on seqvec's protvec" in capsys.readouterr().err


@pytest.mark.slow
def test_seqvec_run_with_protvec(data_dir, trained, tmp_path):
    import yaml

    _, own = trained
    tasks = data_dir / "tasks"
    config = {"output": str(tmp_path / "out"), "encoders": ["protvec", f"protvec:{own}"], "heads": ["fnn"],
              "input": {"labels": [str(tasks / "deeploc_pool_small.fasta")],
                        "test": [str(tasks / "deeploc_test_small.fasta")]},
              "training": {"epochs": 2}, "report": {"bootstrap": 50, "plots": False}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "p.yaml"), "-q"]) == 0
    evaluated = sorted(p.parent.name for p in (tmp_path / "out" / "evaluate").glob("*/metrics.json"))
    assert evaluated == ["protvec-fnn", f"protvec-{own.name}-fnn"]


@pytest.mark.slow
def test_compare_with_protvec_and_lm_plus_protvec(data_dir, tiny_model_dir, tmp_path):
    tasks = data_dir / "tasks"
    assert main(["compare", "-q", "--encoders", "onehot,protvec,lm+protvec", "--model", str(tiny_model_dir),
                 "--heads", "fnn", "--tasks", "localization", "--train", str(tasks / "deeploc_pool_small.fasta"),
                 "--test", str(tasks / "deeploc_test_small.fasta"), "--epochs", "1", "--bootstrap", "20",
                 "-o", str(tmp_path / "cmp")]) == 0
    runs = json.loads((tmp_path / "cmp" / "compare.json").read_text())["runs"]
    assert [r["encoder"] for r in runs] == ["onehot", "protvec", "lm+protvec"]
    assert "best baseline" in (tmp_path / "cmp" / "compare.md").read_text()  # lm+protvec judged against both


def test_cli_errors_speak_flags(corpus, trained, capsys):
    _, out = trained
    assert main(["train-protvec", str(corpus), "-o", str(out), "-q"]) == 2
    assert "give --overwrite to replace them" in capsys.readouterr().err
    assert main(["train-protvec", str(corpus), "-o", str(out), "--window", "0", "-q"]) == 2
    assert "--window must be a positive integer" in capsys.readouterr().err

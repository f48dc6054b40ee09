"""Index, search and annotation transfer on small real data (DeepLoc slices), checked against brute force."""
import sys

import h5py
import numpy as np
import pytest

from seqvec.classifiers.labels.files import read_labels
from seqvec.classifiers.labels.tasks import TASKS
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.errors import EmbeddingMismatchError, MissingDependencyError, TaskError, UsageError
from seqvec.search.api import search_index, transfer_labels
from seqvec.search.index import IndexSettings, build_index
from seqvec.search.neighbours import load_index
from seqvec.search.query import read_queries
from seqvec.search.reliability import leave_one_out
from seqvec.search.source import open_vectors
from seqvec.search.transfer import transfer

pytest.importorskip("faiss")  # the [search] extra; CI installs it with [test]


@pytest.fixture(scope="module")
def deeploc(data_dir, tmp_path_factory):
    """The small DeepLoc pool (reference) and test slice (queries), embedded with BLOSUM62 and one-hot."""
    out = tmp_path_factory.mktemp("search")
    files = {"pool_fasta": data_dir / "tasks" / "deeploc_pool_small.fasta",
             "test_fasta": data_dir / "tasks" / "deeploc_test_small.fasta"}
    for part in ("pool", "test"):
        for encoder in ("blosum62", "onehot"):
            files[f"{part}_{encoder}"] = embed_fasta(files[f"{part}_fasta"], out / f"{part}.{encoder}.h5",
                                                     encoder=encoder, per_residue=False)
    files["index"] = build_index(files["pool_blosum62"], out / "pool.index")
    return files


def brute_force(reference: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Similarity of every query to every reference, [Q, N]."""
    if metric == "cosine":
        r = reference / np.linalg.norm(reference, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        return q @ r.T
    return 1.0 / (1.0 + np.linalg.norm(queries[:, None] - reference[None], axis=2))


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_search_equals_brute_force(deeploc, tmp_path, metric):
    path = build_index(deeploc["pool_blosum62"], tmp_path / "x.index", IndexSettings(metric=metric))
    index = load_index(path)
    pool, test = open_vectors(deeploc["pool_blosum62"]), open_vectors(deeploc["test_blosum62"])
    assert index.ids == pool.ids and len(test) == 12
    expected = brute_force(pool.read().astype(np.float64), test.read().astype(np.float64), metric)
    hits = index.search(test.read(), 5)
    order = np.argsort(-expected, axis=1, kind="stable")[:, :5]
    np.testing.assert_allclose(hits.similarity, np.take_along_axis(expected, order, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hits.similarity, np.take_along_axis(expected, hits.rows, 1), rtol=1e-5, atol=1e-6)
    assert (np.diff(hits.similarity, axis=1) <= 1e-7).all()  # best first
    if metric == "cosine":
        np.testing.assert_allclose(hits.distance, 1 - hits.similarity)
    else:
        np.testing.assert_allclose(hits.similarity, 1 / (1 + hits.distance), rtol=1e-6)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_kinds_find_the_exact_neighbours_on_a_small_set(deeploc, tmp_path, kind):
    exact = load_index(deeploc["index"])
    approximate = load_index(build_index(deeploc["pool_blosum62"], tmp_path / "a.index", IndexSettings(kind=kind)))
    queries = open_vectors(deeploc["test_blosum62"]).read()
    np.testing.assert_array_equal(approximate.search(queries, 3).rows, exact.search(queries, 3).rows)
    np.testing.assert_allclose(approximate.vectors(), exact.vectors(), atol=1e-6)


def test_exclude_self_and_min_similarity(deeploc):
    index = load_index(deeploc["index"])
    pool = open_vectors(deeploc["pool_blosum62"])
    with_self = index.search(pool.read(), 3)
    assert [index.ids[r] for r in with_self.rows[:, 0]] == pool.ids  # each protein is its own nearest
    np.testing.assert_allclose(with_self.similarity[:, 0], 1.0, atol=1e-5)
    without = index.search(pool.read(), 3, query_ids=pool.ids)
    assert all(index.ids[r] != q for q, row in zip(pool.ids, without.rows) for r in row)
    np.testing.assert_array_equal(without.rows[:, :2], with_self.rows[:, 1:])
    threshold = float(np.median(without.similarity[:, 0]))
    kept = index.search(pool.read(), 3, query_ids=pool.ids, min_similarity=threshold)
    assert np.all((kept.rows == -1) == (without.similarity < threshold))
    assert np.isnan(kept.similarity[kept.rows == -1]).all()


def test_uniprot_per_protein_layout_reads_the_same(deeploc, tmp_path):
    pool = open_vectors(deeploc["pool_blosum62"])
    uniprot = tmp_path / "per-protein.h5"
    with h5py.File(uniprot, "w") as f:  # UniProt's layout: one [D] dataset per accession at the root, float16
        for rid, vector in zip(pool.ids, pool.read()):
            f.create_dataset(rid, data=vector.astype(np.float16))
    source = open_vectors(uniprot)
    assert source.layout == "uniprot" and sorted(source.ids) == sorted(pool.ids) and source.identity == {}
    index = load_index(build_index(uniprot, tmp_path / "u.index"))
    queries = open_vectors(deeploc["test_blosum62"]).read()
    reference = load_index(deeploc["index"])
    assert [index.ids[r] for r in index.search(queries, 1).rows[:, 0]] == \
        [reference.ids[r] for r in reference.search(queries, 1).rows[:, 0]]


def test_queries_embedded_otherwise_are_refused(deeploc):
    index = load_index(deeploc["index"])
    with pytest.raises(EmbeddingMismatchError, match="encoder: index 'blosum62', queries 'onehot'") as err:
        read_queries(deeploc["test_onehot"], index)
    assert set(err.value.differences) >= {"encoder", "model"}


def test_a_fasta_query_is_embedded_with_the_index_model(deeploc, tiny_model_dir, tmp_path, one_thread):
    pool = embed_fasta(deeploc["pool_fasta"], tmp_path / "pool.h5", tiny_model_dir, per_residue=False)
    test = embed_fasta(deeploc["test_fasta"], tmp_path / "test.h5", tiny_model_dir, per_residue=False)
    index = load_index(build_index(pool, tmp_path / "tiny.index"))
    with pytest.raises(UsageError, match="give its directory as `model`"):  # the file names 'tiny_model...'
        search_index(deeploc["test_fasta"], index, k=4)
    from_fasta = search_index(deeploc["test_fasta"], index, k=4, model=str(tiny_model_dir))
    from_file = search_index(test, index, k=4)
    assert [r[:3] for r in from_fasta] == [r[:3] for r in from_file]
    np.testing.assert_allclose([r[3] for r in from_fasta], [r[3] for r in from_file], atol=1e-5)
    with pytest.raises(EmbeddingMismatchError):
        read_queries(deeploc["test_blosum62"], index)


def test_output_policy_and_missing_faiss(deeploc, tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="exists; use `overwrite`"):
        build_index(deeploc["pool_blosum62"], deeploc["index"])
    with pytest.raises(UsageError, match="also an input"):
        build_index(deeploc["pool_blosum62"], deeploc["pool_blosum62"], overwrite=True)
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingDependencyError, match=r"seqvec\[search\]"):
        build_index(deeploc["pool_blosum62"], tmp_path / "n.index")


def pool_labels(deeploc):
    return read_labels(deeploc["pool_fasta"])


def test_transfer_nearest_hit_and_weighted_vote_by_hand(deeploc):
    index, labels = load_index(deeploc["index"]), pool_labels(deeploc)
    spec, targets = TASKS["localization"], labels.labels["localization"]
    labelled = [i for i, rid in enumerate(index.ids) if rid in targets]
    assert 0 < len(labelled) < len(index)  # the Cytoplasm-Nucleus records have no location label
    queries = open_vectors(deeploc["test_blosum62"]).read()
    similarity = brute_force(index.vectors().astype(np.float64), queries.astype(np.float64), "cosine")
    for k in (1, 3):
        result = transfer(index, queries, spec, targets, k=k)
        for q, prediction in enumerate(result.predictions):
            order = sorted(labelled, key=lambda r: -similarity[q, r])[:k]
            votes = np.zeros(len(spec.classes))
            for r in order:
                votes[targets[index.ids[r]]] += similarity[q, r]
            assert int(np.argmax(prediction)) == int(np.argmax(votes))
            assert result.support[q] == pytest.approx(votes.max() / k, rel=1e-4)


def test_values_and_label_sets_are_transferred(deeploc, tmp_path):
    index = load_index(deeploc["index"])
    rows = [f"{rid},{i % 7 * 1.5}" for i, rid in enumerate(index.ids)]
    (tmp_path / "score.csv").write_text("id,value\n" + "\n".join(rows) + "\n")
    values = read_labels(tmp_path / "score.csv")
    spec, targets = values.specs["score"], values.labels["score"]
    queries = open_vectors(deeploc["test_blosum62"]).read()
    result = transfer(index, queries, spec, targets, k=3)
    for q, prediction in enumerate(result.predictions):
        hits, weights = result.hits.rows[q], result.hits.similarity[q]
        expected = sum(w * targets[index.ids[r]] for r, w in zip(hits, weights)) / weights.sum()
        assert float(prediction) == pytest.approx(expected, rel=1e-5)
    sets = [f"{rid},{'GO:1;GO:2' if i % 3 == 0 else 'GO:2' if i % 3 == 1 else 'GO:3'}"
            for i, rid in enumerate(index.ids)]
    (tmp_path / "go.csv").write_text("id,label\n" + "\n".join(sets) + "\n")
    go = read_labels(tmp_path / "go.csv", kind="protein_multilabel")
    spec, targets = go.specs["go"], go.labels["go"]
    nearest = transfer(index, queries, spec, targets, k=1)
    for q, prediction in enumerate(nearest.predictions):
        np.testing.assert_array_equal(prediction, targets[index.ids[nearest.hits.rows[q, 0]]])


def test_leave_one_out_matches_a_manual_one_and_reliability_is_monotone(deeploc):
    index, labels = load_index(deeploc["index"]), pool_labels(deeploc)
    spec, targets = TASKS["localization"], labels.labels["localization"]
    loo = leave_one_out(index, spec, targets, ks=(1, 3))
    vectors = index.vectors().astype(np.float64)
    labelled = [i for i, rid in enumerate(index.ids) if rid in targets]
    similarity = brute_force(vectors[labelled], vectors[labelled], "cosine")
    np.fill_diagonal(similarity, -np.inf)
    truth = np.array([targets[index.ids[i]] for i in labelled])
    assert loo.scores[1] == pytest.approx(np.mean(truth[similarity.argmax(1)] == truth))
    assert loo.best_k in (1, 3) and loo.n == len(labelled)
    grid = np.linspace(-1, 2, 50)
    reliability = loo.calibrations[1].reliability(grid)
    assert ((reliability >= 0) & (reliability <= 1)).all() and (np.diff(reliability) >= 0).all()
    assert np.isnan(loo.calibrations[1].reliability(np.array([np.nan]))).all()


def test_per_residue_tasks_and_ambiguous_tasks_are_refused(deeploc, data_dir):
    index = load_index(deeploc["index"])
    with pytest.raises(TaskError, match="per-protein tasks"):
        transfer(index, np.zeros((1, index.dim), np.float32), TASKS["ss3"], {})
    labels = read_labels([deeploc["pool_fasta"]])
    with pytest.raises(TaskError, match="choose one with `task`"):
        transfer_labels(deeploc["test_blosum62"], index, labels)

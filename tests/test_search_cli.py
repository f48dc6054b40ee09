"""seqvec index / search / transfer / evaluate --predictions / plot reliability, in-process on small real data."""
import csv
import json

import numpy as np
import pytest

from seqvec.cli.main import main
from seqvec.search.source import open_vectors

pytest.importorskip("faiss")


def read_tsv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def files(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("search_cli")
    pool, test = data_dir / "tasks" / "deeploc_pool_small.fasta", data_dir / "tasks" / "deeploc_test_small.fasta"
    for name, fasta in (("pool", pool), ("test", test)):
        assert main(["embed", str(fasta), "-o", str(out / f"{name}.h5"), "--encoder", "blosum62",
                     "--no-per-residue", "-q"]) == 0
    return {"out": out, "pool": pool, "test": test, "pool_h5": out / "pool.h5", "test_h5": out / "test.h5"}


def test_index_search_transfer_evaluate_plot(files, capsys):
    out = files["out"]
    index = out / "pool.index"
    assert main(["index", str(files["pool_h5"]), "-o", str(index), "-q"]) == 0
    assert main(["index", str(files["pool_h5"]), "-o", str(index), "-q"]) == 2  # exists: refused
    assert "--overwrite" in capsys.readouterr().err

    assert main(["search", str(files["test"]), "-i", str(index), "-k", "3", "-o", str(out / "hits.tsv"), "-q"]) == 0
    hits = read_tsv(out / "hits.tsv")
    assert list(hits[0]) == ["query", "rank", "target", "similarity", "distance"]
    queries = open_vectors(files["test_h5"]).ids
    assert [h["query"] for h in hits] == [q for q in queries for _ in range(3)]
    assert [int(h["rank"]) for h in hits] == [1, 2, 3] * len(queries)
    sims = np.array([float(h["similarity"]) for h in hits]).reshape(-1, 3)
    assert (np.diff(sims, axis=1) <= 1e-6).all()

    assert main(["search", str(files["pool_h5"]), "-i", str(index), "-k", "2", "--exclude-self",
                 "-o", str(out / "self.tsv"), "-q"]) == 0
    assert all(h["query"] != h["target"] for h in read_tsv(out / "self.tsv"))

    predictions, report = out / "pred.tsv", out / "loo.json"
    assert main(["transfer", str(files["test_h5"]), "-i", str(index), "--labels", str(files["pool"]),
                 "--task", "localization", "-k", "auto", "-o", str(predictions), "--report", str(report), "-q"]) == 0
    rows = read_tsv(predictions)
    assert list(rows[0]) == ["query", "localization", "reliability", "support", "hits"]
    assert [r["query"] for r in rows] == queries
    assert all(0 <= float(r["reliability"]) <= 1 for r in rows)
    loo = json.loads(report.read_text())
    assert str(loo["k"]) == max(loo["leave_one_out"], key=lambda k: (loo["leave_one_out"][k], -int(k)))
    assert all(len(r["hits"].split(";")) == loo["k"] for r in rows)

    evaluation = out / "eval.json"
    assert main(["evaluate", "--predictions", str(predictions), "--labels", str(files["test"]), "-o",
                 str(evaluation), "--bootstrap", "50", "-q"]) == 0
    scored = json.loads(evaluation.read_text())
    truth = {r.split()[0][1:]: r.split()[1].rsplit("-", 1)[0] for r in files["test"].read_text().splitlines()
             if r.startswith(">")}
    right = np.mean([truth[r["query"]] == r["localization"] for r in rows])
    assert scored["result"]["metrics"]["Q10"]["value"] == pytest.approx(right)
    assert scored["coverage"] == 1.0 and scored["reliability_curve"][0]["coverage"] == 1.0
    assert main(["plot", "reliability", str(evaluation), "-o", str(out / "rel.png"), "-q"]) == 0
    assert (out / "rel.png").stat().st_size > 10_000


def test_clear_errors(files, capsys):
    out = files["out"]
    index = out / "errors.index"
    assert main(["index", str(files["pool_h5"]), "-o", str(index), "--kind", "hnsw", "-q"]) == 0
    onehot = out / "test_onehot.h5"
    assert main(["embed", str(files["test"]), "-o", str(onehot), "--encoder", "onehot", "--no-per-residue",
                 "-q"]) == 0
    assert main(["search", str(onehot), "-i", str(index), "-q"]) == 2
    assert "embedded otherwise" in capsys.readouterr().err
    assert main(["transfer", str(files["test_h5"]), "-i", str(index), "--labels", str(files["pool"]),
                 "-o", str(out / "p.tsv"), "-q"]) == 2
    assert "choose one with --task" in capsys.readouterr().err
    assert main(["search", str(files["test_h5"]), "-i", str(files["pool_h5"]), "-q"]) == 2
    assert "not a seqvec index" in capsys.readouterr().err
    assert main(["evaluate", "--labels", str(files["test"]), "-q"]) == 2


@pytest.mark.parametrize("kind", ["protein_value", "protein_multilabel"])
def test_transfer_and_evaluate_values_and_label_sets(files, tmp_path, kind):
    ids = open_vectors(files["pool_h5"]).ids
    queries = open_vectors(files["test_h5"]).ids
    if kind == "protein_value":
        rows = [f"{rid},{i % 5 * 0.5}" for i, rid in enumerate(ids + queries)]
    else:
        rows = [f"{rid},{'a;b' if i % 3 == 0 else 'b' if i % 3 == 1 else 'c'}" for i, rid in enumerate(ids + queries)]
    labels = tmp_path / "task.csv"
    labels.write_text("id,label\n" + "\n".join(rows) + "\n")
    index = tmp_path / "pool.index"
    assert main(["index", str(files["pool_h5"]), "-o", str(index), "--metric", "l2", "-q"]) == 0
    predictions, evaluation = tmp_path / "pred.tsv", tmp_path / "eval.json"
    assert main(["transfer", str(files["test_h5"]), "-i", str(index), "--labels", str(labels), "--kind", kind,
                 "-k", "3", "-o", str(predictions), "-q"]) == 0
    table = read_tsv(predictions)
    assert [r["query"] for r in table] == queries and list(table[0])[1] == "task"
    assert main(["evaluate", "--predictions", str(predictions), "--labels", str(labels), "--kind", kind,
                 "--bootstrap", "20", "-o", str(evaluation), "-q"]) == 0
    result = json.loads(evaluation.read_text())["result"]
    assert result["kind"] == kind and result["n_proteins"] == len(queries)
    assert ("Spearman" if kind == "protein_value" else "macro_F1") in result["metrics"]

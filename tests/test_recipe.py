"""The train-a-head recipe as a library call (seqvec train, run and compare all go through it)."""
from __future__ import annotations

import json

import pytest

from seqvec.classifiers.labels.files import read_labels
from seqvec.classifiers.labels.tasks import get_tasks
from seqvec.classifiers.selection.crossval import SplitPlan, holdout
from seqvec.classifiers.selection.recipe import Validation, held_out_set, train_by_plan
from seqvec.classifiers.selection.splits import read_split
from seqvec.classifiers.training.experiment import HeadSpec, ensure_embeddings
from seqvec.classifiers.training.train import FitConfig
from seqvec.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pool(data_dir, tmp_path_factory):
    """The small DeepLoc pool (42 proteins, 40 with a location) and its one-hot embeddings."""
    labels = read_labels(data_dir / "tasks" / "deeploc_pool_small.fasta")
    h5 = ensure_embeddings(labels, tmp_path_factory.mktemp("recipe") / "pool.h5", encoder="onehot")
    return labels, h5, get_tasks("localization", labels.specs)


def spec(tasks, **changes) -> HeadSpec:
    return HeadSpec("fnn", tasks, FitConfig(epochs=2), **changes)


def test_holdout_by_plan_trains_one_head_and_writes_the_split(pool, tmp_path):
    labels, h5, tasks = pool
    trained = train_by_plan(spec(tasks, info={"labels": ["pool"]}), labels, h5, tmp_path / "head",
                            validation=Validation(SplitPlan(val_fraction=0.25, seed=3)))
    assert trained.cv is None and trained.checkpoint is not None and trained.result is not None
    folds, _ = read_split(tmp_path / "head" / "split.tsv")
    n_val = sum(f == "val" for f in folds.values())
    assert trained.checkpoint.training["n_val"] == n_val == 10 and trained.checkpoint.training["n_train"] == 30
    assert json.loads((tmp_path / "head" / "config.json").read_text())["training"]["labels"] == ["pool"]


def test_given_ids_train_on_exactly_those_proteins(pool, tmp_path):
    labels, h5, tasks = pool
    train_ids, val_ids = holdout(labels, tasks, SplitPlan(seed=1), tmp_path / "split")
    trained = train_by_plan(spec(tasks), labels, h5, tmp_path / "head",
                            validation=Validation(ids=(train_ids[:20], val_ids)))
    assert trained.checkpoint.training["n_train"] == 20 and trained.checkpoint.training["n_val"] == len(val_ids)
    assert not (tmp_path / "head" / "split.tsv").exists()  # the caller made the split


def test_cross_validation_with_a_search_and_a_test_set(pool, data_dir, tmp_path):
    labels, h5, tasks = pool
    test_labels = read_labels(data_dir / "tasks" / "deeploc_test_small.fasta")
    test = held_out_set(labels, h5, tasks, "protein", files=test_labels,
                    files_embeddings=ensure_embeddings(test_labels, tmp_path / "test.h5", encoder="onehot"))
    assert test.dataset is not None and test.ids == set(test.dataset.ids) and len(test.ids) > 0
    trained = train_by_plan(spec(tasks, grid={"lr": [1e-3, 1e-2]}), labels, h5, tmp_path / "cv",
                            validation=Validation(SplitPlan(cv=2)), test=test, n_bootstrap=20)
    report = trained.cv
    assert trained.checkpoint is None and report is not None and report["cv"] == 2
    assert report["n_test"] == len(test.dataset) and report["n_proteins"] == 40
    assert "test_ensemble" in report["repeats"][0]
    for k in range(2):
        config = json.loads((tmp_path / "cv" / f"fold{k}" / "config.json").read_text())
        assert config["training"]["search"]["chosen"]["lr"] in (1e-3, 1e-2)  # each fold searched the grid
        assert config["training"]["cv"]["fold"] == k


@pytest.mark.parametrize("validation, field", [
    (lambda labels: Validation(SplitPlan(cv=2), labels=labels), "Validation.labels"),
    (lambda labels: Validation(SplitPlan(identity=0.3), labels=labels), "Validation.labels"),
    (lambda labels: Validation(labels=labels, ids=([], [])), "Validation.ids"),
])
def test_conflicting_validation_names_the_python_field(pool, validation, field):
    with pytest.raises(UsageError) as err:
        validation(pool[0])
    assert err.value.option == field and f"`{field}`" in str(err.value) and "--" not in str(err.value)

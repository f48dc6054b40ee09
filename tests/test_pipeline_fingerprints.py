"""seqvec run never keeps a stale result: every key of the pipeline file is checked against
every stage (a change must redo exactly the stages whose numbers it can change), and the
test records the labels mark are scored by default, or a warning says why not."""
from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import yaml

from seqvec.cli.main import main
from seqvec.workflow.config import PipelineConfig, load_config
from seqvec.workflow.fingerprints import chain
from seqvec.workflow.inputs import read_inputs

pytestmark = pytest.mark.usefixtures("one_thread")
STAGES = ("embed", "train", "evaluate", "report", "plots")
DOWNSTREAM = {stage: set(STAGES[STAGES.index(stage):]) for stage in STAGES}  # a stage and all that read it

# every key of the pipeline file: a changed value, and the first stage it must redo (with
# every stage downstream of it); None: a key that changes no stored result, with the reason
AUDIT = [
    ("input.labels", "LABELS2", "embed"),
    ("input.sequences", "SEQUENCES", "embed"),
    ("input.label_format", "deeploc", "embed"),
    ("input.kind", "protein_class", "embed"),
    ("input.tasks", ["localization"], "train"),
    ("input.test", ["TESTFILE"], "embed"),  # test proteins from a file are embedded
    ("input.test", [], "train"),  # the marked test set no longer scored
    ("encoders", None, None),  # the encoder names the stage folders: a new chain, nothing reused
    ("heads", None, None),  # the same: each head has its own folders
    ("head_options", {"fnn": {"hidden_dim": 8}}, "train"),
    ("dtype", "float16", "embed"),
    ("training.epochs", 3, "train"),
    ("training.lr", 0.01, "train"),
    ("training.weight_decay", 0.1, "train"),
    ("training.batch_size", 8, "train"),
    ("training.max_residues", 1000, "train"),
    ("training.patience", 2, "train"),
    ("training.seed", 1, "train"),
    ("split.val_fraction", 0.3, "train"),
    ("split.identity", 0.5, "train"),
    ("split.groups", "GROUPS", "embed"),  # a file: its digest is an input
    ("split.cv", 3, "train"),
    ("split.repeat", 2, "train"),
    ("split.search", {"lr": [0.1, 0.01]}, "train"),
    ("report.bootstrap", 20, "train"),  # cross-validation scores its folds with it
    ("report.plots", False, {"report"}),  # the report's chart; the plots stage is then not run at all
    ("output", None, None),  # another folder: nothing there to reuse
]


def test_every_key_of_the_pipeline_file_is_audited():
    def keys(cls, prefix=""):
        for name, tp in typing.get_type_hints(cls).items():
            if dataclasses.is_dataclass(tp):
                yield from keys(tp, f"{name}.")
            else:
                yield prefix + name

    assert set(keys(PipelineConfig)) == {key for key, _, _ in AUDIT}


@pytest.fixture
def base(data_dir, tmp_path):
    """A pipeline whose labels mark 12 test proteins, plus the files the audit swaps in."""
    tasks = data_dir / "tasks"
    (tmp_path / "groups.tsv").write_text("id\tcluster\n")
    data = {"output": "out", "input": {"labels": [str(tasks / "deeploc_pool_small.fasta"),
                                                  str(tasks / "deeploc_test_small.fasta")]},
            "encoders": ["onehot"], "heads": ["fnn"]}
    (tmp_path / "copy.fasta").write_bytes((data_dir / "splits" / "multiloc_slice.fasta").read_bytes())
    swaps = {"LABELS2": str(tasks / "deeploc_pool_small.fasta"), "TESTFILE": str(tasks / "deeploc_test_small.fasta"),
             "SEQUENCES": str(tmp_path / "copy.fasta"), "GROUPS": str(tmp_path / "groups.tsv")}
    return data, swaps


def _user_labels(data: dict, data_dir) -> dict:
    """The same pipeline on a user label file (a TSV with its sequences in a FASTA): for kind and sequences."""
    slices = data_dir / "splits"
    return {**data, "input": {"labels": [str(slices / "multiloc_slice_classes.tsv")],
                              "sequences": str(slices / "multiloc_slice.fasta")}}


def _hashes(data: dict, tmp_path) -> dict[str, str]:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    return chain(config, read_inputs(config), "onehot", "fnn")


@pytest.mark.parametrize("key, value, first", [a for a in AUDIT if a[1] is not None],
                         ids=[f"{a[0]}={a[1]}" for a in AUDIT if a[1] is not None])
def test_a_changed_key_redoes_exactly_the_stages_it_affects(base, data_dir, tmp_path, key, value, first):
    data, swaps = base
    if key in ("input.kind", "input.sequences"):
        data = _user_labels(data, data_dir)
    before = _hashes(data, tmp_path)
    changed = json.loads(json.dumps(data))
    section, _, name = key.rpartition(".")
    target = changed.setdefault(section, {}) if section else changed
    if isinstance(value, (str, list)):
        value = [swaps.get(v, v) for v in value] if isinstance(value, list) else swaps.get(value, value)
    target[name] = value
    after = _hashes(changed, tmp_path)
    expected = first if isinstance(first, set) else DOWNSTREAM[first]
    assert {stage for stage in STAGES if before[stage] != after[stage]} == expected


def test_marked_test_records_are_scored_by_default_and_adding_test_redoes_the_stages(base, tmp_path, capsys):
    data, _ = base
    data.update(training={"epochs": 1}, report={"bootstrap": 20, "plots": False})
    data["input"]["test"] = []
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path)]) == 0
    err = capsys.readouterr().err
    assert "the labels mark 12 proteins as test; they are kept out of training and NOT scored" in err
    metrics = json.loads((tmp_path / "out" / "evaluate" / "onehot-fnn" / "metrics.json").read_text())
    assert metrics["source"].startswith("validation proteins") and "optimistic" in metrics["scored"]
    report = (tmp_path / "out" / "report" / "compare.md").read_text()
    assert f"scored on: {metrics['scored']}" in report and "cross-validation" not in report

    del data["input"]["test"]  # the starter file's default: the marked test records
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path)]) == 0
    err = capsys.readouterr().err
    assert "input.test not given: scoring the 12 proteins the labels mark as test" in err
    assert "stage embed onehot: up to date, skipped" in err
    assert "stage evaluate onehot-fnn: settings changed" in err
    metrics = json.loads((tmp_path / "out" / "evaluate" / "onehot-fnn" / "metrics.json").read_text())
    assert metrics["scored"] == "test set (SET=test of deeploc_pool_small.fasta, deeploc_test_small.fasta): " \
                                "n = 12 proteins"
    assert "scored on: test set (SET=test of" in (tmp_path / "out" / "report" / "compare.md").read_text()

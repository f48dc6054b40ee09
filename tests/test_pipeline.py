"""seqvec run: the example pipeline end to end on tiny data, resuming, redoing changed stages, config errors."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from seqvec.cli.main import main
from seqvec.errors import ConfigError
from seqvec.workflow.config import EXAMPLE, PipelineConfig, build, load_config

pytestmark = pytest.mark.usefixtures("one_thread")


def write_pipeline(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def example(data_dir, tiny_model_dir, tmp_path):
    """The --example file, pointed at the small DeepLoc slices and the tiny model."""
    data = yaml.safe_load(EXAMPLE)
    data["output"] = "out"
    data["input"]["labels"] = [str(data_dir / "tasks" / "deeploc_pool_small.fasta")]
    data["input"]["test"] = [str(data_dir / "tasks" / "deeploc_test_small.fasta")]
    data["encoders"] = [f"lm:{tiny_model_dir}" if e == "lm" else e for e in data["encoders"]]
    data["training"]["epochs"] = 2
    data["report"]["bootstrap"] = 50
    return data


def test_example_prints_and_parses(capsys):
    assert main(["run", "--example"]) == 0
    text = capsys.readouterr().out
    assert text == EXAMPLE and "# " in text
    config = build(PipelineConfig, yaml.safe_load(text))
    assert config.encoders == ("lm", "onehot", "blosum62") and config.split.cv is None


def test_example_runs_end_to_end_then_skips_then_redoes_what_changed(example, tmp_path, capsys):
    path = write_pipeline(tmp_path / "pipeline.yaml", example)
    assert main(["run", path]) == 0
    out = tmp_path / "out"
    lm = next(p.name for p in (out / "embeddings").iterdir() if p.name.startswith("lm-"))
    for encoder in (lm, "onehot", "blosum62"):
        assert (out / "embeddings" / encoder / "train.h5").is_file()
        assert (out / "embeddings" / encoder / "test.h5").is_file()
        metrics = json.loads((out / "evaluate" / f"{encoder}-fnn" / "metrics.json").read_text())
        assert metrics["source"] == "test set (deeploc_test_small.fasta)"
        assert metrics["tasks"]["localization"]["n_proteins"] == 12
        assert (out / "heads" / f"{encoder}-fnn" / "config.json").is_file()
        assert (out / "heads" / f"{encoder}-fnn" / "split.tsv").is_file()
        assert (out / "plots" / f"curves_{encoder}-fnn.png").is_file()
        assert (out / "plots" / f"confusion_{encoder}-fnn.png").is_file()
    report = (out / "report" / "compare.md").read_text()
    assert "| onehot | fnn |" in report and "| blosum62 | fnn |" in report
    assert len(list(out.rglob("stage.json"))) == 3 + 3 + 3 + 2  # embed, train, evaluate per encoder; report, plots
    printed = capsys.readouterr()
    assert "| onehot | fnn |" in printed.out and "finished: 11 stages" in printed.out

    def stamps():
        return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    before = stamps()
    assert main(["run", path]) == 0
    assert stamps() == before
    assert capsys.readouterr().err.count("up to date, skipped") == 11

    example["training"]["lr"] = 0.01
    write_pipeline(tmp_path / "pipeline.yaml", example)
    assert main(["run", path]) == 0
    err = capsys.readouterr().err
    assert err.count("up to date, skipped") == 3  # the embeddings
    assert "stage train onehot-fnn: settings changed (training.lr: 0.001 -> 0.01); redoing it" in err
    head = json.loads((out / "heads" / "onehot-fnn" / "config.json").read_text())
    assert head["training"]["fit"]["lr"] == 0.01


def test_interrupted_cross_validation_resumes(data_dir, tmp_path, monkeypatch, capsys):
    from seqvec.classifiers.selection import search

    data = {"output": "out", "input": {"labels": [str(data_dir / "tasks" / "deeploc_pool_small.fasta")],
                                       "test": [str(data_dir / "tasks" / "deeploc_test_small.fasta")]},
            "encoders": ["onehot", "blosum62"], "heads": ["fnn"], "training": {"epochs": 2},
            "split": {"cv": 2}, "report": {"bootstrap": 50, "plots": False}}
    path = write_pipeline(tmp_path / "p.yaml", data)
    real, calls = search.train_head, []  # where the recipe trains each head

    def interrupted(*args, **kwargs):
        calls.append(args[4])
        if len(calls) == 4:  # blosum62, second fold
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "train_head", interrupted)
    assert main(["run", path]) == 130
    out = tmp_path / "out"
    assert not (out / "heads" / "blosum62-fnn" / "stage.json").exists()
    assert (out / "heads" / "blosum62-fnn" / "fold0" / "config.json").is_file()
    monkeypatch.setattr(search, "train_head", real)
    capsys.readouterr()
    assert main(["run", path]) == 0
    err = capsys.readouterr().err
    assert "stage train onehot-fnn: up to date, skipped" in err
    assert "stage train blosum62-fnn: resuming an unfinished run" in err
    assert "reusing the finished fold head" in err  # blosum62 fold 0
    metrics = json.loads((out / "evaluate" / "blosum62-fnn" / "metrics.json").read_text())
    assert metrics["source"] == "test set (deeploc_test_small.fasta), mean of the 2 fold heads"
    cv = json.loads((out / "heads" / "blosum62-fnn" / "cv.json").read_text())
    assert len(cv["repeats"][0]["folds"]) == 2 and cv["n_test"] == 12


@pytest.mark.parametrize("change, message", [
    ({"split": {"identiy": 0.3}}, "unknown key 'split.identiy'; allowed in split: val_fraction, identity"),
    ({"training": {"epochs": "ten"}}, "training.epochs: expected an integer, got 'ten'"),
    ({"encoders": ["lm", "esm"]}, "encoders[1]: 'esm' is not one of lm, lm:NAME, lm:DIRECTORY, onehot, blosum62"),
    ({"encoders": ["onehot:seqvec-mini"]}, "encoders[0]: 'onehot:seqvec-mini' is not one of lm, lm:NAME"),
    ({"heads": ["mlp"]}, "heads[0]: unknown head 'mlp'; choose from fnn"),
    ({"colour": "red"}, "unknown key 'colour'; allowed at the top: output, input"),
    ({"report": {"plots": "yes"}}, "report.plots: expected true/false, got 'yes'"),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    data = {"output": "out", "input": {"labels": ["x.fasta"]}, **change}
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write_pipeline(tmp_path / "p.yaml", data))


def test_missing_key_and_relative_paths(tmp_path):
    with pytest.raises(ConfigError, match="missing key 'input.labels'"):
        load_config(write_pipeline(tmp_path / "p.yaml", {"output": "o", "input": {}}))
    config = load_config(write_pipeline(tmp_path / "p.yaml", {"output": "o", "input": {"labels": "l.fasta"}}))
    assert config.output == str(tmp_path / "o") and config.input.labels == (str(tmp_path / "l.fasta"),)


def test_a_second_run_on_the_same_output_fails_at_once(data_dir, tmp_path, capsys):
    from seqvec.io.lock import OutputLock

    data = {"output": "out", "input": {"labels": [str(data_dir / "tasks" / "deeploc_pool_small.fasta")]},
            "encoders": ["onehot"]}
    path = write_pipeline(tmp_path / "p.yaml", data)
    with OutputLock(tmp_path / "out"):
        assert main(["run", path]) == 1
    assert "is being written by another run" in capsys.readouterr().err
    assert not (tmp_path / "out" / "embeddings").exists()


def test_user_labels_without_a_test_set_are_scored_on_validation(data_dir, tmp_path):
    slice_dir = data_dir / "splits"
    data = {"output": "out", "input": {"labels": [str(slice_dir / "multiloc_slice_classes.tsv")],
                                       "sequences": str(slice_dir / "multiloc_slice.fasta"), "kind": "protein_class"},
            "encoders": ["onehot"], "heads": ["fnn"], "training": {"epochs": 2},
            "report": {"bootstrap": 50, "plots": False}}
    assert main(["run", write_pipeline(tmp_path / "p.yaml", data)]) == 0
    metrics = json.loads((tmp_path / "out" / "evaluate" / "onehot-fnn" / "metrics.json").read_text())
    assert metrics["source"].startswith("validation proteins (no test set; optimistic")
    assert metrics["tasks"]["multiloc_slice_classes"]["n_proteins"] == 15  # 10% of 150
    assert "| onehot | fnn |" in (tmp_path / "out" / "report" / "compare.md").read_text()


def test_language_model_with_table_rows_takes_a_model_directory(tmp_path):
    (tmp_path / "my-model").mkdir()
    data = {"output": "o", "input": {"labels": "l.fasta"}, "encoders": ["lm+blosum62:my-model", "lm+onehot"]}
    config = load_config(write_pipeline(tmp_path / "p.yaml", data))
    assert config.encoders == (f"lm+blosum62:{tmp_path / 'my-model'}", "lm+onehot")

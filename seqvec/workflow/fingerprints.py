"""What each ``seqvec run`` stage's result depends on: its settings, hashed into ``stage.json``.

A stage is skipped only when these settings are unchanged, so every key of the pipeline
file that can change a stage's numbers must appear here (directly, or through the hash of
a stage it reads from). ``tests/test_pipeline_fingerprints.py`` checks each key of the
file against each stage.

=========  ==============================================================================
stage      depends on
=========  ==============================================================================
embed      encoder and model digest, dtype, per-residue output, the input files' digests,
           how they are read (label format, kind), whether test proteins come from files
train      the embeddings, head, head options, tasks, training, split, bootstrap (cross-
           validation scores its folds), the test proteins (never trained on; scored per fold)
evaluate   the head, the embeddings, bootstrap, seed, the test proteins
report     every evaluation, the label and test files named in the report
plots      every evaluation
=========  ==============================================================================
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from seqvec.workflow.config import PipelineConfig
from seqvec.workflow.stages import settings_hash

if TYPE_CHECKING:
    from seqvec.classifiers.labels.readers import LabelSet
    from seqvec.workflow.inputs import Inputs


def ids_digest(labels: LabelSet | None) -> str | None:
    """sha256 of the sorted ids of a label set (None for no set)."""
    if labels is None:
        return None
    return hashlib.sha256("\n".join(sorted(labels.ids)).encode()).hexdigest()


def test_settings(config: PipelineConfig, inputs: Inputs) -> dict:
    """The test proteins: as configured (None: the sets the labels mark), as found, and their ids."""
    return {"test": None if config.input.test is None else list(config.input.test),
            "test_sets": list(inputs.test_sets), "test_ids": ids_digest(inputs.test)}


def embed_settings(config: PipelineConfig, inputs: Inputs, encoder: str, model_sha256: str | None,
                   per_residue: bool) -> dict:
    """Settings of the embed stage of one encoder."""
    spec = config.input
    return {"encoder": encoder, "model_sha256": model_sha256, "inputs": inputs.digest, "dtype": config.dtype,
            "per_residue": per_residue, "label_format": spec.label_format, "kind": spec.kind,
            "separate_test": inputs.separate_test}


def train_settings(config: PipelineConfig, inputs: Inputs, embeddings_hash: str, head: str,
                   tasks: list[str]) -> dict:
    """Settings of the train stage of one (encoder, head)."""
    return {"embeddings": embeddings_hash, "head": head, "options": config.head_options.get(head, {}),
            "tasks": tasks, "training": dataclasses.asdict(config.training),
            "split": dataclasses.asdict(config.split), "bootstrap": config.report.bootstrap,
            **test_settings(config, inputs)}


def evaluate_settings(config: PipelineConfig, inputs: Inputs, embeddings_hash: str, head_hash: str) -> dict:
    """Settings of the evaluate stage of one trained head."""
    return {"head": head_hash, "embeddings": embeddings_hash, "bootstrap": config.report.bootstrap,
            "seed": config.training.seed, **test_settings(config, inputs)}


def report_settings(config: PipelineConfig, evaluations: list[str]) -> dict:
    """Settings of the report stage: every evaluation, and the files the report names."""
    return {"runs": evaluations, "labels": list(config.input.labels),
            "test": None if config.input.test is None else list(config.input.test),
            "chart": config.report.plots}


def plots_settings(evaluations: list[str]) -> dict:
    """Settings of the plots stage."""
    return {"runs": evaluations}


def chain(config: PipelineConfig, inputs: Inputs, encoder: str, head: str, model_sha256: str | None = None,
          per_residue: bool = False) -> dict[str, str]:
    """The hash of each stage of one (encoder, head) chain, upstream hashes included: what
    decides whether ``seqvec run`` redoes a stage (used by the audit test)."""
    embed = settings_hash(embed_settings(config, inputs, encoder, model_sha256, per_residue))
    train = settings_hash(train_settings(config, inputs, embed, head, sorted(inputs.tasks)))
    evaluate = settings_hash(evaluate_settings(config, inputs, embed, train))
    return {"embed": embed, "train": train, "evaluate": evaluate,
            "report": settings_hash(report_settings(config, [evaluate])),
            "plots": settings_hash(plots_settings([evaluate]))}

"""The ``seqvec run config.yaml`` workflow: chains embed -> train -> evaluate -> report -> plots (resumable)."""
from seqvec.workflow.config import PipelineConfig, load_config
from seqvec.workflow.run import run_pipeline

__all__ = ["PipelineConfig", "load_config", "run_pipeline"]

"""``seqvec run config.yaml``: chains embed -> train -> evaluate -> report -> plots (resumable)."""
from seqvec.pipeline.config import PipelineConfig, load_config
from seqvec.pipeline.run import run_pipeline

__all__ = ["PipelineConfig", "load_config", "run_pipeline"]

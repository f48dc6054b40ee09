"""``seqvec run pipeline.yaml``: one YAML file, the whole job (embed, train, evaluate, report, plots)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqvec.errors import UsageError

HELP = "run a whole job from one YAML file: embed -> train -> evaluate -> report -> plots (resumable)"
DESCRIPTION = """Run every stage a pipeline file describes, under its output folder:
embeddings per encoder, heads per (encoder, head) (one split, or cross-validation),
test-set metrics with 95% bootstrap intervals, a comparison report (compare.md, .json,
.png) and plots (learning curves, confusion matrices).

Rerunning the same file resumes: a stage that finished with the same settings is
skipped, a stage whose settings (or inputs, or upstream stages) changed is redone and the
log says which settings changed, an interrupted stage continues where it stopped.
Unknown keys and wrong types in the file are errors naming the key.

examples:
  seqvec run --example > pipeline.yaml     # a commented starter file; edit it, then
  seqvec run pipeline.yaml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", type=Path, nargs="?", help="the pipeline YAML file")
    parser.add_argument("--example", action="store_true", help="print a commented starter pipeline file and exit")


def run(args: argparse.Namespace) -> int:
    from seqvec.workflow.config import EXAMPLE

    if args.example:
        sys.stdout.write(EXAMPLE)
        return 0
    if args.pipeline is None:
        raise UsageError("give a pipeline file (seqvec run pipeline.yaml), or --example for a starter file",
                         option="config")
    from seqvec.workflow.config import load_config
    from seqvec.workflow.run import run_pipeline

    config = load_config(args.pipeline)
    done = run_pipeline(config, progress=not args.quiet)
    report = done.get("report", {}).get("report")
    if report:
        print(Path(report).read_text())
    print(f"finished: {len(done)} stages under {config.output}")
    return 0

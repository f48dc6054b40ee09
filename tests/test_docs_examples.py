"""Every shell and Python example of README.md and docs/*.md runs, on tiny data.

Each document's examples run in order in one fresh folder (so a head trained by one block
is there for the next), with the data files the docs name replaced by the slices in
tests/data (:data:`SUBSTITUTES`), a few options made cheaper and ids swapped for the
slice's (:data:`CHEAPER`). A
command that cannot run here is listed in :data:`EXCEPTIONS` with the reason; nothing is
skipped silently, and an exception that no longer matches a command fails the test, so
the list cannot go stale. Python blocks are executed; YAML blocks are read as pipeline
files. Slow (every command of every document): ``pytest -m slow tests/test_docs_examples.py``.
"""
from __future__ import annotations

import gzip
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
PROGRAMS = ("seqvec", "python", "torchrun", "mmseqs", "zcat", "pip")

# the files the docs name -> the slice of tests/data that stands in for them (see tests/data/README.md)
SUBSTITUTES = {
    "tests/data/test.fasta": "test.fasta", "tests/data/lm_corpus.fasta": "lm_corpus.fasta",
    "proteins.fasta": "SHORT_ACCESSIONS", "in.fasta": "SHORT", "new_proteins.fasta": "SHORT", "test_subset.fasta": "SHORT",
    "proteins.fasta.gz": "SHORT.gz",
    "deeploc_our_val_set.fasta": "tasks/deeploc_pool_small.fasta",
    "deeploc_valid_6000.fasta": "tasks/deeploc_numeric_small.fasta",
    "deeploc_labels_q2.json": "tasks/deeploc_labels_q2_small.json",
    "deeploc_test_set.fasta": "tasks/deeploc_test_small.fasta",
    "netsurfp/flip_trainval": "tasks/flip_small", "flip2000": "tasks/flip_small",
    "validation_secondary_structure_valid.csv": "tasks/tape_small.csv",
    "CB513_HHblits.csv": "tasks/CB513_small.csv",
    "from_publication.fasta": "user/bind_labels.fasta", "sequences.fasta": "user/bind_sequences.fasta",
    "my_task.fasta": "MULTILOC_BIOTRAINER",
    "three_vs_rest.fasta.gz": "user/gb1_small.fasta.gz",
    "CheZOD1174_training_set_CheZOD_scores.txt": "tasks/CheZOD_small_CheZOD_scores.txt",
    "CheZOD1174_training_set_sequences.fasta": "tasks/CheZOD_small_sequences.fasta",
    "deeploc_biotrainer.fasta": "DEEPLOC_BIOTRAINER",  # the DeepLoc slices as biotrainer FASTA, as tasks.md says
    "multiloc.tsv": "splits/multiloc_slice_classes.tsv", "multiloc.fasta": "splits/multiloc_slice.fasta",
    "corpus.fasta.gz": "lm_corpus.fasta.gz", "held_out.fasta": "lm_corpus.fasta",
    "options.json": "tiny_options.json", "weights.hdf5": "tiny_weights.hdf5",
    "path/to/model_dir": "TINY_MODEL",
}
# (document, command prefix, text, replacement): options made cheaper, ids the slices hold
CHEAPER = [
    ("docs/convlstm.md", "seqvec plot attention", "P38175 Q8VYI3 Q8WWL7", "Q8IZS7 Q500W4"),  # ids of the slice
    ("README.md", "seqvec train-lm", "--config mini", "--config tiny --max-steps 2"),
    ("README.md", "seqvec train-lm", "--resume", "--resume --max-steps 3"),
]
# (document, regex on the command) -> why it does not run here
EXCEPTIONS = {
    ("README.md", r"^pip install"): "installs seqvec from the network; CI runs the same install (.ci/run)",
    ("README.md", r"^python -m pytest$"): "runs this test suite itself",
    ("README.md", r"^torchrun"): "several processes or machines; tests/test_embed_distributed.py and "
                                 "tests/test_lm_train.py run torchrun with 2 CPU processes",
    ("docs/embeddings.md", r"^torchrun"): "several processes; tests/test_embed_distributed.py runs it with 2",
    ("docs/embeddings.md", r"--model seqvec$"): "downloads the released SeqVec (93.6 M parameters)",
    ("docs/embeddings.md", r"--shard [\"']?\$\{SLURM_ARRAY_TASK_ID\}/100"):
        "a Slurm array job over UniRef50; tests/test_store*.py run --shard K/N on tests/data",
    ("docs/benchmarks.md", r"^(nice )?python benchmarks/"): "a benchmark on the full data sets, run by hand",
    ("docs/benchmarks.md", r"^seqvec train --labels multiloc.tsv .* --split-by-identity"):
        "identity clusters of the full MultiLoc set; tests/test_crossval.py runs --split-by-identity on a slice",
    ("docs/performance.md", r"^python benchmarks/"): "a benchmark on full-size SeqVec weights, run by hand",
    ("docs/convlstm.md", r"^(nice )?python benchmarks/multiloc.py"): "hours of training on the full MultiLoc set, "
                                                                      "run by hand; tests/test_train_resume.py resumes",
    ("docs/heads.md", r"^mmseqs easy-cluster IN.fasta"): "the MMseqs2 command seqvec runs itself (shown, not run)",
    ("docs/convlstm.md", r"^(nice )?python benchmarks/multiloc"): "trains on / splits the full MultiLoc set, run by "
                                                                   "hand; tests/test_signals.py runs the commands below "
                                                                   "on a MultiLoc slice",
    ("docs/convlstm.md", r"--head multiloc_run/head_fold0"): "reads the head benchmarks/multiloc.py trains by hand; "
                                                              "tests/test_signals.py runs the same options on a slice",
    ("docs/tasks.md", r"^python chezod_to_biotrainer.py CheZOD1174"): None,  # runs: the script is the block below
}
# untagged blocks that name commands without being command lines: (document, first words) -> why
LISTINGS = {("README.md", "seqvec embed        FASTA"): "the table of commands and what each does"}
# documents whose examples this test does not run yet, each with why (every other document's examples run)
NOT_WALKED: dict[str, str] = {}
SCRIPTS = {"chezod_to_biotrainer.py": ("docs/tasks.md", "import random, sys")}  # a script a command runs


@dataclass
class Block:
    kind: str  # bash, python, yaml, or "" (untagged)
    text: str
    line: int


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file."""
    text = path.read_text()
    return [Block(m.group(1), m.group(2), text[:m.start()].count("\n") + 1)
            for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def shell_commands(text: str) -> list[str]:
    """Command lines of a shell block: continuations joined (also a quote that spans lines), comments and
    blank lines dropped, ``&&`` split; a line with a pipe is kept as written, for the shell."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out, pending = [], ""
    for line in joined.splitlines():
        pending = f"{pending} {line}" if pending else line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on on the next line
            continue
        command, pending = pending, ""
        if not words:  # a comment or a blank line
            continue
        if any(c in command for c in "|;<>$"):  # pipes, loops, redirections, variables: for the shell
            out.append(re.sub(r"\s+#[^'\"]*$", "", command).strip())
            continue
        part: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                out += [shlex.join(part)] if part else []
                part = []
            else:
                part.append(word)
    if pending:
        raise ValueError(f"no closing quotation in {pending[:60]!r}")
    return out


def is_shell(block: Block) -> bool:
    """A bash block, or an untagged block whose every line is a command."""
    if block.kind in ("bash", "sh", "shell", "console"):
        return True
    if block.kind != "":
        return False
    try:
        lines = shell_commands(block.text)
    except ValueError:  # not shell syntax (an apostrophe in prose): a listing, such as the README's table
        return False
    return bool(lines) and all(line.split()[0] in PROGRAMS for line in lines)


def exception(doc: str, command: str, used: set) -> str | None:
    for key, reason in EXCEPTIONS.items():
        if key[0] == doc and re.search(key[1], command) and reason is not None:
            used.add(key)
            return reason
    return None


def stage(folder: Path, tiny_model: Path, short: Path) -> None:
    """The substitute data under the names the docs use."""
    for name, source in SUBSTITUTES.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source == "SHORT":
            shutil.copy(short, target)
        elif source == "SHORT_ACCESSIONS":  # its UniProt record named by its accession, as the docs' ids are
            target.write_text(short.read_text().replace(">sp|P69905|HBA_HUMAN", ">P69905"))
        elif source == "MULTILOC_BIOTRAINER":
            target.write_text(_multiloc_as_biotrainer())
        elif source == "SHORT.gz":
            target.write_bytes(gzip.compress(short.read_bytes()))
        elif source == "DEEPLOC_BIOTRAINER":
            target.write_text(_deeploc_as_biotrainer())
        elif source == "TINY_MODEL":
            shutil.copytree(tiny_model, target)
        elif source.endswith(".fasta.gz") and not (DATA / source).exists():
            target.write_bytes(gzip.compress((DATA / source.removesuffix(".gz")).read_bytes()))
        elif (DATA / source).is_dir():
            shutil.copytree(DATA / source, target)
        else:
            shutil.copy(DATA / source, target)
    for name, (doc, first_line) in SCRIPTS.items():
        code = next(b.text for b in blocks(ROOT / doc) if b.text.startswith(first_line))
        (folder / name).write_text(code)
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    (bin_dir / "seqvec").write_text(f"#!/bin/sh\nexec {sys.executable} -m seqvec \"$@\"\n")
    (bin_dir / "seqvec").chmod(0o755)


def _multiloc_as_biotrainer() -> str:
    """A protein-class task of one's own: the MultiLoc slice as biotrainer FASTA, every 10th record SET=test."""
    classes = dict(line.split("\t") for line in (DATA / "splits" / "multiloc_slice_classes.tsv").read_text().split("\n")
                   if "\t" in line)
    lines = []
    records = (DATA / "splits" / "multiloc_slice.fasta").read_text().split(">")[1:]
    for n, record in enumerate(records):
        header, *sequence = record.splitlines()
        rid = header.split()[0]
        if rid in classes:
            lines += [f">{rid} TARGET={classes[rid]} SET={'test' if n % 10 == 0 else 'train'}", "".join(sequence)]
    return "\n".join(lines) + "\n"


def _deeploc_as_biotrainer() -> str:
    """The DeepLoc pool (both files) and test slices as ``>ID TARGET=<location> SET=train|test`` (Cytoplasm-Nucleus left out)."""
    from seqvec.classifiers.labels.tasks import DEEPLOC_CLASSES

    lines, seen = [], set()
    for name, part in (("deeploc_pool_small.fasta", "train"), ("deeploc_numeric_small.fasta", "train"),
                       ("deeploc_test_small.fasta", "test")):
        records = (DATA / "tasks" / name).read_text().split(">")[1:]
        for record in records:
            header, *sequence = record.splitlines()
            rid, label = header.split()[:2]
            location = DEEPLOC_CLASSES[int(label)] if label.isdigit() else label.rsplit("-", 1)[0]
            if location != "Cytoplasm-Nucleus" and rid not in seen:  # the numeric file's labels are class indices
                seen.add(rid)
                lines += [f">{rid} TARGET={location} SET={part}", "".join(sequence)]
    return "\n".join(lines) + "\n"


def cheaper(doc: str, command: str) -> str:
    for d, prefix, old, new in CHEAPER:
        if d == doc and command.startswith(prefix) and old in command:
            command = command.replace(old, new)
    return command


def run_shell(command: str, folder: Path) -> None:
    """One command: ``seqvec ...`` in this process, anything else through the shell."""
    from seqvec.cli.main import main

    words = shlex.split(command)
    if words[0] == "seqvec" and "--workers" not in words and not any(c in command for c in "|;<>$"):
        code = main(words[1:])
        assert code == 0, f"exit status {code}"
        return
    env = {**os.environ, "PATH": f"{folder / '.bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(ROOT)) for d in DOCUMENTS])
def test_every_example_of_the_document_runs(document, tmp_path, tiny_model_dir, short_fasta, monkeypatch):
    from seqvec.workflow.config import PipelineConfig, build

    doc = str(document.relative_to(ROOT))
    if doc in NOT_WALKED:
        pytest.skip(f"{doc}: {NOT_WALKED[doc]}")  # listed with its reason, never silently
    stage(tmp_path, tiny_model_dir, short_fasta)
    monkeypatch.chdir(tmp_path)
    used: set = set()
    failures = []
    for block in blocks(document):
        where = f"{doc}:{block.line}"
        if block.kind == "python":
            if any(d == doc and block.text.startswith(first) for d, first in SCRIPTS.values()):
                continue  # run as the script the shell example before it names
            try:
                exec(compile(block.text, where, "exec"), {"__name__": "__doc_example__"})
            except Exception as err:  # noqa: BLE001 - reported with its place in the docs
                failures.append(f"{where} (python): {type(err).__name__}: {err}")
        elif block.kind == "yaml":
            try:
                build(PipelineConfig, yaml.safe_load(block.text))
            except Exception as err:  # noqa: BLE001
                failures.append(f"{where} (yaml): {err}")
        elif block.kind == "" and not is_shell(block) and any(
                line.split()[:1] and line.split()[0] in PROGRAMS for line in block.text.splitlines()):
            key = next((k for k in LISTINGS if k[0] == doc and block.text.startswith(k[1])), None)
            if key is None:
                failures.append(f"{where}: names commands but does not parse as shell lines (not run)")
            used.add(key)
        elif is_shell(block):
            for command in shell_commands(block.text):
                if exception(doc, command, used):
                    continue
                start = time.perf_counter()
                try:
                    run_shell(cheaper(doc, command), tmp_path)
                except (Exception, SystemExit) as err:  # noqa: BLE001
                    failures.append(f"{where}: {command}\n    -> {type(err).__name__}: {err}")
                print(f"{time.perf_counter() - start:6.1f} s  {where}: {command[:100]}")
    stale = [k for k, reason in EXCEPTIONS.items() if k[0] == doc and reason is not None and k not in used]
    stale += [k for k in LISTINGS if k[0] == doc and k not in used]
    assert not stale, f"exceptions that match no command any more: {stale}"
    assert not failures, "doc examples that fail:\n" + "\n".join(failures)


def test_the_doc_parser_finds_the_examples():
    """Fast: the parser sees commands and continuations the way the docs write them."""
    text = "seqvec train --a 1 \\\n    --b 2   # comment\n# only a comment\npip install x && seqvec embed y -o z.h5\n"
    assert shell_commands(text) == ["seqvec train --a 1 --b 2", "pip install x", "seqvec embed y -o z.h5"]
    assert is_shell(Block("", "seqvec embed a -o b.h5\n", 1)) and not is_shell(Block("", "OUT/x.h5  layout\n", 1))
    assert shell_commands("seqvec train --map '{\"0\": [],\n   \"1\": [\"a\"]}' \\\n  -o h\n") == [
        "seqvec train --map '{\"0\": [],    \"1\": [\"a\"]}' -o h"]  # the quote's line break is a space
    assert shell_commands("zcat a.gz | seqvec embed - -o b.h5   # stdin\n") == ["zcat a.gz | seqvec embed - -o b.h5"]
    found = {str(d.relative_to(ROOT)): len(blocks(d)) for d in DOCUMENTS}
    assert found["README.md"] >= 4 and found["docs/heads.md"] >= 4

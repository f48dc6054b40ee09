"""The held-out proteins of a ``benchmarks/multiloc.py`` fold, for reading a head's attention.

A head that ``benchmarks/multiloc.py`` trained on fold ``k``'s training part has never seen
the proteins of fold ``k``; this writes them, so that ``seqvec plot attention --per-class
--signals`` and ``seqvec plot filters`` read held-out proteins only:

- ``OUT/fold<k>_test.fasta``: the records of the test fold, copied unchanged from the
  MultiLoc files (headers keep their sorting-signal annotations, ``SP 14``, ``SA 16 30``, ...);
- ``OUT/fold<k>_test_classes.tsv``: ``id`` and ``localization`` (the class = the file name).

The folds are made exactly as ``benchmarks/multiloc.py`` makes them: for ``--split random``
the same stratified 5-fold split (seed 0) of the files read in the same order; for
``--split identity`` the ``fold`` column of the run's ``split.tsv`` (``--split-file``).
``--result`` (the run's ``result.json``) checks that the test fold has the classes in the
order the run scored them, so a changed split cannot pass unnoticed.

Then, e.g. (``RUN`` = the ``--out`` folder of ``benchmarks/multiloc.py``)::

    python benchmarks/multiloc_signals.py --fold 0 --result RUN/result.json --out held_out
    seqvec plot attention --per-class --signals --head RUN/head_fold0 --fasta held_out/fold0_test.fasta \\
        --labels held_out/fold0_test_classes.tsv -o profiles.png --export signals.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout

from benchmarks.multiloc import CLASSES  # noqa: E402


def multiloc_records(data_dir: Path) -> list[tuple[str, str, str]]:
    """``(id, record text as in the file, class)`` of every MultiLoc protein, in ``multiloc.py``'s order."""
    records = []
    for name in CLASSES:
        text = (data_dir / f"{name}.fasta").read_text()
        for block in text.split("\n>"):
            block = block.lstrip(">").strip("\n")
            if block:
                records.append((block.split()[0], ">" + block + "\n", name))
    return records


def held_out_fold(records: list[tuple[str, str, str]], fold: int, split_file: Path | None) -> list[int]:
    """Indices of ``records`` in test fold ``fold``."""
    if split_file is None:
        from sklearn.model_selection import StratifiedKFold

        labels = np.array([CLASSES.index(r[2]) for r in records])
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels))
        return folds[fold][1].tolist()
    from seqvec.classifiers.selection.splits import read_split

    fold_of = read_split(split_file)[0]
    return [i for i, r in enumerate(records) if fold_of.get(r[0]) == str(fold)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data/multiloc")
    p.add_argument("--out", type=Path, required=True, help="folder for fold<k>_test.fasta and its classes")
    p.add_argument("--fold", type=int, default=0, help="the test fold (0-4)")
    p.add_argument("--split-file", type=Path, help="--split identity runs: the run's split.tsv")
    p.add_argument("--result", type=Path, help="the run's result.json, to check the fold against")
    args = p.parse_args(argv)
    records = multiloc_records(args.data)
    chosen = held_out_fold(records, args.fold, args.split_file)
    if args.result:
        result = json.loads(args.result.read_text())
        scored, start = None, 0  # the run pools its folds' labels in the order it ran them
        for row in result["folds"]:
            if row["fold"] == args.fold:
                scored = result["confusion"]["labels"][start:start + row["n_test"]]
            start += row["n_test"]
        if scored != [CLASSES.index(records[i][2]) for i in chosen]:
            print(f"error: fold {args.fold} does not match the classes {args.result} scored "
                  "(another split, or a fold the run did not finish)", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    fasta = args.out / f"fold{args.fold}_test.fasta"
    fasta.write_text("".join(records[i][1] for i in chosen))
    table = args.out / f"fold{args.fold}_test_classes.tsv"
    table.write_text("id\tlocalization\n" + "".join(f"{records[i][0]}\t{records[i][2]}\n" for i in chosen))
    print(f"wrote {fasta} and {table}: {len(chosen)} held-out proteins of fold {args.fold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

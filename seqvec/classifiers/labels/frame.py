"""Embeddings as a pandas DataFrame, with the labels of label files joined (``pip install seqvec[pandas]``).

:func:`to_dataframe` reads any embedding file or shard folder through
:func:`seqvec.open_embeddings` and gives one row per protein: ``length``, the per-protein
vector (one column ``embedding`` of arrays ``[D]``, or ``D`` columns ``e0 ... e{D-1}`` with
``wide=True``) and, for each per-protein task of the label files, its label (class name,
list of label names, or value), plus ``set`` where the files mark train/validation/test.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqvec.classifiers.labels.tasks import TASKS, TaskSpec
from seqvec.errors import EmbeddingFileError, UsageError

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)


def _label(spec: TaskSpec, target: Any) -> Any:
    """A stored target as a person reads it: the class name, the label names, or the value."""
    if spec.kind.target == "class":
        return spec.classes[int(target)] if int(target) >= 0 else None
    if spec.kind.target == "multilabel":
        return [c for c, on in zip(spec.classes, target) if on > 0.5]
    return float(target)


def to_dataframe(embeddings: str | os.PathLike, labels: str | os.PathLike | Sequence[str | os.PathLike] = (),
                 *, wide: bool = False, label_format: str | None = None, **label_options: Any) -> pandas.DataFrame:
    """Per-protein embeddings (any layout seqvec reads) as a DataFrame indexed by record id.

    Parameters
    ----------
    embeddings : an embedding file or shard folder.
    labels : label files (any format ``seqvec train --labels`` takes) whose per-protein tasks
        become columns; proteins without a label get NaN/None. ``label_options`` are the
        user-format options (``sequences=``, ``kind=``, ``task_name=``, ...).
    wide : one column per dimension (``e0`` ...) instead of one ``embedding`` column of arrays.
    """
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("to_dataframe needs pandas: pip install 'seqvec[pandas]'") from None
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.embeddings.store import open_embeddings

    with open_embeddings(embeddings) as store:
        ids = list(store.ids)
        vectors = store.per_protein()  # (N, D)
        try:
            lengths = store.lengths
        except EmbeddingFileError:  # a foreign per-protein file records no lengths
            lengths = None
    frame = pd.DataFrame(index=pd.Index(ids, name="id"))
    if lengths is not None:
        frame["length"] = lengths
    if wide:
        frame = frame.join(pd.DataFrame(vectors, index=frame.index, columns=[f"e{i}" for i in range(vectors.shape[1])]))
    else:
        frame["embedding"] = list(vectors)
    files = [labels] if isinstance(labels, (str, os.PathLike)) else list(labels)
    if files:
        label_set = read_labels([Path(p) for p in files], label_format, **label_options)
        specs = {**TASKS, **label_set.specs}
        for task, values in label_set.labels.items():
            spec = specs.get(task)
            if spec is None or spec.level != "protein" or not values:
                logger.info("task %s is not a per-protein task: not a column", task)
                continue
            frame[task] = [_label(spec, values[i]) if i in values else None for i in ids]
        if label_set.partition:
            frame["set"] = [label_set.partition.get(i) for i in ids]
        missing = sum(1 for i in ids if not any(i in v for v in label_set.labels.values()))
        if missing:
            logger.info("%d of %d proteins have no label in %s", missing, len(ids), ", ".join(map(str, files)))
    return frame

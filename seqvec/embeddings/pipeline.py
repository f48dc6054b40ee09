"""FASTA in, HDF5 out: the embedding pipeline behind ``seqvec embed``.

Order of work: check the paths and options, lock the output (one output, one run:
:mod:`seqvec.io.lock`), read and validate the whole input, identify the model (hash of
its weights and options, without loading it), compare with an existing output or
unfinished run, load the model, then embed what is missing, batch by batch into
crash-safe part files (:mod:`seqvec.embeddings.parts`), and merge. Under ``torchrun``
every rank does its share (:class:`seqvec.io.World`); rank 0 holds the lock.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from functools import partial as partial_function
from itertools import groupby
from pathlib import Path

import numpy as np
import torch

from seqvec.embeddings.columnar import IdChunks, Shapes
from seqvec.embeddings.embedder import Embedder, StatefulEmbedder
from seqvec.embeddings.encoders import ENCODERS, WithTable, stacked_sha256
from seqvec.embeddings.files import durable_replace, write_file, writing
from seqvec.embeddings.h5 import existing_output_matches, root_attributes
from seqvec.embeddings.inplace import InPlaceRun, merge_parts_columnar
from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES, EmbedSettings, parse_shard, uses_lm
from seqvec.embeddings.parts import PartialRun
from seqvec.embeddings.reduce import LayerView, get_view
from seqvec.embeddings.shards import INDEX_NAME, shard_name, shard_ranges, write_index
from seqvec.errors import (
    EmbedOptionError,
    ModelNotFoundError,
    OutOfMemoryError,
    OutputLockedError,
    OutputMismatchError,
    OutputWriteError,
    SeqVecError,
)
from seqvec.io import STDIN, World, assign_to_ranks, make_batches, make_sequential_chunks
from seqvec.io.arguments import path_argument
from seqvec.io.batching import WINDOW_RECORDS, WINDOW_RESIDUES, window_ends, window_plan
from seqvec.io.fasta import CheckedSequences, normalize_sequences, read_fasta_checked, sequences_digest
from seqvec.io.lock import OutputLock
from seqvec.io.output import check_not_input
from seqvec.io.scan import ScannedFasta, scan_fasta
from seqvec.lm.kernels import CACHE as KERNEL_CHOICES
from seqvec.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """A model identified before it is loaded: what goes into the output's fingerprint."""

    name: str
    sha256: str  # of the weights file (LM) or of the encoding table (baselines)
    options_sha256: str  # of the model's shape (the LM's options.json; a baseline's table shape)
    n_output_layers: int
    precision: str  # "float32" or "bf16"
    device: str  # device type the numbers are computed on: "cpu" or "cuda"
    load: Callable[[], Embedder]


def model_spec(model: Embedder | str | os.PathLike | None = None, encoder: str = "lm", *,
               options_file: str | os.PathLike | None = None, weights_file: str | os.PathLike | None = None,
               device: str = "cpu", precision: str | None = None) -> ModelSpec:
    """Identify the model to embed with: a model object, a name or directory, or a baseline encoder.

    ``precision`` None means the model object's own, or float32 for a model loaded here; a
    model object is never switched (EmbedOptionError if it runs at another precision).
    ``encoder="lm+TABLE"`` stacks the language model with a table encoder (:class:`WithTable`);
    ``encoder="protvec"`` uses the bundled ProtVec, or the vectors in the directory ``model``.
    """
    if encoder.startswith("lm+"):
        lm = model_spec(model, "lm", options_file=options_file, weights_file=weights_file, device=device,
                        precision=precision)
        table = ENCODERS[encoder[3:]]()
        return ModelSpec(f"{lm.name}+{table.name}", stacked_sha256(lm.sha256, table.weights_sha256),
                         stacked_sha256(lm.options_sha256, table.options_sha256), lm.n_output_layers, lm.precision,
                         lm.device, lambda: WithTable(lm.load(), table))
    if encoder != "lm":
        baseline = _baseline(encoder, model, options_file, weights_file)
        return ModelSpec(baseline.name, baseline.weights_sha256, baseline.options_sha256, 1, "float32", "cpu",
                         lambda: baseline)
    if isinstance(model, Embedder):
        if precision is not None and precision != model.precision:
            raise EmbedOptionError(
                f"the model given runs at precision {model.precision!r}, not {precision!r}; load it with "
                f"load_model(..., precision={precision!r}) or call its set_precision({precision!r}) first")
        loaded = model
        return ModelSpec(model.name, model.weights_sha256, model.options_sha256, model.n_output_layers,
                         model.precision, model.device.type, lambda: loaded)
    from seqvec.lm.allennlp_io import file_sha256
    from seqvec.lm.config import SeqVecConfig
    from seqvec.lm.pretrained import load_model, resolve

    name, options_path, weights_path = resolve(model, options=options_file, weights=weights_file)
    for path in (options_path, weights_path):
        if not Path(path).is_file():
            raise ModelNotFoundError(f"model {name!r}: {path} not found")
    config = SeqVecConfig.from_json(options_path)
    chosen = precision or "float32"
    return ModelSpec(name, file_sha256(weights_path), config.digest(), config.n_layers + 1, chosen,
                     torch.device(device).type,
                     lambda: load_model(model, options=options_file, weights=weights_file, device=device,
                                        precision=chosen))


def _baseline(encoder: str, model, options_file, weights_file):
    """A baseline encoder; ``encoder="protvec"`` takes a directory of vectors as ``model`` (default: bundled)."""
    if encoder == "protvec" and model is not None and options_file is None and weights_file is None:
        from seqvec.embeddings.protvec import ProtVecEncoder, load_protvec

        return model if isinstance(model, ProtVecEncoder) else load_protvec(model)
    if model is not None or options_file is not None or weights_file is not None:
        raise EmbedOptionError(f"encoder={encoder!r} takes no language model (`model`, `options`, `weights`)")
    return ENCODERS[encoder]()


def embed_layers(model: Embedder, ids: list[str], sequences: dict[str, str]) -> list[np.ndarray]:
    """``[n_layers, L, D]`` float32 per id, from one batch; halves the batch on GPU out-of-memory."""
    try:
        return [t.numpy() for t in model.embed_batch([sequences[i] for i in ids])]
    except torch.OutOfMemoryError:
        if len(ids) == 1:
            raise OutOfMemoryError(f"out of GPU memory embedding {ids[0]!r} ({len(sequences[ids[0]])} residues) "
                                   f"alone; use `device` cpu for it", record_id=ids[0]) from None
        torch.cuda.empty_cache()
        half = len(ids) // 2
        logger.warning("out of GPU memory on a batch of %d; splitting it in two (lower --max-residues)", len(ids))
        return embed_layers(model, ids[:half], sequences) + embed_layers(model, ids[half:], sequences)


def _reduce(layers: np.ndarray, view: LayerView, settings: EmbedSettings
            ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(per-residue view or None, per-protein vector or None), both float32."""
    per_residue = view.per_residue(layers)
    return (per_residue if settings.per_residue else None,
            view.per_protein(per_residue) if settings.per_protein else None)


def _progress(total: int, enabled: bool):
    return progress_bar(total=total, unit="res", unit_scale=True, desc="embedding", enabled=enabled,
                        dynamic_ncols=True)


def _run_batched(model: Embedder, sequences: dict[str, str], settings: EmbedSettings, view: LayerView,
                 partial: PartialRun, done: dict, world: World, progress: bool) -> None:
    """Embed this rank's share of the batch plan, skipping records already in parts."""
    lengths = {record_id: len(s) for record_id, s in sequences.items()}
    plan = make_batches(lengths, settings.max_residues)  # the same in every rank and every rerun
    share = assign_to_ranks([len(b) * lengths[b[0]] for b in plan], world.size)[world.rank]
    todo = [batch for batch in ([i for i in plan[k] if i not in done] for k in share) if batch]
    logger.info("%d batches to embed (%d of %d records already done)", len(todo), len(done), len(sequences))
    with _progress(sum(lengths[i] for b in todo for i in b), progress and world.is_main) as bar:
        for batch in todo:
            records = [(i, lengths[i], *_reduce(x, view, settings))
                       for i, x in zip(batch, embed_layers(model, batch, sequences))]
            partial.write_part(records, settings.dtype, settings.compression, world.rank)
            bar.update(sum(lengths[i] for i in batch))


def _shapes(model: Embedder, view: LayerView, settings: EmbedSettings) -> Shapes:
    """The stored shapes, from the view of a one-residue array of the model's shape."""
    probe = view.per_residue(np.zeros((model.n_output_layers, 1, model.output_dim), np.float32))
    tail = (probe.shape[0], probe.shape[2]) if probe.ndim == 3 else (0, probe.shape[1])
    return Shapes(int(view.per_protein(probe).shape[0]) if settings.per_protein else None,
                  tail if settings.per_residue else None, settings.dtype)


def _copies(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identical sequences, from their md5 digests ``[n, 16]`` uint8: ``(embed [n] bool, true at the
    first row of each distinct sequence; the other rows [r] sorted by the first row of their
    sequence; that first row [r])``. Sorts 8 bytes of each digest (all 16 where 8 are shared by
    different sequences): about 40 bytes per record for a moment."""
    n = len(digests)
    key = np.ascontiguousarray(digests[:, :8]).view(np.uint64).ravel()  # [n]
    order = np.argsort(key, kind="stable")  # equal keys in row order
    same = key[order[1:]] == key[order[:-1]]  # [n-1]: sorted position i+1 repeats position i
    del key
    later, earlier = order[1:][same], order[:-1][same]
    if not np.array_equal(digests[later], digests[earlier]):  # 8 bytes shared by two sequences: sort all 16
        _, order = np.unique(np.ascontiguousarray(digests).view("V16").ravel(), return_inverse=True)
        order = np.argsort(order.ravel(), kind="stable")
        same = np.all(digests[order[1:]] == digests[order[:-1]], axis=1)
        later = order[1:][same]
    run_start = np.maximum.accumulate(np.where(np.concatenate([[True], ~same]), np.arange(n), 0))  # [n]
    first = order[run_start[1:][same]]  # the first row of each repeat's sequence
    embed = np.ones(n, dtype=bool)
    embed[later] = False
    sort = np.argsort(first, kind="stable")
    if len(later):
        logger.info("%d records repeat the sequence of an earlier one: %d distinct sequences are embedded "
                    "for %d records", len(later), n - len(later), n)
    return embed, later[sort], first[sort]


def _same_as(sequences: dict[str, str]) -> dict[str, str]:
    """``{id: the first id with the same sequence}`` for every id that repeats an earlier sequence."""
    first: dict[str, str] = {}
    same_as = {i: first.setdefault(s, i) for i, s in sequences.items()}
    repeats = {i: j for i, j in same_as.items() if i != j}
    if repeats:
        logger.info("%d records repeat the sequence of an earlier one: %d distinct sequences are embedded "
                    "for %d records", len(repeats), len(first), len(sequences))
    return repeats


def _run_inplace(model: Embedder, scanned: ScannedFasta, rows: tuple[int, int], settings: EmbedSettings,
                 view: LayerView, partial: PartialRun, attrs: dict, world: World, progress: bool) -> None:
    """Embed rows ``start:end`` of the input into a columnar file written in place
    (:mod:`seqvec.embeddings.inplace`): each distinct sequence once, this rank's share of the
    batch plan, skipping journalled batches. The input is read again window by window
    (:func:`~seqvec.io.batching.window_plan`), so memory holds one window's sequences and
    about 40 bytes per record of numpy arrays (lengths, offsets, the plan)."""
    start, end = rows
    lengths = scanned.lengths[start:end]  # [n] int32
    embed, repeats, repeat_of = _copies(scanned.digests[start:end])
    ends = window_ends(lengths, WINDOW_RESIDUES, WINDOW_RECORDS)
    plan, starts, first_batch = window_plan(lengths, embed, settings.max_residues, ends)  # same in every rank and rerun
    del embed
    run = InPlaceRun(partial, world.rank)
    if world.is_main:
        ids = IdChunks(end - start, scanned.id_width, scanned.id_chunks(start, end))
        run.create(ids, lengths, scanned.digests[start:end], _shapes(model, view, settings), attrs)
    world.barrier()
    done = run.done()
    if done and uses_lm(settings.encoder):  # the rest with the kernels the journalled batches used
        KERNEL_CHOICES.pin(partial.kernel_choices())
    sizes = np.diff(starts)  # [n_batches] records per batch
    costs = sizes * lengths[plan[starts[:-1]]] if len(plan) else sizes  # padded residues (longest first)
    share = assign_to_ranks(costs.tolist(), world.size)[world.rank]
    todo = [k for k in share if k not in done]
    logger.info("%d batches to embed (%d of %d batches already done)", len(todo), len(done), len(sizes))
    residues = np.add.reduceat(lengths[plan], starts[:-1]) if len(plan) else np.zeros(0, np.int64)  # [n_batches]
    run.open(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))
    records = scanned.records(stop=end)
    recorded: dict[str, str] = {}
    try:
        with _progress(int(residues[todo].sum()), progress and world.is_main) as bar:
            for window in _windows(todo, first_batch):
                sequences = _read_window(records, start, window, plan, starts)
                for k in window:
                    batch = plan[starts[k]:starts[k + 1]].tolist()  # rows, longest first
                    names = [sequences[row][0] for row in batch]
                    embedded = embed_layers(model, names, {sequences[row][0]: sequences[row][1] for row in batch})
                    written, per_residue, per_protein = [], [], []
                    low = np.searchsorted(repeat_of, batch).tolist()  # repeats[low:high]: the row's copies
                    high = np.searchsorted(repeat_of, batch, "right").tolist()
                    for row, layers, a, b in zip(batch, embedded, low, high):
                        arrays = _reduce(layers, view, settings)
                        for target in [row, *repeats[a:b].tolist()] if b > a else [row]:
                            written.append(target)
                            per_residue.append(arrays[0])
                            per_protein.append(arrays[1])
                    run.write(k, written, per_residue, per_protein)
                    if uses_lm(settings.encoder) and KERNEL_CHOICES.used() != recorded:
                        recorded = KERNEL_CHOICES.used()
                        partial.record_kernels(world.rank, recorded)
                    bar.update(int(residues[k]))
    finally:
        records.close()
        run.close()
    world.barrier()
    if world.is_main:
        missing = set(range(len(sizes))) - run.done()
        if missing:
            raise OutputMismatchError(f"{partial.dir}: {len(missing)} batches are not journalled after every rank "
                                      "finished; run the same command again", path=partial.dir)
        run.finish(partial.output)
        partial.remove()
        logger.info("wrote %s (%d records)", partial.output, end - start)


def _windows(todo: list[int], first_batch: np.ndarray) -> Iterator[list[int]]:
    """The batches of ``todo`` (increasing) grouped by window (``first_batch`` [n_windows+1])."""
    of = np.searchsorted(first_batch, np.asarray(todo, dtype=np.int64), side="right") - 1
    for _, group in groupby(zip(todo, of.tolist()), key=lambda pair: pair[1]):
        yield [k for k, _ in group]


def _read_window(records: Generator[tuple[int, str, str], None, None], start: int, batches: list[int], plan: np.ndarray,
                 starts: np.ndarray) -> dict[int, tuple[str, str]]:
    """``{row: (id, sequence)}`` of the rows of ``batches`` (rows relative to ``start``), read on
    from ``records`` up to the last of them."""
    need = set(np.concatenate([plan[starts[k]:starts[k + 1]] for k in batches]).tolist())
    last = max(need)
    found: dict[int, tuple[str, str]] = {}
    for row, record_id, sequence in records:
        row -= start
        if row in need:
            found[row] = (record_id, sequence)
        if row >= last:
            break
    return found


def _pack_state(state: list) -> list[np.ndarray]:
    """allennlp-style LSTM state ``[direction][layer] = (h, c)`` -> flat list of arrays."""
    return [t.cpu().numpy() for direction in state for layer in direction for t in layer]


def _unpack_state(flat: list[np.ndarray]) -> list:
    tensors = [torch.from_numpy(a) for a in flat]
    n_layers = len(tensors) // 4
    return [[(tensors[(d * n_layers + l) * 2], tensors[(d * n_layers + l) * 2 + 1]) for l in range(n_layers)]
            for d in range(2)]


def _run_carried(model: StatefulEmbedder, sequences: dict[str, str], settings: EmbedSettings, view: LayerView,
                 partial: PartialRun, done: dict, progress: bool) -> None:
    """Legacy mode: one protein at a time in file order, each from the previous one's end state."""
    order = list(sequences)
    start = next((k for k, i in enumerate(order) if i not in done), len(order))
    if any(i in done for i in order[start:]):
        raise OutputMismatchError(f"{partial.dir}: the finished records are not a prefix of the input; "
                                  f"rerun with `overwrite`", path=partial.dir)
    state = None
    if start:
        state = _unpack_state(partial.read_carry_state(done[order[start - 1]]))
    rest = {i: len(sequences[i]) for i in order[start:]}
    with _progress(sum(rest.values()), progress) as bar:
        for chunk in make_sequential_chunks(rest, settings.max_residues):
            records = []
            for record_id in chunk:
                layers, state = model.embed_with_state(sequences[record_id], state)
                records.append((record_id, rest[record_id], *_reduce(layers.numpy(), view, settings)))
                bar.update(rest[record_id])
            assert state is not None  # chunks are never empty, so a protein ran and set it
            partial.write_part(records, settings.dtype, settings.compression, carry_state=_pack_state(state))


def _settings(options: dict) -> EmbedSettings:
    unknown = sorted(set(options) - {f.name for f in fields(EmbedSettings)})
    if unknown:
        raise EmbedOptionError(f"unknown option{'s' * (len(unknown) > 1)}: {', '.join(unknown)}")
    return EmbedSettings(**options)


def _check_paths(fasta: str | os.PathLike, output: Path, overwrite: bool, model: object,
                 model_files: tuple[str | os.PathLike | None, ...]) -> None:
    """Refuse outputs that would destroy an input (the FASTA, the model's files) or cannot be a file."""
    if output.is_dir():
        raise EmbedOptionError(f"the output {output} is a directory; give a file name such as {output / 'out.h5'}"
                               + (" (`overwrite` never replaces a directory)" if overwrite else ""))
    from seqvec.lm.pretrained import resolve

    inputs: list[str | os.PathLike | None] = [fasta, *model_files]
    if model is None or isinstance(model, (str, os.PathLike)):
        try:
            _, options_path, weights_path = resolve(model)
            inputs += [options_path, weights_path, options_path.parent]
        except SeqVecError:
            pass  # reported when the model is loaded
    check_not_input(output, inputs)


@contextmanager
def _output_lock(output: Path, world: World) -> Iterator[None]:
    """Hold the output's lock (rank 0) for the whole run; every rank fails if it is taken."""
    lock = OutputLock(output)
    failure: Exception | None = None
    if world.is_main:
        with writing(output.parent, "the output folder", resumable=False):
            output.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire()
        except (OutputLockedError, OutputWriteError) as err:
            failure = err
    if world.any(failure is not None):
        if failure is not None:
            raise failure
        raise OutputLockedError(f"rank 0 could not lock {output}", path=lock.path, holder="see rank 0")
    try:
        yield
    finally:
        lock.release()


def _fingerprints(settings: EmbedSettings, spec: ModelSpec, input_sha256: str) -> tuple[dict, dict]:
    """(the output's fingerprint, the batch plan an unfinished run must keep)."""
    fingerprint = {**settings.identity(), "precision": spec.precision, "model_sha256": spec.sha256,
                   "model_options_sha256": spec.options_sha256, "input_sha256": input_sha256}
    batching: dict[str, object] = {"max_residues": None if settings.carry_state else settings.max_residues,
                                   "device": spec.device}
    if uses_lm(settings.encoder):  # the matrix kernels move the last digits too: one file, one kernel setting
        from seqvec.lm.kernels import kernel_identity

        batching["kernels"] = kernel_identity()
    return fingerprint, batching


def _output_complete(output: Path, partial: PartialRun, fingerprint: dict, batching: dict, overwrite: bool) -> bool:
    """True if ``output`` is finished with this fingerprint; raise OutputMismatchError if it,
    or an unfinished run's sidecar, was made otherwise (unless ``overwrite``). Reads only."""
    if overwrite:
        return False
    if existing_output_matches(output, fingerprint):
        logger.info("%s is complete with the same model, input and settings; nothing to do", output)
        return True
    partial.check(fingerprint, batching)
    return False


def _start_sidecar(output: Path, partial: PartialRun, fingerprint: dict, batching: dict, overwrite: bool) -> None:
    """Rank 0: clear an unfinished run --overwrite replaces and write the sidecar's manifest. An old
    ``output`` stays until the new one replaces it whole (a crash leaves the old or the new)."""
    if overwrite:
        partial.remove()
    partial.create({**fingerprint, "batching": batching})


def _write_skipped(output: Path, skipped: list[tuple[str, str]]) -> Path:
    """``OUTPUT.skipped.tsv``: id and reason of every record left out (header only if none)."""
    path = output.with_name(output.name + ".skipped.tsv")
    tmp = path.with_name(path.name + ".tmp")
    lines = ["id\treason"] + [f"{record_id}\t{reason}" for record_id, reason in skipped]
    with writing(path, "the list of skipped records", resumable=False):
        write_file(tmp, ("\n".join(lines) + "\n").encode())
        durable_replace(tmp, path)
    return path


def embed_fasta(fasta: str | os.PathLike, output: str | os.PathLike, model: Embedder | str | os.PathLike | None = None,
                *, options_file: str | os.PathLike | None = None, weights_file: str | os.PathLike | None = None,
                device: str = "cpu", overwrite: bool = False, progress: bool = False,
                command: str | None = None, **options: object) -> Path:
    """Embed every protein of a FASTA file (plain, gzip, or ``-`` for standard input) into an HDF5 file.

    Parameters
    ----------
    fasta, output : input FASTA and output ``.h5`` paths.
    model : an :class:`~seqvec.Embedder` (e.g. a loaded ``SeqVecLM``), a registered name or
        a model directory; None: the bundled default. ``options_file``/``weights_file`` name
        the two files directly.
    device : ``"cpu"`` or ``"cuda"`` (``cuda:<LOCAL_RANK>`` under torchrun) for a model
        loaded here; a model object is used where it is.
    overwrite : recompute even if ``output`` or an unfinished run of other settings exists.
    progress : show a progress bar (residues) on stderr.
    command : the command line recorded in the file (default: this call, spelled out).
    **options : the fields of :class:`~seqvec.embeddings.options.EmbedSettings`
        (``per_residue``, ``per_protein``, ``layers``, ``dtype``, ``compression``, ``encoder``,
        ``id_field``, ``split_char``, ``carry_state``, ``precision``, ``strip_gaps``,
        ``skip_invalid``, ``max_residues``). A model object is never switched to another
        ``precision``: it must already run at the one asked for.

    Returns the output path. A rerun after a crash finishes the job; a rerun of a finished
    job returns at once; other settings against an existing output raise
    :class:`~seqvec.errors.OutputMismatchError`; another run on the same output
    :class:`~seqvec.errors.OutputLockedError`; a failed write (disk full, read-only)
    :class:`~seqvec.errors.OutputWriteError`, keeping the finished batches for the rerun.
    With ``skip_invalid``, invalid records are left out and listed in ``OUTPUT.skipped.tsv``.
    """
    if not (isinstance(fasta, str) and fasta == STDIN):
        path_argument(fasta, "fasta")
    output = path_argument(output, "output")
    if model is not None and isinstance(model, bytes):
        path_argument(model, "model")
    settings = _settings(options)
    world = World.from_env()
    device = world.device(device)
    folder = _shard_folder(output, settings, world)
    if folder is not None:  # one shard per call, or per torchrun rank: each its own file, lock and sidecar
        k, n = parse_shard(settings.shard) if settings.shard else (world.rank + 1, world.size)
        settings, world, output = replace(settings, shard=f"{k}/{n}"), World(), folder / shard_name(k, n)
    _check_paths(fasta, output, overwrite, model, (options_file, weights_file))
    if settings.carry_state and world.size > 1:
        raise EmbedOptionError("carry_state embeds one protein after another; run it in a single process")
    if str(fasta) == STDIN and world.size > 1:
        raise EmbedOptionError("standard input cannot be shared among processes; give a file under torchrun")
    joined = world.start()
    try:
        with _output_lock(output, world):
            reader = (partial_function(scan_fasta, spool=output.parent)
                      if settings.layout == "columnar" and not settings.carry_state else read_fasta_checked)
            source: CheckedSequences | ScannedFasta = reader(
                fasta, id_field=settings.id_field, split_char=settings.split_char, strip_gaps=settings.strip_gaps,
                skip_invalid=settings.skip_invalid)
            try:
                _embed_locked(fasta, output, model, source, settings, options_file, weights_file,
                              device, overwrite, progress, command, options, world)
            finally:
                if isinstance(source, ScannedFasta):
                    source.close()
    finally:
        if joined:
            world.stop()
    if folder is None:
        return output
    _update_index(folder, parse_shard(settings.shard or "1/1")[1])
    return folder


def _update_index(folder: Path, n: int) -> None:
    """Write the shard folder's index if all ``n`` shards are finished. Under the index's lock,
    waited for: a shard that finished while another held it must look again, or the index
    could miss it."""
    lock = OutputLock(folder / INDEX_NAME)
    while True:
        try:
            lock.acquire()
            break
        except OutputLockedError:
            time.sleep(0.1)  # another shard is writing the index (a second or so)
    try:
        write_index(folder, n)
    finally:
        lock.release()


def _shard_folder(output: Path, settings: EmbedSettings, world: World) -> Path | None:
    """The shard folder, if this run writes a shard: ``--shard K/N``, or a torchrun job whose
    output is not an ``.h5`` file (then rank r writes shard r+1 of WORLD_SIZE)."""
    if settings.shard is None and (world.size == 1 or output.suffix.lower() in (".h5", ".hdf5")):
        return None
    if output.is_file():
        raise EmbedOptionError(f"the output {output} is a file; shards are written into a folder (give a folder "
                               f"name such as {output.with_suffix('')}_shards)")
    if settings.layout != "columnar" or settings.carry_state:
        raise EmbedOptionError("shards are columnar files embedded in batches: use layout='columnar', without "
                               "`carry_state`")
    with writing(output, "the shard folder", resumable=False):
        output.mkdir(parents=True, exist_ok=True)
    return output


def _embed_locked(fasta: str | os.PathLike, output: Path, model: Embedder | str | os.PathLike | None,
                  source: CheckedSequences | ScannedFasta, settings: EmbedSettings,
                  options_file: str | os.PathLike | None, weights_file: str | os.PathLike | None, device: str,
                  overwrite: bool, progress: bool, command: str | None, options: dict, world: World) -> None:
    """The work of :func:`embed_fasta` once the output is locked and the input read: a
    :class:`ScannedFasta` for the columnar layout (written in place, window by window), the
    sequences in memory for the others and the carried state."""
    if isinstance(source, ScannedFasta):
        input_sha256 = source.sha256  # of the whole input, in every shard
        rows = (0, len(source))
        if settings.shard is not None:
            k, n = parse_shard(settings.shard)
            rows = shard_ranges(source.lengths, n)[k - 1]
            logger.info("shard %d of %d: records %d to %d of %d", k, n, rows[0] + 1, rows[1], len(source))
        n_records = rows[1] - rows[0]
    else:
        sequences = source.sequences
        input_sha256 = sequences_digest(sequences)
        n_records = len(sequences)
    spec = model_spec(model, settings.encoder, options_file=options_file, weights_file=weights_file,
                      device=device, precision=settings.precision)
    view = get_view(settings.layers, spec.n_output_layers, spec.name)
    fingerprint, batching = _fingerprints(replace(settings, precision=spec.precision), spec, input_sha256)
    if isinstance(source, ScannedFasta):  # the windows cut the batch plan
        batching["windows"] = [WINDOW_RESIDUES, WINDOW_RECORDS]
    partial = PartialRun(output)
    if _output_complete(output, partial, fingerprint, batching, overwrite):
        if world.is_main:
            partial.remove()  # left over if a run was killed right after its final rename
        return
    loaded = spec.load()  # before the sidecar exists: a model that fails to load leaves nothing behind
    if settings.carry_state and not isinstance(loaded, StatefulEmbedder):
        raise EmbedOptionError(f"carry_state needs a model that can carry its state; {spec.name!r} cannot")
    world.barrier()  # every rank has checked the files before rank 0 changes them
    if world.is_main:
        _start_sidecar(output, partial, fingerprint, batching, overwrite)
    world.barrier()
    if command is None:
        args = [repr(str(fasta)), repr(str(output)), f"model={spec.name!r}",
                *(f"{k}={v!r}" for k, v in options.items())]
        command = f"embed_fasta({', '.join(args)})"
    attrs = root_attributes(settings, view, spec.name, fingerprint, n_records, command)
    attrs["max_residues"] = settings.max_residues
    if isinstance(source, ScannedFasta):
        _run_inplace(loaded, source, rows, settings, view, partial, attrs, world, progress)
    else:
        done = partial.scan()
        if done and uses_lm(settings.encoder):  # compute the rest with the kernels the finished parts used
            KERNEL_CHOICES.pin(partial.kernel_choices())
        # each distinct sequence is embedded once, except in file order with a carried state
        same_as = {} if settings.carry_state else _same_as(sequences)
        distinct = {i: s for i, s in sequences.items() if i not in same_as}
        if any(i not in done for i in distinct):
            if isinstance(loaded, StatefulEmbedder) and settings.carry_state:
                _run_carried(loaded, sequences, settings, view, partial, done, progress)
            else:
                _run_batched(loaded, distinct, settings, view, partial, done, world, progress)
        world.barrier()
        if world.is_main:
            if settings.layout == "columnar":
                merge_parts_columnar(partial, sequences, _shapes(loaded, view, settings), attrs)
            else:
                partial.merge(list(sequences), attrs, settings.layout, same_as)
            partial.remove()
    if world.is_main and settings.skip_invalid:
        _write_skipped(output, source.skipped)


def embed_sequences(sequences: dict[str, str], model: Embedder | str | os.PathLike | None = None, *, encoder: str = "lm", layers: str = "sum",
                    max_residues: int = DEFAULT_MAX_RESIDUES, device: str = "cpu"
                    ) -> Iterator[tuple[str, np.ndarray]]:
    """Embed sequences in memory: yields ``(id, per-residue array)`` batch by batch, longest first.

    The arrays are float32 ``[L, D]`` (or ``[n_layers, L, D]`` for ``layers="all"``).
    Sequences are validated and normalized as FASTA input is (errors are raised here,
    before any model work). ``model`` is a loaded model, a name or directory, or None for
    the default; pass a loaded model when calling this repeatedly.
    """
    sequences = normalize_sequences(sequences)
    EmbedSettings(layers=layers, encoder=encoder, max_residues=max_residues)  # validates the choices
    spec = model_spec(model, encoder, device=device)
    view = get_view(layers, spec.n_output_layers, spec.name)
    return _generate(spec, view, sequences, max_residues)


def _generate(spec: ModelSpec, view: LayerView, sequences: dict[str, str], max_residues: int
              ) -> Iterator[tuple[str, np.ndarray]]:
    loaded = spec.load()
    for batch in make_batches({i: len(s) for i, s in sequences.items()}, max_residues):
        for record_id, layers in zip(batch, embed_layers(loaded, batch, sequences)):
            yield record_id, view.per_residue(layers)

"""FASTA in, HDF5 out: the embedding pipeline behind ``seqvec embed``.

Order of work: validate the options and the whole input, identify the model (hash of its
weights, without loading it), compare with an existing output or unfinished run, then
load the model and embed what is missing, batch by batch into crash-safe part files
(:mod:`seqvec.embeddings.parts`), and merge. Under ``torchrun`` every rank does its share
(:class:`seqvec.io.World`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from seqvec.embeddings.encoders import ENCODERS
from seqvec.embeddings.h5 import existing_output_matches, root_attributes
from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES, EmbedSettings
from seqvec.embeddings.parts import PartialRun
from seqvec.embeddings.reduce import LayerView, get_view
from seqvec.errors import EmbedOptionError, ModelNotFoundError, SeqVecError
from seqvec.io import World, assign_to_ranks, make_batches, make_sequential_chunks
from seqvec.io.fasta import normalize_sequences, read_fasta, sequences_digest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """A model identified before it is loaded."""

    name: str
    sha256: str  # of the weights file (LM) or of the encoding table (baselines)
    n_output_layers: int
    load: Callable[[], Any]  # -> an object with embed_batch (SeqVecLM or TableEncoder)


def _state_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode() + value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def model_spec(model: Any = None, encoder: str = "lm", *, options_file: str | os.PathLike | None = None,
               weights_file: str | os.PathLike | None = None, device: str = "cpu") -> ModelSpec:
    """Identify the model to embed with: a loaded model, a name or directory, or a baseline encoder."""
    if encoder != "lm":
        if model is not None or options_file is not None or weights_file is not None:
            raise EmbedOptionError(f"encoder={encoder!r} takes no language model (--model/--options/--weights)")
        baseline = ENCODERS[encoder]()
        return ModelSpec(baseline.name, baseline.weights_sha256, 1, lambda: baseline)
    if hasattr(model, "embed_batch"):
        sha256 = getattr(model, "weights_sha256", None) or _state_digest(model)
        return ModelSpec(getattr(model, "name", type(model).__name__), sha256, model.n_output_layers, lambda: model)
    from seqvec.lm.allennlp_io import file_sha256
    from seqvec.lm.config import SeqVecConfig
    from seqvec.lm.pretrained import load_model, resolve

    name, options_path, weights_path = resolve(model, options=options_file, weights=weights_file)
    for path in (options_path, weights_path):
        if not Path(path).is_file():
            raise ModelNotFoundError(f"model {name!r}: {path} not found")
    n_layers = SeqVecConfig.from_json(options_path).n_layers + 1
    return ModelSpec(name, file_sha256(weights_path), n_layers,
                     lambda: load_model(model, options=options_file, weights=weights_file, device=device))


def embed_layers(model: Any, ids: list[str], sequences: dict[str, str]) -> list[np.ndarray]:
    """``[n_layers, L, D]`` float32 per id, from one batch; halves the batch on GPU out-of-memory."""
    try:
        return [t.numpy() for t in model.embed_batch([sequences[i] for i in ids])]
    except torch.OutOfMemoryError:
        if len(ids) == 1:
            raise SeqVecError(f"out of GPU memory embedding {ids[0]!r} ({len(sequences[ids[0]])} residues) "
                              f"alone; use --device cpu for it") from None
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


def _progress(total: int, enabled: bool) -> tqdm:
    return tqdm(total=total, unit="res", unit_scale=True, desc="embedding", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True)


def _run_batched(model: Any, sequences: dict[str, str], settings: EmbedSettings, view: LayerView,
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


def _pack_state(state: list) -> list[np.ndarray]:
    """allennlp-style LSTM state ``[direction][layer] = (h, c)`` -> flat list of arrays."""
    return [t.cpu().numpy() for direction in state for layer in direction for t in layer]


def _unpack_state(flat: list[np.ndarray], device: torch.device) -> list:
    tensors = [torch.from_numpy(a).to(device) for a in flat]
    n_layers = len(tensors) // 4
    return [[(tensors[(d * n_layers + l) * 2], tensors[(d * n_layers + l) * 2 + 1]) for l in range(n_layers)]
            for d in range(2)]


def _run_carried(model: Any, sequences: dict[str, str], settings: EmbedSettings, view: LayerView,
                 partial: PartialRun, done: dict, progress: bool) -> None:
    """Legacy mode: one protein at a time in file order, each from the previous one's end state."""
    order = list(sequences)
    start = next((k for k, i in enumerate(order) if i not in done), len(order))
    if any(i in done for i in order[start:]):
        raise SeqVecError(f"{partial.dir}: the finished records are not a prefix of the input; "
                          f"rerun with --overwrite")
    state = None
    if start:
        device = next(model.parameters()).device
        state = _unpack_state(partial.read_carry_state(done[order[start - 1]]), device)
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


def _claim_output(output: Path, partial: PartialRun, fingerprint: dict, overwrite: bool, world: World) -> bool:
    """Check ``output`` and its sidecar against this run; True if the job is already done.

    Every rank checks (they see the same files, so all raise or none); rank 0 then clears
    what --overwrite replaces and creates the sidecar.
    """
    if not overwrite and existing_output_matches(output, fingerprint):
        if world.is_main:
            partial.remove()  # left over if a run was killed right after its final rename
        logger.info("%s is complete with the same model, input and settings; nothing to do", output)
        return True
    if not overwrite:
        partial.check(fingerprint)
    if world.is_main:
        if overwrite:
            output.unlink(missing_ok=True)
            partial.remove()
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.create(fingerprint)
    return False


def embed_fasta(fasta: str | os.PathLike, output: str | os.PathLike, model: Any = None, *,
                options_file: str | os.PathLike | None = None, weights_file: str | os.PathLike | None = None,
                device: str = "cpu", overwrite: bool = False, progress: bool = False,
                command: str | None = None, **options: Any) -> Path:
    """Embed every protein of a FASTA file (plain or .gz) into an HDF5 file.

    Parameters
    ----------
    fasta, output : input FASTA and output ``.h5`` paths.
    model : a loaded model (``SeqVecLM``), a registered name or a model directory; None:
        the bundled default. ``options_file``/``weights_file`` name the two files directly.
    device : ``"cpu"`` or ``"cuda"`` (``cuda:<LOCAL_RANK>`` under torchrun) for a model
        loaded here; a model object is used where it is.
    overwrite : recompute even if ``output`` or an unfinished run of other settings exists.
    progress : show a progress bar (residues) on stderr.
    command : the command line recorded in the file (default: this call, spelled out).
    **options : the fields of :class:`~seqvec.embeddings.options.EmbedSettings`
        (``per_residue``, ``per_protein``, ``layers``, ``dtype``, ``compression``, ``encoder``,
        ``id_field``, ``split_char``, ``carry_state``, ``precision``, ``max_residues``). A model
        object passed in is switched to ``precision``.

    Returns the output path. A rerun after a crash finishes the job; a rerun of a finished
    job returns at once; other settings against an existing output raise
    :class:`~seqvec.errors.OutputMismatchError`.
    """
    settings = _settings(options)
    output = Path(output)
    sequences = read_fasta(fasta, id_field=settings.id_field, split_char=settings.split_char)
    world = World.from_env()
    if settings.carry_state and world.size > 1:
        raise EmbedOptionError("carry_state embeds one protein after another; run it in a single process")
    spec = model_spec(model, settings.encoder, options_file=options_file, weights_file=weights_file,
                      device=world.device(device))
    view = get_view(settings.layers, spec.n_output_layers, spec.name)
    fingerprint = {**settings.identity(), "model_sha256": spec.sha256, "input_sha256": sequences_digest(sequences)}
    partial = PartialRun(output)
    joined = world.start()
    try:
        if _claim_output(output, partial, fingerprint, overwrite, world):
            return output
        world.barrier()
        done = partial.scan()
        if any(i not in done for i in sequences):
            loaded = spec.load()
            if settings.precision != "float32":
                loaded.set_precision(settings.precision)
            if settings.carry_state:
                _run_carried(loaded, sequences, settings, view, partial, done, progress)
            else:
                _run_batched(loaded, sequences, settings, view, partial, done, world, progress)
        world.barrier()
        if world.is_main:
            if command is None:
                args = [repr(str(fasta)), repr(str(output)), f"model={spec.name!r}",
                        *(f"{k}={v!r}" for k, v in options.items())]
                command = f"embed_fasta({', '.join(args)})"
            attrs = root_attributes(settings, view, spec.name, fingerprint, len(sequences), command)
            partial.merge(list(sequences), attrs)
            partial.remove()
    finally:
        if joined:
            world.stop()
    return output


def embed_sequences(sequences: dict[str, str], model: Any = None, *, encoder: str = "lm", layers: str = "sum",
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

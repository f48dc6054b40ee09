"""What each ``seqvec plot`` kind reads and draws (the options are in :mod:`seqvec.cli.plot`)."""
from __future__ import annotations

from pathlib import Path

from seqvec.errors import DataError, LabelFormatError, TaskError, UsageError


def _caption(args, default: str) -> str:
    return default if args.caption is None else args.caption


def _head_caption(checkpoint, path: Path) -> str:
    source = checkpoint.embeddings.get("model") or checkpoint.embeddings.get("encoder") or "unrecorded embeddings"
    return f"head {Path(path).name} ({checkpoint.name} on {source})"


def _attention(args):
    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.classifiers.heads.predict import embedding_source
    from seqvec.embeddings.pipeline import embed_sequences
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.attention import attention_tracks, plot_attention

    if args.signals and not args.per_class:
        raise UsageError("--signals reports attention per signal type over many proteins: add --per-class",
                         option="--signals")
    if args.export and not args.per_class:
        raise UsageError("--export writes the --per-class numbers: add --per-class", option="--export")
    checkpoint = load_head(args.head)
    if not checkpoint.head.has_attention:
        raise TaskError(f"{args.head} is a {checkpoint.name} head, which has no attention weights; "
                        "attention maps need a head with attention (la or convlstm)", head=checkpoint.name)
    if args.task not in checkpoint.tasks:
        raise TaskError(f"{args.head} has no task {args.task!r} (it has {', '.join(checkpoint.tasks)})",
                        task=args.task, head=checkpoint.name)
    sequences = read_fasta(args.fasta)
    ids = args.ids or (list(sequences) if args.per_class else list(sequences)[: args.n])
    missing = [i for i in ids if i not in sequences]
    if missing:
        raise DataError(f"ids not in {args.fasta}: {', '.join(missing)}", ids=missing)
    chosen = {i: sequences[i] for i in ids}
    if args.per_class:
        return _attention_per_class(args, checkpoint, chosen)
    encoder, model, layers = embedding_source([checkpoint], args.model)
    embeddings = dict(embed_sequences(chosen, model, encoder=encoder, layers=layers))
    classes = checkpoint.tasks[args.task].classes
    tracks = attention_tracks(checkpoint.head, {i: embeddings[i] for i in ids}, chosen, classes, args.task,
                              _true_classes(args))
    plot_attention(tracks, args.output, max_length=checkpoint.head.hparams.get("max_length"), dpi=args.dpi,
                   caption=_caption(args, f"{_head_caption(checkpoint, args.head)}; proteins: {args.fasta.name}"))


def _true_classes(args) -> dict[str, str]:
    from seqvec.classifiers.labels.files import class_labels

    if args.labels:
        return class_labels(args.labels, args.task)[0]
    try:
        return class_labels(args.fasta, args.task)[0]
    except LabelFormatError:  # a plain FASTA: no true classes
        return {}


def _attention_per_class(args, checkpoint, chosen: dict[str, str]) -> None:
    import json

    from seqvec.classifiers.evaluation.attention_report import attention_report
    from seqvec.classifiers.labels.signals import read_signals
    from seqvec.io.output import atomic_open
    from seqvec.viz.attention_profiles import plot_attention_profiles

    signals = read_signals(args.fasta)[1] if args.signals else {}
    report = attention_report(checkpoint, chosen, _true_classes(args), signals, args.task, args.model,
                              args.terminal, args.bins, progress=not args.quiet, name=args.head.name)
    accuracy = "" if report.accuracy is None else f", accuracy {report.accuracy:.3f}"
    plot_attention_profiles(report.profiles, args.output, dpi=args.dpi, caption=_caption(
        args, f"{_head_caption(checkpoint, args.head)}; {report.n} proteins of {args.fasta.name}{accuracy}"))
    print(report.table() if signals else report.table().splitlines()[-1])
    if args.export:
        with atomic_open(args.export, "w") as handle:  # run() checked and locked it
            handle.write(json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"wrote {args.export}")


def _filters(args):
    from seqvec.classifiers.evaluation.filters import filter_scores, mean_activations
    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.embeddings.encoders import ALPHABET, ENCODERS, LETTER_TABLES
    from seqvec.io.fasta import read_fasta
    from seqvec.viz.filters import plot_filters

    checkpoint = load_head(args.head)
    encoder_name = checkpoint.embeddings.get("encoder")
    if not checkpoint.head.has_filters or encoder_name not in LETTER_TABLES:
        raise TaskError(f"{args.head} is a {checkpoint.name} head on {encoder_name or 'unrecorded'} input; "
                        f"filter logos need a convlstm head on {' or '.join(LETTER_TABLES)}", head=checkpoint.name)
    encoder = ENCODERS[encoder_name]()
    table = encoder.embed_batch([ALPHABET])[0][0].numpy()  # (A, D): each letter's encoding
    if (args.signals or args.rank or args.export) and not args.fasta:
        raise UsageError("--signals, --rank and --export read the proteins of --fasta: add --fasta", option="--fasta")
    if (args.rank or args.export) and not args.signals:
        raise UsageError("--rank and --export need the signal annotations: add --signals", option="--signals")
    sequences = read_fasta(args.fasta) if args.fasta else {}
    activation = mean_activations(checkpoint.head, encoder, sequences.values()) if args.fasta else None
    label, notes = "mean activation" if args.fasta else "weight norm", None
    if args.signals:
        activation, label, notes = _filter_motifs(args, checkpoint.head, encoder, table, sequences, activation)
    filters = filter_scores(checkpoint.head, table, "activation" if args.fasta else "weight_norm", activation)
    if args.widths:
        have = sorted({f.width for f in filters})
        if not set(args.widths) & set(have):
            raise UsageError(f"--widths {','.join(map(str, args.widths))}: the head's filters have widths "
                             f"{', '.join(map(str, have))}", option="--widths")
        filters = [f for f in filters if f.width in args.widths]
    data = f"; activations on {args.fasta.name}" if args.fasta else ""
    plot_filters(filters, ALPHABET, args.output, style=args.style, top=args.top, order_label=label,
                 engine=args.engine, dpi=args.dpi, notes=notes,
                 caption=_caption(args, _head_caption(checkpoint, args.head) + data))


def _filter_motifs(args, head, encoder, table, sequences, activation):
    """Print (and --export) the filters against the signals; the ranking values, their name and notes."""
    import json

    from seqvec.classifiers.evaluation.filters import channels, signal_filters, signal_filters_table
    from seqvec.classifiers.labels.signals import read_signals
    from seqvec.embeddings.encoders import ALPHABET
    from seqvec.io.output import atomic_open

    signals = read_signals(args.fasta)[1]
    result = signal_filters(head, encoder, table, ALPHABET, sequences, signals)
    if args.rank and args.rank not in result:
        raise UsageError(f"--rank {args.rank}: the proteins of {args.fasta} carry {', '.join(result) or 'no signals'}",
                         option="--rank")
    print(signal_filters_table(result))
    if args.export:
        with atomic_open(args.export, "w") as handle:  # run() checked and locked it
            handle.write(json.dumps({k: {**v, "filters": [f.to_dict() for f in v["filters"]]}
                                     for k, v in result.items()}, indent=1) + "\n")
    if not args.rank:
        return activation, "mean activation", None
    by_channel = {(f.width, f.index): f for f in result[args.rank]["filters"]}
    values = [by_channel[c].enrichment for c in channels(head)]
    notes = {c: f"hydrophobic preference (KD r) {f.hydropathy_r:+.2f}" for c, f in by_channel.items()}
    return values, f"{args.rank} enrichment", notes


def _projection(args):
    from seqvec.classifiers.labels.files import class_labels
    from seqvec.embeddings.store import open_embeddings
    from seqvec.viz.projection import (
        compute_projections,
        load_projection_inputs,
        plot_projection,
        write_coordinates,
        write_html,
    )

    labels, column = class_labels(args.labels, args.column)
    x, ids, values = load_projection_inputs(args.embeddings, labels)
    projections = compute_projections(x, args.methods.split(",") if args.methods else None, args.seed)
    title = args.title or f"{args.embeddings.name}: {len(ids)} proteins"
    with open_embeddings(args.embeddings) as store:
        attrs = store.attrs
    source = attrs.get("model") or attrs.get("encoder") or "unrecorded model"
    view = f", layers {attrs['layers']}" if attrs.get("layers") else ""
    caption = _caption(args, f"per-protein embeddings of {source}{view} ({args.embeddings.name}); "
                             f"labels: {args.labels.name}")
    if args.output.suffix.lower() == ".html":
        write_html(args.output, ids, values, projections, title=title, label_name=column, caption=caption)
    else:
        plot_projection(projections, values, args.output, title=title, label_name=column, dpi=args.dpi,
                        caption=caption)
    if args.export:
        write_coordinates(args.export, ids, values, projections, label_name=column)
        print(f"wrote {args.export}")


def _confusion(args):
    from seqvec.classifiers.labels.files import class_labels
    from seqvec.viz.confusion import (
        ConfusionPanel,
        confusion_from_labels,
        describe_evaluation,
        plot_confusion,
        read_confusions,
    )

    if args.evaluation:
        panels = read_confusions(args.evaluation, args.task)
        caption = describe_evaluation(args.evaluation)
    elif args.predictions and args.labels:
        predicted = class_labels(args.predictions, args.column)[0]
        true, column = class_labels(args.labels, args.column)
        ids = [i for i in predicted if i in true]
        if not ids:
            raise DataError(f"no id of {args.predictions} has a label in {args.labels}")
        counts, classes = confusion_from_labels([true[i] for i in ids], [predicted[i] for i in ids])
        panels = [ConfusionPanel(column, counts, classes)]
        caption = f"predictions: {args.predictions.name}; true classes: {args.labels.name}"
    else:
        raise UsageError("give an evaluation JSON, or --predictions and --labels", option="--predictions")
    plot_confusion(panels, args.output, dpi=args.dpi, caption=_caption(args, caption))


def _curves(args):
    from seqvec.classifiers.heads.checkpoint import resolve_head
    from seqvec.viz.curves import describe_log, plot_curves, read_history

    log = resolve_head(args.log)
    title, caption = describe_log(log)
    plot_curves(read_history(log), args.output, title=args.title or title, dpi=args.dpi,
                caption=_caption(args, caption))


def _reliability(args):
    from seqvec.viz.reliability import plot_reliability, read_curve

    names = args.names or [p.stem for p in args.evaluations]
    if len(names) != len(args.evaluations):
        raise UsageError(f"{len(names)} --names for {len(args.evaluations)} files", option="--names")
    curves = {name: read_curve(p) for name, p in zip(names, args.evaluations)}
    marks = {}
    for text in args.mark or []:
        name, _, numbers = text.rpartition("=")
        try:
            coverage, value = (float(x) for x in numbers.split(","))
        except ValueError:
            raise UsageError(f"--mark {text!r}: expected NAME=COVERAGE,VALUE", option="--mark", value=text) from None
        marks[name] = (coverage, value)
    plot_reliability(curves, args.output, dpi=args.dpi, marks=marks,
                     caption=_caption(args, "evaluations: " + ", ".join(p.name for p in args.evaluations)))


DRAW = {"attention": _attention, "filters": _filters, "projection": _projection,
        "confusion": _confusion, "curves": _curves, "reliability": _reliability}

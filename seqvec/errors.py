"""Domain exceptions. Each names the record, file or value that is wrong."""


class SeqVecError(Exception):
    """Base class of every error seqvec raises on purpose (the CLI prints these without a traceback)."""


class FastaFormatError(SeqVecError):
    """A file is missing, empty or not FASTA."""


class InvalidSequenceError(SeqVecError):
    """A record holds an empty sequence or a character outside A-Z."""

    def __init__(self, record_id: str, message: str):
        super().__init__(f"record {record_id!r}: {message}")
        self.record_id = record_id


class DuplicateIdError(SeqVecError):
    """Two or more records share an id (after id parsing)."""

    def __init__(self, ids: list[str]):
        shown = ", ".join(repr(i) for i in ids[:10])
        more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        super().__init__(f"duplicate record ids: {shown}{more}")
        self.ids = ids


class WeightFileError(SeqVecError):
    """A weights.hdf5 / options.json pair does not match the model it should build."""


class CheckpointError(SeqVecError):
    """A checkpoint or head directory cannot be read or does not fit."""


class OutputMismatchError(SeqVecError):
    """An existing output file was made with another model or other options."""


class ModelNotFoundError(SeqVecError):
    """A named model is not installed where seqvec looks for it."""

"""The language model's shape, as a frozen dataclass, and its ``options.json`` form."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from seqvec.errors import ConfigError, WeightFileError

# The options keys allennlp reads; every other key (n_train_tokens, dropout, ...) is a
# training-time value that is kept verbatim in ``extra_options`` so that a file round-trips.
_CNN_KEYS = {"activation", "embedding", "filters", "max_characters_per_token", "n_characters", "n_highway"}
_MAX_SIZE = 2**20  # no dimension of a sane model comes near; beyond it, an options.json is corrupt
_MAX_DEPTH = 100
_LSTM_KEYS = {"cell_clip", "dim", "n_layers", "proj_clip", "projection_dim", "use_skip_connections"}


@dataclass(frozen=True)
class SeqVecConfig:
    """Shape of an ELMo/SeqVec bidirectional language model (defaults: the released SeqVec)."""

    char_embedding_dim: int = 16  # size of each character's embedding
    filters: tuple[tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))  # (width, n)
    n_highway: int = 2  # highway layers after the char-CNN
    n_characters: int = 262  # rows of the character table (row 0 is the all-zero padding row)
    max_characters_per_token: int = 50  # character slots per token (BOW, bytes, EOW, PAD...)
    activation: str = "relu"  # after the max over char-CNN positions: relu | tanh
    lstm_dim: int = 4096  # LSTM memory cell size
    projection_dim: int = 512  # projected state size; output is 2 * projection_dim wide
    n_layers: int = 2  # LSTM layers per direction
    cell_clip: float = 3.0  # clip memory cells to +-cell_clip (0: no clipping, as in allennlp)
    proj_clip: float = 3.0  # clip projected states to +-proj_clip (0: no clipping)
    use_skip_connections: bool = True  # residual connection around every LSTM layer but the first
    extra_options: tuple[tuple[str, Any], ...] = field(default=(), compare=False)  # other options.json keys, kept verbatim

    def __post_init__(self):
        for name in ("char_embedding_dim", "n_characters", "max_characters_per_token", "lstm_dim",
                     "projection_dim", "n_layers", "n_highway"):
            value = getattr(self, name)
            low, high = (0 if name == "n_highway" else 1), (_MAX_DEPTH if name in ("n_layers", "n_highway") else _MAX_SIZE)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"{name} must be an integer from {low} to {high:,}, got {value!r}", field=name,
                                  value=value)
        for name in ("cell_clip", "proj_clip"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ConfigError(f"{name} must be a number >= 0 (0: no clipping), got {value!r}", field=name,
                                  value=value)
        if self.activation not in ("relu", "tanh"):
            raise ConfigError(f"unknown char_cnn activation {self.activation!r} (expected relu or tanh)",
                              field="activation", value=self.activation)
        if self.use_skip_connections is not True:
            raise ConfigError("use_skip_connections must be true (allennlp's ELMo requires it)",
                              field="use_skip_connections", value=self.use_skip_connections)
        try:
            filters = tuple((w, n) for w, n in self.filters)
        except (TypeError, ValueError):
            filters = ()
        if not filters or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= _MAX_SIZE
                                  for pair in filters for x in pair):
            raise ConfigError(f"filters must be a non-empty list of [width, count] pairs of positive integers, "
                              f"got {self.filters!r}", field="filters", value=self.filters)
        if self.max_characters_per_token < 3 + max(w for w, _ in filters) - 1:
            raise ConfigError("max_characters_per_token is shorter than the widest filter",
                              field="max_characters_per_token", value=self.max_characters_per_token)
        object.__setattr__(self, "filters", filters)

    def digest(self) -> str:
        """sha256 of every field that shapes the model's outputs (not ``extra_options``)."""
        fields_ = {k: v for k, v in self.to_dict().items() if k != "extra_options"}
        return hashlib.sha256(json.dumps(fields_, sort_keys=True).encode()).hexdigest()

    @property
    def n_filters(self) -> int:
        """Width of the char-CNN output (sum of the filter counts)."""
        return sum(n for _, n in self.filters)

    @property
    def output_dim(self) -> int:
        """Width of each output layer: forward and backward halves."""
        return 2 * self.projection_dim

    @classmethod
    def from_allennlp_options(cls, options: dict, source: str = "options.json") -> SeqVecConfig:
        """Translate an allennlp/bilm-tf ``options.json`` dict (``source`` names it in errors).

        Raises WeightFileError for a missing key, a value of the wrong kind or an impossible shape.
        """
        def section(name: str) -> dict:
            value = options.get(name)
            if not isinstance(value, dict):
                raise WeightFileError(f"{source}: {name!r} must be a JSON object, got {value!r}", path=source)
            return value

        def number(kind, where: str, key: str, value):
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or (kind is int and value != int(value))):
                raise WeightFileError(f"{source}: {where}.{key} must be {'an integer' if kind is int else 'a number'}, "
                                      f"got {value!r}", path=source)
            return kind(value)

        if not isinstance(options, dict):
            raise WeightFileError(f"{source} must hold a JSON object, not a {type(options).__name__}", path=source)
        cnn, lstm = section("char_cnn"), section("lstm")
        extra = {k: v for k, v in options.items() if k not in ("char_cnn", "lstm")}
        extra.update({f"char_cnn.{k}": v for k, v in cnn.items() if k not in _CNN_KEYS})
        extra.update({f"lstm.{k}": v for k, v in lstm.items() if k not in _LSTM_KEYS})
        try:
            embedding = cnn["embedding"]
            if not isinstance(embedding, dict):
                raise WeightFileError(f"{source}: char_cnn.embedding must be a JSON object, got {embedding!r}",
                                      path=source)
            return cls(
                char_embedding_dim=number(int, "char_cnn.embedding", "dim", embedding["dim"]),
                filters=tuple(cnn["filters"]) if isinstance(cnn["filters"], list) else (),
                n_highway=number(int, "char_cnn", "n_highway", cnn["n_highway"]),
                n_characters=number(int, "char_cnn", "n_characters", cnn.get("n_characters", 262)),
                max_characters_per_token=number(int, "char_cnn", "max_characters_per_token",
                                                cnn["max_characters_per_token"]),
                activation=cnn["activation"],
                lstm_dim=number(int, "lstm", "dim", lstm["dim"]),
                projection_dim=number(int, "lstm", "projection_dim", lstm["projection_dim"]),
                n_layers=number(int, "lstm", "n_layers", lstm["n_layers"]),
                cell_clip=number(float, "lstm", "cell_clip", lstm.get("cell_clip") or 0.0),
                proj_clip=number(float, "lstm", "proj_clip", lstm.get("proj_clip") or 0.0),
                use_skip_connections=lstm.get("use_skip_connections", False),
                extra_options=tuple(sorted(extra.items())),
            )
        except KeyError as err:
            raise WeightFileError(f"{source} lacks the key {err.args[0]!r}", path=source) from None
        except ConfigError as err:
            raise WeightFileError(f"{source}: {err}", path=source) from None

    def to_allennlp_options(self) -> dict:
        """The ``options.json`` dict allennlp's ``ElmoEmbedder`` reads."""
        extra = dict(self.extra_options)
        cnn = {
            "activation": self.activation,
            "embedding": {"dim": self.char_embedding_dim},
            "filters": [list(f) for f in self.filters],
            "max_characters_per_token": self.max_characters_per_token,
            "n_characters": self.n_characters,
            "n_highway": self.n_highway,
        }
        lstm = {
            "cell_clip": _json_number(self.cell_clip),
            "dim": self.lstm_dim,
            "n_layers": self.n_layers,
            "proj_clip": _json_number(self.proj_clip),
            "projection_dim": self.projection_dim,
            "use_skip_connections": self.use_skip_connections,
        }
        options: dict[str, Any] = {"char_cnn": cnn, "lstm": lstm}
        for key, value in extra.items():
            section, _, sub = key.partition(".")
            if sub and section in options:
                options[section][sub] = value
            else:
                options[key] = value
        options.setdefault("bidirectional", True)
        return options

    @classmethod
    def from_json(cls, path: str | Path) -> SeqVecConfig:
        """Read an ``options.json`` file."""
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise WeightFileError(f"options file not found: {path}", path=path) from None
        except IsADirectoryError:
            raise WeightFileError(f"options file {path} is a directory", path=path) from None
        except OSError as err:
            raise WeightFileError(f"cannot read options file {path}: {err.strerror or err}", path=path) from None
        except UnicodeDecodeError as err:
            raise WeightFileError(f"{path} is not a JSON text file (byte {err.start}: not UTF-8; "
                                  f"were `options` and `weights` swapped?)", path=path) from None
        try:
            options = json.loads(text)
        except json.JSONDecodeError as err:
            raise WeightFileError(f"{path} is not valid JSON: {err}", path=path) from None
        return cls.from_allennlp_options(options, str(path))

    def to_json(self, path: str | Path) -> None:
        """Write an ``options.json`` file."""
        Path(path).write_text(json.dumps(self.to_allennlp_options(), indent=1, sort_keys=True) + "\n")

    def to_dict(self) -> dict:
        """Plain dict of the fields (for checkpoints)."""
        d = asdict(self)
        d["filters"] = [list(f) for f in self.filters]
        d["extra_options"] = [list(kv) for kv in self.extra_options]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SeqVecConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config keys: {sorted(unknown)}", field=sorted(unknown)[0])
        d = dict(d)
        d["filters"] = tuple(tuple(f) for f in d.get("filters", cls.filters))
        d["extra_options"] = tuple(tuple(kv) for kv in d.get("extra_options", ()))
        return cls(**d)


# TrainSettings fields a resumed run may change: when to stop, log, validate and checkpoint
RESUMABLE = frozenset({"epochs", "max_steps", "val_every", "checkpoint_every", "log_every"})


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and data settings of a run (stored in the checkpoint)."""

    epochs: int = 3  # passes over the training windows
    window: int = 256  # tokens per training window
    max_tokens: int = 8192  # padded tokens per global batch
    lr: float = 2e-3  # peak learning rate (Adam), linear warm-up then cosine decay
    warmup_steps: int = 200
    weight_decay: float = 0.0
    dropout: float = 0.1
    clip_norm: float = 10.0  # gradient norm clipping (bilm-tf's all_clip_norm_val)
    val_fraction: float = 0.02  # held-out sequences for validation
    val_every: int = 0  # validate every N steps as well as after each epoch (0: epochs only)
    checkpoint_every: int = 50  # steps between checkpoints
    log_every: int = 10  # steps per training-loss row in log.csv
    max_steps: int = 0  # stop after this many optimizer steps in total (0: no limit)
    seed: int = 0

    def __post_init__(self):
        import math

        checks = [("epochs", self.epochs >= 1, "at least 1"),
                  ("window", self.window >= 2, "at least 2 (a window must hold a pair of tokens to predict)"),
                  ("max_tokens", self.max_tokens >= self.window, f"at least the window ({self.window})"),
                  ("lr", math.isfinite(self.lr) and self.lr > 0, "a positive number"),
                  ("warmup_steps", self.warmup_steps >= 0, "0 or more"),
                  ("weight_decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0, "0 or more"),
                  ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
                  ("clip_norm", math.isfinite(self.clip_norm) and self.clip_norm > 0, "a positive number"),
                  ("val_fraction", 0 < self.val_fraction < 1, "in (0, 1): some sequences must train, some validate"),
                  ("val_every", self.val_every >= 0, "0 (after each epoch only) or more"),
                  ("checkpoint_every", self.checkpoint_every >= 1, "at least 1"),
                  ("log_every", self.log_every >= 1, "at least 1"),
                  ("max_steps", self.max_steps >= 0, "0 (no limit) or more"),
                  ("seed", self.seed >= 0, "0 or more")]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{name} must be {expected}, got {getattr(self, name)!r}", field=name,
                                  value=getattr(self, name))


def _json_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


# Named shapes. "seqvec" is the released model; "mini" is the bundled model's shape.
PRESETS = {
    "seqvec": SeqVecConfig(),
    "mini": SeqVecConfig(
        char_embedding_dim=16,
        filters=((1, 32), (2, 32), (3, 64)),
        n_highway=1,
        lstm_dim=512,
        projection_dim=128,
        cell_clip=0.0,
        proj_clip=0.0,
    ),
    "tiny": SeqVecConfig(
        char_embedding_dim=4,
        filters=((1, 4), (2, 8), (3, 16), (4, 32), (5, 64)),
        n_highway=2,
        lstm_dim=64,
        projection_dim=16,
        cell_clip=3.0,
        proj_clip=3.0,
    ),
}

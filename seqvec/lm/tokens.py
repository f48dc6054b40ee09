"""Residue tokens and allennlp's character ids.

SeqVec feeds each residue letter to ELMo as one word. allennlp turns a word into
``max_characters_per_token`` character ids ``[BOW, utf-8 bytes..., EOW, PAD, PAD, ...]``
and then adds 1 to every id (``elmo_indexer.py``) so that 0 can mean "no token".
Because every word is a single byte, the whole char-CNN only ever sees 256 + 2 distinct
words: we name them by a *token type*: the byte value 0..255 for a residue, and
``BOS_TYPE``/``EOS_TYPE`` for the sentence boundaries ``<S>`` and ``</S>``.
"""
from __future__ import annotations

import string

import torch

# allennlp's special character codes, before the +1 shift
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260

BOS_TYPE = 256  # token type of the sentence start <S>
EOS_TYPE = 257  # token type of the sentence end </S>
N_TOKEN_TYPES = 258

# softmax vocabulary: <S>, </S>, then A..Z (28 symbols, as n_tokens_vocab in SeqVec's options)
VOCAB = ["<S>", "</S>", *string.ascii_uppercase]
TYPE_TO_VOCAB = torch.full((N_TOKEN_TYPES,), -1, dtype=torch.int64)  # token type -> softmax index (-1: none)
TYPE_TO_VOCAB[BOS_TYPE], TYPE_TO_VOCAB[EOS_TYPE] = 0, 1
for _i, _c in enumerate(string.ascii_uppercase):
    TYPE_TO_VOCAB[ord(_c)] = 2 + _i


def token_char_ids(token_type: int, max_chars: int = 50) -> list[int]:
    """The (+1 shifted) character ids allennlp gives one token type."""
    middle = {BOS_TYPE: BOS_CHAR, EOS_TYPE: EOS_CHAR}.get(token_type, token_type)
    ids = [BOW_CHAR, middle, EOW_CHAR] + [PAD_CHAR] * (max_chars - 3)
    return [i + 1 for i in ids]


def all_token_char_ids(max_chars: int = 50) -> torch.Tensor:
    """Character ids of every token type, ``(N_TOKEN_TYPES, max_chars)`` long."""
    return torch.tensor([token_char_ids(t, max_chars) for t in range(N_TOKEN_TYPES)], dtype=torch.long)


def encode(sequence: str) -> torch.Tensor:
    """Token types of ``<S> sequence </S>``, shape ``(L + 2,)``.

    Raises ``ValueError`` for characters that are not single bytes (the model API takes
    any ASCII letter; validation of protein alphabets happens in ``seqvec.embeddings``).
    """
    try:
        raw = sequence.encode("ascii")
    except UnicodeEncodeError:
        bad = next(c for c in sequence if ord(c) > 127)
        raise ValueError(f"non-ASCII character {bad!r} in sequence") from None
    ids = torch.empty(len(raw) + 2, dtype=torch.long)
    ids[0] = BOS_TYPE
    ids[1:-1] = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long() if raw else ids[1:-1]
    ids[-1] = EOS_TYPE
    return ids


def encode_batch(sequences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-aligned token types ``(B, T)`` (padding EOS_TYPE) and lengths ``(B,)`` incl. boundaries."""
    encoded = [encode(s) for s in sequences]
    lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
    out = torch.full((len(encoded), int(lengths.max()) if encoded else 0), EOS_TYPE, dtype=torch.long)
    for i, e in enumerate(encoded):
        out[i, : len(e)] = e
    return out, lengths

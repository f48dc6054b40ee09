"""Token encoder: character embedding, char-CNN, highway layers and projection (ELMo)."""
from __future__ import annotations

import torch
from torch import nn

from seqvec.lm.config import SeqVecConfig
from seqvec.lm.tokens import all_token_char_ids


class Highway(nn.Module):
    """``x <- g * act(x W_t + b_t) + (1 - g) * x`` with carry gate ``g = sigmoid(x W_c + b_c)``.

    Written the bilm-tf way round, so TF's ``W_carry`` loads without allennlp's sign flip.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.transform = nn.Linear(dim, dim)
        self.carry = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.carry(x))
        return gate * torch.relu(self.transform(x)) + (1 - gate) * x


class CharCNN(nn.Module):
    """Maps character ids ``(N, max_chars)`` to token vectors ``(N, projection_dim)``."""

    def __init__(self, config: SeqVecConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.n_characters, config.char_embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(config.char_embedding_dim, n, w) for w, n in config.filters)
        self.highways = nn.ModuleList(Highway(config.n_filters) for _ in range(config.n_highway))
        self.projection = nn.Linear(config.n_filters, config.projection_dim)
        self.register_buffer("token_char_ids", all_token_char_ids(config.max_characters_per_token), persistent=False)
        self._activation = torch.relu if config.activation == "relu" else torch.tanh

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(char_ids).transpose(1, 2)  # (N, C, max_chars)
        # max over *all* positions (PAD slots included), then the activation (allennlp order)
        pooled = [self._activation(conv(x).amax(dim=2)) for conv in self.convs]
        x = torch.cat(pooled, dim=1)  # (N, n_filters)
        for highway in self.highways:
            x = highway(x)
        return self.projection(x)  # (N, P)

    def token_table(self) -> torch.Tensor:
        """The output for every token type, ``(N_TOKEN_TYPES, P)``: a residue is one letter,
        so this table replaces running the char-CNN per residue."""
        return self(self.token_char_ids)

"""A model whose dense layer fixes the input length at 40 bp (stored as sequence_length)."""

import torch
from torch import nn


class FixedLength(nn.Module):
    def __init__(self, sequence_length: int = 40, n_outputs: int = 2) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        self.dense = nn.Linear(4 * sequence_length, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x.flatten(start_dim=1))

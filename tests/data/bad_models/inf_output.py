"""A model whose output overflows to +Inf for sequences with a T at position 0 (log of 0 counts)."""

import torch
from torch import nn


class InfWhenFirstBaseIsT(nn.Module):
    def __init__(self, n_outputs: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(4, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.linear(x.mean(dim=-1))
        return output - torch.log(1 - x[:, 3:4, 0])

"""A model that returns NaN for every sequence starting with A (and finite values otherwise)."""

import torch
from torch import nn


class NaNWhenFirstBaseIsA(nn.Module):
    def __init__(self, n_outputs: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(4, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.linear(x.mean(dim=-1))
        first_is_a = x[:, 0:1, 0] == 1
        return torch.where(first_is_a, torch.full_like(output, float("nan")), output)

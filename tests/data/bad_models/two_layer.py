"""A valid two-output model; the weight files next to it were saved from other architectures."""

import torch
from torch import nn


class TwoLayer(nn.Module):
    """conv(4 -> hidden, k1) ReLU, sum over positions, Linear(hidden -> n_outputs)."""

    def __init__(self, hidden: int = 3, n_outputs: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, hidden, kernel_size=1)
        self.linear = nn.Linear(hidden, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.relu(self.conv(x)).sum(dim=-1))

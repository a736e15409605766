"""A model whose output keeps a trailing axis: (batch, n_outputs, 1)."""

import torch
from torch import nn


class TrailingAxis(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).sum(dim=-1, keepdim=True)

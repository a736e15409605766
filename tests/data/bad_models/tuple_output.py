"""A BPNet-like model returning (profile, counts) instead of one (batch, n_outputs) tensor."""

import torch
from torch import nn


class ProfileAndCounts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        profile = self.conv(x)
        return profile, profile.sum(dim=-1)

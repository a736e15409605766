"""A model squaring its output with a bare tensor operation, which has no DeepLIFT rule.

DeepLIFT's rules live on modules; ``y * y`` passes the plain gradient, so the attributions no
longer sum to f(x) - f(r) and the convergence deltas are large: the case convergence QC catches.
"""

import torch
from torch import nn


class SquaredOutput(nn.Module):
    def __init__(self, n_outputs: int = 2, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv1d(4, n_outputs, kernel_size=5, padding=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).mean(dim=-1)
        return y * y

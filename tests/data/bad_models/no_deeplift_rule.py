"""A model ending in a cumulative product over positions, a torch function with no DeepLIFT rule.

seqlift warns about it and passes its plain gradient, so the attributions no longer sum to
f(x) - f(r) and the convergence deltas are large: the case convergence QC catches. (A product of
two activations, ``y * y``, would not do: it has a rule, the midpoint rule, and is exact.)
"""

import torch
from torch import nn


class CumulativeProduct(nn.Module):
    def __init__(self, n_outputs: int = 2, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv1d(4, n_outputs, kernel_size=5, padding=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[:, :, :8].cumprod(dim=-1)[:, :, -1]

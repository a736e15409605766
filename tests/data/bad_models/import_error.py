"""A model file that imports a package that is not installed."""

import seqlift_no_such_dependency  # noqa: F401
from torch import nn


class Net(nn.Module):
    def forward(self, x):
        return x.sum(dim=-1)

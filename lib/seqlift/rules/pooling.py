"""The max-pooling rule: routing each window's change to the example's and the reference's winner."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .call import OpCall

__all__ = ["maxpool"]

_POOL_FUNCTIONS = {
    nn.MaxPool1d: F.max_pool1d,
    nn.MaxPool2d: F.max_pool2d,
    nn.MaxPool3d: F.max_pool3d,
    nn.AdaptiveMaxPool1d: F.adaptive_max_pool1d,
    nn.AdaptiveMaxPool2d: F.adaptive_max_pool2d,
    nn.AdaptiveMaxPool3d: F.adaptive_max_pool3d,
}


def _pool_indices(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Flat positions of the winners of every pooling window, shape ``(n, channels, n_out)``."""
    pool = next((f for cls, f in _POOL_FUNCTIONS.items() if isinstance(module, cls)), None)
    if pool is None:
        raise TypeError(f"the maxpool rule does not know {type(module).__name__}")
    if isinstance(module, nn.modules.pooling._AdaptiveMaxPoolNd):
        _, indices = pool(x, module.output_size, return_indices=True)
    else:
        _, indices = pool(x, module.kernel_size, module.stride, module.padding, module.dilation,
                          ceil_mode=module.ceil_mode, return_indices=True)
    return indices.flatten(2)


def _route(values: torch.Tensor, indices: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Scatter-add ``values`` (n, c, n_out) onto the flat positions ``indices`` of ``like``."""
    flat = torch.zeros(like.shape[0], like.shape[1], like[0, 0].numel(), dtype=values.dtype,
                       device=values.device)
    flat.scatter_add_(2, indices, values.flatten(2))
    return flat.view(like.shape)


def maxpool(call: OpCall) -> torch.Tensor:
    """DeepLIFT rule for max pooling with possibly overlapping windows.

    For every window, ``Δy = max(x_w) - max(r_w)`` is split at ``t = max(y_x, y_r)`` into
    ``t - y_r``, routed to the example's winner, and ``y_x - t``, routed to the reference's winner.
    The routed changes are accumulated per input position (windows may share positions) and
    divided by ``Δx``. Where ``Δx == 0`` exactly the routed change is zero by construction and the
    example's ordinary gradient is used, which keeps summation to delta exact.

    Parameters
    ----------
    call : OpCall
        The call; ``op`` is a ``MaxPool{1,2,3}d`` or ``AdaptiveMaxPool{1,2,3}d`` module. Inputs are
        batched: ``(n, channels, *spatial)``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input, shaped like the input.
    """
    x_in, r_in = call.example_input, call.reference_input
    x_out, r_out = call.example_output, call.reference_output
    grad_out = call.grad_output
    x_idx = _pool_indices(call.op, x_in)
    r_idx = _pool_indices(call.op, r_in)
    top = torch.maximum(x_out, r_out)
    routed = _route(grad_out * (top - r_out), x_idx, x_in)
    routed = routed + _route(grad_out * (x_out - top), r_idx, x_in)
    delta_in = x_in - r_in
    unchanged = delta_in == 0
    multipliers = routed / delta_in.masked_fill(unchanged, 1.0)
    if not bool(unchanged.any()):
        return multipliers
    example_gradient = _route(grad_out, x_idx, x_in)
    return torch.where(unchanged, example_gradient, multipliers)

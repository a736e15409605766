"""DeepLIFT rules: how the gradient of one non-linear operation is replaced.

A rule receives an :class:`OpCall` describing one call of a non-linear operation for a batch of
example-reference pairs and returns the gradient with respect to the operation's input under the
DeepLIFT rescale rule ("multipliers"). Rules are looked up by module class (through the class's
MRO, so a subclass gets its parent's rule) or, for functions called inside ``forward``, by the
function object.

Built-in rules
--------------
``rescale``
    Element-wise functions (ReLU, Sigmoid, GELU, ...): ``grad_out * Δy / Δx``; where ``|Δx| < 1e-6``
    the ordinary derivative taken at the *example* is used instead.
``maxpool``
    Max pooling (1d/2d/3d, with overlapping windows, padding, dilation, ceil_mode) and adaptive max
    pooling. ``Δy`` of every window is split into the part carried by the example's winner and the
    part carried by the reference's winner, routed back with scatter-add (so overlapping windows
    accumulate) and divided by ``Δx``. Only where ``Δx == 0`` exactly is the example's gradient
    used; there the routed change is zero, so summation to delta is kept exactly.
``softmax`` / ``log_softmax``
    Per row along the softmax axis, exact summation to delta (see :func:`softmax`).
``gradient``
    Treat the operation as linear: the ordinary gradient at the example.

A custom rule is any callable ``rule(call: OpCall) -> torch.Tensor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "OpCall",
    "rescale",
    "maxpool",
    "softmax",
    "log_softmax",
    "gradient",
    "linear",
    "DEFAULT_MODULE_RULES",
    "LINEAR_MODULES",
    "rule_for_module",
]

#: Below this |Δx| the secant Δy/Δx is unstable and the derivative at the example is used.
RESCALE_EPSILON = 1e-6


@dataclass
class OpCall:
    """One call of a non-linear operation, seen from a batch of example-reference pairs.

    All tensors have the shape of the operation's input or output for the *reference* batch,
    ``(n_pairs, ...)``; example values are broadcast to their pairs.

    Attributes
    ----------
    op : torch.nn.Module or callable
        The module (or, for functional calls, an equivalent module or the function itself).
    forward : callable
        ``forward(tensor) -> tensor`` recomputes the operation without DeepLIFT hooks; used to take
        the ordinary derivative where a rule falls back to it.
    example_input, reference_input : torch.Tensor
        The operation's input for the example and for the reference of each pair.
    example_output, reference_output : torch.Tensor
        The operation's output for the example and for the reference of each pair.
    grad_output : torch.Tensor
        Multipliers of the explained output with respect to this operation's output.
    """

    op: Any
    forward: Callable[[torch.Tensor], torch.Tensor]
    example_input: torch.Tensor
    reference_input: torch.Tensor
    example_output: torch.Tensor
    reference_output: torch.Tensor
    grad_output: torch.Tensor


def gradient_at_example(call: OpCall, grad_output: torch.Tensor | None = None) -> torch.Tensor:
    """Ordinary vector-Jacobian product of the operation at the example input.

    Parameters
    ----------
    call : OpCall
        The operation call.
    grad_output : torch.Tensor, optional
        The vector to pull back; defaults to ``call.grad_output``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input, shaped like ``call.example_input``.
    """
    if grad_output is None:
        grad_output = call.grad_output
    with torch.enable_grad():
        x = call.example_input.detach().requires_grad_(True)
        y = call.forward(x)
        (grad,) = torch.autograd.grad(y, x, grad_output)
    return grad


def gradient(call: OpCall) -> torch.Tensor:
    """Treat the operation as linear: its ordinary gradient (at the example).

    Parameters
    ----------
    call : OpCall
        The operation call.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input.
    """
    return gradient_at_example(call)


#: Alias of :func:`gradient`, for registering layers that are linear.
linear = gradient


def rescale(call: OpCall) -> torch.Tensor:
    """The rescale rule for element-wise functions.

    ``grad_in = grad_out * (y(x) - y(r)) / (x - r)``; where ``|x - r| < 1e-6`` the derivative of
    the function at the example ``x`` is used.

    Parameters
    ----------
    call : OpCall
        The operation call; ``op`` must act element-wise.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input, shaped like the input.
    """
    delta_in = call.example_input - call.reference_input
    delta_out = call.example_output - call.reference_output
    near = delta_in.abs() < RESCALE_EPSILON
    secant = call.grad_output * delta_out / delta_in.masked_fill(near, 1.0)
    if not bool(near.any()):
        return secant
    return torch.where(near, gradient_at_example(call), secant)


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


def _softmax_dim(op: Any, ndim: int) -> int:
    dim = getattr(op, "dim", None)
    if dim is None:  # legacy implicit dim, as torch chooses it
        dim = 0 if ndim in (0, 1, 3) else 1
    dim = dim % ndim
    if dim == 0:
        raise ValueError(
            "softmax over the batch axis cannot be explained: DeepLIFT pairs every example with a "
            "reference along that axis. Apply softmax over a feature axis (dim >= 1)."
        )
    return dim


def _log_sum_exp_weights(call: OpCall, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights ``w`` with ``sum(w) = 1`` and ``sum(w * Δx) = Δ logsumexp(x)``, per row."""
    x, r = call.example_input, call.reference_input
    delta = x - r
    delta_lse = torch.logsumexp(x, dim, keepdim=True) - torch.logsumexp(r, dim, keepdim=True)
    mean_prob = 0.5 * (torch.softmax(x, dim) + torch.softmax(r, dim))
    residual = delta_lse - (mean_prob * delta).sum(dim, keepdim=True)
    centred = delta - delta.mean(dim, keepdim=True)
    spread = (centred * centred).sum(dim, keepdim=True)
    usable = spread > torch.finfo(spread.dtype).tiny
    scale = torch.where(usable, residual / spread.masked_fill(~usable, 1.0), 0.0)
    return mean_prob + scale * centred, delta_lse


def softmax(call: OpCall) -> torch.Tensor:
    """DeepLIFT rule for softmax, applied independently to every row.

    Softmax is written as ``y = exp(z)`` with ``z = x - logsumexp(x)``. The log-sum-exp gets
    per-row weights ``w`` (the mean of the two softmaxes plus the smallest correction along the
    centred ``Δx``) with ``sum(w) = 1`` (shift invariance, as the true gradient) and
    ``sum(w Δx) = Δlogsumexp`` exactly; ``exp`` gets the rescale rule. Chaining the two gives
    ``grad_in = t - w * sum(t)`` with ``t = grad_out * Δy / Δz``, which sums to delta exactly and
    never mixes rows or batch entries.

    Parameters
    ----------
    call : OpCall
        The call; ``op`` carries the softmax axis as ``op.dim``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input.
    """
    dim = _softmax_dim(call.op, call.example_input.ndim)
    weights, delta_lse = _log_sum_exp_weights(call, dim)
    delta_z = (call.example_input - call.reference_input) - delta_lse
    delta_y = call.example_output - call.reference_output
    near = delta_z.abs() < RESCALE_EPSILON
    exp_multiplier = torch.where(
        near, call.example_output, delta_y / delta_z.masked_fill(near, 1.0)
    )
    scaled = call.grad_output * exp_multiplier
    return scaled - weights * scaled.sum(dim, keepdim=True)


def log_softmax(call: OpCall) -> torch.Tensor:
    """DeepLIFT rule for log-softmax ``x - logsumexp(x)``, per row (see :func:`softmax`).

    Parameters
    ----------
    call : OpCall
        The call; ``op`` carries the axis as ``op.dim``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input.
    """
    dim = _softmax_dim(call.op, call.example_input.ndim)
    weights, _ = _log_sum_exp_weights(call, dim)
    return call.grad_output - weights * call.grad_output.sum(dim, keepdim=True)


#: Element-wise activations of torch.nn handled by the rescale rule.
ELEMENTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softshrink,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Hardshrink,
    nn.LogSigmoid,
    nn.Tanhshrink,
    nn.Threshold,
)

DEFAULT_MODULE_RULES: dict[type[nn.Module], Callable[[OpCall], torch.Tensor]] = {
    **{cls: rescale for cls in ELEMENTWISE_MODULES},
    nn.MaxPool1d: maxpool,
    nn.MaxPool2d: maxpool,
    nn.MaxPool3d: maxpool,
    nn.AdaptiveMaxPool1d: maxpool,
    nn.AdaptiveMaxPool2d: maxpool,
    nn.AdaptiveMaxPool3d: maxpool,
    nn.Softmax: softmax,
    nn.LogSoftmax: log_softmax,
}

#: Leaf modules that are linear in their input (in eval mode) and need no rule.
LINEAR_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.Flatten,
    nn.Unflatten,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    nn.Upsample,
)


def _translate_foreign_rule(rule: Callable) -> Callable[[OpCall], torch.Tensor]:
    """Map tangermeme's rule functions onto ours, so its users can keep their dictionaries."""
    module = getattr(rule, "__module__", "") or ""
    if module.startswith("tangermeme"):
        name = getattr(rule, "__name__", "")
        translated = {"_nonlinear": rescale, "_maxpool": maxpool, "_softmax": softmax}.get(name)
        if translated is None:
            raise ValueError(
                f"tangermeme's rule {name!r} has no seqlift equivalent; pass a seqlift rule "
                "(seqlift.rules.rescale, maxpool, softmax, gradient) or your own rule(call)."
            )
        return translated
    return rule


def build_module_rules(
    additional_nonlinear_ops: dict | None = None,
) -> dict[type[nn.Module], Callable[[OpCall], torch.Tensor]]:
    """The rule table for one call: the defaults updated with the caller's rules.

    Parameters
    ----------
    additional_nonlinear_ops : dict, optional
        ``{ModuleClass: rule}``; adds or overrides. tangermeme's ``_nonlinear``/``_maxpool``/
        ``_softmax`` are accepted and mapped onto ``rescale``/``maxpool``/``softmax``.

    Returns
    -------
    dict
        A fresh table.
    """
    rules = dict(DEFAULT_MODULE_RULES)
    for cls, rule in (additional_nonlinear_ops or {}).items():
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(
                f"additional_nonlinear_ops keys must be torch.nn.Module classes, got {cls!r}"
            )
        if not callable(rule):
            raise TypeError(f"the rule for {cls.__name__} must be callable, got {rule!r}")
        rules[cls] = _translate_foreign_rule(rule)
    return rules


def rule_for_module(module: nn.Module, rules: dict) -> Callable[[OpCall], torch.Tensor] | None:
    """The rule for a module: the first class in its MRO that has one, else None.

    Parameters
    ----------
    module : torch.nn.Module
        The module.
    rules : dict
        Table from :func:`build_module_rules`.

    Returns
    -------
    callable or None
    """
    for cls in type(module).__mro__:
        if cls in rules:
            return rules[cls]
    return None

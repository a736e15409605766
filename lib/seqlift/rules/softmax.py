"""Softmax and log-softmax rules, per row, with exact summation to delta."""

from __future__ import annotations

from typing import Any

import torch

from .call import OpCall
from .rescaling import rescale_epsilon

__all__ = ["log_softmax", "lse_weights", "softmax"]


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


def _masked(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor | None:
    """Where both ends are ``-inf`` (an attention mask), or None where nothing is masked."""
    masked = torch.isneginf(x) & torch.isneginf(r)
    return masked if bool(masked.any()) else None


def lse_weights(x: torch.Tensor, r: torch.Tensor, dim: int,
                probabilities: tuple[torch.Tensor, torch.Tensor] | None = None,
                masked: torch.Tensor | None | bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights ``w`` with ``sum(w) = 1`` and ``sum(w * Δx) = Δ logsumexp(x)``, per row.

    ``w`` is the mean of the two softmaxes plus the smallest correction along the centred
    ``Δx`` that makes the second sum exact. Entries that are ``-inf`` at both ends (masked
    attention scores) get weight zero and take no part in the correction.

    Parameters
    ----------
    x, r : torch.Tensor
        Example and reference values, broadcast against each other.
    dim : int
        The axis of the rows.
    probabilities : tuple of torch.Tensor, optional
        ``(softmax(x), softmax(r))`` when the caller has them (the softmax rule's outputs).
    masked : torch.Tensor or None, optional
        Where both ends are ``-inf``, when the caller has looked (None: nowhere).

    Returns
    -------
    tuple of torch.Tensor
        ``w`` shaped like the pairs, and ``Δ logsumexp`` with ``dim`` kept.
    """
    if masked is True:
        masked = _masked(x, r)
    delta = x - r
    lse_x, lse_r = torch.logsumexp(x, dim, keepdim=True), torch.logsumexp(r, dim, keepdim=True)
    delta_lse = lse_x - lse_r
    p_x, p_r = probabilities if probabilities is not None else \
        (torch.softmax(x, dim), torch.softmax(r, dim))
    mean_prob = 0.5 * (p_x + p_r)
    if masked is None:
        centred = delta - delta.mean(dim, keepdim=True)
    else:
        live = ~masked
        delta = delta.masked_fill(masked, 0.0)
        count = live.sum(dim, keepdim=True).clamp_min(1)
        centred = (delta - delta.sum(dim, keepdim=True) / count).masked_fill(masked, 0.0)
    explained = (mean_prob * delta).sum(dim, keepdim=True)
    residual = delta_lse - explained
    spread = (centred * centred).sum(dim, keepdim=True)
    # A residual at the rounding level of the log-sum-exps is noise: dividing it by a small
    # spread (a row whose Δx is nearly a uniform shift) would give huge weights of both signs,
    # whose cancellation loses the digits that summation to delta needs (float32 deltas of 4e-4
    # on an Enformer's attention pooling). The mean softmax is then exact to rounding already.
    noise = 8 * torch.finfo(spread.dtype).eps * (lse_x.abs() + lse_r.abs() + explained.abs())
    usable = (spread > torch.finfo(spread.dtype).tiny) & (residual.abs() > noise)
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
    x, r = call.example_input, call.reference_input
    y_x, y_r = call.example_output, call.reference_output
    masked = _masked(x, r)
    weights, delta_lse = lse_weights(x, r, dim, (y_x, y_r), masked)
    delta_z = (x - r) - delta_lse
    if masked is not None:
        delta_z = delta_z.masked_fill(masked, 0.0)
    delta_y = y_x - y_r
    near = delta_z.abs() < rescale_epsilon(delta_z.dtype)
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
    x, r = call.example_input, call.reference_input
    masked = _masked(x, r)
    weights, _ = lse_weights(x, r, dim, masked=masked)
    grad = call.grad_output - weights * call.grad_output.sum(dim, keepdim=True)
    return grad if masked is None else grad.masked_fill(masked, 0.0)

"""Rules for reductions over axes: maximum/minimum (the max-pool rule) and log-sum-exp."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .call import OpCall
from .softmax import lse_weights

__all__ = ["Reduction", "logsumexp", "max_reduction"]


@dataclass(frozen=True)
class Reduction:
    """A reduction over ``dim`` of every row, ``function(x, dim, keepdim)``.

    Callable, so that it can serve as the operation's own ``forward``.
    """

    dim: int | Sequence[int] | None
    keepdim: bool
    function: Callable

    def dims(self, ndim: int) -> tuple[int, ...]:
        """The reduced axes, non-negative; the batch axis is never one of them."""
        if self.dim is None:
            raise ValueError(
                "a reduction over every axis, the batch axis included, cannot be explained: "
                "DeepLIFT pairs every example with a reference along that axis. Reduce over the "
                "feature axes (dim=...)."
            )
        dims = (self.dim,) if isinstance(self.dim, int) else tuple(self.dim)
        dims = tuple(sorted(d % ndim for d in dims))
        if 0 in dims:
            raise ValueError("a reduction over the batch axis cannot be explained (see above)")
        return dims

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x, self.dim, self.keepdim)


def _to_rows(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``x`` with the reduced axes moved last and flattened into one, ``(*kept, n_reduced)``."""
    moved = x.movedim(dims, tuple(range(x.ndim - len(dims), x.ndim)))
    return moved.reshape(*moved.shape[: x.ndim - len(dims)], -1)


def _from_rows(rows: torch.Tensor, like: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    kept = [d for d in range(like.ndim) if d not in dims]
    moved_shape = [like.shape[d] for d in kept] + [like.shape[d] for d in dims]
    moved = rows.reshape(moved_shape)
    return moved.movedim(tuple(range(like.ndim - len(dims), like.ndim)), dims)


def _kept_grad(call: OpCall, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    """The output multipliers as ``(*kept, 1)``."""
    grad = call.grad_output
    if keepdim:
        grad = grad.squeeze(dims)
    return grad.unsqueeze(-1)


def max_reduction(call: OpCall) -> torch.Tensor:
    """The max-pool rule for ``amax``/``amin``/``max``/``min`` over feature axes.

    The change of every reduced row, ``Δy = y_x - y_r``, is split at ``t = max(y_x, y_r)``
    (``min`` for a minimum) into ``t - y_r``, carried by the example's winner, and ``y_x - t``,
    carried by the reference's winner; routed changes are divided by ``Δx``. Only where
    ``Δx == 0`` exactly is the example's gradient (routed to its winner) used, as in
    :func:`seqlift.rules.maxpool`.

    Parameters
    ----------
    call : OpCall
        ``op`` is a :class:`Reduction` whose function is ``torch.amax`` or ``torch.amin``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input, shaped like the input.
    """
    op: Reduction = call.op
    largest = op.function is torch.amax
    dims = op.dims(call.example_input.ndim)
    x, r = _to_rows(call.example_input, dims), _to_rows(call.reference_input, dims)
    pick = torch.max if largest else torch.min
    y_x, x_winner = pick(x, dim=-1, keepdim=True)
    y_r, r_winner = pick(r, dim=-1, keepdim=True)
    top = torch.maximum(y_x, y_r) if largest else torch.minimum(y_x, y_r)
    grad = _kept_grad(call, dims, op.keepdim)
    routed = torch.zeros_like(x).scatter_add_(-1, x_winner, grad * (top - y_r))
    routed.scatter_add_(-1, r_winner, grad * (y_x - top))
    delta = x - r
    unchanged = delta == 0
    multipliers = routed / delta.masked_fill(unchanged, 1.0)
    if bool(unchanged.any()):
        at_example = torch.zeros_like(x).scatter_add_(-1, x_winner, grad.expand_as(y_x))
        multipliers = torch.where(unchanged, at_example, multipliers)
    return _from_rows(multipliers, call.example_input, dims)


def logsumexp(call: OpCall) -> torch.Tensor:
    """``log(sum(exp(x)))`` over feature axes: per-row weights that sum to one.

    The weights ``w`` (see :func:`seqlift.rules.softmax`) satisfy ``sum(w) = 1`` and
    ``sum(w Δx) = Δ logsumexp`` exactly; the multipliers are ``w * grad_out``.

    Parameters
    ----------
    call : OpCall
        ``op`` is a :class:`Reduction` over the axes ``dim``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input.
    """
    op: Reduction = call.op
    dims = op.dims(call.example_input.ndim)
    x, r = _to_rows(call.example_input, dims), _to_rows(call.reference_input, dims)
    weights, _ = lse_weights(x, r, -1)
    return _from_rows(weights * _kept_grad(call, dims, op.keepdim), call.example_input, dims)

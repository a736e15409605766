"""Rules that use ordinary gradients: the linear rule, and the gradient at the example."""

from __future__ import annotations

import torch

from .call import OpCall

__all__ = ["gradient", "gradient_at_example", "linear", "vjp"]


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def vjp(forward, at: torch.Tensor, grad_output) -> torch.Tensor:
    """The vector-Jacobian product of ``forward`` at ``at`` with ``grad_output``.

    Parameters
    ----------
    forward : callable
        ``forward(tensor)`` returning a tensor or a tuple of tensors.
    at : torch.Tensor
        Where the Jacobian is taken.
    grad_output : torch.Tensor or tuple of torch.Tensor
        One vector per output of ``forward``.

    Returns
    -------
    torch.Tensor
        Shaped like ``at``; zeros where no output depends on it.
    """
    with torch.enable_grad():
        x = at.detach().requires_grad_(True)
        outputs, grads = _as_tuple(forward(x)), _as_tuple(grad_output)
        pairs = [(y, g) for y, g in zip(outputs, grads, strict=True)
                 if isinstance(y, torch.Tensor) and y.requires_grad]
        if not pairs:
            return torch.zeros_like(x)
        (grad,) = torch.autograd.grad([y for y, _ in pairs], x, [g for _, g in pairs],
                                      allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def gradient_at_example(call: OpCall, grad_output=None) -> torch.Tensor:
    """Ordinary vector-Jacobian product of the operation at the example input.

    Parameters
    ----------
    call : OpCall
        The operation call.
    grad_output : torch.Tensor or tuple of torch.Tensor, optional
        The vector to pull back; defaults to ``call.grad_output``.

    Returns
    -------
    torch.Tensor
        Gradient with respect to the input, shaped like ``call.example_input``.
    """
    return vjp(call.forward, call.example_input,
               call.grad_output if grad_output is None else grad_output)


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

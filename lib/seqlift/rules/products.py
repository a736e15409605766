"""The midpoint rule for products of two input-dependent tensors.

For ``z = f(a, b)`` bilinear (``a * b``, ``a @ b``, ``bmm``, ``einsum`` of two operands) the
change splits exactly as

    Δz = f(Δa, b̄) + f(ā, Δb),   ā = (a + a_ref) / 2,   b̄ = (b + b_ref) / 2,

the two-player Shapley split of ``Δz`` between the operands. The multipliers are therefore the
ordinary vector-Jacobian products of ``f`` taken at the midpoint ``(ā, b̄)``: ``m_a`` pulls the
output multipliers back through ``f(·, b̄)`` and ``m_b`` through ``f(ā, ·)``. This is tangermeme
1.6.0's ``_bilinear`` rule (its ``BilinearOp`` module), applied wherever the product is written.
A quotient ``a / b`` is the product of ``a`` with ``1 / b``, whose reciprocal gets the rescale
rule.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["midpoint_product"]

Bilinear = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``grad`` summed over the axes along which an operand of ``shape`` was broadcast."""
    if grad.shape == shape:
        return grad
    return grad.sum_to_size(shape)


def midpoint_product(
    bilinear: Bilinear,
    example_a: torch.Tensor,
    reference_a: torch.Tensor,
    example_b: torch.Tensor,
    reference_b: torch.Tensor,
    grad_output: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multipliers of both operands of a bilinear operation under the midpoint rule.

    Parameters
    ----------
    bilinear : callable
        ``f(a, b)``, linear in each argument.
    example_a, reference_a : torch.Tensor
        The first operand at the example and at the reference of each pair, ``(n_pairs, ...)``.
    example_b, reference_b : torch.Tensor
        The same for the second operand.
    grad_output : torch.Tensor
        The multipliers of the output, ``(n_pairs, ...)``.

    Returns
    -------
    tuple of torch.Tensor
        ``(m_a, m_b)``, shaped like the reference operands.
    """
    middle_a = (example_a + reference_a) * 0.5
    middle_b = (example_b + reference_b) * 0.5
    if bilinear is torch.mul:
        return (_reduce_to(grad_output * middle_b, reference_a.shape),
                _reduce_to(grad_output * middle_a, reference_b.shape))
    with torch.enable_grad():
        a = middle_a.detach().requires_grad_(True)
        b = middle_b.detach().requires_grad_(True)
        grad_a, grad_b = torch.autograd.grad(bilinear(a, b), (a, b), grad_output)
    return grad_a, grad_b

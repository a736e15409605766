"""Closed-form secants ``Δy / Δx`` of element-wise functions whose difference quotient cancels.

The rescale rule's multiplier is the secant ``(y(x) - y(r)) / (x - r)``. Written as a difference
quotient it loses digits when ``x`` and ``r`` are close (float32 keeps about ``eps / |Δx|`` of
it), and below ``|Δx| < 1e-6`` the rule falls back to the derivative. For the powers, ``exp`` and
``log`` the secant has an exact closed form that never cancels and needs no fallback:

=================  ==============================================
``x ** 2``         ``x + r``
``sqrt(x)``        ``1 / (y + y_r)``
``rsqrt(x)``       ``-y**2 * y_r**2 / (y + y_r)``
``1 / x``          ``-y * y_r``
``exp(x)``         ``y_r * expm1(Δx) / Δx`` (``y_r`` where ``Δx == 0``)
``log(x)``         ``log1p(Δx / r) / Δx`` (``1 / x`` where ``Δx == 0``)
=================  ==============================================

These are how normalisation layers (a square, a mean and a reciprocal square root) become exact:
they are the same terms as tangermeme 1.6.0's closed-form LayerNorm rule.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import torch

__all__ = ["Secant", "closed_form"]

#: ``secant(x, r, y, y_r) -> Δy / Δx``, broadcasting example against reference values.
Secant = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _square(x, r, y, y_r):
    return x + r


def _sqrt(x, r, y, y_r):
    total = y + y_r
    return torch.where(total == 0, torch.zeros_like(total), total.reciprocal())


def _rsqrt(x, r, y, y_r):
    return -(y * y) * (y_r * y_r) / (y + y_r)


def _reciprocal(x, r, y, y_r):
    return -(y * y_r)


def _exp(x, r, y, y_r):
    delta = x - r
    small = delta.abs() < 1.0  # elsewhere the difference quotient does not cancel
    safe = delta.masked_fill(delta == 0, 1.0)
    near = y_r * torch.expm1(delta) / safe
    far = (y - y_r) / safe
    return torch.where(delta == 0, y_r.expand_as(delta),
                       torch.where(small, near, far))


def _log(x, r, y, y_r):
    delta = x - r
    safe = delta.masked_fill(delta == 0, 1.0)
    ratio = delta / r
    near = torch.log1p(ratio) / safe
    far = (y - y_r) / safe
    quotient = torch.where(ratio.abs() < 0.5, near, far)
    return torch.where(delta == 0, x.reciprocal().expand_as(delta), quotient)


_BY_EXPONENT: dict[float, Secant] = {2.0: _square, 0.5: _sqrt, -0.5: _rsqrt, -1.0: _reciprocal}
_BY_NAME: dict[str, Secant] = {
    "square": _square, "sqrt": _sqrt, "rsqrt": _rsqrt, "reciprocal": _reciprocal,
    "exp": _exp, "log": _log,
}


def closed_form(name: str, args: tuple, kwargs: dict[str, Any]) -> Secant | None:
    """The closed-form secant of an element-wise call, if it has one.

    Parameters
    ----------
    name : str
        The function's name (``"rsqrt"``, ``"pow"``, ``"__pow__"``, ...), without a trailing
        ``_`` for in-place forms.
    args, kwargs
        The call's arguments after the input tensor (a power's exponent).

    Returns
    -------
    callable or None
        ``secant(x, r, y, y_r)``, or None where the difference quotient is used.
    """
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in ("pow", "__pow__", "float_power"):
        exponent = args[0] if args else kwargs.get("exponent")
        if isinstance(exponent, Real) and not isinstance(exponent, bool):
            return _BY_EXPONENT.get(float(exponent))
    return None

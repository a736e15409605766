"""The rescale rule for element-wise functions: the rule, its torch form and its CPU kernel.

``grad_in = grad_out * (y(x) - y(r)) / (x - r)``; where ``|x - r|`` is below
:func:`rescale_epsilon` (``1e-6``, tangermeme's threshold; ``1e-10`` in float64) the derivative
of the function at the example ``x`` is used instead.

The engine computes these multipliers once, in the forward pass, for all pairs of a batch
(:func:`pair_multipliers`), so its backward pass through an element-wise function is one product.
On the CPU a fused numba kernel does it in one pass over the activation, with the same float
operations in the same order as the torch formulation (two subtractions and a division), so the
two give bitwise the same results; CUDA tensors take the torch formulation.
:func:`torch_formulation` makes the CPU take it too, which is how the tests cover the GPU's path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numba
import numpy as np
import torch

from .._numba import LAUNCH_LOCK, prefer_forksafe_threads
from .call import OpCall, pair_views
from .gradient import gradient_at_example

__all__ = [
    "RESCALE_EPSILON",
    "RESCALE_EPSILON_FLOAT64",
    "pair_multipliers",
    "rescale",
    "rescale_epsilon",
    "torch_formulation",
]

#: Below this |Δx| the secant Δy/Δx is unstable and the derivative at the example is used.
RESCALE_EPSILON = 1e-6
#: The same threshold in float64, whose secants stay accurate to far smaller differences. The
#: derivative's error is of order ``f'' Δx²``: at 1e-6 it left float64 deltas of 1e-8 relative
#: on an Enformer, at 1e-10 they are 8e-11.
RESCALE_EPSILON_FLOAT64 = 1e-10


def rescale_epsilon(dtype: torch.dtype) -> float:
    """The ``|Δx|`` below which the rescale rule takes the derivative at the example."""
    return RESCALE_EPSILON_FLOAT64 if dtype == torch.float64 else RESCALE_EPSILON


def rescale(call: OpCall) -> torch.Tensor:
    """The rescale rule for element-wise functions.

    ``grad_in = grad_out * (y(x) - y(r)) / (x - r)``; where ``|x - r|`` is below
    :func:`rescale_epsilon` the derivative of the function at the example ``x`` is used.

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
    near = delta_in.abs() < rescale_epsilon(delta_in.dtype)
    secant = call.grad_output * delta_out / delta_in.masked_fill(near, 1.0)
    if not bool(near.any()):
        return secant
    return torch.where(near, gradient_at_example(call), secant)


# -- where the multipliers are computed ------------------------------------------------------

_state = {"cpu_kernel": True}


@contextlib.contextmanager
def torch_formulation() -> Iterator[None]:
    """Compute rescale multipliers with the torch formulation on the CPU too (the GPU's path)."""
    previous = _state["cpu_kernel"]
    _state["cpu_kernel"] = False
    try:
        yield
    finally:
        _state["cpu_kernel"] = previous


def _takes_cpu_kernel(tensor: torch.Tensor) -> bool:
    return (_state["cpu_kernel"] and tensor.device.type == "cpu"
            and tensor.dtype in (torch.float32, torch.float64))


def pair_multipliers(
    n_examples: int,
    example_input: torch.Tensor,
    reference_input: torch.Tensor,
    example_output: torch.Tensor,
    reference_output: torch.Tensor,
    derivative: Callable[[], torch.Tensor],
    out: torch.Tensor,
) -> None:
    """Write the rescale multipliers ``Δy / Δx`` of ``E x c`` pairs into ``out``.

    Computed on the pairs grouped by example, so the example's values broadcast instead of being
    copied to every pair.

    Parameters
    ----------
    n_examples : int
        ``E``.
    example_input, example_output : torch.Tensor
        ``(E * q, ...)``: the examples' input and output of the operation (``q`` rows per
        example when a model folds an axis into the batch, else 1); any memory layout.
    reference_input, reference_output : torch.Tensor
        ``(E * c * q, ...)``: the same for the references, grouped by example.
    derivative : callable
        ``derivative()`` returns the function's derivative at the examples' input,
        ``(E * q, ...)``; called only where some ``|Δx|`` is below :func:`rescale_epsilon`.
    out : torch.Tensor
        Contiguous ``(E * c * q, ...)`` tensor receiving the multipliers.
    """
    if _takes_cpu_kernel(out):
        _cpu_multipliers(n_examples, example_input, reference_input, example_output,
                         reference_output, derivative, out)
        return
    x_in, r_in = pair_views(example_input, reference_input, n_examples)
    x_out, r_out = pair_views(example_output, reference_output, n_examples)
    into = out.view(r_in.shape)
    delta_in = torch.sub(x_in, r_in)
    torch.sub(x_out, r_out, out=into).div_(delta_in)
    near = delta_in.abs_() < rescale_epsilon(out.dtype)
    if bool(near.any()):
        slope = derivative().to(r_in.dtype).reshape(x_in.shape)
        into.copy_(torch.where(near, slope, into))


# -- the CPU kernel ----------------------------------------------------------------------------

# Below this many elements the kernel runs on the calling thread.
_PARALLEL_MIN_ELEMENTS = 1 << 16


def _rescale_rows(example_in, reference_in, example_out, reference_out, derivative, epsilon,
                  out, row):  # pragma: no cover - compiled
    n_references = reference_in.shape[1]
    example, reference = row // n_references, row % n_references
    for j in range(reference_in.shape[2]):
        delta_in = example_in[example, j] - reference_in[example, reference, j]
        if abs(delta_in) < epsilon:
            out[example, reference, j] = derivative[example, j]
        else:
            delta_out = example_out[example, j] - reference_out[example, reference, j]
            out[example, reference, j] = delta_out / delta_in


_rows = numba.njit(cache=True, nogil=True)(_rescale_rows)


@numba.njit(cache=True, nogil=True)
def _serial(example_in, reference_in, example_out, reference_out, derivative, epsilon, out):
    for row in range(reference_in.shape[0] * reference_in.shape[1]):  # pragma: no cover
        _rows(example_in, reference_in, example_out, reference_out, derivative, epsilon, out, row)


@numba.njit(cache=True, nogil=True, parallel=True)
def _parallel(example_in, reference_in, example_out, reference_out, derivative, epsilon, out):
    for row in numba.prange(reference_in.shape[0] * reference_in.shape[1]):  # pragma: no cover
        _rows(example_in, reference_in, example_out, reference_out, derivative, epsilon, out, row)


def _as_array(tensor: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return tensor.detach().contiguous().reshape(shape).numpy()


def _cpu_multipliers(n_examples, example_input, reference_input, example_output,
                     reference_output, derivative, out) -> None:
    inner = example_input.numel() // n_examples
    shape = (n_examples, reference_input.shape[0] // example_input.shape[0], inner)
    arrays = (
        _as_array(example_input, (n_examples, inner)),
        _as_array(reference_input, shape),
        _as_array(example_output, (n_examples, inner)),
        _as_array(reference_output, shape),
        _as_array(derivative().to(out.dtype), (n_examples, inner)),
    )
    target = out.view(shape).numpy()
    epsilon = rescale_epsilon(out.dtype)
    if out.numel() < _PARALLEL_MIN_ELEMENTS:
        _serial(*arrays, epsilon, target)
        return
    with LAUNCH_LOCK:
        prefer_forksafe_threads()
        _parallel(*arrays, epsilon, target)

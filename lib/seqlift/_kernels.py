"""Fused CPU kernel for the rescale rule's multipliers.

On the CPU the rescale multipliers ``Δy / Δx`` (with the derivative at the example where
``|Δx| < eps``) cost about eight passes over an activation when written with torch operations;
this numba kernel does it in one, with the same float operations in the same order (two
subtractions and a division), so the results are bitwise those of the torch formulation.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from ._numba import LAUNCH_LOCK, prefer_forksafe_threads

__all__ = ["rescale_multipliers_cpu"]

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


def rescale_multipliers_cpu(
    n_examples: int,
    example_input: torch.Tensor,
    reference_input: torch.Tensor,
    example_output: torch.Tensor,
    reference_output: torch.Tensor,
    derivative: torch.Tensor,
    epsilon: float,
    out: torch.Tensor,
) -> None:
    """Write the rescale multipliers of ``E x c`` pairs into ``out``.

    Parameters
    ----------
    n_examples : int
        ``E``.
    example_input, example_output, derivative : torch.Tensor
        ``(E * q, ...)``: the examples' input and output of the operation, and its derivative
        at the examples' input (``q`` rows per example when a model folds an axis into the
        batch, else 1).
    reference_input, reference_output : torch.Tensor
        ``(E * c * q, ...)``: the same for the references, grouped by example.
    epsilon : float
        Where ``|Δx| < epsilon`` the derivative is used.
    out : torch.Tensor
        Contiguous ``(E * c, ...)`` CPU tensor receiving the multipliers.
    """
    inner = example_input.numel() // n_examples
    shape = (n_examples, reference_input.shape[0] // n_examples, inner)
    arrays = (
        _as_array(example_input, (n_examples, inner)),
        _as_array(reference_input, shape),
        _as_array(example_output, (n_examples, inner)),
        _as_array(reference_output, shape),
        _as_array(derivative.to(out.dtype), (n_examples, inner)),
    )
    target = out.view(shape).numpy()
    if out.numel() < _PARALLEL_MIN_ELEMENTS:
        _serial(*arrays, epsilon, target)
        return
    with LAUNCH_LOCK:
        prefer_forksafe_threads()
        _parallel(*arrays, epsilon, target)

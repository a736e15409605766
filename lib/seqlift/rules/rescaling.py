"""The rescale rule for element-wise functions: the rule, its torch form and its CPU kernel.

``grad_in = grad_out * (y(x) - y(r)) / (x - r)``; where ``|x - r|`` is below
:func:`rescale_epsilon` (``1e-6``, tangermeme's threshold; ``1e-10`` in float64) the derivative
of the function at the example ``x`` is used instead.

The engine computes these multipliers once, in the forward pass, for all pairs of a batch
(:func:`pair_multipliers`), so its backward pass through an element-wise function is one product.
There are two formulations of that computation, which give bitwise the same multipliers:

``"kernel"`` (the CPU's default)
    A numba kernel that makes one pass over the activation, with the same float operations in
    the same order as the torch formulation (two subtractions and a division, the threshold
    compared in the activation's dtype). It runs on ``torch.get_num_threads()`` threads when the
    activation is large, and takes the derivative only when some ``|Δx|`` is below the threshold.
``"torch"`` (always on CUDA, and for dtypes other than float32 and float64)
    The same arithmetic as torch operations.

Choosing the formulation
------------------------
CUDA tensors always take the torch formulation. On the CPU, the environment variable
``SEQLIFT_RESCALE`` (read once, when this module is imported) chooses the default:
``SEQLIFT_RESCALE=torch`` runs the GPU's formulation on the CPU, which is how CI covers the
GPU's code path without a GPU; ``SEQLIFT_RESCALE=kernel`` (or unset) is the default. Any other
value raises ``ValueError`` at import. In code, :func:`formulation` (``with
formulation("torch"): ...``) or :func:`torch_formulation` choose it for a block, and
:func:`current_formulation` says which one is in effect.

Compiled kernels are cached on disk by numba (see :mod:`seqlift._numba` for where), so only the
first process of an installation compiles them. Loading them still costs a process about 0.6 s
of numba start-up, so the kernels are loaded on a background thread when the first multipliers
are asked for, and until they are ready the CPU takes the torch formulation, which gives the
same bits: a job's first batch does not wait for numba (see ``benchmarks/startup.py``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

import numba
import numpy as np
import torch

from .._numba import run_on_threads
from .call import OpCall, pair_views
from .gradient import gradient_at_example

__all__ = [
    "FORMULATIONS",
    "RESCALE_EPSILON",
    "RESCALE_EPSILON_FLOAT64",
    "current_formulation",
    "formulation",
    "pair_multipliers",
    "rescale",
    "rescale_epsilon",
    "torch_formulation",
    "wait_for_kernels",
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


# -- which formulation computes the multipliers ----------------------------------------------

#: The formulations of the multipliers: the CPU kernel and the torch operations CUDA runs.
FORMULATIONS = ("kernel", "torch")


def _formulation_from_environment() -> str:
    value = os.environ.get("SEQLIFT_RESCALE", "").strip().lower() or "kernel"
    if value not in FORMULATIONS:
        raise ValueError(
            f"SEQLIFT_RESCALE={os.environ['SEQLIFT_RESCALE']!r}: expected one of "
            f"{', '.join(FORMULATIONS)} (or unset, for the kernel)"
        )
    return value


_state = {"formulation": _formulation_from_environment()}


def current_formulation() -> str:
    """The formulation CPU tensors take now: ``"kernel"`` or ``"torch"``."""
    return _state["formulation"]


@contextlib.contextmanager
def formulation(name: str) -> Iterator[None]:
    """Compute rescale multipliers of CPU tensors with the formulation ``name`` in a block.

    Parameters
    ----------
    name : {"kernel", "torch"}
        ``"torch"`` is the GPU's formulation; CUDA tensors take it whatever ``name`` is.
        ``"kernel"`` waits until the kernels are loaded, so that the block runs them.
    """
    if name not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {', '.join(FORMULATIONS)}, got {name!r}")
    if name == "kernel":
        wait_for_kernels()  # asked for by name: the kernel from the first call on
    previous = _state["formulation"]
    _state["formulation"] = name
    try:
        yield
    finally:
        _state["formulation"] = previous


def torch_formulation() -> contextlib.AbstractContextManager[None]:
    """Compute rescale multipliers with the torch formulation on the CPU too (the GPU's path)."""
    return formulation("torch")


def _takes_cpu_kernel(tensor: torch.Tensor) -> bool:
    if not (_state["formulation"] == "kernel" and tensor.device.type == "cpu"
            and tensor.dtype in (torch.float32, torch.float64)):
        return False
    if not _KERNELS_READY.is_set():
        _start_loading_kernels()
        return False  # the torch formulation meanwhile: the same bits
    return True


# -- loading the kernels without waiting for them ---------------------------------------------

_KERNELS_READY = threading.Event()
_LOADING = threading.Lock()
_loader: list[threading.Thread] = []


def _load_kernels() -> None:
    """Call every kernel once per dtype on tiny arrays: numba loads (or compiles) them."""
    try:
        for dtype in (np.float32, np.float64):
            flat, paired = np.zeros((1, 1), dtype), np.zeros((1, 1, 1), dtype)
            near = np.zeros(1, dtype=np.int64)
            _secants(flat, paired, flat, paired, dtype(1e-6), paired.copy(), near, 0, 1)
            _derivatives_where_near(flat, paired, flat, dtype(1e-6), paired.copy(),
                                    np.zeros(1, dtype=np.int64))
    finally:
        _KERNELS_READY.set()


def _start_loading_kernels() -> None:
    with _LOADING:
        if not _loader:
            thread = threading.Thread(target=_load_kernels, name="seqlift-kernels", daemon=True)
            _loader.append(thread)
            thread.start()


def wait_for_kernels(timeout: float | None = None) -> bool:
    """Load the CPU kernels now (if not yet) and wait until they are ready; True when they are."""
    _start_loading_kernels()
    return _KERNELS_READY.wait(timeout)


def _before_fork() -> None:
    # A child forked while numba loads would inherit its locks held; let the loading finish.
    if _loader and not _KERNELS_READY.is_set():
        _KERNELS_READY.wait(60)


os.register_at_fork(before=_before_fork)


# -- where the multipliers are computed ------------------------------------------------------


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
    # A Python float is compared in the tensor's dtype: float32(1e-6) is not below itself.
    near = delta_in.abs_() < rescale_epsilon(out.dtype)
    if bool(near.any()):
        slope = derivative().to(r_in.dtype).reshape(x_in.shape)
        into.copy_(torch.where(near, slope, into))


# -- the CPU kernel ----------------------------------------------------------------------------

# Below this many elements the kernel runs on the calling thread: handing rows to other threads
# and waiting for them costs more than it saves.
_PARALLEL_MIN_ELEMENTS = 1 << 16


@numba.njit(cache=True, nogil=True)
def _secants(example_in, reference_in, example_out, reference_out, epsilon, out, near,
             start, stop):  # pragma: no cover - compiled
    """Rows ``start:stop`` of the ``E * c`` pairs: ``Δy / Δx`` where ``|Δx| >= epsilon``.

    ``near[row]`` receives the number of elements of the row whose ``|Δx|`` is below
    ``epsilon``; those elements of ``out`` are left for :func:`_derivatives_where_near`.
    ``epsilon`` has the arrays' dtype, so the comparison is the torch formulation's.
    """
    n_references = reference_in.shape[1]
    for row in range(start, stop):
        example = row // n_references
        reference = row - example * n_references
        count = 0
        for j in range(reference_in.shape[2]):
            delta_in = example_in[example, j] - reference_in[example, reference, j]
            if abs(delta_in) < epsilon:
                count += 1
            else:
                delta_out = example_out[example, j] - reference_out[example, reference, j]
                out[example, reference, j] = delta_out / delta_in
        near[row] = count


@numba.njit(cache=True, nogil=True)
def _derivatives_where_near(example_in, reference_in, derivative, epsilon, out,
                            rows):  # pragma: no cover - compiled
    """The derivative at the example where ``|Δx| < epsilon``, in the given rows only."""
    n_references = reference_in.shape[1]
    for row in rows:
        example = row // n_references
        reference = row - example * n_references
        for j in range(reference_in.shape[2]):
            delta_in = example_in[example, j] - reference_in[example, reference, j]
            if abs(delta_in) < epsilon:
                out[example, reference, j] = derivative[example, j]


def _as_array(tensor: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return tensor.detach().contiguous().reshape(shape).numpy()


def _cpu_multipliers(n_examples, example_input, reference_input, example_output,
                     reference_output, derivative, out) -> None:
    inner = example_input.numel() // n_examples
    shape = (n_examples, reference_input.shape[0] // example_input.shape[0], inner)
    example_in = _as_array(example_input, (n_examples, inner))
    reference_in = _as_array(reference_input, shape)
    example_out = _as_array(example_output, (n_examples, inner))
    reference_out = _as_array(reference_output, shape)
    target = out.view(shape).numpy()
    epsilon = target.dtype.type(rescale_epsilon(out.dtype))
    n_rows = shape[0] * shape[1]
    near = np.empty(n_rows, dtype=np.int64)

    def secants(start: int, stop: int) -> None:
        _secants(example_in, reference_in, example_out, reference_out, epsilon, target, near,
                 start, stop)

    n_threads = torch.get_num_threads() if out.numel() >= _PARALLEL_MIN_ELEMENTS else 1
    run_on_threads(secants, n_rows, n_threads)
    rows = np.flatnonzero(near)
    if not rows.size:
        return
    slope = _as_array(derivative().to(out.dtype), (n_examples, inner))

    def derivatives(start: int, stop: int) -> None:
        _derivatives_where_near(example_in, reference_in, slope, epsilon, target,
                                rows[start:stop])

    run_on_threads(derivatives, rows.size, n_threads)

"""``explain``: DeepLIFT multipliers of many example-reference pairs, summed per example.

How it works
------------
For a batch of ``E`` examples with ``c`` references each, one forward pass runs the examples
followed by their references (``E + E * c`` rows; an example's activations are computed once,
however many references it has, and in the same kernel calls as its references, so where an
example and a reference share a receptive field their activations are equal, which the max-pool
rule's exact ``Δx == 0`` test needs; batch-size-dependent kernels made them differ by rounding
when the two ran in separate passes). Every non-linear operation runs without a graph and is
connected to its input by a node whose backward applies the operation's DeepLIFT rule, using the
example rows' values for the reference rows (:mod:`seqlift.engine.session`). Element-wise
multipliers ``Δy / Δx`` are computed once in the forward pass, so the backward pass through them
is one product.

One input-gradient backward pass per target from the references' outputs then gives the
multipliers ``m`` of every pair: linear layers' input gradients do not depend on where they are
taken, so only the non-linear operations need the example's values. Parameters never receive
gradients.

Hypothetical contributions are ``H = m - sum_c r_c m_c`` per position; attributions are their
mean over references, times ``X`` unless ``hypothetical=True``. The convergence delta of a pair
is ``f(x) - f(r) - sum (x - r) m``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import _utils, rules
from .errors import ExplanationError
from .guard import prepared, unexplained_torch_layers
from .pairing import ReferenceCache, batches, joint_batch
from .session import Session

__all__ = ["Explanation", "NonFiniteOutputError", "explain"]

ReferenceSource = Callable[[int, int], torch.Tensor]


@dataclass
class Explanation:
    """Low-level results of :func:`explain` (float64, on the CPU).

    Attributes
    ----------
    hypothetical_sum : torch.Tensor
        ``(n_targets, n, alphabet, length)``: sum over references of ``m - sum_c r_c m_c``.
    deltas : torch.Tensor
        ``(n_targets, n, n_references)``: signed convergence deltas ``f(x) - f(r) - sum (x-r) m``.
    example_predictions : torch.Tensor
        ``(n_targets, n)``: ``f(x)``.
    reference_predictions : torch.Tensor
        ``(n_targets, n, n_references)``: ``f(r)``.
    multipliers : torch.Tensor or None
        ``(n_targets, n, n_references, alphabet, length)`` when asked for, else None.
    """

    hypothetical_sum: torch.Tensor
    deltas: torch.Tensor
    example_predictions: torch.Tensor
    reference_predictions: torch.Tensor
    multipliers: torch.Tensor | None = None

    @classmethod
    def empty(cls, n_targets: int, n: int, k: int, shape: tuple[int, int],
              keep_multipliers: bool) -> Explanation:
        """Zeros of the right shapes, to be filled batch by batch."""
        return cls(
            torch.zeros(n_targets, n, *shape, dtype=torch.float64),
            torch.zeros(n_targets, n, k, dtype=torch.float64),
            torch.zeros(n_targets, n, dtype=torch.float64),
            torch.zeros(n_targets, n, k, dtype=torch.float64),
            torch.zeros(n_targets, n, k, *shape, dtype=torch.float64)
            if keep_multipliers else None,
        )


class NonFiniteOutputError(ValueError):
    """The model returned NaN or Inf; ``examples`` holds the indices of the affected examples."""

    def __init__(self, message: str, examples: list[int]):
        super().__init__(message)
        self.examples = examples


def _check_finite(outputs: torch.Tensor, first: int, what: str) -> None:
    bad = [first + i for i in _utils.nonfinite_rows(outputs)]
    if not bad:
        return
    raise NonFiniteOutputError(
        f"the model returned NaN or Inf for the {what} of example(s) {_utils.listing(bad)}; "
        "nothing was computed for them. Check the model and these inputs (e.g. a sequence of "
        "only N).",
        bad,
    )


def _as_outputs(y: Any, name: str = "model") -> torch.Tensor:
    """Model output as ``(batch, n_outputs)``."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"the {name} returned {type(y).__name__}; seqlift explains a single output tensor "
            "of shape (batch, n_outputs). Wrap the model in a module that selects or sums the "
            "output you want to explain (seqlift.heads has wrappers for BPNet-style models)."
        )
    if y.ndim == 1:
        return y[:, None]
    while y.ndim > 2 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.ndim != 2:
        raise ValueError(
            f"the {name} returned shape {tuple(y.shape)}; seqlift explains outputs of shape "
            "(batch, n_outputs). Wrap the model in a module that reduces the extra axes "
            "(e.g. seqlift.heads.ProfileContribution, or a sum over the length)."
        )
    return y


def _check_targets(outputs: torch.Tensor, targets: list[int]) -> None:
    n_outputs = outputs.shape[1]
    bad = [t for t in targets if not -n_outputs <= t < n_outputs]
    if bad:
        raise IndexError(
            f"target {bad[0]} is out of range: the model has {n_outputs} outputs "
            f"(valid targets are 0..{n_outputs - 1})"
        )


def _runs_plainly(model: nn.Module, session: Session, example: torch.Tensor,
                  args: tuple) -> bool:
    """Whether the model, without seqlift's hooks, runs on one example of this shape."""
    try:
        with torch.no_grad(), session.paused():
            model(example, *args)
    except Exception:  # noqa: BLE001 - any failure means the input is the problem
        return False
    return True


@contextlib.contextmanager
def _explained_failure(model: nn.Module, session: Session, X: torch.Tensor,
                       args: tuple) -> Iterator[None]:
    """Say whose problem a failure in the joint pass is: the input's shape, or seqlift's."""
    try:
        yield
    except ExplanationError:
        raise
    except RuntimeError as error:
        where = session.where()
        if _runs_plainly(model, session, X[:1], tuple(a[:1] for a in args)):
            raise ExplanationError(
                f"seqlift failed while explaining {where}: {error}. The model itself runs on "
                "this input, so this is a limitation of seqlift's engine, not a problem of the "
                "input; please report it with the model's code."
            ) from error
        if "shape" not in str(error) and "size" not in str(error):
            raise
        hint = _utils.length_hint(model, X.shape[2])
        raise ValueError(
            f"the model cannot take inputs of shape (batch, {X.shape[1]}, {X.shape[2]}): "
            f"{error}.{hint} Extract windows of the length the model was trained on."
        ) from error


def _check_reference_tensor(references: torch.Tensor, X: torch.Tensor) -> None:
    """References must be ``(n, k, alphabet, length)`` for ``X`` of shape ``(n, alphabet, length)``."""
    if references.ndim != 4 or references.shape[0] != X.shape[0] or \
            references.shape[2:] != X.shape[1:]:
        raise ValueError(
            f"references must have shape (n, n_references, {X.shape[1]}, {X.shape[2]}) with "
            f"n = {X.shape[0]}, got {tuple(references.shape)}"
        )


def _warn_unexplained(model: nn.Module, module_rules: dict) -> None:
    unexplained = unexplained_torch_layers(model, module_rules)
    if not unexplained:
        return
    names = {module: name for name, module in model.named_modules()}
    listed = ", ".join(f"'{names[m]}' ({type(m).__name__})" for m in unexplained)
    warnings.warn(
        f"seqlift has no DeepLIFT rule for these layers and cannot prove them linear: {listed}."
        " They are treated as linear, so attributions may not sum to delta. Register a rule "
        "with additional_nonlinear_ops={Class: seqlift.rules.rescale} (element-wise), "
        "seqlift.rules.integrated_gradients() (any single-input layer) or "
        "seqlift.rules.gradient (linear).",
        RuntimeWarning,
        stacklevel=3,
    )


def _as_source(references, X: torch.Tensor, n_references: int | None):
    if isinstance(references, torch.Tensor):
        _check_reference_tensor(references, X)
        fixed = references

        def source(start: int, stop: int) -> torch.Tensor:
            return fixed[start:stop]

        return source, references.shape[1]
    if n_references is None:
        raise ValueError("n_references is required when references is a callable")
    return references, int(n_references)


def explain(
    model: nn.Module,
    X: torch.Tensor,
    references: torch.Tensor | ReferenceSource,
    targets: Sequence[int],
    batch_size: int = 32,
    args: tuple | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    additional_nonlinear_ops: dict | None = None,
    progress: Callable[[int], None] | None = None,
    keep_multipliers: bool = False,
    n_references: int | None = None,
    print_convergence_deltas: bool = False,
) -> Explanation:
    """DeepLIFT multipliers summed into per-example results, for several targets at once.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(batch, n_outputs)`` for input ``(batch, alphabet, length)``.
    X : torch.Tensor
        ``(n, alphabet, length)`` examples.
    references : torch.Tensor or callable
        ``(n, n_references, alphabet, length)``, or ``f(start, stop)`` returning the references
        of examples ``start:stop`` (then ``n_references`` must be given).
    targets : sequence of int
        Output columns to explain; one backward pass each.
    batch_size : int
        Example-reference pairs per forward pass. Results do not depend on it.
    args : tuple of torch.Tensor, optional
        Extra model inputs, each ``(n, ...)``; every reference gets its example's.
    device, dtype
        Where and in which precision to compute; the model is restored afterwards.
    additional_nonlinear_ops : dict, optional
        ``{ModuleClass: rule}`` added to or overriding the built-in rules.
    progress : callable, optional
        Called with the number of pairs finished after every batch.
    keep_multipliers : bool
        Also return every pair's multipliers.
    n_references : int, optional
        Number of references per example when ``references`` is a callable.
    print_convergence_deltas : bool
        Print the absolute deltas of every batch, ``(n_targets, examples, references)``.

    Returns
    -------
    Explanation
    """
    targets = [int(t) for t in targets]
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n, alphabet, length), got {tuple(X.shape)}")
    source, k = _as_source(references, X, n_references)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = X.shape[0]
    if n == 0 or k == 0:
        raise ValueError(f"nothing to explain: {n} examples with {k} references each")
    for i, extra in enumerate(args or ()):
        if not isinstance(extra, torch.Tensor) or extra.ndim == 0 or extra.shape[0] != n:
            shape = tuple(extra.shape) if isinstance(extra, torch.Tensor) else type(extra).__name__
            raise ValueError(f"args[{i}] must be a tensor with one row per example ({n}), got "
                             f"{shape}")
    device = _utils.resolve_device(device)
    dtype = _utils.model_dtype(model, dtype)
    module_rules = rules.build_module_rules(additional_nonlinear_ops)
    _warn_unexplained(model, module_rules)
    result = Explanation.empty(len(targets), n, k, (X.shape[1], X.shape[2]), keep_multipliers)
    with prepared(model, device, dtype, module_rules) as (working, session):
        cache = ReferenceCache(source, n, max(1, batch_size // k))
        for first, last, ref_first, ref_last in batches(n, k, batch_size):
            X_examples = X[first:last].to(device=device, dtype=dtype)
            R = cache.get(first, last)[:, ref_first:ref_last].reshape(-1, *X.shape[1:])
            block = (slice(first, last), slice(ref_first, ref_last))
            _explain_batch(working, session, X, X_examples, R.to(device=device, dtype=dtype),
                           args, targets, block, result)
            if print_convergence_deltas:
                print(result.deltas[(slice(None), *block)].abs())
            if progress is not None:
                progress(R.shape[0])
    return result


def _explain_batch(model: nn.Module, session: Session, X: torch.Tensor,
                   X_examples: torch.Tensor, R: torch.Tensor, args: tuple | None,
                   targets: list[int], block: tuple[slice, slice], result: Explanation) -> None:
    """One joint pass and one backward pass per target; fills ``result`` at ``block``."""
    first, last = block[0].start, block[0].stop
    n_examples = last - first
    per_example = R.shape[0] // n_examples
    joint, joint_args, layout = joint_batch(X_examples, R, args, first, last, per_example)
    with torch.enable_grad(), session.joint_pass(layout), \
            _explained_failure(model, session, X_examples, joint_args):
        y = _as_outputs(model(joint, *joint_args))
    _check_targets(y, targets)
    fx = y[:n_examples, targets]
    fr = y[n_examples:n_examples + R.shape[0], targets]
    _check_finite(fx.detach(), first, "examples")
    _check_finite(fr.detach().reshape(n_examples, per_example, -1), first, "references")
    fx = fx.detach().double().cpu()
    example_of_pair = torch.arange(n_examples, device=R.device).repeat_interleave(per_example)
    difference = X_examples.index_select(0, example_of_pair) - R
    shape = X.shape[1:]
    for t in range(len(targets)):
        (gradient,) = torch.autograd.grad(fr[:, t].sum(), joint,
                                          retain_graph=t < len(targets) - 1)
        m = gradient[n_examples:n_examples + R.shape[0]]
        hypothetical = (m - (R * m).sum(dim=1, keepdim=True)).reshape(
            n_examples, per_example, *shape)
        result.hypothetical_sum[t, first:last] += hypothetical.double().sum(dim=1).cpu()
        explained = (difference * m).sum(dim=(1, 2)).double().cpu()
        f_ref = fr[:, t].detach().double().cpu()
        result.example_predictions[t, first:last] = fx[:, t]
        result.reference_predictions[t][block] = f_ref.reshape(n_examples, per_example)
        result.deltas[t][block] = (
            fx[:, t, None] - (f_ref + explained).reshape(n_examples, per_example))
        if result.multipliers is not None:
            result.multipliers[t][block] = m.double().cpu().reshape(
                n_examples, per_example, *shape)

"""``deep_lift_shap``: tangermeme 1.6.0's functional API over :func:`~seqlift.engine.explain.explain`.

The arguments are tangermeme's, in its order, with its meanings; seqlift's extras are
keyword-only after them. What a call does with each kind of ``references``:

- a tensor ``(n, k, alphabet, length)``: checked to be one-hot along the characters (all-zero
  columns allowed), as tangermeme checks it, and used as it is;
- seqlift's own functions (``dinucleotide_shuffle``, ``zeros``, ``uniform``): called once per
  chunk of examples with ``n=n_shuffles`` and one seed per example
  (:func:`seqlift.references.example_seeds`; an int gives every example the same seed, whose
  shuffle ``k`` is shuffle 0 of seed ``random_state + k``, so a slice gives what the whole
  gives). seqlift's shuffle has its own random stream, so its references are not tangermeme's;
- any other function, such as ``tangermeme.ersatz.dinucleotide_shuffle``: called exactly as
  tangermeme 1.6.0 calls it, so it draws tangermeme's references. Seeded, reference ``k`` of
  example ``j`` is ``f(X[j:j+1], n=1, random_state=seed_j + k)[:, 0]`` with ``seed_j`` the int
  ``random_state`` (or example ``j``'s own seed); unseeded, ``f(rows, n=1)[:, 0]`` for the
  rows of a batch of pairs, without a ``random_state``. ``X`` is handed over on the CPU in the
  computation's dtype, and what comes back is checked (a tensor, one reference per row, each a
  distribution over the characters).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .. import _utils
from .. import references as reference_functions
from ..errors import InputError, SeqliftError
from ..references import dinucleotide_shuffle, example_seeds
from ..sequence import check_one_hot
from .explain import _check_reference_tensor, explain

__all__ = [
    "ArgsLengthError",
    "AttributionDeltasResult",
    "AttributionReferencesDeltasResult",
    "AttributionReferencesResult",
    "ReferencesError",
    "SeedError",
    "TargetTypeError",
    "deep_lift_shap",
]

# Reference functions of seqlift's own, called once per chunk of examples with per-example seeds.
_OWN_REFERENCE_FUNCTIONS = (
    reference_functions.dinucleotide_shuffle,
    reference_functions.zeros,
    reference_functions.uniform,
)

# A reference column may sum to a little more than 1 by rounding (0.3 + 0.2 + 0.2 + 0.3).
_BASELINE_SUM_SLACK = 1e-3


class ReferencesError(InputError, RuntimeError):
    """No references to explain with, or a reference function returned the wrong shape.

    A ``ValueError`` like every bad argument, and a ``RuntimeError`` because that is what
    tangermeme 1.6.0 raises (through torch) for both.
    """


class ArgsLengthError(InputError, IndexError):
    """An extra model input in ``args`` that does not have one row per example.

    A ``ValueError`` like every bad argument, and an ``IndexError`` because that is what
    tangermeme 1.6.0 raises (through torch's indexing) for too few rows.
    """


class TargetTypeError(SeqliftError, IndexError, TypeError):
    """A ``target`` that is not an integer or a list of integers.

    A ``TypeError``, and an ``IndexError`` because that is what tangermeme 1.6.0 raises
    (through torch's indexing) for a float.
    """


class SeedError(InputError, TypeError):
    """A ``random_state`` that is not None, an int, or one int per example.

    A ``ValueError`` (tangermeme 1.6.0's for a float) and a ``TypeError`` (tangermeme's for a
    str, a list or a ``numpy.random.RandomState``).
    """


class AttributionReferencesResult(NamedTuple):
    """``return_references=True``: tangermeme's named tuple, ``attributions, references = ...``."""

    attributions: torch.Tensor
    references: torch.Tensor


class AttributionDeltasResult(NamedTuple):
    """``return_deltas=True``: ``attributions, deltas = ...``."""

    attributions: torch.Tensor
    deltas: torch.Tensor


class AttributionReferencesDeltasResult(NamedTuple):
    """``return_references=True, return_deltas=True``: ``attributions, references, deltas``."""

    attributions: torch.Tensor
    references: torch.Tensor
    deltas: torch.Tensor


def _integer(value) -> int | None:
    """``value`` as an int if it is an integer scalar (Python, numpy, 0-d tensor), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, torch.Tensor):
        is_integer = not (value.dtype.is_floating_point or value.dtype.is_complex
                          or value.dtype == torch.bool)
        return int(value) if value.ndim == 0 and is_integer else None
    if isinstance(value, np.ndarray):
        return int(value) if value.ndim == 0 and value.dtype.kind in "iu" else None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return None


def _targets(target) -> tuple[list[int], bool]:
    """The targets as ints, and whether a single one was given (no leading target axis)."""
    single = _integer(target)
    if single is not None:
        return [single], True
    if isinstance(target, (torch.Tensor, np.ndarray)) and target.ndim == 1:
        target = target.tolist()
    if isinstance(target, (list, tuple)):
        values = [_integer(t) for t in target]
        if not values:
            raise InputError("target is an empty list; give an int or a list of ints")
        if None not in values:
            return values, False
    raise TargetTypeError(
        "target must be an int (a Python int, a numpy integer or a 0-d integer tensor) or a "
        f"list of them, got {target!r}"
    )


def _seeds(random_state, n: int) -> list[int] | None:
    """One seed per example, as given (an int gives every example that int), or None."""
    if random_state is None:
        return None
    single = _integer(random_state)
    if single is not None:
        return [single] * n
    if isinstance(random_state, (torch.Tensor, np.ndarray)) and random_state.ndim == 1:
        values = random_state.tolist()
    elif isinstance(random_state, Sequence) and not isinstance(random_state, (str, bytes)):
        values = list(random_state)
    else:
        raise SeedError(
            "random_state must be None, an int, or one int per example, not "
            f"{type(random_state).__name__} (a numpy RandomState cannot be split per example)"
        )
    seeds = [_integer(value) for value in values]
    if None in seeds:
        position = seeds.index(None)
        raise SeedError(
            f"every per-example seed must be an int, but random_state[{position}] is "
            f"{values[position]!r}"
        )
    if len(seeds) != n:
        raise SeedError(
            f"random_state holds {len(seeds)} seeds for {n} examples; give one seed per "
            "example, or one int for all"
        )
    return seeds


def _reference_count(n_shuffles) -> int:
    """``n_shuffles`` checked: an int of at least 1."""
    count = _integer(n_shuffles)
    if count is None:
        raise TypeError(f"n_shuffles must be an int, got {n_shuffles!r}")
    if count < 1:
        raise ReferencesError(
            f"n_shuffles must be at least 1, got {count}: every example needs references"
        )
    return count


def _check_examples(X, only_warn: bool) -> None:
    """``X`` must be a tensor ``(n, alphabet, length)`` with ``n >= 1``, one-hot (N allowed)."""
    if not isinstance(X, torch.Tensor):
        raise InputError(
            f"X must be a torch.Tensor of shape (n, 4, length), not {type(X).__name__}; "
            "torch.from_numpy converts a numpy array"
        )
    if X.ndim != 3:
        raise InputError(f"X must have shape (n, 4, length), got {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise InputError("X holds no examples (shape[0] == 0)")
    check_one_hot(X, "X", axis=1, allow_N=True, only_warn=only_warn)


def _checked_args(args, n: int, dtype: torch.dtype) -> tuple | None:
    """``args`` as a tuple of tensors with one row per example, floating ones in ``dtype``."""
    if args is None:
        return None
    if not isinstance(args, (tuple, list)):
        raise TypeError(
            f"args must be a tuple of tensors, one row per example, e.g. args=(a,); got "
            f"{type(args).__name__}"
        )
    checked = []
    for position, arg in enumerate(args):
        if not isinstance(arg, torch.Tensor):
            raise TypeError(f"args[{position}] must be a torch.Tensor, not {type(arg).__name__}")
        rows = arg.shape[0] if arg.ndim else 0
        if rows != n:
            raise ArgsLengthError(
                f"args[{position}] has shape {tuple(arg.shape)}, so {rows} row(s) for the {n} "
                f"examples of X; every extra input needs one row per example, shape ({n}, ...) "
                "(the references of an example get its row)"
            )
        # tangermeme hands every extra input over in the computation's dtype; integer inputs
        # (indices, say) stay integers here.
        checked.append(arg.to(dtype) if arg.is_floating_point() else arg)
    return tuple(checked)


def _check_reference_values(references: torch.Tensor, only_warn: bool) -> None:
    """A references tensor must be one-hot along its characters, all-zero columns allowed."""
    try:
        check_one_hot(references, "references", axis=-2, allow_N=True)
    except InputError as error:
        message = (
            f"{error}. A baseline that is not one-hot (0.25 everywhere) comes from a function: "
            "references=seqlift.references.uniform"
        )
        if not only_warn:
            raise InputError(message) from None
        warnings.warn(message, UserWarning, stacklevel=4)


def _check_baseline(values: torch.Tensor, first_example: int, only_warn: bool) -> None:
    """What a reference function returned must be a distribution over the characters.

    One-hot columns, all-zero columns and probabilities (0.25 everywhere) pass; anything that
    is not a finite value in ``[0, 1]``, or a column that sums to more than 1, does not.
    """
    columns = values.detach()
    bad = (~torch.isfinite(columns) | (columns < 0) | (columns > 1)).any(dim=-2)
    bad |= columns.double().sum(dim=-2) > 1 + _BASELINE_SUM_SLACK
    if not bool(bad.any()):
        return
    example, reference, position = (int(i) for i in torch.nonzero(bad)[0])
    message = (
        "the references function returned values that are not a one-hot encoding or a "
        "distribution over the characters: reference "
        f"{reference} of example {first_example + example} at position {position} is "
        f"{columns[example, reference, :, position].tolist()} ({int(bad.sum())} such "
        "position(s)); expected values in [0, 1] that sum to at most 1 per position"
    )
    if not only_warn:
        raise InputError(message)
    warnings.warn(message, UserWarning, stacklevel=5)


def _is_tangermeme_shuffle(function) -> bool:
    """Whether ``function`` is tangermeme's own ``dinucleotide_shuffle``.

    tangermeme draws a batch of its shuffles in one call with one seed per pair, which gives
    the shuffles of one call per pair, faster; so do we.
    """
    return (getattr(function, "__module__", None) == "tangermeme.ersatz"
            and getattr(function, "__name__", None) == "dinucleotide_shuffle")


def _called(function: Callable, rows: torch.Tensor, random_state) -> torch.Tensor:
    """One reference per row: ``function(rows, n=1[, random_state=...])[:, 0]``, checked."""
    if random_state is None:
        drawn = function(rows, n=1)
    else:
        drawn = function(rows, n=1, random_state=random_state)
    expected = (rows.shape[0], 1, *rows.shape[1:])
    call = "references(X, n=1)" if random_state is None else \
        "references(X, n=1, random_state=...)"
    if not isinstance(drawn, torch.Tensor):
        raise TypeError(
            f"{call} returned a {type(drawn).__name__}; it must return a torch.Tensor of shape "
            f"{expected} for X of shape {tuple(rows.shape)}"
        )
    if tuple(drawn.shape) != expected:
        raise ReferencesError(
            f"{call} returned shape {tuple(drawn.shape)} for X of shape {tuple(rows.shape)}; "
            f"expected {expected}, one reference per sequence of X (tangermeme calls a "
            "reference function with n=1 for every reference)"
        )
    return drawn[:, 0]


def _function_source(function: Callable, X: torch.Tensor, n_references: int,
                     seeds: list[int] | None, dtype: torch.dtype, only_warn: bool):
    """``f(start, stop)``: the references of examples ``start:stop``, drawn as tangermeme does."""
    batched = _is_tangermeme_shuffle(function)

    def source(start: int, stop: int) -> torch.Tensor:
        examples = X[start:stop].cpu().to(dtype)
        pairs = examples.repeat_interleave(n_references, dim=0)
        if seeds is None:
            drawn = _called(function, pairs, None)
        elif batched:
            pair_seeds = [seeds[example] + k for example in range(start, stop)
                          for k in range(n_references)]
            drawn = _called(function, pairs, pair_seeds)
        else:
            drawn = torch.cat([
                _called(function, examples[offset:offset + 1], seeds[start + offset] + k)
                for offset in range(stop - start) for k in range(n_references)
            ])
        values = drawn.reshape(stop - start, n_references, *X.shape[1:])
        _check_baseline(values, start, only_warn)
        return values

    return source


def _reference_source(references, X: torch.Tensor, n_shuffles, seeds: list[int] | None,
                      dtype: torch.dtype, only_warn: bool):
    """``(source, n_references)``: the references tensor, or ``f(start, stop)`` for a range."""
    if isinstance(references, torch.Tensor):
        _check_reference_tensor(references, X)
        if references.shape[1] == 0:
            raise ReferencesError(
                f"references has shape {tuple(references.shape)}: no reference per example"
            )
        _check_reference_values(references, only_warn)
        return references, references.shape[1]
    if not callable(references):
        raise TypeError(
            "references must be a tensor (n, k, 4, length) or a function f(X, n, random_state), "
            f"not {type(references).__name__}"
        )
    n_references = _reference_count(n_shuffles)
    if references in _OWN_REFERENCE_FUNCTIONS:
        per_example = example_seeds(seeds, X.shape[0])

        def source(start: int, stop: int) -> torch.Tensor:
            return references(X[start:stop], n=n_references, random_state=per_example[start:stop])

        return source, n_references
    return _function_source(references, X, n_references, seeds, dtype, only_warn), n_references


def deep_lift_shap(
    model: nn.Module,
    X: torch.Tensor,
    args: tuple | None = None,
    target: int | Sequence[int] = 0,
    batch_size: int = 32,
    references: torch.Tensor | Callable = dinucleotide_shuffle,
    n_shuffles: int = 20,
    return_references: bool = False,
    hypothetical: bool = False,
    warning_threshold: float = 0.001,
    additional_nonlinear_ops: dict | None = None,
    print_convergence_deltas: bool = False,
    raw_outputs: bool = False,
    only_warn: bool = False,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    random_state: int | Sequence[int] | None = None,
    verbose: bool = False,
    *,
    return_deltas: bool = False,
):
    """DeepLIFT/SHAP attributions, with tangermeme 1.6.0's arguments in its order.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(batch, n_outputs)`` (trailing axes of length 1 are dropped).
    X : torch.Tensor
        ``(n, 4, length)`` one-hot sequences; all-zero columns (N) are accepted.
    args : tuple of torch.Tensor, optional
        Extra model inputs, each ``(n, ...)``; the references of an example get its row.
        Floating-point ones are passed in the computation's dtype.
    target : int or list of int
        Output column(s) to explain: an int, a numpy integer or a 0-d integer tensor. A list
        adds a leading target axis to the results; all targets share one forward pass per
        batch.
    batch_size : int
        At most this many example-reference pairs per pass (memory follows it, not
        ``n_shuffles``). Results do not depend on it.
    references : callable or torch.Tensor
        A tensor ``(n, k, 4, length)`` of any ``k``, one-hot along its characters (all-zero
        columns allowed), or a function ``f(X, n, random_state)``. seqlift's own functions
        (default: its exact dinucleotide shuffle) are called once per chunk of examples; any
        other function is called as tangermeme calls it, ``f(X[j:j+1], n=1,
        random_state=seed + k)`` for reference ``k`` of example ``j`` (``f(X_rows, n=1)`` when
        ``random_state`` is None), and must return one reference per row of ``X``, each
        column a one-hot encoding or a distribution over the characters.
    n_shuffles : int
        References per example when ``references`` is a function.
    return_references : bool
        Also return the references ``(n, k, 4, length)``.
    hypothetical : bool
        Return hypothetical contributions for every base instead of multiplying by ``X``.
    warning_threshold : float
        A ``RuntimeWarning`` is raised when any ``|delta|`` exceeds it.
    additional_nonlinear_ops : dict, optional
        ``{ModuleClass: rule}``; rules from :mod:`seqlift.rules` or ``rule(call)`` callables.
        A subclass of a registered class gets its parent's rule.
    print_convergence_deltas : bool
        Print the deltas of every batch.
    raw_outputs : bool
        Return the multipliers ``(n, k, 4, length)`` instead of attributions.
    only_warn : bool
        Warn instead of raising when ``X``, a references tensor or what a reference function
        returns is not one-hot (as tangermeme); convergence warnings are not affected.
    dtype : torch.dtype or str, optional
        Precision of the computation (default: the model's). A different precision runs on a
        converted copy of the model.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU (as tangermeme). The model is moved back
        afterwards.
    random_state : int or sequence of int, optional
        Seed of the references: reference ``k`` of every example is drawn with seed
        ``random_state + k`` (as tangermeme), so a slice of ``X`` gets the references the whole
        gives it. A sequence gives each example its own seed ``s``, whose reference ``k`` is
        drawn with seed ``s + k``, so an example's references never depend on its position in
        a batch or shard. None: different references on every call.
    verbose : bool
        Show a progress bar.
    return_deltas : bool, keyword-only
        Also return the signed convergence deltas ``(n, k)`` (``(n_targets, n, k)`` for a list).

    Returns
    -------
    torch.Tensor or named tuple
        Attributions ``(n, 4, length)`` (``(n_targets, n, 4, length)`` for a list of targets;
        multipliers ``(n, k, 4, length)`` with ``raw_outputs``). With ``return_references``, an
        ``AttributionReferencesResult(attributions, references)`` as tangermeme's; with
        ``return_deltas``, an ``AttributionDeltasResult(attributions, deltas)``; with both, an
        ``AttributionReferencesDeltasResult(attributions, references, deltas)``.

    Raises
    ------
    ValueError
        ``X`` or a references tensor of the wrong shape or not one-hot (unless ``only_warn``).
    ReferencesError
        No references (``n_shuffles < 1``, a tensor with ``k = 0``), or a reference function
        that returned the wrong shape (a ``ValueError`` and a ``RuntimeError``).
    ArgsLengthError, TargetTypeError, SeedError
        ``args`` without one row per example, a target or a seed of the wrong type; each an
        instance of the exception type tangermeme 1.6.0 raises.
    """
    _check_examples(X, only_warn)
    targets, single_target = _targets(target)
    n_examples = X.shape[0]
    seeds = _seeds(random_state, n_examples)
    compute_dtype = _utils.model_dtype(model, dtype)
    args = _checked_args(args, n_examples, compute_dtype)
    source, n_references = _reference_source(references, X, n_shuffles, seeds, compute_dtype,
                                              only_warn)
    kept: list = []
    if return_references and callable(source):
        inner = source

        def source(start: int, stop: int) -> torch.Tensor:
            values = inner(start, stop)
            kept.append((start, values))
            return values

    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_examples * n_references, unit="pairs")
    try:
        result = explain(
            model, X, source, targets, batch_size=batch_size, args=args, device=device,
            dtype=dtype, additional_nonlinear_ops=additional_nonlinear_ops,
            progress=None if bar is None else bar.update, keep_multipliers=raw_outputs,
            n_references=n_references, print_convergence_deltas=print_convergence_deltas,
        )
    finally:
        if bar is not None:
            bar.close()

    worst = result.deltas.abs()
    if bool((worst > warning_threshold).any()):
        flat = worst.amax(dim=0).amax(dim=1)
        bad = torch.nonzero(flat > warning_threshold).flatten().tolist()
        warnings.warn(
            f"Convergence deltas too high: max |delta| = {worst.max().item():.3g} > "
            f"{warning_threshold} for {len(bad)} example(s) (first: {bad[:10]}).",
            RuntimeWarning,
            stacklevel=2,
        )

    if raw_outputs:
        attributions = result.multipliers.to(compute_dtype)
    else:
        attributions = (result.hypothetical_sum / n_references).to(compute_dtype)
        if not hypothetical:
            attributions = attributions * X.to(compute_dtype).cpu()
    deltas = result.deltas.to(compute_dtype)
    if single_target:
        attributions, deltas = attributions[0], deltas[0]

    if not return_references:
        return AttributionDeltasResult(attributions, deltas) if return_deltas else attributions
    if isinstance(source, torch.Tensor):
        used = source.cpu()
    else:
        used = _assemble(kept, n_examples)
    used = used.to(compute_dtype)
    if return_deltas:
        return AttributionReferencesDeltasResult(attributions, used, deltas)
    return AttributionReferencesResult(attributions, used)


def _assemble(pieces: list, n: int) -> torch.Tensor:
    """The references of all examples from the chunks a cache asked for."""
    whole = None
    for start, values in pieces:
        if whole is None:
            whole = torch.zeros(n, *values.shape[1:], dtype=values.dtype)
        whole[start:start + values.shape[0]] = values.cpu()
    return whole

"""``deep_lift_shap``: tangermeme's functional API over :func:`~seqlift.engine.explain.explain`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .. import _utils
from ..references import dinucleotide_shuffle
from .explain import _check_reference_tensor, explain

__all__ = ["deep_lift_shap"]


def _reference_source(references, X, n_shuffles, random_state):
    """A ``f(start, stop)`` for the references, and the number of references per example."""
    from .. import references as reference_functions

    if isinstance(references, torch.Tensor):
        _check_reference_tensor(references, X)
        return references, references.shape[1]
    if not callable(references):
        raise TypeError("references must be a tensor or a function f(X, n, random_state)")
    if n_shuffles < 1:
        raise ValueError(f"n_shuffles must be >= 1, got {n_shuffles}")
    builtin = references in (reference_functions.dinucleotide_shuffle,
                             reference_functions.zeros, reference_functions.uniform)
    if builtin:
        seeds = _example_seeds(random_state, X.shape[0])

        def source(start: int, stop: int) -> torch.Tensor:
            chunk_seeds = None if seeds is None else seeds[start:stop]
            return references(X[start:stop], n=n_shuffles, random_state=chunk_seeds)

        return source, n_shuffles
    generated = references(X, n=n_shuffles, random_state=random_state)
    return _reference_source(generated, X, n_shuffles, random_state)


def _example_seeds(random_state, n: int) -> list[int] | None:
    """Per-example seeds: an int seeds example i with ``region_seed(random_state, i)``."""
    from ..references import region_seed

    if random_state is None:
        return None
    if isinstance(random_state, int):
        return [region_seed(random_state, i) for i in range(n)]
    seeds = [int(s) for s in random_state]
    if len(seeds) != n:
        raise ValueError(f"random_state has {len(seeds)} seeds for {n} examples")
    return seeds


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
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    random_state: int | Sequence[int] | None = None,
    verbose: bool = False,
    return_deltas: bool = False,
):
    """DeepLIFT/SHAP attributions, with tangermeme's API.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(batch, n_outputs)`` (trailing axes of length 1 are dropped).
    X : torch.Tensor
        ``(n, 4, length)`` one-hot sequences.
    args : tuple of torch.Tensor, optional
        Extra model inputs, each ``(n, ...)``; the references of an example get its values.
    target : int or list of int
        Output column(s) to explain. A list adds a leading target axis to the results; all
        targets share one forward pass per batch.
    batch_size : int
        At most this many example-reference pairs per pass (memory follows it, not
        ``n_shuffles``). A pass holds whole examples with all their references when
        ``batch_size >= n_shuffles`` (so a multiple of ``n_shuffles`` fills it), else part of
        one example's references. Results do not depend on it.
    references : callable or torch.Tensor
        ``f(X, n, random_state) -> (n, n_shuffles, 4, length)`` or a tensor
        ``(n, k, 4, length)`` of any ``k``. Default: exact dinucleotide shuffles.
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
    dtype : torch.dtype or str, optional
        Precision of the computation (default: the model's). A different precision runs on a
        converted copy of the model.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU. The model is moved back afterwards.
    random_state : int or sequence of int, optional
        Seed of the references: an int seeds example ``i`` with ``region_seed(random_state, i)``;
        a sequence gives each example its own seed, so an example's references never depend on
        its position in a batch or shard.
    verbose : bool
        Show a progress bar.
    return_deltas : bool
        Also return the signed convergence deltas ``(n, k)`` (``(n_targets, n, k)`` for a list).

    Returns
    -------
    torch.Tensor or tuple
        Attributions ``(n, 4, length)`` (or ``(n_targets, n, 4, length)``), then the references
        if ``return_references``, then the deltas if ``return_deltas``.
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor of shape (n, 4, length), got {type(X)}")
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n, 4, length), got {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError("X holds no examples")
    targets = [target] if isinstance(target, int) else [int(t) for t in target]
    source, n_references = _reference_source(references, X, n_shuffles, random_state)
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

        bar = tqdm(total=X.shape[0] * n_references, unit="pairs")
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

    out_dtype = _utils.model_dtype(model, dtype)
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
        attributions = result.multipliers.to(out_dtype)
    else:
        attributions = (result.hypothetical_sum / n_references).to(out_dtype)
        if not hypothetical:
            attributions = attributions * X.to(out_dtype).cpu()
    deltas = result.deltas.to(out_dtype)
    if isinstance(target, int):
        attributions, deltas = attributions[0], deltas[0]

    outputs = [attributions]
    if return_references:
        if isinstance(source, torch.Tensor):
            outputs.append(source.cpu())
        else:
            outputs.append(_assemble(kept, X.shape[0]))
    if return_deltas:
        outputs.append(deltas)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _assemble(pieces: list, n: int) -> torch.Tensor:
    """The references of all examples from the chunks a cache asked for."""
    whole = None
    for start, values in pieces:
        if whole is None:
            whole = torch.zeros(n, *values.shape[1:], dtype=values.dtype)
        whole[start:start + values.shape[0]] = values.cpu()
    return whole

"""Shared builders for the engine tests: inputs, references, and the engine run on either path.

- :func:`random_onehot` and :func:`make_references` build the inputs of every engine test;
  :func:`standard_inputs` is the zoo's fixed set of them.
- :data:`FORMULATIONS` names the two ways the CPU computes rescale multipliers: ``"kernel"``
  (the numba kernel, the CPU's default) and ``"torch"`` (the torch formulation, the one CUDA
  runs). :func:`engine_explain` runs the engine on one of them, whatever ``SEQLIFT_RESCALE``
  says, so the tests cover both paths in every run.
- :func:`assert_bitwise_equal` compares two explanations field by field with ``torch.equal``.
- :func:`torch_threads` sets torch's thread count for a block: the tiny models run in 10 ms on
  one thread and in ten times that on two on a loaded machine, where torch's OpenMP threads wait
  for each other.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from seqlift.engine import Explanation, explain
from seqlift.rules import rescaling

#: The CPU's two formulations of the rescale multipliers, as test ids.
FORMULATIONS: tuple[str, ...] = rescaling.FORMULATIONS


def random_onehot(n: int, length: int, seed: int) -> torch.Tensor:
    """Random one-hot sequences ``(n, 4, length)`` in float32, from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n, length), generator=generator)
    return F.one_hot(codes, 4).transpose(1, 2).float().contiguous()


def make_references(X: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """References ``(n, k, 4, length)`` that exercise every branch of a rule.

    Reference 0 is ``X`` with a handful of bases mutated, so most positions and most
    first-layer windows are identical to the input (exact zero differences, where every rule
    falls back to the gradient); reference 1 is a shuffle of ``X``'s columns; the rest are
    independent random sequences.
    """
    n, _, length = X.shape
    generator = torch.Generator().manual_seed(seed)
    references = []
    for i in range(n):
        per_example = []
        for j in range(k):
            if j == 0:
                reference = X[i].clone()
                positions = torch.randperm(length, generator=generator)[: max(1, length // 10)]
                codes = torch.randint(0, 4, (len(positions),), generator=generator)
                reference[:, positions] = F.one_hot(codes, 4).T.to(X.dtype)
            elif j == 1:
                reference = X[i][:, torch.randperm(length, generator=generator)]
            else:
                codes = torch.randint(0, 4, (length,), generator=generator)
                reference = F.one_hot(codes, 4).T.to(X.dtype)
            per_example.append(reference)
        references.append(torch.stack(per_example))
    return torch.stack(references)


def standard_inputs(length: int = 24, n: int = 3, k: int = 4,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs every zoo test uses: ``X (n, 4, length)`` and references ``(n, k, 4, length)``."""
    X = random_onehot(n, length, seed)
    return X, make_references(X, k, seed + 1)


def engine_explain(
    model: nn.Module,
    X: torch.Tensor,
    references: torch.Tensor,
    targets: list[int],
    dtype: torch.dtype = torch.float32,
    additional_nonlinear_ops: dict | None = None,
    batch_size: int = 32,
    formulation: str = "kernel",
    keep_multipliers: bool = False,
) -> Explanation:
    """``seqlift.engine.explain`` on the CPU, model and inputs cast to ``dtype``, warnings as errors.

    Parameters
    ----------
    formulation : {"kernel", "torch"}
        Which formulation computes the rescale multipliers (see :data:`FORMULATIONS`).
    """
    with warnings.catch_warnings(), rescaling.formulation(formulation):
        warnings.simplefilter("error")
        return explain(
            model.to(dtype),
            X.to(dtype),
            references.to(dtype),
            targets,
            batch_size=batch_size,
            device="cpu",
            dtype=dtype,
            additional_nonlinear_ops=additional_nonlinear_ops,
            keep_multipliers=keep_multipliers,
        )


def assert_bitwise_equal(ours: Explanation, theirs: Explanation) -> None:
    """Every tensor of two explanations is bitwise the same (``torch.equal``, NaN-free)."""
    for name in ("hypothetical_sum", "deltas", "example_predictions", "reference_predictions",
                 "multipliers"):
        a, b = getattr(ours, name), getattr(theirs, name)
        if a is None and b is None:
            continue
        assert a is not None and b is not None, name
        assert torch.equal(a, b), (name, float((a - b).abs().max()))


@contextlib.contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n_threads)``, restoring the count afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

"""What a rule receives: one call of a non-linear operation, seen from the pairs of a batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["OpCall", "Rule"]


@dataclass
class OpCall:
    """One call of a non-linear operation, seen from a batch of example-reference pairs.

    All tensors have the shape of the operation's input or output for the *reference* batch,
    ``(n_pairs, ...)``; example values are broadcast to their pairs. For an operation that
    returns several tensors (a tuple, such as a recurrent layer's), ``example_output``,
    ``reference_output`` and ``grad_output`` are tuples of the same length.

    Attributes
    ----------
    op : torch.nn.Module or callable
        The module (or, for functional calls, an equivalent module or the function itself).
    forward : callable
        ``forward(tensor) -> tensor`` (or tuple) recomputes the operation without DeepLIFT
        hooks; used to take the ordinary derivative where a rule falls back to it.
    example_input, reference_input : torch.Tensor
        The operation's input for the example and for the reference of each pair.
    example_output, reference_output : torch.Tensor or tuple of torch.Tensor
        The operation's output for the example and for the reference of each pair.
    grad_output : torch.Tensor or tuple of torch.Tensor
        Multipliers of the explained output with respect to this operation's output.
    """

    op: Any
    forward: Callable[[torch.Tensor], Any]
    example_input: torch.Tensor
    reference_input: torch.Tensor
    example_output: Any
    reference_output: Any
    grad_output: Any


#: A DeepLIFT rule: the multipliers of the operation's input, given its call.
Rule = Callable[[OpCall], torch.Tensor]


def pair_views(example: torch.Tensor, reference: torch.Tensor,
               n_examples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views ``(E, 1, q, ...)`` and ``(E, c, q, ...)`` of an example and a reference activation.

    Parameters
    ----------
    example : torch.Tensor
        ``(E * q, ...)``: the rows of the ``E`` examples (``q`` rows each when a model folds an
        axis into the batch, else 1).
    reference : torch.Tensor
        ``(E * c * q, ...)``: the rows of their ``c`` references each, grouped by example.
    n_examples : int
        ``E``.

    Returns
    -------
    tuple of torch.Tensor
        The example view broadcasts against the reference view.
    """
    rows = example.shape[0]
    if rows % n_examples or reference.shape[0] % max(rows, 1) or \
            example.shape[1:] != reference.shape[1:]:
        raise ValueError(
            f"cannot pair an example activation of shape {tuple(example.shape)} with the "
            f"references' activation of shape {tuple(reference.shape)}"
        )
    folded, per_example = rows // n_examples, reference.shape[0] // rows
    rest = example.shape[1:]
    return (example.reshape(n_examples, 1, folded, *rest),
            reference.reshape(n_examples, per_example, folded, *rest))

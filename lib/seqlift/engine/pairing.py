"""Pairing of examples with their references: batches, the joint layout, reference chunks.

A batch of ``E`` examples with ``c`` references each runs as one joint batch of
``E + E * c + padding`` rows: the examples, then their references grouped by example, then at most
one padding row (see :func:`joint_batch`). An activation whose batch axis is a multiple ``q`` of
that (a model that folds an axis into the batch) holds ``q`` rows per row of the joint batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ..rules.call import pair_views

__all__ = ["Layout", "ReferenceCache", "batches", "joint_batch"]


@dataclass(frozen=True)
class Layout:
    """Where the examples and their references are in the rows of a joint batch."""

    n_examples: int
    per_example: int
    padding: int = 0

    @property
    def unit(self) -> int:
        """Rows of the joint batch: examples, references, padding."""
        return self.n_examples * (1 + self.per_example) + self.padding

    def holds(self, size: int) -> bool:
        """Whether an axis of this size can be the (possibly folded) batch axis."""
        return size > 0 and size % self.unit == 0

    def rows(self, size: int) -> tuple[int, int]:
        """``(split, stop)``: examples are rows ``[:split]``, references ``[split:stop]``."""
        folded = size // self.unit
        return self.n_examples * folded, self.n_examples * (1 + self.per_example) * folded

    def batch_axis_of(self, tensor: torch.Tensor) -> int | None:
        """The axis holding the joint batch's rows: the first if it can, else the only one."""
        if tensor.ndim and self.holds(tensor.shape[0]):
            return 0
        others = [d for d in range(1, tensor.ndim) if self.holds(tensor.shape[d])]
        return others[0] if len(others) == 1 else None

    def same_for_every_pair(self, value: object) -> bool:
        """Whether a tensor is the same at every example and at each of its references."""
        if not isinstance(value, torch.Tensor) or value.ndim == 0:
            return False
        axis = self.batch_axis_of(value)
        if axis is None:
            return False
        rows = value.movedim(axis, 0) if axis else value
        split, stop = self.rows(rows.shape[0])
        references = rows[split:stop]
        return bool(torch.equal(self.expand(rows[:split], references), references))

    def expand(self, example: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Example rows copied to each of their pairs, shaped like the reference rows ``like``."""
        example_view, reference_view = pair_views(example, like, self.n_examples)
        return example_view.expand_as(reference_view).reshape(like.shape).to(like.dtype)


def batches(n: int, k: int, batch_size: int) -> Iterator[tuple[int, int, int, int]]:
    """Batches of at most ``batch_size`` pairs that never split an example's references unevenly.

    With ``batch_size >= k`` a batch holds all references of ``batch_size // k`` examples;
    otherwise it holds up to ``batch_size`` references of one example. Yields
    ``(first_example, last_example, first_reference, last_reference)``, ends exclusive.
    """
    if batch_size >= k:
        per_batch = batch_size // k
        for first in range(0, n, per_batch):
            yield first, min(first + per_batch, n), 0, k
    else:
        for example in range(n):
            for ref_first in range(0, k, batch_size):
                yield example, example + 1, ref_first, min(ref_first + batch_size, k)


def joint_batch(examples: torch.Tensor, references: torch.Tensor, args: tuple | None,
                first: int, last: int, per_example: int
                ) -> tuple[torch.Tensor, tuple, Layout]:
    """The joint input, the extra arguments aligned with its rows, and its layout.

    Parameters
    ----------
    examples : torch.Tensor
        ``(E, alphabet, length)``.
    references : torch.Tensor
        ``(E * c, alphabet, length)``, grouped by example.
    args : tuple of torch.Tensor or None
        The model's extra inputs for all examples, ``(n, ...)`` each.
    first, last : int
        The examples' range in ``args``.
    per_example : int
        ``c``.

    Returns
    -------
    tuple
        ``joint`` (requires grad), the joint extra arguments, and the :class:`Layout`.
    """
    n_examples = examples.shape[0]
    # An odd number of rows makes oneDNN's convolution input-gradient ~10x slower on some CPUs,
    # so the batch gets one padding row (a copy of a reference) if needed.
    padding = (n_examples + references.shape[0]) % 2
    joint = torch.cat([examples, references, references[:padding]]).requires_grad_(True)
    joint_args = () if args is None else tuple(
        torch.cat([a[first:last], a[first:last].repeat_interleave(per_example, dim=0),
                   a[last - 1:last][:padding]]).to(examples.device) for a in args)
    return joint, joint_args, Layout(n_examples, per_example, padding)


class ReferenceCache:
    """Serves references of example ranges from a callable, one chunk of examples at a time."""

    def __init__(self, source: Callable[[int, int], torch.Tensor], n: int, chunk: int):
        self.source, self.n, self.chunk = source, n, max(chunk, 64)
        self.start, self.stop, self.values = 0, 0, None

    def get(self, start: int, stop: int) -> torch.Tensor:
        """References ``(stop - start, k, alphabet, length)`` of examples ``start:stop``."""
        if self.values is None or start < self.start or stop > self.stop:
            self.start = start
            self.stop = min(self.n, max(stop, start + self.chunk))
            self.values = self.source(self.start, self.stop)
        return self.values[start - self.start:stop - self.start]

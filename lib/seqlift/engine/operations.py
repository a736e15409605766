"""Connecting one operation's output to its input through its DeepLIFT rule.

:class:`RuleConnections` is the half of :class:`~seqlift.engine.session.Session` that the
interception handlers and the module hooks call: it finds the batch axis of an activation,
computes element-wise multipliers at once (the rescale rule), and builds the
:class:`~seqlift.engine.nodes.RuleNode` of every other rule, of products and of decompositions.
It reads the session's ``layout``, ``interceptor``, ``paused()`` and ``describe()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from .. import rules
from ..rules import rescaling
from ..rules.secants import Secant
from .errors import ExplanationError
from .nodes import Multiplied, Product, RuleApplication, RuleNode

__all__ = ["RuleConnections"]


class RuleConnections:
    """Rule application for a session: one method per kind of operation."""

    def batch_axis(self, tensor: torch.Tensor, op: Any, movable: bool) -> int:
        """The axis of ``tensor`` that holds the joint batch's rows (the first, where it can).

        Element-wise operations (``movable``) may see the batch on another axis, as in a
        sequence-first ``(length, batch, features)`` layout; that axis is then the only one
        whose size is a multiple of the joint batch.
        """
        found = self.layout.batch_axis_of(tensor)
        if found == 0 or (movable and found is not None):
            return found
        layout = self.layout
        raise ExplanationError(
            f"{self.describe(op)}: cannot find the batch axis of an activation of shape "
            f"{tuple(tensor.shape)} in a batch of {layout.n_examples} example(s) and "
            f"{layout.n_examples * layout.per_example} reference(s) ({layout.unit} rows). seqlift "
            "needs non-linear operations to keep the batch axis first (element-wise ones may "
            "have it elsewhere, if no other axis is a multiple of the batch)."
        )

    def connect(self, op: Any, rule_op: Any, rule: Callable, forward: Callable,
                x: torch.Tensor, output: Any, secant: Secant | None = None) -> Any:
        """Connect an operation's output (a tensor or a structure of tensors) to its input."""
        if not x.requires_grad:
            return output
        if rule is rules.rescale and isinstance(output, torch.Tensor):
            return self._rescaled(op, forward, x, output, secant)
        flat, spec = tree_flatten(output)
        positions = [i for i, t in enumerate(flat)
                     if isinstance(t, torch.Tensor) and t.is_floating_point()]
        if not positions:
            return output
        # Rules that read the operation's axes (softmax, pooling, reductions) see the batch
        # first; any other rule sees every tensor with its batch axis moved first, and a
        # forward that takes and returns that layout (an LSTM's h_n is batch-second).
        movable = rule not in _AXIS_RULES
        in_axis = self.batch_axis(x, op, movable)
        out_axes = [self.batch_axis(flat[i], op, movable) for i in positions]
        structured = not isinstance(output, torch.Tensor)

        def moved_forward(t: torch.Tensor) -> Any:
            produced, _ = tree_flatten(forward(t.movedim(0, in_axis) if in_axis else t))
            values = tuple(_batch_first(produced[i], a) for i, a in zip(positions, out_axes,
                                                                        strict=True))
            return values if structured else values[0]

        outputs = tuple(_batch_first(flat[i], a).detach() for i, a in zip(positions, out_axes,
                                                                          strict=True))
        record = RuleApplication(outputs, self, rule_op, rule, moved_forward, self.layout,
                                 self.describe(op), structured)
        with self.paused():
            connected = RuleNode.apply(record, _batch_first(x, in_axis))
        connected = connected if isinstance(connected, tuple) else (connected,)
        for i, axis, value in zip(positions, out_axes, connected, strict=True):
            flat[i] = value.movedim(0, axis) if axis else value
        return tree_unflatten(flat, spec)

    def _rescaled(self, op: Any, forward: Callable, x: torch.Tensor, output: torch.Tensor,
                  secant: Secant | None) -> torch.Tensor:
        """The rescale rule, its multipliers computed now for every pair."""
        axis = self.batch_axis(x, op, movable=True)
        if axis:
            x, output = x.movedim(axis, 0), output.movedim(axis, 0)
        split, stop = self.layout.rows(x.shape[0])
        joint_input = x.detach()
        multipliers = torch.empty(joint_input.shape, dtype=joint_input.dtype,
                                  device=joint_input.device)
        multipliers[:split] = 0
        multipliers[stop:] = 0
        n_examples = self.layout.n_examples
        example_in, reference_in = joint_input[:split], joint_input[split:stop]
        example_out, reference_out = output[:split], output[split:stop]
        with self.paused():
            if secant is not None:
                x_in, r_in = rules.call.pair_views(example_in, reference_in, n_examples)
                x_out, r_out = rules.call.pair_views(example_out, reference_out, n_examples)
                slope = secant(x_in, r_in, x_out, r_out)
                multipliers[split:stop] = slope.expand(r_in.shape).reshape(reference_in.shape)
            else:
                rescaling.pair_multipliers(
                    n_examples, example_in, reference_in, example_out, reference_out,
                    lambda: _derivative(forward, example_in), multipliers[split:stop])
            connected = RuleNode.apply(Multiplied(output.detach(), multipliers), x)
        return connected.movedim(0, axis) if axis else connected

    def elementwise(self, func: Any, forward: Callable, x: torch.Tensor, inplace: bool = False,
                    secant: Secant | None = None) -> torch.Tensor:
        """An element-wise function called in ``forward`` (``F.relu``, ``torch.rsqrt``, ...)."""
        source = x.clone() if inplace else x
        with torch.no_grad():
            output = forward(source)
        result = self.connect(func, func, rules.rescale, forward, source, output, secant)
        if inplace:
            x.copy_(result)
            return x
        return result

    def general(self, func: Any, op: Any, rule: Callable, forward: Callable,
                x: torch.Tensor) -> Any:
        """A non-element-wise function called in ``forward``, explained by ``rule``."""
        with torch.no_grad():
            output = forward(x)
        return self.connect(func, op, rule, forward, x, output)

    def product(self, func: Any, bilinear: Callable, a: torch.Tensor,
                b: torch.Tensor) -> torch.Tensor:
        """A bilinear operation of two input-dependent tensors: the midpoint rule."""
        with torch.no_grad():
            output = bilinear(a, b)
        axis_a = self.batch_axis(a, func, movable=bilinear is torch.mul)
        axis_b = self.batch_axis(b, func, movable=bilinear is torch.mul)
        if axis_a or axis_b:
            if axis_a != axis_b or a.ndim != b.ndim or output.ndim != a.ndim:
                raise ExplanationError(
                    f"{self.describe(func)}: operands of shapes {tuple(a.shape)} and "
                    f"{tuple(b.shape)} do not share a batch axis; keep the batch axis first"
                )
            moved = self.product(func, bilinear, a.movedim(axis_a, 0), b.movedim(axis_b, 0))
            return moved.movedim(0, axis_a)
        layout = self.layout
        if output.ndim == 0 or not layout.holds(output.shape[0]):
            raise ExplanationError(
                f"{self.describe(func)}: the product of shapes {tuple(a.shape)} and "
                f"{tuple(b.shape)} is {tuple(output.shape)}, which does not keep the batch axis"
            )
        rows = (layout.rows(a.shape[0]), layout.rows(b.shape[0]), layout.rows(output.shape[0]))
        with self.paused():
            return RuleNode.apply(Product(output.detach(), bilinear, layout, rows), a, b)

    def decompose(self, decomposition: Callable, args: tuple, kwargs: dict) -> Any:
        """Run a composite operation as its decomposition, every step meeting its own rule."""
        with self.interceptor:
            return decomposition(*args, **kwargs)


#: Rules that interpret the operation's axes, which therefore needs the batch axis first.
_AXIS_RULES = frozenset({rules.softmax, rules.log_softmax, rules.maxpool, rules.max_reduction,
                         rules.logsumexp})


def _batch_first(tensor: torch.Tensor, axis: int) -> torch.Tensor:
    return tensor.movedim(axis, 0) if axis else tensor


def _derivative(forward: Callable, example_input: torch.Tensor) -> torch.Tensor:
    """An element-wise operation's derivative at the examples' input."""
    with torch.enable_grad():
        x = example_input.detach().requires_grad_(True)
        # y.sum() rather than grad_outputs=ones: the same numbers, and torch's first call with
        # grad_outputs imports sympy (0.7-1.9 s of a shard job's first batch).
        (derivative,) = torch.autograd.grad(forward(x).sum(), x)
    return derivative


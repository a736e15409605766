"""Autograd nodes that connect a non-linear operation's outputs to its inputs.

The operation itself runs without a graph. Its record carries the outputs (returned as the node's
outputs, so nothing is copied) and what its DeepLIFT rule needs; the node's backward applies the
rule. Rows ``[:split]`` of the batch are the examples, ``[split:stop]`` their references and any
rows after ``stop`` padding; examples and padding only provide values and get no gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from .. import rules
from ..rules.products import midpoint_product
from .errors import ExplanationError

if TYPE_CHECKING:
    from .pairing import Layout
    from .session import Session

__all__ = ["Multiplied", "Product", "Record", "RuleApplication", "RuleNode"]


class Record:
    """What a :class:`RuleNode` returns in its forward pass and needs in its backward pass."""

    def __init__(self, outputs: tuple[torch.Tensor, ...]):
        self.outputs: tuple[torch.Tensor, ...] | None = outputs

    def take_outputs(self) -> tuple[torch.Tensor, ...]:
        # An output kept on the record (held by ctx) would form a cycle that leaks the batch.
        outputs, self.outputs = self.outputs, None
        return outputs

    def to_save(self, inputs: tuple, outputs: tuple) -> tuple[torch.Tensor, ...]:
        return ()

    def backward(self, saved: tuple, grads: tuple) -> tuple[torch.Tensor | None, ...]:
        raise NotImplementedError


class Multiplied(Record):
    """Element-wise multipliers computed in the forward pass: the backward is one product."""

    def __init__(self, output: torch.Tensor, multipliers: torch.Tensor):
        super().__init__((output,))
        self.multipliers = multipliers

    def backward(self, saved, grads):
        return (grads[0] * self.multipliers,)


def _zeros_for(grads: tuple, outputs: tuple) -> tuple[torch.Tensor, ...]:
    return tuple(torch.zeros_like(o) if g is None else g
                 for g, o in zip(grads, outputs, strict=True))


class RuleApplication(Record):
    """A rule ``rule(call)`` of a one-input operation, applied in the backward pass.

    Every tensor here has its (possibly folded) batch axis first.
    """

    def __init__(self, outputs: tuple, session: Session, op: Any, rule: Callable,
                 forward: Callable, layout: Layout, label: str, structured: bool):
        super().__init__(outputs)
        self.session, self.op, self.rule, self.forward = session, op, rule, forward
        self.layout, self.label, self.structured = layout, label, structured

    def to_save(self, inputs, outputs):
        return (*inputs, *outputs)

    def _pairs(self, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(examples expanded to their pairs, references)`` of one tensor."""
        split, stop = self.layout.rows(tensor.shape[0])
        reference = tensor[split:stop]
        return self.layout.expand(tensor[:split], reference), reference

    def backward(self, saved, grads):
        joint_input, joint_outputs = saved[0], saved[1:]
        example_input, reference_input = self._pairs(joint_input)
        outputs = [self._pairs(o) for o in joint_outputs]
        grads = [self._pairs(g)[1] for g in _zeros_for(grads, joint_outputs)]

        def single(values: list):
            return tuple(values) if self.structured else values[0]

        call = rules.OpCall(
            op=self.op,
            forward=self.forward,
            example_input=example_input,
            reference_input=reference_input,
            example_output=single([example for example, _ in outputs]),
            reference_output=single([reference for _, reference in outputs]),
            grad_output=single(grads),
        )
        try:
            with self.session.paused():
                grad_references = self.rule(call)
        except (ValueError, TypeError, IndexError, NotImplementedError, RuntimeError) as error:
            raise ExplanationError(f"{self.label}: {error}") from error
        split, stop = self.layout.rows(joint_input.shape[0])
        grad_input = torch.zeros_like(joint_input)
        grad_input[split:stop] = grad_references
        return (grad_input,)


class Product(Record):
    """The midpoint rule of a bilinear operation of two input-dependent tensors."""

    def __init__(self, output: torch.Tensor, bilinear: Callable, layout: Layout,
                 rows: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]):
        super().__init__((output,))
        self.bilinear, self.layout, self.rows = bilinear, layout, rows

    def to_save(self, inputs, outputs):
        return inputs

    def backward(self, saved, grads):
        a, b = saved
        (split_a, stop_a), (split_b, stop_b), (split_out, stop_out) = self.rows
        expand = self.layout.expand
        reference_a, reference_b = a[split_a:stop_a], b[split_b:stop_b]
        grad_output = grads[0]
        if grad_output is None:
            return torch.zeros_like(a), torch.zeros_like(b)
        grad_a, grad_b = midpoint_product(
            self.bilinear, expand(a[:split_a], reference_a), reference_a,
            expand(b[:split_b], reference_b), reference_b, grad_output[split_out:stop_out])
        full_a, full_b = torch.zeros_like(a), torch.zeros_like(b)
        full_a[split_a:stop_a] = grad_a
        full_b[split_b:stop_b] = grad_b
        return full_a, full_b


class RuleNode(torch.autograd.Function):
    """Outputs of a non-linear operation, whose backward applies the operation's DeepLIFT rule."""

    @staticmethod
    def forward(ctx, record: Record, *inputs):  # noqa: D102
        outputs = record.take_outputs()
        ctx.record = record
        ctx.save_for_backward(*record.to_save(inputs, outputs))
        fixed = [o for o in outputs if not o.is_floating_point()]
        if fixed:
            ctx.mark_non_differentiable(*fixed)
        return outputs[0] if len(outputs) == 1 else outputs

    @staticmethod
    def backward(ctx, *grads):  # noqa: D102
        return (None, *ctx.record.backward(ctx.saved_tensors, grads))

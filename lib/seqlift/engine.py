"""The DeepLIFT/SHAP engine: hooks that apply the rescale rule, and the public entry points.

How it works
------------
For a batch of ``E`` examples with ``c`` references each, one forward pass runs the examples
followed by their references (``E + E * c`` rows; an example's activations are computed once,
however many references it has, and in the same kernel calls as its references, so where an
example and a reference share a receptive field their activations are equal, which the max-pool
rule's exact ``Δx == 0`` test needs; batch-size-dependent kernels made them differ by rounding
when the two ran in separate passes). Forward hooks on
non-linear modules (and a :class:`torch.overrides.TorchFunctionMode` for non-linear functions
called inside ``forward``) run each non-linear operation without a graph and connect its output to
its input through an autograd node whose backward applies the operation's DeepLIFT rule, using
the example rows' values for the reference rows. Element-wise multipliers ``Δy / Δx`` are computed
once in the forward pass, so the backward pass through them is one product.

One input-gradient backward pass per target from the references' outputs then gives the
multipliers ``m`` of every pair: linear layers' input gradients do not depend on where they are taken, so only the
non-linear operations need the example's values. Parameters never receive gradients.

Hypothetical contributions are ``H = m - sum_c r_c m_c`` per position; attributions are their mean
over references, times ``X`` unless ``hypothetical=True``. The convergence delta of a pair is
``f(x) - f(r) - sum (x - r) m``.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import _kernels, functional, rules
from .references import dinucleotide_shuffle

__all__ = ["deep_lift_shap", "explain", "Explanation", "NonFiniteOutputError"]

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


class _RuleNode(torch.autograd.Function):
    """Connects an operation's output to its input; its backward applies the DeepLIFT rule.

    The operation itself runs without a graph. ``pending`` carries its output (returned as this
    node's output, so nothing is copied) and either precomputed element-wise multipliers (the
    rescale rule, whose backward is one product) or what a general rule needs. Rows
    ``[:split]`` of the batch are the examples, ``[split:stop]`` their references and any rows
    after ``stop`` padding; examples and padding only provide values and get no gradient.
    """

    @staticmethod
    def forward(ctx, joint_input, pending):  # noqa: D102
        output, pending.output = pending.output, None  # an output kept on ctx would leak
        ctx.pending = pending
        if pending.multipliers is None:
            ctx.save_for_backward(joint_input, output)
        return output

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        pending = ctx.pending
        if pending.multipliers is not None:
            return grad_output * pending.multipliers, None
        joint_input, joint_output = ctx.saved_tensors
        session, split, stop, group = pending.session, pending.split, pending.stop, pending.group
        reference_input = joint_input[split:stop]
        reference_output = joint_output[split:stop]
        call = rules.OpCall(
            op=pending.op,
            forward=pending.forward,
            example_input=session.expand(joint_input[:split], reference_input, group),
            reference_input=reference_input,
            example_output=session.expand(joint_output[:split], reference_output, group),
            reference_output=reference_output,
            grad_output=grad_output[split:stop],
        )
        with session.paused():
            grad_references = pending.rule(call)
        grad_input = torch.zeros_like(joint_input)
        grad_input[split:stop] = grad_references
        return grad_input, None


@dataclass
class _Pending:
    """What a :class:`_RuleNode` needs in its backward pass."""

    output: torch.Tensor | None
    session: _Session
    op: Any
    rule: Callable
    forward: Callable
    split: int
    stop: int
    group: tuple[int, int]
    multipliers: torch.Tensor | None = None


class _Mode(TorchFunctionMode):
    """Routes non-linear torch functions called in ``forward`` through the session."""

    def __init__(self, session: _Session):
        super().__init__()
        self.session = session

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        session = self.session
        if not session.active or session.handled_depth > 0:
            return func(*args, **kwargs)
        interception = functional.intercept(func, args, kwargs)
        if interception is not None:
            return session.functional_call(func, interception, args, kwargs)
        result = func(*args, **kwargs)
        session.check_linear(func, args, kwargs, result)
        return result


class _Session:
    """State shared by the hooks of one ``explain`` call."""

    def __init__(self, model: nn.Module, module_rules: dict):
        self.model = model
        self.module_rules = module_rules
        self.names = {}
        for name, module in model.named_modules():
            self.names.setdefault(module, name or type(model).__name__)
        self.phase = "off"  # "joint" | "off"
        self.paused_depth = 0
        self.handled_depth = 0
        self.frames: list[tuple[nn.Module, bool, bool]] = []
        self.group = (0, 0)  # (examples, references per example) of the current batch
        self.padding = 0  # rows after the references that only keep the batch size even
        self.reported: set = set()
        self.handles = []
        self.mode = _Mode(self)

    # -- state -------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.phase != "off" and self.paused_depth == 0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.paused_depth += 1
        try:
            yield
        finally:
            self.paused_depth -= 1

    @contextlib.contextmanager
    def joint_pass(self, group: tuple[int, int], padding: int = 0) -> Iterator[None]:
        """One forward pass of ``E`` examples, their ``E * c`` references and padding rows."""
        self.phase, self.frames, self.handled_depth, self.group = "joint", [], 0, group
        self.padding = padding
        try:
            with self.mode:
                yield
        finally:
            self.phase = "off"

    def where(self) -> str:
        if not self.frames:
            return f"'{self.names[self.model]}' ({type(self.model).__name__})"
        module = self.frames[-1][0]
        return f"'{self.names.get(module, '?')}' ({type(module).__name__})"

    # -- hooks -------------------------------------------------------------------------------
    def install(self) -> None:
        for module in self.model.modules():
            self.handles.append(module.register_forward_pre_hook(self._pre_hook))
            self.handles.append(module.register_forward_hook(self._post_hook))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _pre_hook(self, module: nn.Module, args: tuple) -> None:
        if not self.active:
            return
        rule = None
        if self.handled_depth == 0:
            rule = rules.rule_for_module(module, self.module_rules)
        handled = rule is not None and bool(args) and isinstance(args[0], torch.Tensor)
        self.frames.append((module, handled, torch.is_grad_enabled()))
        if handled:
            self.handled_depth += 1
            torch.set_grad_enabled(False)  # the rule node connects output to input instead

    def _post_hook(self, module: nn.Module, args: tuple, output: Any) -> Any:
        if not self.active:
            return None
        _, handled, grad_enabled = self.frames.pop()
        if not handled:
            return None
        self.handled_depth -= 1
        torch.set_grad_enabled(grad_enabled)
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"module {self.names.get(module, '?')} ({type(module).__name__}) has a DeepLIFT "
                "rule but did not return a single tensor"
            )
        rule = rules.rule_for_module(module, self.module_rules)

        def forward(t: torch.Tensor, module: nn.Module = module) -> torch.Tensor:
            return module(t)

        where = f"'{self.names.get(module, '?')}' ({type(module).__name__})"
        return self.operation(where, module, rule, forward, args[0], output)

    def functional_call(self, func, interception, args, kwargs) -> torch.Tensor:
        x = interception.input
        where = f"{functional.function_name(func)} in {self.where()}"
        source = x.clone() if interception.inplace else x
        with torch.no_grad():
            out = interception.forward(source)
        result = self.operation(where, interception.op, interception.rule,
                                interception.forward, source, out)
        if interception.inplace:
            x.copy_(result)
            return x
        return result

    def operation(self, where, op, rule, forward, inp, out) -> torch.Tensor:
        """Connect a non-linear call's output to its input through its DeepLIFT rule."""
        if not inp.requires_grad:
            return out
        n_examples, per_example = self.group
        unit = n_examples * (1 + per_example) + self.padding
        if inp.shape[0] % unit or out.shape[0] != inp.shape[0]:
            raise ValueError(
                f"{where}: cannot split a batch of {inp.shape[0]} rows into {n_examples} "
                f"examples and their {n_examples * per_example} references; seqlift needs "
                "non-linear operations to keep the batch axis first"
            )
        folded = inp.shape[0] // unit
        split, stop = n_examples * folded, n_examples * (1 + per_example) * folded
        pending = _Pending(out.detach(), self, op, rule, forward, split, stop, self.group)
        with self.paused():
            if rule is rules.rescale:
                pending.multipliers = self.rescale_multipliers(pending, inp.detach())
            return _RuleNode.apply(inp, pending)

    def rescale_multipliers(self, pending: _Pending, joint_input: torch.Tensor) -> torch.Tensor:
        """``Δy / Δx`` for every reference row (zero for example rows).

        Where ``|Δx| < 1e-6`` the derivative at the example is used. Computed once in the
        forward pass on the pairs grouped by example, so the example's values broadcast instead
        of being copied to every pair.
        """
        split, stop, output = pending.split, pending.stop, pending.output
        multipliers = torch.empty_like(joint_input)
        multipliers[:split] = 0
        multipliers[stop:] = 0
        if joint_input.device.type == "cpu" and joint_input.dtype in (torch.float32,
                                                                       torch.float64):
            derivative = self._derivative(pending, joint_input[:split])
            _kernels.rescale_multipliers_cpu(
                self.group[0], joint_input[:split], joint_input[split:stop], output[:split],
                output[split:stop], derivative, rules.RESCALE_EPSILON, multipliers[split:stop])
            return multipliers
        x_in, r_in = self.pair_views(joint_input[:split], joint_input[split:stop])
        x_out, r_out = self.pair_views(output[:split], output[split:stop])
        into = multipliers[split:stop].view(r_in.shape)
        delta_in = torch.sub(x_in, r_in)
        torch.sub(x_out, r_out, out=into).div_(delta_in)
        near = delta_in.abs_() < rules.RESCALE_EPSILON
        if bool(near.any()):
            derivative = self._derivative(pending, joint_input[:split])
            derivative = derivative.to(r_in.dtype).reshape(x_in.shape)
            into.copy_(torch.where(near, derivative, into))
        return multipliers

    @staticmethod
    def _derivative(pending: _Pending, example_input: torch.Tensor) -> torch.Tensor:
        """The element-wise operation's derivative at the examples' input."""
        with torch.enable_grad():
            x = example_input.detach().requires_grad_(True)
            y = pending.forward(x)
            (derivative,) = torch.autograd.grad(y, x, torch.ones_like(y))
        return derivative

    def pair_views(self, example: torch.Tensor, reference: torch.Tensor,
                   group: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Views ``(E, 1, ...)`` and ``(E, c, ...)`` of an example and a reference activation.

        ``E`` examples with ``c`` references each; activations whose first axis is a multiple
        ``q`` of the batch (a model that folds an axis into the batch) are grouped alike.
        """
        n_examples, per_example = group or self.group
        if example.shape[0] % n_examples or reference.shape[0] != \
                example.shape[0] * per_example or example.shape[1:] != reference.shape[1:]:
            raise ValueError(
                f"cannot pair an example activation of shape {tuple(example.shape)} with the "
                f"references' activation of shape {tuple(reference.shape)}"
            )
        folded = example.shape[0] // n_examples
        rest = example.shape[1:]
        example_view = example.reshape(n_examples, 1, folded, *rest)
        reference_view = reference.reshape(n_examples, per_example, folded, *rest)
        return example_view, reference_view

    def expand(self, example: torch.Tensor, like: torch.Tensor,
               group: tuple[int, int]) -> torch.Tensor:
        """An example activation copied to each of its pairs, shaped like ``like``."""
        example_view, reference_view = self.pair_views(example, like, group)
        return example_view.expand_as(reference_view).reshape(like.shape).to(like.dtype)

    def check_linear(self, func, args, kwargs, result) -> None:
        """Warn once about an input-dependent call that has no rule and is not known linear."""
        if not isinstance(result, torch.Tensor) or not result.requires_grad:
            return
        if functional.is_known_linear(func, args, kwargs):
            return
        if self.frames and self.frames[-1][0] in self.reported:
            return  # the layer was named before the run
        key = (func, self.where())
        if key in self.reported:
            return
        self.reported.add(key)
        warnings.warn(
            f"{functional.function_name(func)} called in module {self.where()} depends on the "
            "input but has no DeepLIFT rule and is not known to be linear; seqlift treats it as "
            "linear (its plain gradient), so attributions may not sum to delta. Register a rule "
            "for the enclosing module with additional_nonlinear_ops.",
            RuntimeWarning,
            stacklevel=2,
        )


def _unexplained_torch_layers(model: nn.Module, module_rules: dict) -> list[nn.Module]:
    """Leaf layers of torch.nn with no rule that are not known to be linear (LayerNorm, ...).

    Layers of the user's own classes are checked while the model runs instead: every torch
    function they call is either explained, known to be linear, or reported.
    """
    found = []
    for module in model.modules():
        if any(True for _ in module.children()):
            continue
        if not type(module).__module__.startswith("torch.nn"):
            continue
        if rules.rule_for_module(module, module_rules) is not None:
            continue
        if isinstance(module, rules.LINEAR_MODULES):
            continue
        found.append(module)
    return found


@contextlib.contextmanager
def _prepared(model: nn.Module, device: torch.device, dtype: torch.dtype,
              module_rules: dict) -> Iterator[tuple[nn.Module, _Session]]:
    """Put the model in the state attribution needs; restore everything afterwards."""
    parameters = list(model.parameters())
    tensors = parameters + list(model.buffers())
    original_dtype = next((t.dtype for t in tensors if t.is_floating_point()), dtype)
    working = model if original_dtype == dtype else copy.deepcopy(model).to(dtype)
    original_device = tensors[0].device if tensors else torch.device("cpu")
    training = {module: module.training for module in model.modules()}
    trained_layers = [
        name for name, module in model.named_modules()
        if module.training and isinstance(
            module, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm))
    ]
    requires_grad = [p.requires_grad for p in working.parameters()]
    inplace = [m for m in working.modules() if getattr(m, "inplace", False) is True]
    session = _Session(working, module_rules)
    try:
        if trained_layers:
            warnings.warn(
                "the model was in training mode; seqlift puts it in eval mode for attribution "
                f"(affects {', '.join(trained_layers[:5])}) and restores its mode afterwards.",
                UserWarning,
                stacklevel=3,
            )
        working.eval()
        working.to(device)
        for p in working.parameters():
            p.requires_grad_(False)
        for m in inplace:
            m.inplace = False
        session.install()
        session.reported.update(_unexplained_torch_layers(working, module_rules))
        yield working, session
    finally:
        session.remove()
        for m in inplace:
            m.inplace = True
        for p, flag in zip(working.parameters(), requires_grad, strict=True):
            p.requires_grad_(flag)
        for module, flag in training.items():
            module.training = flag
        if working is model:
            model.to(original_device)


def _as_outputs(y: Any, name: str = "model") -> torch.Tensor:
    """Model output as ``(batch, n_outputs)``."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"the {name} returned {type(y).__name__}; seqlift explains a single output tensor "
            "of shape (batch, n_outputs). Wrap the model in a module that selects or sums the "
            "output you want to explain."
        )
    if y.ndim == 1:
        return y[:, None]
    while y.ndim > 2 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.ndim != 2:
        raise ValueError(
            f"the {name} returned shape {tuple(y.shape)}; seqlift explains outputs of shape "
            "(batch, n_outputs). Wrap the model in a module that reduces the extra axes "
            "(e.g. sums a profile over its length)."
        )
    return y


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(model: nn.Module, dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        first = next((p for p in model.parameters() if p.is_floating_point()), None)
        return first.dtype if first is not None else torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point type, got {dtype}")
    return dtype


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
    if isinstance(references, torch.Tensor):
        _check_reference_tensor(references, X)
        fixed = references
        n_references = references.shape[1]

        def references(start: int, stop: int) -> torch.Tensor:
            return fixed[start:stop]
    elif n_references is None:
        raise ValueError("n_references is required when references is a callable")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n, k = X.shape[0], int(n_references)
    if n == 0 or k == 0:
        raise ValueError(f"nothing to explain: {n} examples with {k} references each")
    device = _resolve_device(device)
    dtype = _resolve_dtype(model, dtype)
    module_rules = rules.build_module_rules(additional_nonlinear_ops)
    unexplained = _unexplained_torch_layers(model, module_rules)
    if unexplained:
        names = {module: name for name, module in model.named_modules()}
        listed = ", ".join(f"'{names[m]}' ({type(m).__name__})" for m in unexplained)
        warnings.warn(
            f"seqlift has no DeepLIFT rule for these layers and cannot prove them linear: {listed}."
            " They are treated as linear, so attributions may not sum to delta. Register a rule "
            "with "
            "additional_nonlinear_ops={Class: seqlift.rules.rescale} (element-wise) or "
            "seqlift.rules.gradient (linear).",
            RuntimeWarning,
            stacklevel=2,
        )

    n_targets = len(targets)
    shape = (X.shape[1], X.shape[2])
    hypothetical_sum = torch.zeros(n_targets, n, *shape, dtype=torch.float64)
    deltas = torch.zeros(n_targets, n, k, dtype=torch.float64)
    example_predictions = torch.zeros(n_targets, n, dtype=torch.float64)
    reference_predictions = torch.zeros(n_targets, n, k, dtype=torch.float64)
    multipliers = (torch.zeros(n_targets, n, k, *shape, dtype=torch.float64)
                   if keep_multipliers else None)

    with _prepared(model, device, dtype, module_rules) as (working, session):
        cache = _ReferenceCache(references, n, max(1, batch_size // k))
        for first, last, ref_first, ref_last in _batches(n, k, batch_size):
            n_examples, per_example = last - first, ref_last - ref_first
            X_examples = X[first:last].to(device=device, dtype=dtype)
            R = cache.get(first, last)[:, ref_first:ref_last].reshape(-1, *shape)
            R = R.to(device=device, dtype=dtype)
            # An odd number of rows makes oneDNN's convolution input-gradient ~10x slower on
            # some CPUs, so the batch gets one padding row (a copy of a reference) if needed.
            padding = (n_examples + R.shape[0]) % 2
            joint = torch.cat([X_examples, R, R[:padding]]).requires_grad_(True)
            example_of_pair = torch.arange(n_examples, device=device).repeat_interleave(
                per_example)
            joint_args = () if args is None else tuple(
                torch.cat([a[first:last], a[first:last].repeat_interleave(per_example, dim=0),
                           a[last - 1:last][:padding]]).to(device) for a in args)

            with torch.enable_grad(), session.joint_pass((n_examples, per_example), padding), \
                    _explained_failure(model, X):
                y = _as_outputs(working(joint, *joint_args))
            _check_targets(y, targets)
            fx = y[:n_examples, targets]
            fr = y[n_examples:n_examples + R.shape[0], targets]
            _check_finite(fx.detach(), first, "examples")
            _check_finite(fr.detach().reshape(n_examples, per_example, -1), first, "references")
            fx = fx.detach().double().cpu()
            difference = X_examples.index_select(0, example_of_pair) - R
            block = (slice(first, last), slice(ref_first, ref_last))
            for t in range(n_targets):
                (gradient,) = torch.autograd.grad(fr[:, t].sum(), joint,
                                                  retain_graph=t < n_targets - 1)
                m = gradient[n_examples:n_examples + R.shape[0]]
                hypothetical = m - (R * m).sum(dim=1, keepdim=True)
                hypothetical = hypothetical.reshape(n_examples, per_example, *shape)
                hypothetical_sum[t, first:last] += hypothetical.double().sum(dim=1).cpu()
                explained = (difference * m).sum(dim=(1, 2)).double().cpu()
                f_ref = fr[:, t].detach().double().cpu()
                example_predictions[t, first:last] = fx[:, t]
                reference_predictions[t][block] = f_ref.reshape(n_examples, per_example)
                deltas[t][block] = (
                    fx[:, t, None] - (f_ref + explained).reshape(n_examples, per_example))
                if multipliers is not None:
                    multipliers[t][block] = m.double().cpu().reshape(
                        n_examples, per_example, *shape)
            if print_convergence_deltas:
                print(deltas[(slice(None), *block)].abs())
            if progress is not None:
                progress(n_examples * per_example)
    return Explanation(hypothetical_sum, deltas, example_predictions, reference_predictions,
                       multipliers)


def _batches(n: int, k: int, batch_size: int) -> Iterator[tuple[int, int, int, int]]:
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


class NonFiniteOutputError(ValueError):
    """The model returned NaN or Inf; ``examples`` holds the indices of the affected examples."""

    def __init__(self, message: str, examples: list[int]):
        super().__init__(message)
        self.examples = examples


def _check_finite(outputs: torch.Tensor, first: int, what: str) -> None:
    finite = torch.isfinite(outputs).reshape(outputs.shape[0], -1).all(dim=1)
    if bool(finite.all()):
        return
    bad = [first + int(i) for i in torch.nonzero(~finite).flatten()]
    raise NonFiniteOutputError(
        f"the model returned NaN or Inf for the {what} of example(s) {bad[:20]}"
        f"{' ...' if len(bad) > 20 else ''}; nothing was computed for them. Check the model "
        "and these inputs (e.g. a sequence of only N).",
        bad,
    )


_LENGTH_ATTRIBUTES = ("sequence_length", "input_length", "seq_len", "in_window", "length")


@contextlib.contextmanager
def _explained_failure(model: nn.Module, X: torch.Tensor) -> Iterator[None]:
    """Turn a failure of the model on the input's shape into an error that says what to do."""
    try:
        yield
    except RuntimeError as error:
        if "shape" not in str(error) and "size" not in str(error):
            raise
        expected = next((getattr(model, a) for a in _LENGTH_ATTRIBUTES
                         if isinstance(getattr(model, a, None), int)), None)
        hint = (f" The model expects length {expected}."
                if expected is not None else "")
        raise ValueError(
            f"the model cannot take inputs of shape (batch, {X.shape[1]}, {X.shape[2]}): "
            f"{error}.{hint} Extract windows of the length the model was trained on."
        ) from error


def _check_targets(outputs: torch.Tensor, targets: list[int]) -> None:
    n_outputs = outputs.shape[1]
    bad = [t for t in targets if not -n_outputs <= t < n_outputs]
    if bad:
        raise IndexError(
            f"target {bad[0]} is out of range: the model has {n_outputs} outputs "
            f"(valid targets are 0..{n_outputs - 1})"
        )


class _ReferenceCache:
    """Serves references of example ranges from a callable, one chunk of examples at a time."""

    def __init__(self, source: ReferenceSource, n: int, chunk: int):
        self.source, self.n, self.chunk = source, n, max(chunk, 64)
        self.start, self.stop, self.values = 0, 0, None

    def get(self, start: int, stop: int) -> torch.Tensor:
        if self.values is None or start < self.start or stop > self.stop:
            self.start = start
            self.stop = min(self.n, max(stop, start + self.chunk))
            self.values = self.source(self.start, self.stop)
        return self.values[start - self.start:stop - self.start]


def _check_reference_tensor(references: torch.Tensor, X: torch.Tensor) -> None:
    """References must be ``(n, k, alphabet, length)`` for ``X`` of shape ``(n, alphabet, length)``."""
    if references.ndim != 4 or references.shape[0] != X.shape[0] or \
            references.shape[2:] != X.shape[1:]:
        raise ValueError(
            f"references must have shape (n, n_references, {X.shape[1]}, {X.shape[2]}) with "
            f"n = {X.shape[0]}, got {tuple(references.shape)}"
        )


def _reference_source(references, X, n_shuffles, random_state):
    """A ``f(start, stop)`` for the references, and the number of references per example."""
    from . import references as reference_functions

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
    from .references import region_seed

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

    out_dtype = _resolve_dtype(model, dtype)
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

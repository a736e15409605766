"""The state of one ``explain`` call: module hooks, the interception mode, and rule application.

Forward hooks on every module keep the stack of modules being run (to name them in messages) and
hand modules that have a rule of their own (activations, pooling, softmax, registered classes)
to :meth:`~seqlift.engine.operations.RuleConnections.connect` once they have run without a graph. Torch functions called in
``forward`` reach the session through :class:`~seqlift.engine.interception.Interceptor`. Either way
the operation's output is connected to its input through a :class:`~seqlift.engine.nodes.RuleNode`
whose backward applies the DeepLIFT rule, using the example rows' values for the reference rows.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from .. import rules
from .errors import ExplanationError
from .interception import Interceptor, function_name
from .operations import RuleConnections
from .pairing import Layout

__all__ = ["ExplanationError", "Session"]


class Session(RuleConnections):
    """State shared by the hooks of one ``explain`` call (rule application: the base class)."""

    def __init__(self, model: nn.Module, module_rules: dict):
        self.model = model
        self.module_rules = module_rules
        self.names: dict[nn.Module, str] = {}
        for name, module in model.named_modules():
            self.names.setdefault(module, name or type(model).__name__)
        self.joint = False
        self.active = False  # in a joint pass and not paused
        self.intercepting = False  # active and not inside a module that has a rule
        self.paused_depth = 0
        self.handled_depth = 0
        self.frames: list[tuple[nn.Module, bool, bool]] = []
        self.layout = Layout(0, 0)
        self.reported: set = set()
        self.handles: list = []
        self.interceptor = Interceptor(self)

    # -- state -------------------------------------------------------------------------------
    def _update(self) -> None:
        self.active = self.joint and self.paused_depth == 0
        self.intercepting = self.active and self.handled_depth == 0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Run something (a rule, a derivative) without hooks or interception."""
        self.paused_depth += 1
        self._update()
        try:
            yield
        finally:
            self.paused_depth -= 1
            self._update()

    @contextlib.contextmanager
    def joint_pass(self, layout: Layout) -> Iterator[None]:
        """One forward pass of examples, their references and padding, laid out as ``layout``."""
        self.joint, self.frames, self.handled_depth, self.layout = True, [], 0, layout
        self._update()
        try:
            with self.interceptor:
                yield
        finally:
            self.joint = False
            self._update()

    def where(self) -> str:
        """The module now running, as ``'name' (Class)``."""
        module = self.frames[-1][0] if self.frames else self.model
        return f"'{self.names.get(module, '?')}' ({type(module).__name__})"

    def describe(self, op: Any) -> str:
        """An operation (a module or a torch function) and where it runs, for messages."""
        if isinstance(op, nn.Module) and op in self.names:
            return f"'{self.names[op]}' ({type(op).__name__})"
        return f"{function_name(op)} in {self.where()}"

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
            self._update()
            torch.set_grad_enabled(False)  # the rule node connects output to input instead

    def _post_hook(self, module: nn.Module, args: tuple, output: Any) -> Any:
        if not self.active:
            return None
        _, handled, grad_enabled = self.frames.pop()
        if not handled:
            return None
        self.handled_depth -= 1
        self._update()
        torch.set_grad_enabled(grad_enabled)
        rule = rules.rule_for_module(module, self.module_rules)

        def forward(t: torch.Tensor, module: nn.Module = module) -> Any:
            return module(t)

        return self.connect(module, module, rule, forward, args[0], output)

    # -- operations --------------------------------------------------------------------------
    def report_unknown(self, func: Any, result: Any) -> None:
        """Warn once about an input-dependent call that has no rule and is not known linear."""
        flat, _ = tree_flatten(result)
        if not any(isinstance(t, torch.Tensor) and t.requires_grad for t in flat):
            return
        self.warn_once(func, "depends on the input but has no DeepLIFT rule and is not known to "
                             "be linear; seqlift treats it as linear (its plain gradient)")

    def warn_once(self, func: Any, problem: str) -> None:
        """Warn once per function and module that attributions may not sum to delta, and why."""
        if self.frames and self.frames[-1][0] in self.reported:
            return  # the layer was named before the run
        key = (func, self.where(), problem)
        if key in self.reported:
            return
        self.reported.add(key)
        warnings.warn(
            f"{function_name(func)} called in module {self.where()} {problem}, so attributions "
            "may not sum to delta. Register a rule for the enclosing module with "
            "additional_nonlinear_ops.",
            RuntimeWarning,
            stacklevel=2,
        )

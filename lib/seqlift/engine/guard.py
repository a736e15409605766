"""The model-state guard: the model as attribution needs it, and as it was afterwards.

For one ``explain`` call the model is put in eval mode, on the requested device and dtype (a
converted copy when the dtype differs), with parameters that need no gradient, in-place
activations made out-of-place, the session's hooks installed, and the ``forward`` of torch's
transformer layers run batch-first (:data:`~seqlift.engine.decompositions.MODULE_FORWARDS`).
Everything is restored afterwards, also when the call raises.
"""

from __future__ import annotations

import contextlib
import copy
import types
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from .. import rules
from . import decompositions
from .session import Session

__all__ = ["prepared", "unexplained_torch_layers"]

_MISSING = object()


def unexplained_torch_layers(model: nn.Module, module_rules: dict) -> list[nn.Module]:
    """Leaf layers of torch.nn with no rule that are not known to be linear.

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
        if isinstance(module, rules.LINEAR_MODULES + rules.DECOMPOSED_MODULES):
            continue
        found.append(module)
    return found


def _trained_layers(model: nn.Module) -> list[str]:
    return [
        name for name, module in model.named_modules()
        if module.training and isinstance(
            module, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm))
    ]


@contextlib.contextmanager
def _replaced_forwards(model: nn.Module) -> Iterator[None]:
    replaced = []
    for module in model.modules():
        replacement = decompositions.MODULE_FORWARDS.get(type(module))
        if replacement is not None:
            replaced.append((module, module.__dict__.get("forward", _MISSING)))
            module.forward = types.MethodType(replacement, module)
    try:
        yield
    finally:
        for module, original in replaced:
            if original is _MISSING:
                del module.forward
            else:
                module.forward = original


@contextlib.contextmanager
def prepared(model: nn.Module, device: torch.device, dtype: torch.dtype,
             module_rules: dict) -> Iterator[tuple[nn.Module, Session]]:
    """Put the model in the state attribution needs; restore everything afterwards.

    Yields
    ------
    tuple
        The model to run (``model`` itself, or a converted copy for another dtype) and the
        :class:`~seqlift.engine.session.Session` whose hooks are installed on it.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    original_dtype = next((t.dtype for t in tensors if t.is_floating_point()), dtype)
    working = model if original_dtype == dtype else copy.deepcopy(model).to(dtype)
    original_device = tensors[0].device if tensors else torch.device("cpu")
    training = {module: module.training for module in model.modules()}
    trained_layers = _trained_layers(model)
    requires_grad = [p.requires_grad for p in working.parameters()]
    inplace = [m for m in working.modules() if getattr(m, "inplace", False) is True]
    session = Session(working, module_rules)
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
        session.reported.update(unexplained_torch_layers(working, module_rules))
        with _replaced_forwards(working):
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




"""DeepLIFT rules: how the gradient of one non-linear operation is replaced.

A rule receives an :class:`OpCall` describing one call of a non-linear operation for a batch of
example-reference pairs and returns the gradient with respect to the operation's input under the
DeepLIFT rescale rule ("multipliers"). Rules are looked up by module class (through the class's
MRO, so a subclass gets its parent's rule) or, for functions called inside ``forward``, by the
function object.

Built-in rules
--------------
``rescale``
    Element-wise functions (ReLU, Sigmoid, GELU, ...): ``grad_out * Δy / Δx``; where ``|Δx| < 1e-6``
    the ordinary derivative taken at the *example* is used instead (1e-10 in float64).
``maxpool``
    Max pooling (1d/2d/3d, with overlapping windows, padding, dilation, ceil_mode) and adaptive max
    pooling. ``Δy`` of every window is split into the part carried by the example's winner and the
    part carried by the reference's winner, routed back with scatter-add (so overlapping windows
    accumulate) and divided by ``Δx``. Only where ``Δx == 0`` exactly is the example's gradient
    used; there the routed change is zero, so summation to delta is kept exactly.
``softmax`` / ``log_softmax``
    Per row along the softmax axis, exact summation to delta (see :func:`softmax`).
``gradient``
    Treat the operation as linear: the ordinary gradient at the example.

A custom rule is any callable ``rule(call: OpCall) -> torch.Tensor``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import torch
from torch import nn

from .call import OpCall, Rule
from .gradient import gradient, gradient_at_example, linear
from .integrated_gradients import integrated_gradients
from .pooling import maxpool
from .products import midpoint_product
from .reductions import Reduction, logsumexp, max_reduction
from .rescaling import RESCALE_EPSILON, rescale, rescale_epsilon, torch_formulation
from .softmax import log_softmax, softmax

__all__ = [
    "DECOMPOSED_MODULES",
    "DEFAULT_MODULE_RULES",
    "ELEMENTWISE_MODULES",
    "FOREIGN_MODULE_RULES",
    "LINEAR_MODULES",
    "OpCall",
    "RESCALE_EPSILON",
    "Reduction",
    "Rule",
    "build_module_rules",
    "gradient",
    "gradient_at_example",
    "integrated_gradients",
    "linear",
    "log_softmax",
    "logsumexp",
    "max_reduction",
    "maxpool",
    "midpoint_product",
    "rescale",
    "rescale_epsilon",
    "rule_for_module",
    "softmax",
    "torch_formulation",
]

#: Element-wise activations of torch.nn handled by the rescale rule.
ELEMENTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softshrink,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Hardshrink,
    nn.LogSigmoid,
    nn.Tanhshrink,
    nn.Threshold,
)

DEFAULT_MODULE_RULES: dict[type[nn.Module], Callable[[OpCall], torch.Tensor]] = {
    **{cls: rescale for cls in ELEMENTWISE_MODULES},
    nn.MaxPool1d: maxpool,
    nn.MaxPool2d: maxpool,
    nn.MaxPool3d: maxpool,
    nn.AdaptiveMaxPool1d: maxpool,
    nn.AdaptiveMaxPool2d: maxpool,
    nn.AdaptiveMaxPool3d: maxpool,
    nn.Softmax: softmax,
    nn.LogSoftmax: log_softmax,
}

#: torch.nn layers explained through the torch functions they call (normalisation, gating,
#: attention, recurrence), which seqlift decomposes into steps that have rules.
DECOMPOSED_MODULES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.RMSNorm,
    nn.GroupNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GLU,
    nn.LSTM,
    nn.GRU,
    nn.RNN,
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.Transformer,
)

#: Leaf modules that are linear in their input (in eval mode) and need no rule.
LINEAR_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.Flatten,
    nn.Unflatten,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    nn.Upsample,
)


# tangermeme 1.6.0's rules whose operations seqlift explains through the torch functions they
# call (its normalisation and gating rules, and BilinearOp's products): no module rule needed.
_EXPLAINED_BY_FUNCTIONS = ("_glu", "_layernorm", "_rmsnorm", "_bilinear")
_TANGERMEME_IG = re.compile(r"^_integrated_gradients_op_.*_K(\d+)$")


def _translate_foreign_rule(rule: Callable) -> Callable[[OpCall], torch.Tensor] | None:
    """Map tangermeme's rule functions onto ours, so its users can keep their dictionaries.

    Returns None for the rules whose operations seqlift explains without a module rule.
    """
    module = getattr(rule, "__module__", "") or ""
    if not module.startswith("tangermeme"):
        return rule
    name = getattr(rule, "__name__", "")
    if name in _EXPLAINED_BY_FUNCTIONS:
        return None
    points = _TANGERMEME_IG.match(name)
    if points:
        return integrated_gradients(int(points.group(1)))
    translated = {"_nonlinear": rescale, "_maxpool": maxpool, "_softmax": softmax}.get(name)
    if translated is None:
        raise ValueError(
            f"tangermeme's rule {name!r} has no seqlift equivalent; pass a seqlift rule "
            "(seqlift.rules.rescale, maxpool, softmax, gradient, integrated_gradients(n)) or "
            "your own rule(call)."
        )
    return translated


#: Layers of other packages that need a rule, by module and class name, with the rule that
#: package gives them. They are registered only when that package is already imported (a model
#: of theirs is in use), so nothing is imported here. bpnet-lite registers the element-wise
#: rescale rule for these three in ``bpnetlite.attribute.deep_lift_shap``; with the same rules
#: a wrapped bpnet-lite model gets bpnet-lite's numbers.
FOREIGN_MODULE_RULES: dict[tuple[str, str], Callable[[OpCall], torch.Tensor]] = {
    ("bpnetlite.bpnet", "_ProfileLogitScaling"): rescale,
    ("bpnetlite.chrombpnet", "_Log"): rescale,
    ("bpnetlite.chrombpnet", "_Exp"): rescale,
}


def _foreign_rules() -> dict[type[nn.Module], Callable[[OpCall], torch.Tensor]]:
    found = {}
    for (module_name, class_name), rule in FOREIGN_MODULE_RULES.items():
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            found[cls] = rule
    return found


def build_module_rules(
    additional_nonlinear_ops: dict | None = None,
) -> dict[type[nn.Module], Callable[[OpCall], torch.Tensor]]:
    """The rule table for one call: the defaults updated with the caller's rules.

    Parameters
    ----------
    additional_nonlinear_ops : dict, optional
        ``{ModuleClass: rule}``; adds or overrides. tangermeme's ``_nonlinear``/``_maxpool``/
        ``_softmax`` are accepted and mapped onto ``rescale``/``maxpool``/``softmax``, its
        ``integrated_gradients_op(K)`` onto ``integrated_gradients(K)``; its ``_glu``,
        ``_layernorm``, ``_rmsnorm`` and ``_bilinear`` need no module rule here (seqlift explains
        those operations through the functions they call) and are dropped.

    Returns
    -------
    dict
        A fresh table.
    """
    rules = dict(DEFAULT_MODULE_RULES)
    rules.update(_foreign_rules())
    for cls, rule in (additional_nonlinear_ops or {}).items():
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(
                f"additional_nonlinear_ops keys must be torch.nn.Module classes, got {cls!r}"
            )
        if not callable(rule):
            raise TypeError(f"the rule for {cls.__name__} must be callable, got {rule!r}")
        translated = _translate_foreign_rule(rule)
        if translated is None:
            rules.pop(cls, None)
        else:
            rules[cls] = translated
    return rules


def rule_for_module(module: nn.Module, rules: dict) -> Callable[[OpCall], torch.Tensor] | None:
    """The rule for a module: the first class in its MRO that has one, else None.

    Parameters
    ----------
    module : torch.nn.Module
        The module.
    rules : dict
        Table from :func:`build_module_rules`.

    Returns
    -------
    callable or None
    """
    for cls in type(module).__mro__:
        if cls in rules:
            return rules[cls]
    return None

"""Non-linear torch functions called inside ``forward`` (``F.relu``, ``torch.sigmoid``, ...).

Module hooks cannot see a non-linearity that a model calls as a function. The engine runs the
forward passes under a :class:`torch.overrides.TorchFunctionMode` and asks this module, for every
torch function call, whether it is a non-linearity with a DeepLIFT rule (:func:`intercept`), or
whether it is known to be linear in its input-dependent arguments (:func:`is_known_linear`).
Anything else that depends on the input is reported in a warning naming the function and module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import rules

__all__ = ["Interception", "intercept", "is_known_linear", "function_name"]

# Element-wise functions: the rescale rule applies to any of them.
_ELEMENTWISE_NAMES = (
    "relu", "relu6", "leaky_relu", "rrelu", "elu", "selu", "celu", "gelu", "silu", "mish",
    "sigmoid", "tanh", "softplus", "softshrink", "softsign", "hardtanh", "hardsigmoid",
    "hardswish", "hardshrink", "logsigmoid", "log_sigmoid", "tanhshrink", "threshold", "prelu",
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "abs", "absolute",
    "square", "sin", "cos", "sinh", "cosh", "atan", "arctan", "asinh", "erf", "erfc", "expit",
    "logit", "reciprocal", "pow", "clamp", "clip", "clamp_min", "clamp_max", "sign", "__pow__",
    "__rpow__", "__abs__",
)
_OWNERS = (torch, F, torch.Tensor, torch.special, torch._C._nn)


@dataclass
class Interception:
    """A non-linear function call the engine can explain.

    Attributes
    ----------
    op : object
        A module equivalent to the call (pooling, softmax) or the function itself.
    rule : callable
        The DeepLIFT rule.
    input : torch.Tensor
        The tensor the operation is non-linear in.
    forward : callable
        ``forward(tensor)`` recomputes the call out of place.
    inplace : bool
        Whether the original call modifies ``input`` in place.
    """

    op: Any
    rule: Callable
    input: torch.Tensor
    forward: Callable[[torch.Tensor], torch.Tensor]
    inplace: bool


def _functions_named(names: tuple[str, ...]) -> dict[Any, str]:
    found: dict[Any, str] = {}
    for name in names:
        for suffix in ("", "_"):
            for owner in _OWNERS:
                func = getattr(owner, name + suffix, None)
                if func is not None and callable(func):
                    try:
                        found.setdefault(func, name + suffix)
                    except TypeError:  # unhashable
                        continue
    return found


def _probe(expressions: dict[str, Callable[[torch.Tensor], Any]]) -> dict[Any, str]:
    """The function objects torch hands a mode for operator expressions like ``x ** 2``."""
    from torch.overrides import TorchFunctionMode

    seen: dict[Any, str] = {}

    class _Recorder(TorchFunctionMode):
        current = ""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.setdefault(func, self.current)
            return func(*args, **(kwargs or {}))

    recorder = _Recorder()
    x = torch.ones(1, 2, 3)
    with recorder:
        for name, expression in expressions.items():
            recorder.current = name
            expression(x)
    return seen


_ELEMENTWISE = _functions_named(_ELEMENTWISE_NAMES)
_ELEMENTWISE.update(_probe({"__pow__": lambda x: x**2, "__rpow__": lambda x: 2**x}))
_MAX_POOLS = {
    F.max_pool1d: nn.MaxPool1d, torch.max_pool1d: nn.MaxPool1d,
    F.max_pool2d: nn.MaxPool2d, torch.max_pool2d: nn.MaxPool2d,
    F.max_pool3d: nn.MaxPool3d, torch.max_pool3d: nn.MaxPool3d,
}
_ADAPTIVE_MAX_POOLS = {
    F.adaptive_max_pool1d: nn.AdaptiveMaxPool1d,
    F.adaptive_max_pool2d: nn.AdaptiveMaxPool2d,
    F.adaptive_max_pool3d: nn.AdaptiveMaxPool3d,
}
_SOFTMAXES = {
    F.softmax: (nn.Softmax, rules.softmax), torch.softmax: (nn.Softmax, rules.softmax),
    torch.Tensor.softmax: (nn.Softmax, rules.softmax),
    F.log_softmax: (nn.LogSoftmax, rules.log_softmax),
    torch.log_softmax: (nn.LogSoftmax, rules.log_softmax),
    torch.Tensor.log_softmax: (nn.LogSoftmax, rules.log_softmax),
}

# Functions linear in their input-dependent tensor arguments (or in the one such argument, for
# products), by name. Calls of anything else on input-dependent tensors are reported.
_LINEAR_NAMES = frozenset("""
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d linear add add_ __add__
__radd__ __iadd__ sub sub_ __sub__ __rsub__ __isub__ subtract neg __neg__ negative pos __pos__ cat
concat concatenate stack hstack vstack dstack reshape view view_as reshape_as flatten unflatten
permute transpose t swapaxes swapdims movedim moveaxis squeeze unsqueeze expand expand_as
broadcast_to repeat repeat_interleave tile contiguous narrow __getitem__ __setitem__ select
index_select gather take_along_dim sum nansum mean cumsum pad avg_pool1d avg_pool2d avg_pool3d
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d batch_norm dropout dropout1d dropout2d
dropout3d alpha_dropout feature_alpha_dropout chunk split tensor_split unbind to float double half
bfloat16 type type_as clone flip fliplr flipud roll interpolate upsample pixel_shuffle
pixel_unshuffle channel_shuffle diagonal diag tril triu unfold fold real copy_ zero_ fill_
masked_fill where identity __iter__ sum_to_size trace align_to refine_names rename
""".split())
_PRODUCT_NAMES = frozenset("""
mul mul_ __mul__ __rmul__ __imul__ multiply matmul __matmul__ __rmatmul__ mm bmm einsum tensordot
dot mv baddbmm addmm addmv addbmm outer inner kron
""".split())
_DIVISION_NAMES = frozenset("div div_ __truediv__ __itruediv__ true_divide divide".split())


def function_name(func: Any) -> str:
    """A readable name for a torch function object."""
    name = getattr(func, "__name__", None) or repr(func)
    owner = getattr(func, "__objclass__", None)
    if owner is not None or name in dir(torch.Tensor):
        return f"Tensor.{name}"
    module = getattr(func, "__module__", "") or ""
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    return f"torch.{name}"


def _tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    found = []
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, torch.Tensor))
    return found


def _only_first_tensor_varies(args: tuple, kwargs: dict) -> bool:
    """True when every tensor argument after the first is a parameter (a constant)."""
    rest = _tensors(args[1:], kwargs)
    return all(isinstance(t, nn.Parameter) for t in rest)


def _bind(func: Callable, args: tuple, kwargs: dict) -> inspect.BoundArguments | None:
    try:
        return inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None


def _elementwise(func: Any, name: str, args: tuple, kwargs: dict) -> Interception | None:
    if not args or not isinstance(args[0], torch.Tensor):
        return None
    if not _only_first_tensor_varies(args, kwargs):
        return None
    inplace = name.endswith("_") and not name.startswith("__")
    call_args, call_kwargs = tuple(args[1:]), dict(kwargs)
    target = func
    if inplace:
        base = name[:-1]
        owner = next(o for o in _OWNERS if getattr(o, name, None) is func)
        target = getattr(owner, base, None) or getattr(torch, base)
    else:
        bound = _bind(func, args, kwargs)
        if bound is not None and "inplace" in bound.arguments:
            inplace = bool(bound.arguments["inplace"])
            bound.arguments["inplace"] = False
            call_args, call_kwargs = tuple(bound.args[1:]), dict(bound.kwargs)

    def forward(t: torch.Tensor) -> torch.Tensor:
        return target(t, *call_args, **call_kwargs)

    return Interception(func, rules.rescale, args[0], forward, inplace)


def _argument(args: tuple, kwargs: dict, position: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def _pooling(func: Any, args: tuple, kwargs: dict) -> Interception | None:
    x = args[0] if args else kwargs.get("input")
    if not isinstance(x, torch.Tensor) or _argument(args, kwargs, 6, "return_indices", False):
        return None
    if func in _MAX_POOLS:
        kernel = _argument(args, kwargs, 1, "kernel_size", None)
        module = _MAX_POOLS[func](
            kernel,
            stride=_argument(args, kwargs, 2, "stride", None) or kernel,
            padding=_argument(args, kwargs, 3, "padding", 0),
            dilation=_argument(args, kwargs, 4, "dilation", 1),
            ceil_mode=_argument(args, kwargs, 5, "ceil_mode", False),
        )
    else:
        if _argument(args, kwargs, 2, "return_indices", False):
            return None
        module = _ADAPTIVE_MAX_POOLS[func](_argument(args, kwargs, 1, "output_size", None))
    return Interception(module, rules.maxpool, x, module, False)


def _softmax(func: Any, args: tuple, kwargs: dict) -> Interception | None:
    x = args[0] if args else kwargs.get("input")
    if not isinstance(x, torch.Tensor):
        return None
    module_class, rule = _SOFTMAXES[func]
    dim = _argument(args, kwargs, 1, "dim", None)
    module = module_class(dim)
    return Interception(module, rule, x, module, False)


def intercept(func: Any, args: tuple, kwargs: dict) -> Interception | None:
    """Whether a torch function call is a non-linearity with a rule, and how to explain it.

    Parameters
    ----------
    func : callable
        The function torch passed to ``__torch_function__``.
    args, kwargs
        Its arguments.

    Returns
    -------
    Interception or None
        None when the call is not an explainable non-linearity.
    """
    try:
        name = _ELEMENTWISE.get(func)
        if name is not None:
            return _elementwise(func, name, args, kwargs)
        if func in _MAX_POOLS or func in _ADAPTIVE_MAX_POOLS:
            return _pooling(func, args, kwargs)
        if func in _SOFTMAXES:
            return _softmax(func, args, kwargs)
    except TypeError:  # unhashable function objects
        return None
    return None


def is_known_linear(func: Any, args: tuple, kwargs: dict) -> bool:
    """Whether a call is linear in its input-dependent (``requires_grad``) tensor arguments.

    Parameters
    ----------
    func : callable
        The function torch passed to ``__torch_function__``.
    args, kwargs
        Its arguments.

    Returns
    -------
    bool
    """
    name = getattr(func, "__name__", "")
    if name in _LINEAR_NAMES:
        return True
    varying = [t for t in _tensors(args, kwargs) if t.requires_grad]
    if name in _PRODUCT_NAMES:
        return len(varying) <= 1
    if name in _DIVISION_NAMES:
        denominator = args[1] if len(args) > 1 else kwargs.get("other")
        return not (isinstance(denominator, torch.Tensor) and denominator.requires_grad)
    return False

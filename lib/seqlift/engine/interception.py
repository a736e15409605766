"""Torch functions called inside ``forward``: which are linear, which have a rule, which are new.

Module hooks cannot see a non-linearity that a model calls as a function. The engine runs the
forward passes under a :class:`torch.overrides.TorchFunctionMode` (:class:`Interceptor`), which
hands every torch function call to the handler of that function. Handlers are found once per
function object and kept (:func:`handler_for`), so a linear call (``view``, ``conv1d``, ``+``)
costs one dictionary lookup:

- linear functions run as they are; so do products and quotients in which only one operand
  depends on the input;
- element-wise functions get the rescale rule (closed-form secants for the powers, ``exp`` and
  ``log``); max pooling and max/min reductions the max-pool rule; softmax, log-softmax and
  log-sum-exp their per-row rules (:mod:`seqlift.rules`);
- a product of two input-dependent tensors (``*``, ``matmul``, ``bmm``, ``einsum``, ...) gets the
  midpoint rule, and a quotient with an input-dependent denominator is a product with its
  reciprocal;
- composite operations (normalisation layers, GLU, attention, recurrent layers, norms and
  variances) are run as their decomposition (:mod:`seqlift.engine.decompositions`) with the mode
  active, so that every step of it meets its rule;
- anything else that returns an input-dependent tensor is reported once in a warning that names
  the function and the module that called it, and treated as linear.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .. import rules
from ..rules import secants
from . import decompositions

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Interceptor", "function_name", "handler_for", "is_known_linear"]

Handler = Callable[["Session", Any, tuple, dict], Any]

_OWNERS = (torch, F, torch.Tensor, torch.special, torch.linalg, torch._C._nn)


class Interceptor(TorchFunctionMode):
    """Routes the torch functions called in ``forward`` to their handlers."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session

    def __torch_function__(self, func, types, args=(), kwargs=None):
        session = self.session
        if kwargs is None:
            kwargs = {}
        if not session.intercepting:
            return func(*args, **kwargs)
        try:
            handler = _HANDLERS[func]
        except (KeyError, TypeError):
            handler = handler_for(func)
        return handler(session, func, args, kwargs)


def handler_for(func: Any) -> Handler:
    """The handler of a torch function (found once and kept)."""
    try:
        handler = _HANDLERS.get(func)
        return handler if handler is not None else _HANDLERS.setdefault(func, _classify(func))
    except TypeError:  # an unhashable function object
        return _classify(func)


def function_name(func: Any) -> str:
    """A readable name for a torch function object (``torch.exp``, ``Tensor.mul``, ``F.glu``)."""
    name = getattr(func, "__name__", None) or repr(func)
    module = getattr(func, "__module__", "") or ""
    if getattr(func, "__objclass__", None) is not None or module.startswith("torch._tensor"):
        return f"Tensor.{name}"
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    return f"torch.{name}"


# -- small helpers -----------------------------------------------------------------------------


def _tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    found = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, torch.Tensor))
    return found


def _varies(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.requires_grad


def _argument(args: tuple, kwargs: dict, position: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def _bind(func: Callable, args: tuple, kwargs: dict) -> inspect.BoundArguments | None:
    try:
        return inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None


def _plain(session, func, args, kwargs):
    return func(*args, **kwargs)


def _unknown(session, func, args, kwargs):
    result = func(*args, **kwargs)
    session.report_unknown(func, result)
    return result


# -- element-wise functions --------------------------------------------------------------------

# Element-wise functions: the rescale rule applies to any of them.
_ELEMENTWISE_NAMES = (
    "relu", "relu6", "leaky_relu", "rrelu", "elu", "selu", "celu", "gelu", "silu", "mish",
    "sigmoid", "tanh", "softplus", "softshrink", "softsign", "hardtanh", "hardsigmoid",
    "hardswish", "hardshrink", "logsigmoid", "log_sigmoid", "tanhshrink", "threshold", "prelu",
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "abs", "absolute",
    "square", "sin", "cos", "sinh", "cosh", "atan", "arctan", "asinh", "erf", "erfc", "expit",
    "logit", "reciprocal", "pow", "float_power", "clamp", "clip", "clamp_min", "clamp_max", "sign",
    "__pow__", "__rpow__", "__abs__",
)


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


def _only_first_tensor_varies(args: tuple, kwargs: dict) -> bool:
    return not any(t.requires_grad for t in _tensors(args[1:], kwargs))


def _elementwise(name: str) -> Handler:
    inplace_name = name.endswith("_") and not name.startswith("__")

    def handle(session, func, args, kwargs):
        x = args[0] if args else None
        if not _varies(x) or not _only_first_tensor_varies(args, kwargs):
            if _varies(x) or any(t.requires_grad for t in _tensors(args[1:], kwargs)):
                return _unknown(session, func, args, kwargs)
            return func(*args, **kwargs)
        inplace, call_args, call_kwargs, target = inplace_name, tuple(args[1:]), dict(kwargs), func
        if inplace:
            owner = next(o for o in _OWNERS if getattr(o, name, None) is func)
            target = getattr(owner, name[:-1], None) or getattr(torch, name[:-1])
        else:
            bound = _bind(func, args, kwargs)
            if bound is not None and "inplace" in bound.arguments:
                inplace = bool(bound.arguments["inplace"])
                bound.arguments["inplace"] = False
                call_args, call_kwargs = tuple(bound.args[1:]), dict(bound.kwargs)

        def forward(t: torch.Tensor) -> torch.Tensor:
            return target(t, *call_args, **call_kwargs)

        secant = secants.closed_form(name.rstrip("_"), call_args, call_kwargs)
        return session.elementwise(func, forward, x, inplace=inplace, secant=secant)

    return handle


# -- pooling, reductions, softmax ----------------------------------------------------------------

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


def _max_pool(session, func, args, kwargs):
    x = args[0] if args else kwargs.get("input")
    if not _varies(x) or _argument(args, kwargs, 6, "return_indices", False):
        return _plain(session, func, args, kwargs) if not _varies(x) else \
            _unknown(session, func, args, kwargs)
    kernel = _argument(args, kwargs, 1, "kernel_size", None)
    module = _MAX_POOLS[func](
        kernel,
        stride=_argument(args, kwargs, 2, "stride", None) or kernel,
        padding=_argument(args, kwargs, 3, "padding", 0),
        dilation=_argument(args, kwargs, 4, "dilation", 1),
        ceil_mode=_argument(args, kwargs, 5, "ceil_mode", False),
    )
    return session.general(func, module, rules.maxpool, module, x)


def _adaptive_max_pool(session, func, args, kwargs):
    x = args[0] if args else kwargs.get("input")
    if not _varies(x) or _argument(args, kwargs, 2, "return_indices", False):
        return _plain(session, func, args, kwargs) if not _varies(x) else \
            _unknown(session, func, args, kwargs)
    module = _ADAPTIVE_MAX_POOLS[func](_argument(args, kwargs, 1, "output_size", None))
    return session.general(func, module, rules.maxpool, module, x)


def _softmax_like(module_class: type[nn.Module], rule: rules.Rule) -> Handler:
    def handle(session, func, args, kwargs):
        x = args[0] if args else kwargs.get("input")
        if not _varies(x):
            return func(*args, **kwargs)
        dtype = _argument(args, kwargs, 3 if func in (F.softmax, F.log_softmax) else 2,
                          "dtype", None)
        if dtype is not None:
            x = x.to(dtype)
        module = module_class(_argument(args, kwargs, 1, "dim", None))
        return session.general(func, module, rule, module, x)

    return handle


def _logsumexp(session, func, args, kwargs):
    x = args[0] if args else kwargs.get("input")
    if not _varies(x):
        return func(*args, **kwargs)
    op = rules.Reduction(_argument(args, kwargs, 1, "dim", None),
                         bool(_argument(args, kwargs, 2, "keepdim", False)), torch.logsumexp)
    return session.general(func, op, rules.logsumexp, op, x)


def _max_reduction(largest: bool, returns_indices: bool) -> Handler:
    reduce = torch.amax if largest else torch.amin

    def handle(session, func, args, kwargs):
        x = args[0] if args else kwargs.get("input")
        dim = _argument(args, kwargs, 1, "dim", None)
        if not _varies(x) or (returns_indices and (dim is None or isinstance(dim, torch.Tensor))):
            return _plain(session, func, args, kwargs) if not _varies(x) else \
                _unknown(session, func, args, kwargs)
        keepdim = bool(_argument(args, kwargs, 2, "keepdim", False))
        op = rules.Reduction(dim, keepdim, reduce)
        values = session.general(func, op, rules.max_reduction, op, x)
        if not returns_indices:
            return values
        with torch.no_grad():
            indices = func(x.detach(), dim, keepdim).indices
        return type(func(x.detach()[:1], dim, keepdim))((values, indices))

    return handle


# -- products and quotients --------------------------------------------------------------------

_PRODUCT_NAMES = frozenset("""
mul __mul__ __rmul__ multiply matmul __matmul__ __rmatmul__ mm bmm tensordot dot mv outer inner
kron vdot
""".split())
_INPLACE_PRODUCT_NAMES = frozenset("mul_ __imul__ multiply_".split())
_ELEMENTWISE_PRODUCTS = frozenset("mul __mul__ __rmul__ multiply".split())


def _product(session, func, args, kwargs):
    """``f(a, b)`` bilinear in its first two arguments (``a * b``, ``a @ b``, ``bmm``, ...)."""
    if len(args) < 2 or not (_varies(args[0]) and _varies(args[1])):
        return func(*args, **kwargs)
    a, b, rest = args[0], args[1], args[2:]
    name = getattr(func, "__name__", "")
    if name in _ELEMENTWISE_PRODUCTS and not rest and not kwargs:
        return session.product(func, torch.mul, a, b)
    if name == "__rmatmul__":
        def bilinear(p, q):
            return torch.matmul(q, p)
    else:
        def bilinear(p, q):
            return func(p, q, *rest, **kwargs)
    return session.product(func, bilinear, a, b)


def _inplace_product(session, func, args, kwargs):
    if len(args) < 2 or not (_varies(args[0]) and _varies(args[1])):
        return func(*args, **kwargs)
    a, b = args[0], args[1]
    source = a.clone()  # the product keeps its operands; ``a`` is about to change
    a.copy_(session.product(func, torch.mul, source, source if b is a else b))
    return a


def _einsum(session, func, args, kwargs):
    equation, operands = args[0], args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    varying = [i for i, t in enumerate(operands) if _varies(t)]
    if len(varying) <= 1:
        return func(*args, **kwargs)
    if len(varying) > 2:
        return _unknown(session, func, args, kwargs)
    first, second = varying

    def bilinear(p, q):
        chosen = list(operands)
        chosen[first], chosen[second] = p, q
        return torch.einsum(equation, *chosen)

    return session.product(func, bilinear, operands[first], operands[second])


_CONTRACTIONS = {
    "addmm": torch.mm, "baddbmm": torch.bmm, "addmv": torch.mv,
    "addbmm": lambda p, q: torch.bmm(p, q).sum(0),
}


def _batched_product_sum(session, func, args, kwargs):
    """``beta * input + alpha * (m1 @ m2)`` (``addmm``, ``baddbmm``, ``addbmm``, ``addmv``)."""
    name = func.__name__
    if not any(t.requires_grad for t in _tensors(args, kwargs)):
        return func(*args, **kwargs)
    if name.endswith("_") or "out" in kwargs or len(args) != 3 or \
            set(kwargs) - {"beta", "alpha"}:
        return _unknown(session, func, args, kwargs)
    base, first, second = args
    beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
    with session.interceptor:
        product = _CONTRACTIONS[name](first, second)
        if alpha != 1:
            product = product * alpha
        return product + (base if beta == 1 else base * beta)


_DIVISION_NAMES = frozenset(
    "div __truediv__ true_divide divide __rdiv__ __rtruediv__ div_ __itruediv__ true_divide_ "
    "divide_".split()
)


def _division(session, func, args, kwargs):
    """``a / b`` with ``b`` input-dependent: ``a * reciprocal(b)``, each step with its rule."""
    name = func.__name__
    reverse = name in ("__rdiv__", "__rtruediv__")
    numerator, denominator = (args[1], args[0]) if reverse else (args[0], args[1] if len(args) > 1
                                                                 else kwargs.get("other"))
    if not _varies(denominator):
        return func(*args, **kwargs)
    if kwargs.get("rounding_mode") is not None or (len(args) > 2 and args[2] is not None):
        return _unknown(session, func, args, kwargs)
    inplace = name.endswith("_") and not name.startswith("__") or name == "__itruediv__"
    source = numerator.clone() if inplace and isinstance(numerator, torch.Tensor) else numerator
    with session.interceptor:
        quotient = source * torch.reciprocal(source if denominator is numerator else denominator)
    if inplace:
        numerator.copy_(quotient)
        return numerator
    return quotient


# -- selections and reductions ------------------------------------------------------------------

_COMPARISON_NAMES = frozenset("""
__eq__ __ne__ __lt__ __le__ __gt__ __ge__ eq ne lt le gt ge greater greater_equal less less_equal
not_equal isclose heaviside signbit
""".split())


def _comparison(session, func, args, kwargs):
    """A comparison of an input-dependent tensor: a selection that DeepLIFT would see as fixed.

    Where the comparison comes out the same for every example and its references (a mask of
    the N positions, which the shuffles keep in place), a selection by it is linear for every
    pair and exact; only where they differ does seqlift warn.
    """
    result = func(*args, **kwargs)
    if any(t.requires_grad for t in _tensors(args, kwargs)) and \
            not session.layout.same_for_every_pair(result):
        session.warn_once(func, "compares an input-dependent tensor, and the outcome differs "
                                "between an example and its references; a mask or selection "
                                "made from it (torch.where, masked_fill, a product with it) is "
                                "taken as the reference's own")
    return result


_REDUCTION_NAMES = frozenset("sum nansum mean nanmean cumsum".split())


def _reduction(session, func, args, kwargs):
    """A linear reduction; over the batch axis it mixes examples with references."""
    x = args[0] if args else kwargs.get("input")
    if _varies(x) and x.ndim:
        dim = _argument(args, kwargs, 1, "dim", None)
        dims = () if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
        batch = session.layout.batch_axis_of(x)
        if (not dims and getattr(func, "__name__", "") != "cumsum") or \
                any(d % x.ndim == batch for d in dims if isinstance(d, int)):
            session.warn_once(func, "reduces over the batch axis, which mixes every example "
                                    "with the references of the batch")
    return func(*args, **kwargs)


# -- decompositions ----------------------------------------------------------------------------


def _decomposed(decomposition: Callable) -> Handler:
    def handle(session, func, args, kwargs):
        if not any(t.requires_grad for t in _tensors(args, kwargs)):
            return func(*args, **kwargs)
        return session.decompose(decomposition, args, kwargs)

    return handle


# -- linear functions --------------------------------------------------------------------------

# Functions linear in their input-dependent tensor arguments, by name. Calls of anything else on
# input-dependent tensors are reported.
_LINEAR_NAMES = frozenset("""
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d linear bilinear_linear add
add_ __add__ __radd__ __iadd__ sub sub_ __sub__ __rsub__ __isub__ rsub subtract neg __neg__
negative pos __pos__ cat concat concatenate stack hstack vstack dstack reshape view view_as
reshape_as flatten unflatten permute transpose t swapaxes swapdims movedim moveaxis squeeze
unsqueeze expand expand_as broadcast_to repeat repeat_interleave tile contiguous narrow __getitem__
__setitem__ select index_select gather take_along_dim pad avg_pool1d
avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d batch_norm
dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout chunk split tensor_split
unbind to float double half bfloat16 type type_as clone flip fliplr flipud roll interpolate
upsample pixel_shuffle pixel_unshuffle channel_shuffle diagonal diag tril triu unfold fold real
copy_ zero_ fill_ masked_fill masked_fill_ where identity __iter__ sum_to_size trace align_to
refine_names rename detach __get__ __len__ dim size numel stride storage_offset is_contiguous
element_size data_ptr __format__ __repr__ __bool__ __index__ __int__ __float__ isfinite isnan isinf
allclose equal any all argmax
argmin argsort sort_indices zeros_like ones_like empty_like full_like new_zeros new_ones new_empty
new_full new_tensor cpu cuda numpy tolist item requires_grad_ __contains__ __hash__ __reduce_ex__
__deepcopy__ dtype device shape ndim data_ptr get_device is_floating_point is_complex movedim_
unfold_copy as_strided diff tensor_split mT mH T H _pack_padded_sequence
_pad_packed_sequence
""".split())

_PRODUCT_SUMS = ("addmm", "baddbmm", "addbmm", "addmv", "addmm_", "baddbmm_", "addbmm_",
                 "addmv_")


def _build_handlers() -> dict[Any, Handler]:
    handlers: dict[Any, Handler] = {}
    for func, name in _functions_named(_ELEMENTWISE_NAMES).items():
        handlers[func] = _elementwise(name)
    for func, name in _probe({"__pow__": lambda x: x**2, "__rpow__": lambda x: 2**x}).items():
        handlers[func] = _elementwise(name)
    handlers.update(dict.fromkeys(_MAX_POOLS, _max_pool))
    handlers.update(dict.fromkeys(_ADAPTIVE_MAX_POOLS, _adaptive_max_pool))
    for func in (F.softmax, torch.softmax, torch.Tensor.softmax, torch.special.softmax):
        handlers[func] = _softmax_like(nn.Softmax, rules.softmax)
    for func in (F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax,
                 torch.special.log_softmax):
        handlers[func] = _softmax_like(nn.LogSoftmax, rules.log_softmax)
    for func in (torch.logsumexp, torch.Tensor.logsumexp, torch.special.logsumexp):
        handlers[func] = _logsumexp
    for func in (torch.amax, torch.Tensor.amax):
        handlers[func] = _max_reduction(True, False)
    for func in (torch.amin, torch.Tensor.amin):
        handlers[func] = _max_reduction(False, False)
    for func in (torch.max, torch.Tensor.max):
        handlers[func] = _max_reduction(True, True)
    for func in (torch.min, torch.Tensor.min):
        handlers[func] = _max_reduction(False, True)
    for func in (torch.einsum, torch.functional.einsum):
        handlers[func] = _einsum
    for func, decomposition in decompositions.FUNCTIONS.items():
        handlers[func] = _decomposed(decomposition)
    return handlers


def _classify(func: Any) -> Handler:
    """The handler of a function not in the table built at import, found by its name."""
    name = getattr(func, "__name__", "")
    if name in _COMPARISON_NAMES:
        return _comparison
    if name in _REDUCTION_NAMES:
        return _reduction
    if name in _LINEAR_NAMES:
        return _plain
    if name in _PRODUCT_NAMES:
        return _product
    if name in _INPLACE_PRODUCT_NAMES:
        return _inplace_product
    if name in _DIVISION_NAMES:
        return _division
    if name in _PRODUCT_SUMS:
        return _batched_product_sum
    return _unknown


_HANDLERS = _build_handlers()


def is_known_linear(func: Any) -> bool:
    """Whether seqlift runs a torch function as it is, as linear in its input-dependent arguments.

    Parameters
    ----------
    func : callable
        The function torch passed to ``__torch_function__``.

    Returns
    -------
    bool
    """
    return handler_for(func) in (_plain, _reduction)

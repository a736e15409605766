"""Element-wise functions, reductions, unknown operations, engine failures, integrated gradients.

An element-wise function of one linear feature ``a = U·x + β`` has the exact multiplier
``Δf/Δa · U`` (the rescale rule), whatever way the function is called; the powers, ``exp`` and
``log`` take closed-form secants, tested here against the difference quotient where it is
accurate and in float32 where it is not. Reductions over two features ``(a, b)`` are worked by
hand: the max-pool rule for ``amax``/``max``/``amin``/``min`` and the unique shift-invariant
split for ``logsumexp``. Then: operations without a rule are named in a warning; failures of the
engine are :class:`~seqlift.engine.ExplanationError`, never blamed on the input's shape; and
the integrated-gradients rule for custom modules converges as ``docs/integrated-gradients.md``
documents.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from tangermeme.deep_lift_shap import integrated_gradients_op
from torch import nn
from transformer_models import (
    EXAMPLE,
    REFERENCES,
    ConvStem,
    TwoFeatures,
    U,
    V,
    feature,
    float32_forward_error,
    in_float32,
    multipliers_of,
    onehot,
    pair_multipliers,
    relative_difference,
    seeded,
    standard_inputs,
    tangermeme_multipliers,
    worst_relative_delta,
)

from seqlift import rules
from seqlift.engine import ExplanationError, explain
from seqlift.rules import secants


def _softplus(z: float, beta: float = 1.0) -> float:
    return math.log1p(math.exp(beta * z)) / beta


def _in_place(method: str):
    def call(a):
        a = a + 0.0
        getattr(a, method)()
        return a

    return call


#: form -> (the call on the feature, the same function on floats, whether it needs a > 0).
ELEMENTWISE = {
    "torch.sqrt": (torch.sqrt, math.sqrt, True),
    "Tensor.sqrt_": (_in_place("sqrt_"), math.sqrt, True),
    "torch.rsqrt": (torch.rsqrt, lambda z: z ** -0.5, True),
    "a ** 2": (lambda a: a ** 2, lambda z: z * z, False),
    "torch.pow(a, 3)": (lambda a: torch.pow(a, 3), lambda z: z ** 3, False),
    "a ** 0.5": (lambda a: a ** 0.5, math.sqrt, True),
    "Tensor.pow(-0.5)": (lambda a: a.pow(-0.5), lambda z: z ** -0.5, True),
    "a ** -1": (lambda a: a ** -1, lambda z: 1 / z, True),
    "a ** 1.5": (lambda a: a ** 1.5, lambda z: z ** 1.5, True),
    "2 ** a": (lambda a: 2 ** a, lambda z: 2.0 ** z, False),
    "torch.square": (torch.square, lambda z: z * z, False),
    "torch.reciprocal": (torch.reciprocal, lambda z: 1 / z, True),
    "torch.exp": (torch.exp, math.exp, False),
    "Tensor.exp_": (_in_place("exp_"), math.exp, False),
    "torch.log": (torch.log, math.log, True),
    "torch.abs": (torch.abs, abs, False),
    "abs(a)": (abs, abs, False),
    "torch.clamp(a, -0.5, 0.5)": (lambda a: torch.clamp(a, -0.5, 0.5),
                                  lambda z: min(max(z, -0.5), 0.5), False),
    "Tensor.clamp(min=0)": (lambda a: a.clamp(min=0.0), lambda z: max(z, 0.0), False),
    "F.softplus": (F.softplus, _softplus, False),
    "F.softplus(beta=2)": (lambda a: F.softplus(a, beta=2.0), lambda z: _softplus(z, 2.0),
                           False),
}


@pytest.mark.parametrize("form", list(ELEMENTWISE))
def test_element_wise_function_of_a_feature_gets_its_secant(form):
    call, function, positive = ELEMENTWISE[form]
    shift = 2.0 if positive else 0.0  # a + 2 is 1, 4.75 and 4 at the example and references
    model = TwoFeatures(lambda a, b: call(a + shift))
    references = REFERENCES[:2]
    m = pair_multipliers(model, EXAMPLE, references)
    a_x = feature(U, 0.5, EXAMPLE) + shift
    for j, reference in enumerate(references):
        a_r = feature(U, 0.5, reference) + shift
        secant = (function(a_x) - function(a_r)) / (a_x - a_r)
        assert torch.allclose(m[j], secant * U, rtol=1e-13, atol=1e-15), (form, reference)


#: The closed forms and the float64 functions they are the secants of.
CLOSED_FORMS = {
    ("square", ()): lambda z: z * z,
    ("sqrt", ()): math.sqrt,
    ("rsqrt", ()): lambda z: z ** -0.5,
    ("reciprocal", ()): lambda z: 1 / z,
    ("exp", ()): math.exp,
    ("log", ()): math.log,
    ("pow", (2,)): lambda z: z * z,
    ("pow", (0.5,)): math.sqrt,
    ("__pow__", (-0.5,)): lambda z: z ** -0.5,
    ("pow", (-1.0,)): lambda z: 1 / z,
}


@pytest.mark.parametrize("name, args", list(CLOSED_FORMS))
@pytest.mark.parametrize("step", [0.5, 1e-3, 1e-5, 3e-7])
def test_closed_form_secants_keep_float32_digits_where_the_quotient_cancels(name, args, step):
    # Float32 inputs x and r = x + step; the exact secant of the same two float32 numbers is
    # computed in float64. The float32 difference quotient keeps only ~eps / step of it (a 20%
    # error at step 3e-7); the closed forms keep float32's precision.
    secant = secants.closed_form(name, args, {})
    function = CLOSED_FORMS[(name, args)]
    x = torch.tensor([1.5, 0.75, 3.0], dtype=torch.float32)
    r = x + step
    y = torch.tensor([function(v) for v in x.tolist()], dtype=torch.float32)
    y_r = torch.tensor([function(v) for v in r.tolist()], dtype=torch.float32)
    ours = secant(x, r, y, y_r).double()
    exact = torch.tensor([(function(a) - function(b)) / (a - b) for a, b in
                          zip(x.tolist(), r.tolist(), strict=True)], dtype=torch.float64)
    assert float(((ours - exact) / exact).abs().max()) <= 2e-6


def test_only_the_powers_exp_and_log_have_closed_forms():
    assert secants.closed_form("pow", (3,), {}) is None
    assert secants.closed_form("pow", (torch.tensor(2.0),), {}) is None
    assert secants.closed_form("tanh", (), {}) is None
    assert secants.closed_form("pow", (), {"exponent": 2}) is not None


class Elementwise(nn.Module):
    """Conv stem, two convolutions ``p``, ``q``, ``function(p, q)``, dense head."""

    def __init__(self, function, channels: int = 6, length: int = 24):
        super().__init__()
        self.stem = ConvStem(channels)
        self.p = nn.Conv1d(channels, channels, 3, padding=1)
        self.q = nn.Conv1d(channels, channels, 3, padding=1)
        self.function = function
        self.linear = nn.Linear(channels * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.stem(X)
        return self.linear(self.function(self.p(h), self.q(h)).flatten(1))


FUNCTIONS = {
    "sqrt, rsqrt, reciprocal": lambda p, q: torch.sqrt(p.abs() + 0.1) + torch.rsqrt(
        q.abs() + 0.1) + torch.reciprocal(p.abs() + 0.5),
    "powers": lambda p, q: p ** 2 + q.pow(3) + (p.abs() + 0.1) ** 1.5 + q.square(),
    "exp, log": lambda p, q: torch.exp(p) + torch.log(q.abs() + 0.1),
    "abs, clamp, softplus": lambda p, q: p.abs() + torch.clamp(q, -0.5, 0.5) + F.softplus(p),
    "logsumexp": lambda p, q: torch.logsumexp(p, dim=1, keepdim=True) + q.logsumexp(-1)[..., None],
    "amax, amin, max, min": lambda p, q: p.amax(dim=1, keepdim=True) + q.amin(2)[..., None]
    + torch.max(p, dim=2, keepdim=True).values + q.min(dim=1).values[:, None],
    "amax over two axes": lambda p, q: p.amax(dim=(1, 2), keepdim=True) + q,
    "cumsum, mean, sum": lambda p, q: p.cumsum(-1) * q.mean(1, keepdim=True) + q.sum(2, keepdim=True),
    "norms": lambda p, q: p.norm(dim=1, keepdim=True) + torch.linalg.vector_norm(q, ord=1, dim=2,
                                                                                 keepdim=True)
    + p.norm(p=float("inf"), dim=1, keepdim=True) + q.norm(p=3, dim=1, keepdim=True)
    + q.norm(p=-float("inf"), dim=2, keepdim=True),
    "F.normalize": lambda p, q: F.normalize(p, dim=1) + q,
    "var, std": lambda p, q: p.var(dim=1, keepdim=True) * q + torch.std(q, -1, keepdim=True),
}


@pytest.mark.parametrize("case", list(FUNCTIONS))
def test_functions_and_reductions_sum_to_delta(case):
    """Float32: the forward resolves ``f(x) - f(r)`` to ≤ 1e-5 (asserted) on these models."""
    X, references = standard_inputs(n=2, k=3, seed=41)
    model = seeded(lambda: Elementwise(FUNCTIONS[case]))
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured <= 8.8e-15
    assert float32_forward_error(model, X, references, [0, 1]) <= 1e-5
    assert worst_relative_delta(*in_float32(model, X, references), [0, 1]) <= 1e-4


def test_cumsum_mean_and_sum_stay_linear():
    # A linear model: its multipliers are its gradient, exactly, for every reference.
    def linear(a, b):
        triple = torch.cat([a, b, a - b], dim=1)
        return triple.cumsum(dim=1).sum(dim=1, keepdim=True) + triple.mean(dim=1, keepdim=True)

    model = TwoFeatures(linear)
    x = onehot(*EXAMPLE)[None].requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[0, 0], x)
    m = pair_multipliers(model, EXAMPLE, REFERENCES)
    for j in range(len(REFERENCES)):
        assert torch.equal(m[j], gradient[0])


# -- reductions over two features, by hand ------------------------------------------------------

MAXIMA = {
    "torch.amax": lambda pair: torch.amax(pair, dim=1, keepdim=True),
    "Tensor.amax": lambda pair: pair.amax(1),
    "torch.max(x, dim).values": lambda pair: torch.max(pair, dim=1).values,
    "Tensor.max(dim)[0]": lambda pair: pair.max(dim=1, keepdim=True)[0],
}
MINIMA = {
    "torch.amin": lambda pair: torch.amin(pair, dim=1, keepdim=True),
    "Tensor.amin": lambda pair: pair.amin(-1),
    "torch.min(x, dim).values": lambda pair: torch.min(pair, 1).values,
    "Tensor.min(dim)[0]": lambda pair: pair.min(dim=-1, keepdim=True)[0],
}


@pytest.mark.parametrize("form", list(MAXIMA))
def test_maximum_of_two_features_follows_the_max_pool_rule(form):
    # (a, b) = (-1, -0.25) at the example: b wins. At r = (2.75, 0) a wins; Δy = -3 goes to the
    # reference's winner a, Δa = -3.75: m = 0.8 U. At r = (2, 2) (a tie: the first, a, wins),
    # Δy = -2.25 goes to a, Δa = -3: m = 0.75 U. Against the example itself nothing changes and
    # the gradient at the example routes to its winner b: m = V.
    maximum = MAXIMA[form]
    m = pair_multipliers(TwoFeatures(lambda a, b: maximum(torch.cat([a, b], dim=1))),
                         EXAMPLE, REFERENCES)
    assert torch.allclose(m[0], 0.8 * U, rtol=1e-15, atol=0)
    assert torch.equal(m[1], 0.75 * U)
    assert torch.equal(m[2], V)


@pytest.mark.parametrize("form", list(MINIMA))
def test_minimum_of_two_features_follows_the_max_pool_rule(form):
    # At the example a = -1 is the minimum. At r = (2.75, 0): the example's winner a carries
    # min(-1, 0) - 0 = -1 over Δa = -3.75, the reference's winner b nothing: m = 4/15 U. At
    # r = (2, 2): a carries -1 - 2 = -3 over Δa = -3: m = U. Against itself: the gradient, U.
    minimum = MINIMA[form]
    m = pair_multipliers(TwoFeatures(lambda a, b: minimum(torch.cat([a, b], dim=1))),
                         EXAMPLE, REFERENCES)
    assert torch.allclose(m[0], 4 / 15 * U, rtol=1e-15, atol=0)
    assert torch.equal(m[1], U)
    assert torch.equal(m[2], U)


@pytest.mark.parametrize("form", ["torch.logsumexp", "Tensor.logsumexp",
                                  "torch.special.logsumexp"])
def test_logsumexp_of_two_features_gets_the_shift_invariant_split(form):
    # L = logsumexp(a, b): multipliers w_a + w_b = 1 (shift invariance) with
    # w_a Δa + w_b Δb = ΔL have the single solution w_a = (ΔL - Δb) / (Δa - Δb).
    function = {"torch.logsumexp": torch.logsumexp, "Tensor.logsumexp": torch.Tensor.logsumexp,
                "torch.special.logsumexp": torch.special.logsumexp}[form]
    model = TwoFeatures(lambda a, b: function(torch.cat([a, b], dim=1), 1))
    m = pair_multipliers(model, EXAMPLE, REFERENCES[:2])
    a_x, b_x = feature(U, 0.5, EXAMPLE), feature(V, -0.25, EXAMPLE)
    for j, reference in enumerate(REFERENCES[:2]):
        a_r, b_r = feature(U, 0.5, reference), feature(V, -0.25, reference)
        lse_change = (math.log(math.exp(a_x) + math.exp(b_x))
                      - math.log(math.exp(a_r) + math.exp(b_r)))
        w_a = (lse_change - (b_x - b_r)) / ((a_x - a_r) - (b_x - b_r))
        assert torch.allclose(m[j], w_a * U + (1 - w_a) * V, rtol=1e-13, atol=1e-15), reference


# -- operations without a rule ---------------------------------------------------------------


class Pairwise(nn.Module):
    """A user's layer calling ``function(p, q)`` on two input-dependent tensors."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.function(p, q)


class WithPairwise(nn.Module):
    def __init__(self, function, channels: int = 6, length: int = 24):
        super().__init__()
        self.stem = ConvStem(channels)
        self.q = nn.Conv1d(channels, channels, 3, padding=1)
        self.block = Pairwise(function)
        self.linear = nn.Linear(channels * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.stem(X)
        return self.linear(self.block(h, self.q(h)).flatten(1))


@pytest.mark.parametrize("function, name", [
    (lambda p, q: q.prod(dim=1, keepdim=True) + p, "Tensor.prod"),
    (lambda p, q: torch.maximum(p, q), r"\w+\.maximum"),
    (lambda p, q: torch.einsum("bcl,bcl,bcl->bcl", p, q, p), "torch.einsum"),
    (lambda p, q: p.sort(dim=1).values + q, "Tensor.sort"),
], ids=["prod", "maximum", "einsum of three", "sort"])
def test_operation_without_a_rule_is_named_with_its_module(function, name):
    X, references = standard_inputs(n=2, k=2, seed=42)
    model = seeded(lambda: WithPairwise(function))
    with pytest.warns(RuntimeWarning, match=rf"{name} called in module 'block' \(Pairwise\)"):
        explanation = explain(model, X, references, [0], device="cpu")
    assert explanation.deltas.abs().max() > 1e-6  # treated as linear: not a false alarm


def test_a_mask_that_is_the_same_for_every_pair_is_exact_and_not_warned_about():
    # Masking the N positions (all-zero columns), which every reference keeps where its example
    # has them, selects the same entries at both ends of every pair: linear, and exact.
    X, references = standard_inputs(n=2, k=2, seed=42)
    X[:, :, 3] = 0
    references[:, :, :, 3] = 0

    class MaskN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = ConvStem(6)
            self.linear = nn.Linear(6 * 24, 2)

        def forward(self, X):
            h = self.stem(X)
            unknown = (X.sum(dim=1, keepdim=True) == 0)
            return self.linear(h.masked_fill(unknown, 0.0).flatten(1))

    model = seeded(MaskN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = explain(model, X, references, [0, 1], device="cpu")
    assert explanation.deltas.abs().max() < 1e-5


@pytest.mark.parametrize("function, name, problem", [
    (lambda p, q: torch.where(q > 0, p, 0.5 * p), r"Tensor.gt", "compares an input-dependent tensor, and the outcome differs"),
    (lambda p, q: p.masked_fill(q < 0, 0.0), r"Tensor.lt", "compares an input-dependent tensor, and the outcome differs"),
    (lambda p, q: p - q.mean(dim=0, keepdim=True), r"Tensor.mean", "reduces over the batch axis"),
    (lambda p, q: p + q.sum(), r"Tensor.sum", "reduces over the batch axis"),
], ids=["where on a comparison", "masked_fill on a comparison", "mean over the batch",
        "sum of everything"])
def test_linear_looking_operation_that_is_not_exact_is_named_with_its_module(function, name,
                                                                            problem):
    # A selection by an input-dependent condition is fixed to the reference's; a reduction over
    # the batch axis mixes examples and references. Both run as linear, so seqlift warns.
    X, references = standard_inputs(n=2, k=2, seed=42)
    model = seeded(lambda: WithPairwise(function))
    with pytest.warns(RuntimeWarning, match=rf"{name} called in module 'block' \(Pairwise\) "
                                            rf"{problem}"):
        explanation = explain(model, X, references, [0], device="cpu")
    assert explanation.deltas.abs().max() > 1e-6  # not a false alarm


# -- engine failures are the engine's -------------------------------------------------------


class Unexplainable(nn.Module):
    """An operation the model runs but DeepLIFT cannot pair (over the batch axis, the 0-norm)."""

    def __init__(self, function, channels: int = 6, length: int = 24):
        super().__init__()
        self.stem = ConvStem(channels)
        self.block = Pairwise(function)
        self.linear = nn.Linear(channels * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.stem(X)
        return self.linear(self.block(h, h).flatten(1))


UNEXPLAINABLE = {
    "amax over the batch": (lambda p, q: p - p.amax(dim=0, keepdim=True), "Tensor.amax"),
    "logsumexp over the batch": (lambda p, q: p - torch.logsumexp(p, 0, keepdim=True),
                                 "logsumexp"),
    "product with a batch mean": (lambda p, q: p * q.mean(dim=0, keepdim=True), "Tensor.mul"),
    "norm over every axis": (lambda p, q: p / p.norm(), "over every axis"),
    "softmax over the batch": (lambda p, q: torch.softmax(p, dim=0), "softmax"),
    "nn.Softmax over the batch": (nn.Softmax(dim=0), "softmax"),
    "the 0-norm": (lambda p, q: p * p.norm(p=0, dim=1, keepdim=True), "0-norm"),
}


@pytest.mark.parametrize("case", list(UNEXPLAINABLE))
def test_operation_the_engine_cannot_explain_is_an_explanation_error_naming_it(case):
    function, name = UNEXPLAINABLE[case]
    if isinstance(function, nn.Module):
        softmax = function

        def function(p, q):
            return softmax(p)

    X, references = standard_inputs(n=2, k=3, seed=43)
    model = seeded(lambda: Unexplainable(function))
    with torch.no_grad():
        model(X)  # the model itself runs
    mixing = "mean" in case  # the batch mean is also warned about before the product fails
    warned = pytest.warns(RuntimeWarning, match="reduces over the batch axis") if mixing \
        else contextlib.nullcontext()
    with warned, pytest.raises(ExplanationError, match=rf"(?s){name}.*'block' \(Pairwise\)|"
                                                       rf"'block' \(Pairwise\).*{name}") as raised:
        explain(model, X, references, [0], device="cpu")
    assert "Extract windows" not in str(raised.value)


# -- integrated gradients for custom modules -------------------------------------------------


class Swish(nn.Module):
    """``x * sigmoid(x)`` as a user's class, registered with the integrated-gradients rule."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class ChannelNorm(nn.Module):
    """A user's normalisation over the channels: ``(x - mean) / sqrt(var + eps)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(dim=1, keepdim=True) + 1e-5)


class SoftGate(nn.Module):
    """A custom module that returns a tuple: ``(tanh(x), x * sigmoid(2x))``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tanh(x), x * torch.sigmoid(2 * x)


class CustomLayerNet(nn.Module):
    """``linear(layer(conv(x)))``: the custom layer is the only non-linear step.

    ``gain`` scales the convolution; with 3 its outputs span about ±2.6 and an example's differ
    from a reference's by up to 3.5, where none of the custom layers below is close to linear.
    """

    def __init__(self, layer: nn.Module, channels: int = 6, length: int = 24, gain: float = 3.0):
        super().__init__()
        self.conv = nn.Conv1d(4, channels, 5, padding=2)
        with torch.no_grad():
            self.conv.weight.mul_(gain)
        self.layer = layer
        self.linear = nn.Linear(channels * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.layer(self.conv(X))
        if isinstance(h, tuple):
            h = 0.5 * h[0] + h[1]
        return self.linear(h.flatten(1))


N_POINTS = (1, 2, 4, 8, 16, 32)


def _ig_errors(layer: type[nn.Module], n_points=N_POINTS, dtype=torch.float64) -> list[float]:
    X, references = standard_inputs(n=3, k=4, seed=44)
    model = seeded(lambda: CustomLayerNet(layer()))
    if dtype == torch.float32:
        model, X, references = in_float32(model, X, references)
    return [worst_relative_delta(model, X, references, [0, 1],
                                 additional_nonlinear_ops={layer: rules.integrated_gradients(n)})
            for n in n_points]


def test_integrated_gradients_converge_to_exact_on_a_smooth_module():
    # docs/integrated-gradients.md: 4.3e-2, 5.8e-3, 7.8e-5, 2.3e-9, 3.9e-16, 4.4e-16.
    errors = _ig_errors(Swish)
    assert all(later < earlier for earlier, later in zip(errors[:4], errors[1:5], strict=True))
    assert errors[N_POINTS.index(16)] <= 1e-9
    assert errors[N_POINTS.index(32)] <= 1e-9


def test_integrated_gradients_converge_on_a_layer_norm_like_module():
    # docs/integrated-gradients.md: 5.7e-1, 2.2e-1, 6.4e-2, 3.7e-3, 2.2e-5, 3.8e-10.
    errors = _ig_errors(ChannelNorm)
    assert all(later < earlier for earlier, later in zip(errors[:-1], errors[1:], strict=True))
    assert errors[N_POINTS.index(32)] <= 1e-9


@pytest.mark.slow
def test_integrated_gradients_table_in_float32():
    # docs/integrated-gradients.md, float32 row: 1.2e-7, 2.7e-7, 1.7e-7, float32's floor.
    errors = _ig_errors(Swish, (8, 16, 32), torch.float32)
    assert max(errors) <= 1e-4


@pytest.mark.parametrize("rule", ["integrated_gradients", "gradient"])
def test_custom_module_returning_a_tuple_can_take_a_rule(rule):
    X, references = standard_inputs(n=2, k=3, seed=45)
    model = seeded(lambda: CustomLayerNet(SoftGate()))
    ops = {SoftGate: rules.integrated_gradients(32) if rule == "integrated_gradients"
           else rules.gradient}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = explain(model, X, references, [0], device="cpu", keep_multipliers=True,
                              additional_nonlinear_ops=ops)
    if rule == "integrated_gradients":
        assert worst_relative_delta(model, X, references, [0, 1],
                                    additional_nonlinear_ops=ops) <= 1e-9
        return
    # The gradient rule treats the (only) non-linear layer as linear at the example: the
    # multipliers are the model's plain input gradient at the example, for every reference.
    x = X.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    for j in range(references.shape[1]):
        assert torch.allclose(explanation.multipliers[0, :, j], gradient, rtol=0, atol=1e-14)


def test_integrated_gradients_equal_tangermemes_integrated_gradients_op():
    # The same Gauss–Legendre rule on the same references: tangermeme's K-point op.
    X, references = standard_inputs(n=3, k=3, seed=46)
    model = seeded(lambda: CustomLayerNet(Swish()))
    ours = multipliers_of(model, X, references, [0],
                          additional_nonlinear_ops={Swish: rules.integrated_gradients(8)})[0]
    theirs = tangermeme_multipliers(model, X, references, 0,
                                    additional_nonlinear_ops={Swish: integrated_gradients_op(8)})
    assert relative_difference(ours, theirs) <= 1e-5


@pytest.mark.parametrize("n_points", [0, -2, 2.5, True])
def test_integrated_gradients_need_a_positive_whole_number_of_points(n_points):
    with pytest.raises(ValueError, match="n_points"):
        rules.integrated_gradients(n_points)

"""Products of two input-dependent tensors: the midpoint rule, wherever and however it is written.

For ``z = f(a, b)`` bilinear, the midpoint rule gives ``m_a = ∂f/∂a`` and ``m_b = ∂f/∂b`` taken at
``ā = (a + a_r) / 2``, ``b̄ = (b + b_r) / 2`` (tangermeme 1.6.0's ``_bilinear``). For a scalar
product of two linear features ``a = U·x + β_a``, ``b = V·x + β_b`` the input multipliers are
therefore ``b̄ U + ā V``; with dyadic weights every term is exact in float64, so the hand-worked
cases below assert ``==``. A quotient ``a / b`` is ``a * (1 / b)``, the reciprocal taking its
closed-form secant ``-1 / (b b_r)``. Gated units (``GLU``) are a product of a linear half with a
sigmoid of the other half.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from tangermeme.deep_lift_shap import BilinearOp
from torch import nn
from transformer_models import (
    EXAMPLE,
    REFERENCES,
    A,
    ConvStem,
    G,
    GLUNet,
    Head,
    Matmul,
    SigmoidAttentionNet,
    TwoFeatures,
    U,
    V,
    feature,
    float32_forward_error,
    in_float32,
    multipliers_of,
    onehot,
    pair_multipliers,
    relative_deltas,
    relative_difference,
    seeded,
    standard_inputs,
    tangermeme_multipliers,
    worst_relative_delta,
)


def _in_place_mul(a, b):
    a = a.clone()
    a.mul_(b)
    return a


def _augmented_mul(a, b):
    a = a + 0.0
    a *= b
    return a


def _as_matrices(product):
    """A product of ``(batch, 1)`` features written on 1x1 matrices."""
    return lambda a, b: product(a[:, :, None], b[:, None, :])


PRODUCT_FORMS = {
    "a * b": lambda a, b: a * b,
    "torch.mul": torch.mul,
    "Tensor.mul": lambda a, b: a.mul(b),
    "torch.multiply": torch.multiply,
    "Tensor.mul_": _in_place_mul,
    "a *= b": _augmented_mul,
    "a @ b": _as_matrices(lambda a, b: a @ b),
    "torch.matmul": _as_matrices(torch.matmul),
    "Tensor.matmul": _as_matrices(lambda a, b: a.matmul(b)),
    "torch.bmm": _as_matrices(torch.bmm),
    "Tensor.bmm": _as_matrices(lambda a, b: a.bmm(b)),
    "torch.einsum": lambda a, b: torch.einsum("bi,bj->bij", a, b),
    "torch.einsum list": lambda a, b: torch.einsum("bi,bi->bi", [a, b]),
}

@pytest.mark.parametrize("form", list(PRODUCT_FORMS))
def test_product_of_two_linear_features_gets_the_midpoint_multipliers(form):
    m = pair_multipliers(TwoFeatures(PRODUCT_FORMS[form]), EXAMPLE, REFERENCES)
    a_x, b_x = feature(U, 0.5, EXAMPLE), feature(V, -0.25, EXAMPLE)
    assert (a_x, b_x) == (-1.0, -0.25)
    for j, reference in enumerate(REFERENCES):
        a_middle = (a_x + feature(U, 0.5, reference)) / 2
        b_middle = (b_x + feature(V, -0.25, reference)) / 2
        assert torch.equal(m[j], b_middle * U + a_middle * V), (form, reference)


def test_product_of_a_feature_with_itself_gets_the_secant_of_the_square():
    # a * a: both operands take ā, so m = 2ā U = (a + a_r) U, the square's secant.
    m = pair_multipliers(TwoFeatures(lambda a, b: a * a), EXAMPLE, REFERENCES[:2])
    for j, reference in enumerate(REFERENCES[:2]):
        assert torch.equal(m[j], (feature(U, 0.5, EXAMPLE) + feature(U, 0.5, reference)) * U)


def _in_place_div(a, b):
    a = a + 0.0
    a.div_(b)
    return a


def _augmented_div(a, b):
    a = a + 0.0
    a /= b
    return a


QUOTIENT_FORMS = {
    "a / b": lambda a, b: a / b,
    "torch.div": torch.div,
    "Tensor.div": lambda a, b: a.div(b),
    "torch.true_divide": torch.true_divide,
    "torch.divide": torch.divide,
    "Tensor.div_": _in_place_div,
    "a /= b": _augmented_div,
}


@pytest.mark.parametrize("form", list(QUOTIENT_FORMS))
def test_quotient_is_the_product_with_the_reciprocal(form):
    # x = (G, A): a = -1.5 - 2 + 0.5 = -3, b = 2 + 1 - 1 = 2; r = (A, A): a = -0.5, b = 0.5.
    # a * (1/b): m_a = (1/2 + 1/0.5) / 2 = 1.25; the reciprocal's multiplier ā = -1.75 times
    # its secant -1 / (2 * 0.5) = -1 gives 1.75 on b.
    model = TwoFeatures(QUOTIENT_FORMS[form], bias_a=0.5, bias_b=-1.0)
    m = pair_multipliers(model, (G, A), [(A, A)])
    assert torch.equal(m[0], 1.25 * U + 1.75 * V)


def test_constant_over_a_feature_gets_the_reciprocal_secant():
    model = TwoFeatures(lambda a, b: 3.0 / b + a, bias_b=-1.0)
    m = pair_multipliers(model, (G, A), [(A, A)])
    assert torch.equal(m[0], U + 3.0 * -1.0 * V)


CONSTANT_OPERAND_FORMS = {
    "a * 3": lambda a, b: a * 3.0 + b,
    "a * parameter": lambda a, b: a * torch.tensor([[-1.5]], dtype=a.dtype) + b,
    "constant * a": lambda a, b: torch.tensor([[-1.5]], dtype=a.dtype).mul(a) + b,
    "a @ constant": lambda a, b: a @ torch.tensor([[0.25]], dtype=a.dtype) + b,
    "einsum with a constant": lambda a, b: torch.einsum(
        "bi,ij->bj", a, torch.tensor([[0.25]], dtype=a.dtype)) + b,
    "a / 4": lambda a, b: a / 4.0 + b,
}


@pytest.mark.parametrize("form", list(CONSTANT_OPERAND_FORMS))
def test_product_with_a_constant_stays_linear(form):
    # The model is linear: its multipliers are its gradient, the same for every reference.
    model = TwoFeatures(CONSTANT_OPERAND_FORMS[form])
    X = onehot(*EXAMPLE)[None].requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(X)[0, 0], X)
    m = pair_multipliers(model, EXAMPLE, REFERENCES)
    for j in range(len(REFERENCES)):
        assert torch.equal(m[j], gradient[0])


# -- matrix products ---------------------------------------------------------------------------


class MatrixProduct(nn.Module):
    """``sum(W * product(P x, Q x))``, ``P x`` shaped ``(batch, 2, 3)`` and ``Q x`` ``(batch, 3, 2)``."""

    def __init__(self, product, length: int = 6):
        super().__init__()
        self.left = nn.Linear(4 * length, 6)
        self.right = nn.Linear(4 * length, 6)
        self.weight = nn.Parameter(torch.randn(2, 2))
        self.product = product

    def matrices(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = X.flatten(1)
        return self.left(flat).reshape(-1, 2, 3), self.right(flat).reshape(-1, 3, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        left, right = self.matrices(X)
        return (self.weight * self.product(left, right)).sum(dim=(1, 2))[:, None]


def _no_term(left):
    return 0.0


#: form -> (product, its linear ``input`` term as a function of the left matrix, alpha).
MATRIX_FORMS = {
    "a @ b": (lambda a, b: a @ b, _no_term, 1.0),
    "torch.matmul": (torch.matmul, _no_term, 1.0),
    "Tensor.matmul": (lambda a, b: a.matmul(b), _no_term, 1.0),
    "torch.bmm": (torch.bmm, _no_term, 1.0),
    "torch.einsum": (lambda a, b: torch.einsum("bij,bjk->bik", a, b), _no_term, 1.0),
    "torch.baddbmm, constant input": (
        lambda a, b: torch.baddbmm(torch.ones(1, 2, 2, dtype=a.dtype), a, b), _no_term, 1.0),
    "torch.baddbmm, beta and alpha": (
        lambda a, b: torch.baddbmm(a[:, :, :2], a, b, beta=0.5, alpha=2.0),
        lambda left: 0.5 * left[:, :, :2], 2.0),
    "Tensor.baddbmm": (lambda a, b: a[:, :, :2].baddbmm(a, b), lambda left: left[:, :, :2], 1.0),
}


def _midpoint_by_hand(model: MatrixProduct, X: torch.Tensor, reference: torch.Tensor,
                      input_term, alpha: float) -> torch.Tensor:
    """``∂/∂x sum(W * (alpha (A(x) B̄ + Ā B(x)) + input_term(A(x))))``, without seqlift."""
    with torch.no_grad():
        left_x, right_x = model.matrices(X)
        left_r, right_r = model.matrices(reference)
        left_middle, right_middle = (left_x + left_r) / 2, (right_x + right_r) / 2
    x = X.clone().requires_grad_(True)
    left, right = model.matrices(x)
    linearised = alpha * (left @ right_middle + left_middle @ right) + input_term(left)
    (gradient,) = torch.autograd.grad((model.weight * linearised).sum(), x)
    return gradient[0]


@pytest.mark.parametrize("form", list(MATRIX_FORMS))
def test_matrix_product_gets_the_midpoint_multipliers(form):
    product, input_term, alpha = MATRIX_FORMS[form]
    model = seeded(lambda: MatrixProduct(product))
    X, references = standard_inputs(n=1, k=3, length=6, seed=3)
    m = multipliers_of(model, X, references, [0])[0, 0]
    for j in range(references.shape[1]):
        expected = _midpoint_by_hand(model, X, references[0, j:j + 1], input_term, alpha)
        assert torch.allclose(m[j], expected, rtol=0, atol=1e-13 * expected.abs().max()), form


# -- parity with tangermeme's BilinearOp -------------------------------------------------------


class ProductNet(nn.Module):
    """Two projections of a conv stem multiplied by ``product``: ``Matmul`` (plain torch) for
    seqlift, tangermeme's ``BilinearOp`` for tangermeme, the same weights either way."""

    def __init__(self, equation: str | None, product: type[nn.Module] = Matmul, d: int = 6,
                 length: int = 24):
        super().__init__()
        self.stem = ConvStem(d, gain=1.5)
        self.first = nn.Linear(d, d)
        self.second = nn.Linear(d, d)
        self.product = product(equation)
        self.equation = equation
        self.head = Head(length if equation == "bld,bmd->blm" else d)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = self.stem(X).transpose(1, 2)  # (batch, L, d)
        a, b = self.first(x), self.second(x)
        if self.equation is None:  # (batch, L, d) @ (batch, d, d)
            b = b.transpose(1, 2)[:, :, : a.shape[-1]]
        return self.head(self.product(a, b))


@pytest.mark.parametrize("equation", [None, "...,...->...", "bld,bmd->blm", "bld,bld->bld"])
def test_product_equals_tangermemes_bilinear_op(equation):
    X, references = standard_inputs(n=3, k=3, seed=5)
    ours_model = seeded(lambda: ProductNet(equation, Matmul))
    theirs_model = seeded(lambda: ProductNet(equation, BilinearOp))
    for target in (0, 1):
        ours = multipliers_of(ours_model, X, references, [target])[0]
        theirs = tangermeme_multipliers(theirs_model, X, references, target)
        assert relative_difference(ours, theirs) <= 1e-5


def test_sigmoid_attention_equals_tangermemes_bilinear_op():
    X, references = standard_inputs(n=3, k=3, seed=6)
    ours_model = seeded(lambda: SigmoidAttentionNet(Matmul))
    theirs_model = seeded(lambda: SigmoidAttentionNet(BilinearOp))
    for target in (0, 1):
        ours = multipliers_of(ours_model, X, references, [target])[0]
        theirs = tangermeme_multipliers(theirs_model, X, references, target)
        assert relative_difference(ours, theirs) <= 1e-5  # measured 9.2e-16


def test_sigmoid_attention_sums_to_delta_in_float64():
    X, references = standard_inputs(n=3, k=3, seed=6)
    model = seeded(SigmoidAttentionNet)
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured 8.9e-16


def test_sigmoid_attention_sums_to_delta_in_float32():
    """Float32: the float32 forward pass resolves ``f(x) - f(r)`` to 2.9e-7 (asserted ≤ 1e-5),
    so a 1e-4 summation error would be the rule's, not the forward's."""
    X, references = standard_inputs(n=3, k=3, seed=6)
    model = seeded(SigmoidAttentionNet)
    assert float32_forward_error(model, X, references, [0, 1]) <= 1e-5
    assert worst_relative_delta(*in_float32(model, X, references), [0, 1]) <= 1e-4


# -- gated units ---------------------------------------------------------------------------------


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


GLU_FORMS = {
    "nn.GLU": nn.GLU(dim=1),
    "F.glu": lambda h: F.glu(h, dim=1),
    "a * sigmoid(b)": lambda h: h[:, :1] * torch.sigmoid(h[:, 1:]),
}


@pytest.mark.parametrize("form", list(GLU_FORMS))
def test_glu_of_two_linear_features_worked_by_hand(form):
    # y = a * s(b), s the sigmoid: m_a = (s(b) + s(b_r)) / 2, m_b = ā * Δs / Δb.
    glu = GLU_FORMS[form]
    model = TwoFeatures(lambda a, b: glu(torch.cat([a, b], dim=1)))
    m = pair_multipliers(model, EXAMPLE, REFERENCES[:2])
    for j, reference in enumerate(REFERENCES[:2]):
        a_x, a_r = feature(U, 0.5, EXAMPLE), feature(U, 0.5, reference)
        b_x, b_r = feature(V, -0.25, EXAMPLE), feature(V, -0.25, reference)
        gate_secant = (_sigmoid(b_x) - _sigmoid(b_r)) / (b_x - b_r)
        expected = (_sigmoid(b_x) + _sigmoid(b_r)) / 2 * U + (a_x + a_r) / 2 * gate_secant * V
        assert torch.allclose(m[j], expected, rtol=1e-14, atol=1e-15), (form, reference)


@pytest.mark.parametrize("functional", [False, True], ids=["nn.GLU", "F.glu"])
def test_glu_equals_tangermemes_glu_rule(functional):
    X, references = standard_inputs(n=3, k=3, seed=7)
    ours_model = seeded(lambda: GLUNet(functional=functional))
    theirs_model = seeded(GLUNet)  # tangermeme has a rule for the nn.GLU module only
    for target in (0, 1):
        ours = multipliers_of(ours_model, X, references, [target])[0]
        theirs = tangermeme_multipliers(theirs_model, X, references, target)
        assert relative_difference(ours, theirs) <= 1e-5  # measured 1.6e-16


@pytest.mark.parametrize("functional", [False, True], ids=["nn.GLU", "F.glu"])
def test_glu_sums_to_delta(functional):
    """Float32: the forward resolves ``f(x) - f(r)`` to 2.5e-7 (asserted ≤ 1e-5)."""
    X, references = standard_inputs(n=3, k=3, seed=7)
    model = seeded(lambda: GLUNet(functional=functional))
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured 4.0e-16
    assert float32_forward_error(model, X, references, [0, 1]) <= 1e-5
    assert worst_relative_delta(*in_float32(model, X, references), [0, 1]) <= 1e-4


def test_products_raise_no_warning_and_keep_batch_size_invariance():
    X, references = standard_inputs(n=3, k=3, seed=8)
    model = seeded(SigmoidAttentionNet)
    whole = multipliers_of(model, X, references, [0], batch_size=9)
    for batch_size in (1, 7):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            part = multipliers_of(model, X, references, [0], batch_size=batch_size)
        assert torch.allclose(part, whole, rtol=0, atol=1e-13 * whole.abs().max())
    assert float(relative_deltas(model, X, references, whole, [0]).max()) <= 1e-9

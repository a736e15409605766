"""Attention as real code writes it: exact through the softmax and product rules, no rewrite.

Attention is two products of input-dependent tensors around a softmax. For a softmax over two
logits ``(a, b)`` the change of ``p_0 = sigmoid(a - b)`` has a single exact split whose
multipliers sum to zero across the row (shift invariance): ``±Δp_0 / Δ(a - b)``. With that, the
hand-worked cases below follow from the midpoint rule alone. The models (a conv stem under
``nn.TransformerEncoder``, ``nn.MultiheadAttention`` with masks in both layouts, an RMSNorm + GLU
+ ``F.scaled_dot_product_attention`` block, hand-written relative-position attention, Enformer's
attention pooling) are checked for summation to delta against plain forward passes, in float64
to 1e-9 and in float32 to 1e-4 of the largest ``|f(x) - f(r)|`` of the call.

Float32: every stem has a gain that makes ``f(x) - f(r)`` O(0.1); the float32 forward pass
resolves it to ~1e-6 relative, which each float32 test asserts (≤ 1e-5) before holding the
summation to 1e-4, so a failure there is the engine's, not the forward's. seqlift's softmax rule
splits ``Δ`` differently from tangermeme's (both exact), so nothing here is compared with
tangermeme.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformer_models import (
    EXAMPLE,
    REFERENCES,
    AttentionPoolNet,
    ConvStem,
    ConvTransformer,
    GatedAttentionBlock,
    Head,
    MultiheadAttentionNet,
    RelativeAttentionNet,
    TwoFeatures,
    U,
    V,
    feature,
    float32_forward_error,
    in_float32,
    multipliers_of,
    pair_multipliers,
    relative_deltas,
    seeded,
    standard_inputs,
    worst_relative_delta,
)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _sigmoid_secant(d_x: float, d_r: float) -> float:
    """``Δsigmoid / Δd``, or the derivative where nothing changes."""
    if d_x == d_r:
        return _sigmoid(d_x) * (1.0 - _sigmoid(d_x))
    return (_sigmoid(d_x) - _sigmoid(d_r)) / (d_x - d_r)


class TwoLogitSoftmax(nn.Module):
    """``softmax([a, b])`` through one of the ways code writes a softmax."""

    def __init__(self, form: str):
        super().__init__()
        self.form = form
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.form == "nn.Softmax":
            return self.softmax(logits)
        if self.form == "F.softmax":
            return F.softmax(logits, dim=-1)
        if self.form == "torch.softmax":
            return torch.softmax(logits, -1)
        return logits.softmax(dim=-1)


SOFTMAX_FORMS = ["nn.Softmax", "F.softmax", "torch.softmax", "Tensor.softmax"]
VALUES = (1.5, -0.5)  # constant values of the two positions


@pytest.mark.parametrize("form", SOFTMAX_FORMS)
def test_pooling_two_constant_values_gets_the_sigmoid_secant(form):
    # y = p_0 c_0 + p_1 c_1 = c_1 + (c_0 - c_1) sigmoid(a - b): m = (c_0 - c_1) s (U - V).
    softmax = TwoLogitSoftmax(form)
    values = torch.tensor(VALUES, dtype=torch.float64)

    def pool(a, b):
        return (softmax(torch.cat([a, b], dim=1)) * values).sum(dim=1, keepdim=True)

    model = TwoFeatures(pool)
    model.softmax = softmax
    m = pair_multipliers(model, EXAMPLE, REFERENCES)
    d_x = feature(U, 0.5, EXAMPLE) - feature(V, -0.25, EXAMPLE)
    for j, reference in enumerate(REFERENCES):
        d_r = feature(U, 0.5, reference) - feature(V, -0.25, reference)
        expected = (VALUES[0] - VALUES[1]) * _sigmoid_secant(d_x, d_r) * (U - V)
        assert torch.allclose(m[j], expected, rtol=1e-13, atol=1e-15), (form, reference)


@pytest.mark.parametrize("form", SOFTMAX_FORMS)
def test_attention_of_two_positions_over_their_own_values_worked_by_hand(form):
    # y = p_0 a + p_1 b with p = softmax([a, b]): the products get the midpoint rule,
    # Δy = p̄_0 Δa + p̄_1 Δb + (ā - b̄) Δp_0, and Δp_0 = s Δ(a - b):
    # m = p̄_0 U + p̄_1 V + (ā - b̄) s (U - V).
    softmax = TwoLogitSoftmax(form)

    def attend(a, b):
        values = torch.cat([a, b], dim=1)
        return (softmax(values) * values).sum(dim=1, keepdim=True)

    model = TwoFeatures(attend)
    model.softmax = softmax
    m = pair_multipliers(model, EXAMPLE, REFERENCES)
    a_x, b_x = feature(U, 0.5, EXAMPLE), feature(V, -0.25, EXAMPLE)
    for j, reference in enumerate(REFERENCES):
        a_r, b_r = feature(U, 0.5, reference), feature(V, -0.25, reference)
        p_middle = (_sigmoid(a_x - b_x) + _sigmoid(a_r - b_r)) / 2
        s = _sigmoid_secant(a_x - b_x, a_r - b_r)
        expected = (p_middle * U + (1 - p_middle) * V
                    + ((a_x + a_r) / 2 - (b_x + b_r) / 2) * s * (U - V))
        assert torch.allclose(m[j], expected, rtol=1e-13, atol=1e-15), (form, reference)


def test_masked_position_gets_no_attribution():
    # softmax([a, b, -inf]) pools the constant values (c_0, c_1, 100): the masked position
    # takes no weight, so the result is the two-position case above.
    values = torch.tensor([*VALUES, 100.0], dtype=torch.float64)

    def pool(a, b):
        logits = torch.cat([a, b, torch.full_like(a, float("-inf"))], dim=1)
        return (torch.softmax(logits, dim=-1) * values).sum(dim=1, keepdim=True)

    m = pair_multipliers(TwoFeatures(pool), EXAMPLE, REFERENCES[:2])
    d_x = feature(U, 0.5, EXAMPLE) - feature(V, -0.25, EXAMPLE)
    for j, reference in enumerate(REFERENCES[:2]):
        d_r = feature(U, 0.5, reference) - feature(V, -0.25, reference)
        expected = (VALUES[0] - VALUES[1]) * _sigmoid_secant(d_x, d_r) * (U - V)
        assert torch.allclose(m[j], expected, rtol=1e-13, atol=1e-15), reference


# -- summation to delta on real layers ---------------------------------------------------------

MODELS = {
    "TransformerEncoder, post-norm, relu": lambda: ConvTransformer(),
    "TransformerEncoder, pre-norm, gelu": lambda: ConvTransformer(norm_first=True,
                                                                  activation="gelu"),
    "TransformerEncoder, sequence-first, post-norm, gelu": lambda: ConvTransformer(
        batch_first=False, activation="gelu"),
    "TransformerEncoder, sequence-first, pre-norm, causal mask": lambda: ConvTransformer(
        norm_first=True, batch_first=False, mask="causal"),
    "TransformerEncoder, boolean band mask": lambda: ConvTransformer(mask="bool"),
    "MultiheadAttention": lambda: MultiheadAttentionNet(),
    "MultiheadAttention, sequence-first": lambda: MultiheadAttentionNet(batch_first=False),
    "MultiheadAttention, boolean attn_mask": lambda: MultiheadAttentionNet(mask="attn_bool"),
    "MultiheadAttention, sequence-first, float attn_mask": lambda: MultiheadAttentionNet(
        batch_first=False, mask="attn_float"),
    "MultiheadAttention, key_padding_mask, need_weights": lambda: MultiheadAttentionNet(
        mask="padding", need_weights=True),
    "RMSNorm + GLU + scaled_dot_product_attention": lambda: GatedAttentionBlock(),
    "F.rms_norm + F.glu + SDPA is_causal": lambda: GatedAttentionBlock(causal=True,
                                                                       functional=True),
    "SDPA with a boolean attn_mask": lambda: GatedAttentionBlock(mask=True),
    "q @ k^T + relative positions, softmax, @ v": lambda: RelativeAttentionNet(),
    "attention pooling": lambda: AttentionPoolNet(),
}


#: Covered by a twin in the default run (the layout tests compare the two layouts directly).
SLOW_TWINS = {"MultiheadAttention, sequence-first", "TransformerEncoder, pre-norm, gelu",
              "SDPA with a boolean attn_mask"}


def _cases(names) -> list:
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TWINS else name
            for name in names]


@pytest.mark.parametrize("case", _cases(MODELS))
def test_attention_sums_to_delta_in_float64(case):
    X, references = standard_inputs(n=2, k=3, seed=21)
    model = seeded(MODELS[case])
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured <= 1.8e-15


FLOAT32_CASES = [
    "TransformerEncoder, post-norm, relu",
    pytest.param("TransformerEncoder, sequence-first, pre-norm, causal mask",
                 marks=pytest.mark.slow),
    pytest.param("MultiheadAttention, key_padding_mask, need_weights", marks=pytest.mark.slow),
    "RMSNorm + GLU + scaled_dot_product_attention",
    pytest.param("q @ k^T + relative positions, softmax, @ v", marks=pytest.mark.slow),
    "attention pooling",
]


@pytest.mark.parametrize("case", FLOAT32_CASES)
def test_attention_sums_to_delta_in_float32(case):
    """See the module docstring for why 1e-4 is a fair float32 bound for these models."""
    X, references = standard_inputs(n=2, k=3, seed=21)
    model = seeded(MODELS[case])
    assert float32_forward_error(model, X, references, [0, 1]) <= 1e-5  # measured <= 9.7e-7
    assert worst_relative_delta(*in_float32(model, X, references), [0, 1]) <= 1e-4


class ConvTransformerDecoder(nn.Module):
    """Conv stem; ``nn.TransformerDecoder`` over every other position, the stem as memory."""

    def __init__(self, batch_first: bool = True, norm_first: bool = False, d_model: int = 8):
        super().__init__()
        self.stem = ConvStem(d_model)
        layer = nn.TransformerDecoderLayer(d_model, 2, 2 * d_model, batch_first=batch_first,
                                           norm_first=norm_first)
        self.decoder = nn.TransformerDecoder(layer, 2)
        self.batch_first = batch_first
        self.head = Head(d_model)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        memory = self.stem(X).transpose(1, 2)
        target = memory[:, ::2]
        mask = nn.Transformer.generate_square_subsequent_mask(target.shape[1],
                                                              dtype=memory.dtype)
        if self.batch_first:
            return self.head(self.decoder(target, memory, tgt_mask=mask, tgt_is_causal=True))
        decoded = self.decoder(target.transpose(0, 1), memory.transpose(0, 1), tgt_mask=mask)
        return self.head(decoded.transpose(0, 1))


@pytest.mark.parametrize("batch_first, norm_first", [(True, False), (False, True)])
def test_transformer_decoder_sums_to_delta(batch_first, norm_first):
    X, references = standard_inputs(n=2, k=2, seed=22)
    model = seeded(lambda: ConvTransformerDecoder(batch_first, norm_first))
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured 6.6e-16


# -- layouts, batch sizes, slices --------------------------------------------------------------


@pytest.mark.parametrize("factory", [
    lambda batch_first: MultiheadAttentionNet(batch_first=batch_first, mask="attn_float"),
    lambda batch_first: ConvTransformer(batch_first=batch_first, norm_first=True),
], ids=["MultiheadAttention", "TransformerEncoder"])
def test_both_layouts_give_the_same_multipliers(factory):
    X, references = standard_inputs(n=2, k=2, seed=23)
    batch_first = multipliers_of(seeded(lambda: factory(True)), X, references, [0])
    sequence_first = multipliers_of(seeded(lambda: factory(False)), X, references, [0])
    assert torch.allclose(sequence_first, batch_first, rtol=0,
                          atol=1e-13 * batch_first.abs().max())


@pytest.mark.parametrize("case", ["TransformerEncoder, sequence-first, pre-norm, causal mask",
                                  "RMSNorm + GLU + scaled_dot_product_attention",
                                  "attention pooling"])
def test_attention_results_do_not_depend_on_the_batch_size(case):
    X, references = standard_inputs(n=3, k=3, seed=24)
    model = seeded(MODELS[case])
    whole = multipliers_of(model, X, references, [0], batch_size=9)
    scale = whole.abs().max()
    for batch_size in (1, 7):
        part = multipliers_of(model, X, references, [0], batch_size=batch_size)
        assert torch.allclose(part, whole, rtol=0, atol=1e-13 * scale), batch_size
    rows = multipliers_of(model, X[1:], references[1:], [0], batch_size=9)
    assert torch.allclose(rows, whole[:, 1:], rtol=0, atol=1e-13 * scale)
    assert float(relative_deltas(model, X, references, whole, [0]).max()) <= 1e-9

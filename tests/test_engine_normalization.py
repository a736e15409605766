"""Normalisation layers: exact through their decomposition, and equal to tangermeme's closed forms.

A layer norm over two features ``(p, q)`` depends on its input only through ``d = (p - q) / 2``:
``y = (d, -d) / sqrt(d² + eps)``. Any exact rule must then give the secant of
``g(d) = d / sqrt(d² + eps)`` along ``d``, so the hand-worked cases below know the answer
without knowing how the rule splits anything: ``m = Δg/Δd · (U - V) / 2`` for ``p = U·x``,
``q = V·x``. The same holds for every form that normalises two values: ``F.layer_norm``,
``torch.layer_norm``, a group norm of one group of two channels, an instance norm over two
positions, and layer norms written by hand.
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
    ConvStem,
    NormNet,
    TwoFeatures,
    U,
    V,
    feature,
    float32_forward_error,
    in_float32,
    multipliers_of,
    pair_multipliers,
    relative_difference,
    seeded,
    standard_inputs,
    tangermeme_multipliers,
    worst_relative_delta,
)

EPS = 0.25


class PairNorm(nn.Module):
    """``normalise(norm, cat([a, b]))``: the pair ``(a, b)`` normalised by one of the forms."""

    def __init__(self, form: str):
        super().__init__()
        factory, self.normalise = TWO_VALUE_NORMS[form]
        self.norm = factory() if factory is not None else None

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.normalise(self.norm, torch.cat([a, b], dim=1))  # (batch, 2)


def _by_hand(norm, x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + EPS)


def _by_hand_with_var_mean(norm, x: torch.Tensor) -> torch.Tensor:
    variance, mean = torch.var_mean(x, dim=-1, keepdim=True, unbiased=False)
    return (x - mean) * torch.rsqrt(variance + EPS)


def _by_hand_with_var(norm, x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + EPS).sqrt()


#: Ways of normalising the pair ``(a, b)`` to ``(g(d), -g(d))``: (module factory, function).
TWO_VALUE_NORMS = {
    "nn.LayerNorm": (lambda: nn.LayerNorm(2, eps=EPS), lambda norm, x: norm(x)),
    "F.layer_norm": (None, lambda norm, x: F.layer_norm(x, (2,), eps=EPS)),
    "torch.layer_norm": (None, lambda norm, x: torch.layer_norm(x, (2,), None, None, EPS, False)),
    "nn.GroupNorm of two channels": (lambda: nn.GroupNorm(1, 2, eps=EPS),
                                     lambda norm, x: norm(x[:, :, None])[:, :, 0]),
    "F.group_norm": (None, lambda norm, x: F.group_norm(x[:, :, None], 1, eps=EPS)[:, :, 0]),
    "torch.group_norm": (None, lambda norm, x: torch.group_norm(
        x[:, :, None], 1, None, None, EPS, False)[:, :, 0]),
    "nn.InstanceNorm1d over two positions": (lambda: nn.InstanceNorm1d(1, eps=EPS),
                                             lambda norm, x: norm(x[:, None])[:, 0]),
    "F.instance_norm": (None, lambda norm, x: F.instance_norm(x[:, None], eps=EPS)[:, 0]),
    "torch.instance_norm": (None, lambda norm, x: torch.instance_norm(
        x[:, None], None, None, None, None, True, 0.1, EPS, False)[:, 0]),
    "(x - mean) / sqrt(mean((x - mean) ** 2) + eps)": (None, _by_hand),
    "torch.var_mean": (None, _by_hand_with_var_mean),
    "Tensor.var": (None, _by_hand_with_var),
}


def _g(d: float) -> float:
    return d / math.sqrt(d * d + EPS)


@pytest.mark.parametrize("form", list(TWO_VALUE_NORMS))
def test_layer_norm_over_two_features_gets_the_secant_of_the_normalised_difference(form):
    model = TwoFeatures(PairNorm(form)).double()
    for target, sign in ((0, 1.0), (1, -1.0)):
        m = pair_multipliers(model, EXAMPLE, REFERENCES, target)
        d_x = (feature(U, 0.5, EXAMPLE) - feature(V, -0.25, EXAMPLE)) / 2
        for j, reference in enumerate(REFERENCES):
            d_r = (feature(U, 0.5, reference) - feature(V, -0.25, reference)) / 2
            if d_x == d_r:  # the example itself: nothing changes, the derivative is used
                secant = EPS / (d_x * d_x + EPS) ** 1.5
            else:
                secant = (_g(d_x) - _g(d_r)) / (d_x - d_r)
            expected = sign * secant * (U - V) / 2
            assert torch.allclose(m[j], expected, rtol=1e-13, atol=1e-15), (form, reference)


@pytest.mark.parametrize("form", ["nn.RMSNorm", "F.rms_norm", "torch.rms_norm"])
def test_rms_norm_of_one_feature_gets_the_secant_of_x_over_its_root_mean_square(form):
    # RMSNorm over a single value: y = w a / sqrt(a² + eps).
    norm = nn.RMSNorm(1, eps=EPS).double()
    with torch.no_grad():
        norm.weight.fill_(1.5)
    normalise = {
        "nn.RMSNorm": lambda a: norm(a),
        "F.rms_norm": lambda a: F.rms_norm(a, (1,), norm.weight, EPS),
        "torch.rms_norm": lambda a: torch.rms_norm(a, [1], norm.weight, EPS),
    }[form]
    model = TwoFeatures(lambda a, b: normalise(a))
    model.norm = norm  # a submodule, so that its weight is the model's (a constant)
    m = pair_multipliers(model, EXAMPLE, REFERENCES[:2])
    a_x = feature(U, 0.5, EXAMPLE)
    for j, reference in enumerate(REFERENCES[:2]):
        a_r = feature(U, 0.5, reference)
        secant = (_g(a_x) - _g(a_r)) / (a_x - a_r)
        assert torch.allclose(m[j], 1.5 * secant * U, rtol=1e-13, atol=1e-15), reference


# -- parity with tangermeme's closed-form LayerNorm and RMSNorm rules ---------------------------

PARITY = {
    # ours: tangermeme's model (the same weights; tangermeme has rules for the modules only)
    "nn.LayerNorm": (lambda: NormNet("layer"), lambda: NormNet("layer")),
    "nn.LayerNorm over (length, features)": (lambda: NormNet("layer", over_positions=True),
                                             lambda: NormNet("layer", over_positions=True)),
    "F.layer_norm": (lambda: NormNet("layer_function"), lambda: NormNet("layer")),
    "nn.RMSNorm": (lambda: NormNet("rms"), lambda: NormNet("rms")),
    "nn.RMSNorm over (length, features)": (lambda: NormNet("rms", over_positions=True),
                                           lambda: NormNet("rms", over_positions=True)),
    "F.rms_norm": (lambda: NormNet("rms_function"), lambda: NormNet("rms")),
}


@pytest.mark.parametrize("case", list(PARITY))
def test_normalisation_equals_tangermemes_closed_form_rule(case):
    ours_factory, theirs_factory = PARITY[case]
    X, references = standard_inputs(n=3, k=3, seed=11)
    ours_model, theirs_model = seeded(ours_factory), seeded(theirs_factory)
    for target in (0, 1):
        ours = multipliers_of(ours_model, X, references, [target])[0]
        theirs = tangermeme_multipliers(theirs_model, X, references, target)
        assert relative_difference(ours, theirs) <= 1e-5  # measured 8e-17 to 1.3e-15


class HandWrittenLayerNorm(nn.Module):
    """A user's layer norm: ``(x - mean) / sqrt(var + eps) * weight + bias``, with ``/``."""

    def __init__(self, features: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(-1, keepdim=True)
        variance = (centred * centred).mean(-1, keepdim=True)
        return centred / torch.sqrt(variance + self.eps) * self.weight + self.bias


def test_hand_written_layer_norm_equals_tangermemes_layer_norm_rule():
    # A division by sqrt is a reciprocal of a sqrt: the two secants chain into rsqrt's, and the
    # self-product centred * centred into the square's, so the result is the closed form's.
    X, references = standard_inputs(n=3, k=3, seed=12)
    theirs_model = seeded(lambda: NormNet("layer"))
    ours_model = seeded(lambda: NormNet("layer"))
    hand = HandWrittenLayerNorm(ours_model.norm.normalized_shape[0])
    hand.load_state_dict(ours_model.norm.state_dict())
    ours_model.norm = hand.double()
    for target in (0, 1):
        ours = multipliers_of(ours_model, X, references, [target])[0]
        theirs = tangermeme_multipliers(theirs_model, X, references, target)
        assert relative_difference(ours, theirs) <= 1e-5


# -- summation to delta ------------------------------------------------------------------------


class ChannelNormNet(nn.Module):
    """Conv stem, a normalisation over channels or positions, conv, ReLU, dense head."""

    def __init__(self, norm: nn.Module, channels: int = 8, length: int = 24):
        super().__init__()
        self.stem = ConvStem(channels)
        self.norm = norm
        self.mix = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.linear = nn.Linear(channels * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.linear(self.relu(self.mix(self.norm(self.stem(X)))).flatten(1))


def _with_random_affine(norm: nn.Module) -> nn.Module:
    with torch.no_grad():
        for parameter in norm.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return norm


SUMMATION_MODELS = {
    "nn.LayerNorm": lambda: NormNet("layer"),
    "nn.LayerNorm over (length, features)": lambda: NormNet("layer", over_positions=True),
    "F.layer_norm": lambda: NormNet("layer_function"),
    "nn.RMSNorm": lambda: NormNet("rms"),
    "F.rms_norm over (length, features)": lambda: NormNet("rms_function", over_positions=True),
    "nn.GroupNorm": lambda: ChannelNormNet(_with_random_affine(nn.GroupNorm(4, 8))),
    "nn.InstanceNorm1d": lambda: ChannelNormNet(nn.InstanceNorm1d(8)),
    "nn.InstanceNorm1d, affine": lambda: ChannelNormNet(
        _with_random_affine(nn.InstanceNorm1d(8, affine=True))),
}


@pytest.mark.parametrize("case", list(SUMMATION_MODELS))
def test_normalisation_sums_to_delta_in_float64(case):
    X, references = standard_inputs(n=3, k=3, seed=13)
    model = seeded(SUMMATION_MODELS[case])
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured <= 1.6e-15


@pytest.mark.parametrize("case", ["nn.LayerNorm", "nn.RMSNorm", "nn.GroupNorm",
                                  "nn.InstanceNorm1d, affine"])
def test_normalisation_sums_to_delta_in_float32(case):
    """Float32: the stem's gain makes ``f(x) - f(r)`` O(0.1); the float32 forward resolves it to
    ≤ 1.1e-6 (asserted ≤ 1e-5), so a 1e-4 summation error would be the rules'."""
    X, references = standard_inputs(n=3, k=3, seed=13)
    model = seeded(SUMMATION_MODELS[case])
    assert float32_forward_error(model, X, references, [0, 1]) <= 1e-5
    assert worst_relative_delta(*in_float32(model, X, references), [0, 1]) <= 1e-4


def test_instance_norm_with_running_statistics_is_the_affine_map_it_is_in_eval():
    # In eval, InstanceNorm1d(track_running_stats=True) normalises with fixed statistics: the
    # same map as a BatchNorm1d with those statistics, which seqlift treats as linear.
    X, references = standard_inputs(n=2, k=3, seed=14)
    torch.manual_seed(0)
    instance = nn.InstanceNorm1d(8, affine=True, track_running_stats=True)
    batch = nn.BatchNorm1d(8)
    with torch.no_grad():
        for norm in (instance, batch):
            norm.running_mean.copy_(torch.linspace(-0.5, 0.5, 8))
            norm.running_var.copy_(torch.linspace(0.5, 2.0, 8))
            norm.weight.copy_(torch.linspace(0.5, 1.5, 8))
            norm.bias.copy_(torch.linspace(-0.2, 0.2, 8))
    with_instance = seeded(lambda: ChannelNormNet(instance))
    with_batch = seeded(lambda: ChannelNormNet(batch))
    ours = multipliers_of(with_instance, X, references, [0, 1])
    expected = multipliers_of(with_batch, X, references, [0, 1])
    assert torch.allclose(ours, expected, rtol=0, atol=1e-14 * expected.abs().max())
    assert worst_relative_delta(with_instance, X, references, [0, 1]) <= 1e-12

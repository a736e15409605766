"""The engine on the zoo's full-size architectures: Beluga, a bpnet-style network, SmallCNN.

Inputs are kept to one or two sequences and two references so this runs in CI on two cores.
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
from zoo_models import (
    captum_deeplift,
    delta_tolerance,
    engine_explain,
    independent_deltas,
    relative_difference,
    standard_inputs,
    tangermeme_hypothetical,
)

from seqlift.zoo import Beluga, BPNetStyle, CountWrapper, SmallCNN

# name -> (factory, length, n_examples, targets, Captum expectation)
MODELS = {
    "small_cnn": (lambda: SmallCNN(seed=0).eval(), 101, 2, [0, 1, 2], "broken"),
    "bpnet_style_counts": (lambda: CountWrapper(BPNetStyle(seed=0)).eval(), 2114, 2, [0],
                           "match"),
    "beluga": (lambda: Beluga(seed=0).eval(), 2000, 1, [0, 1000], "broken"),
}


@functools.cache
def _inputs(name: str):
    _, length, n, _, _ = MODELS[name]
    return standard_inputs(length=length, n=n, k=2, seed=5)


@functools.cache
def _model(name: str, dtype: torch.dtype):
    return MODELS[name][0]().to(dtype)


@functools.cache
def _explained(name: str, dtype: torch.dtype):
    X, references = _inputs(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return engine_explain(_model(name, dtype), X.to(dtype), references.to(dtype),
                              MODELS[name][3], dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_attributions_sum_to_delta(name, dtype):
    X, references = _inputs(name)
    explanation = _explained(name, dtype)
    output_difference = explanation.example_predictions.unsqueeze(-1) - (
        explanation.reference_predictions
    )
    tolerance = delta_tolerance(output_difference, dtype)
    assert (explanation.deltas.abs() <= tolerance).all(), explanation.deltas.abs().max()
    summed = independent_deltas(_model(name, dtype), X.to(dtype), references.to(dtype),
                                explanation, MODELS[name][3])
    assert (summed.abs() <= tolerance.sum(dim=-1)).all(), summed.abs().max()
    assert output_difference.abs().max() > 1e-3


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_tangermeme(name):
    X, references = _inputs(name)
    explanation = _explained(name, torch.float32)
    for index, target in enumerate(MODELS[name][3]):
        theirs = tangermeme_hypothetical(_model(name, torch.float32), X, references, target)
        ours = explanation.hypothetical_sum[index] / references.shape[1]
        assert relative_difference(ours, theirs) <= 1e-5


def test_matches_captum_on_bpnet_style_counts():
    X, references = _inputs("bpnet_style_counts")
    theirs = captum_deeplift(_model("bpnet_style_counts", torch.float64), X.double(),
                             references.double(), 0)
    assert theirs.deltas.abs().max() < 1e-10
    ours = _explained("bpnet_style_counts", torch.float64).hypothetical_sum[0] / 2
    assert relative_difference(ours, theirs.hypothetical_mean) <= 1e-5


@pytest.mark.parametrize("name", ["small_cnn", "beluga"])
def test_sums_to_delta_where_captum_does_not(name):
    # Beluga: ReLU -> Dropout -> MaxPool; SmallCNN: ReLU -> overlapping MaxPool.
    X, references = _inputs(name)
    target = MODELS[name][3][0]
    theirs = captum_deeplift(_model(name, torch.float64), X[:1].double(),
                             references[:1, :1].double(), target)
    explanation = _explained(name, torch.float64)
    output_difference = (explanation.example_predictions[0, 0]
                         - explanation.reference_predictions[0, 0, 0])
    assert theirs.deltas.abs().max() > 1e-2 * output_difference.abs()
    assert explanation.deltas.abs().max() <= 1e-10


def test_beluga_dimensions():
    model = _model("beluga", torch.float32)
    assert model.classifier[2].in_features == 640 * 106 == 67840
    assert sum(p.numel() for p in model.parameters()) > 140_000_000
    X, _ = _inputs("beluga")
    with torch.no_grad():
        outputs = model(X)
    assert outputs.shape == (1, 2002)
    assert ((outputs > 0) & (outputs < 1)).all()
    # Seeded: two builds agree, and a different seed differs.
    assert torch.equal(Beluga(seed=0).features[0].weight, model.features[0].weight)
    assert not torch.equal(Beluga(seed=1).features[0].weight, model.features[0].weight)


def test_bpnet_style_profile_and_count_heads():
    model = BPNetStyle(n_filters=8, n_layers=8, n_outputs=2, seed=3).eval()
    X, _ = standard_inputs(length=2114, n=2, k=1, seed=9)
    with torch.no_grad():
        profile, counts = model(X)
        wrapped = CountWrapper(model)(X)
    assert profile.shape == (2, 2, 1000) and model.output_length(2114) == 1000
    assert torch.equal(wrapped, counts) and counts.shape == (2, 2)

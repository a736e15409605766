"""The engine on the zoo's full-size architectures (Beluga, a bpnet-style network, SmallCNN), on
both CPU paths: the numba kernel and the torch formulation that CUDA runs give bitwise the same
explanation, which sums to delta and agrees with tangermeme and, where Captum is right, Captum.

Inputs are kept to one or two sequences and two references (``zoo.models.LARGE``) so this runs
in CI on two cores.
"""

from __future__ import annotations

import functools

import pytest
import torch
from engine_helpers import FORMULATIONS, assert_bitwise_equal, engine_explain, standard_inputs
from zoo.models import LARGE_BY_NAME
from zoo.oracles import (
    captum_deeplift,
    delta_tolerance,
    independent_deltas,
    relative_difference,
    tangermeme_hypothetical,
)

from seqlift.zoo import Beluga, BPNetStyle, CountWrapper

NAMES = list(LARGE_BY_NAME)
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                                 ids=["float32", "float64"])
# The torch formulation (the GPU's) of the large models runs in the full suite (`make test-all`,
# CI); `make test` keeps the kernel's, and the zoo and layout tests cover both paths in it.
ON_BOTH_PATHS = pytest.mark.parametrize(
    "formulation",
    [pytest.param(name, marks=pytest.mark.slow) if name == "torch" else name
     for name in FORMULATIONS])


@functools.cache
def _inputs(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    entry = LARGE_BY_NAME[name]
    return standard_inputs(length=entry.length, n=entry.n_examples, k=2, seed=5)


@functools.cache
def _model(name: str, dtype: torch.dtype) -> torch.nn.Module:
    return LARGE_BY_NAME[name].build().to(dtype)


@functools.cache
def _explained(name: str, dtype: torch.dtype, formulation: str):
    X, references = _inputs(name)
    return engine_explain(_model(name, dtype), X, references, LARGE_BY_NAME[name].targets, dtype,
                          formulation=formulation, keep_multipliers=True)


@functools.cache
def _tangermeme(name: str, target: int) -> torch.Tensor:
    X, references = _inputs(name)
    return tangermeme_hypothetical(_model(name, torch.float32), X, references, target)


@ON_BOTH_PATHS
@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_attributions_sum_to_delta(name, dtype, formulation):
    X, references = _inputs(name)
    explanation = _explained(name, dtype, formulation)
    output_difference = explanation.example_predictions.unsqueeze(-1) - (
        explanation.reference_predictions
    )
    tolerance = delta_tolerance(output_difference, dtype)
    assert (explanation.deltas.abs() <= tolerance).all(), explanation.deltas.abs().max()
    summed = independent_deltas(_model(name, dtype), X.to(dtype), references.to(dtype),
                                explanation, LARGE_BY_NAME[name].targets)
    assert (summed.abs() <= tolerance.sum(dim=-1)).all(), summed.abs().max()
    assert output_difference.abs().max() > 1e-3


@pytest.mark.slow
@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_kernel_and_torch_formulation_are_bitwise_equal(name, dtype):
    assert_bitwise_equal(_explained(name, dtype, "kernel"), _explained(name, dtype, "torch"))


@ON_BOTH_PATHS
@pytest.mark.parametrize("name", NAMES)
def test_matches_tangermeme(name, formulation):
    explanation = _explained(name, torch.float32, formulation)
    for index, target in enumerate(LARGE_BY_NAME[name].targets):
        ours = explanation.hypothetical_sum[index] / _inputs(name)[1].shape[1]
        assert relative_difference(ours, _tangermeme(name, target)) <= 1e-5


@functools.cache
def _captum(name: str, target: int, first_pair_only: bool):
    X, references = _inputs(name)
    if first_pair_only:
        X, references = X[:1], references[:1, :1]
    return captum_deeplift(_model(name, torch.float64), X.double(), references.double(), target)


@ON_BOTH_PATHS
def test_matches_captum_on_bpnet_style_counts(formulation):
    theirs = _captum("bpnet_style_counts", 0, first_pair_only=False)
    assert theirs.deltas.abs().max() < 1e-10
    explanation = _explained("bpnet_style_counts", torch.float64, formulation)
    ours = explanation.hypothetical_sum[0] / _inputs("bpnet_style_counts")[1].shape[1]
    assert relative_difference(ours, theirs.hypothetical_mean) <= 1e-5


@ON_BOTH_PATHS
@pytest.mark.parametrize("name", ["small_cnn", "beluga"])
def test_sums_to_delta_where_captum_does_not(name, formulation):
    # Beluga: ReLU -> Dropout -> MaxPool; SmallCNN: ReLU -> overlapping MaxPool.
    theirs = _captum(name, LARGE_BY_NAME[name].targets[0], first_pair_only=True)
    explanation = _explained(name, torch.float64, formulation)
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

"""The engine on every tiny zoo model: summation to delta, and agreement with Captum/tangermeme.

Each model in ``zoo_models.ZOO`` is explained for all its outputs with four references per
example (a near-copy, a shuffle and two random sequences, see ``make_references``).
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
import zoo_models
from zoo_models import (
    ZOO,
    ZOO_BY_NAME,
    captum_deeplift,
    delta_tolerance,
    engine_explain,
    forward_outputs,
    independent_deltas,
    relative_difference,
    standard_inputs,
    tangermeme_hypothetical,
)

RELATIVE_TOLERANCE = 1e-5


@functools.cache
def _explained(name: str, dtype: torch.dtype):
    """(model, X, references, targets, explanation) for one zoo model, computed once."""
    entry = ZOO_BY_NAME[name]
    X, references = standard_inputs()
    X, references = X.to(dtype), references.to(dtype)
    model = entry.build().to(dtype)
    targets = list(range(entry.n_outputs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = engine_explain(
            model, X, references, targets, dtype, entry.additional_nonlinear_ops
        )
    return model, X, references, targets, explanation


def _ids(entries):
    return [entry.name for entry in entries]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("entry", ZOO, ids=_ids(ZOO))
def test_attributions_sum_to_delta(entry, dtype):
    model, X, references, targets, explanation = _explained(entry.name, dtype)
    output_difference = explanation.example_predictions.unsqueeze(-1) - (
        explanation.reference_predictions
    )
    tolerance = delta_tolerance(output_difference, dtype)
    assert (explanation.deltas.abs() <= tolerance).all(), explanation.deltas.abs().max()
    # The engine's deltas are not taken on trust: f is re-evaluated here and the per-pair
    # deltas are recovered from the projected attributions of the one-hot examples.
    assert torch.allclose(
        explanation.example_predictions, forward_outputs(model, X)[:, targets].T, rtol=0,
        atol=1e-6 if dtype == torch.float32 else 1e-12,
    )
    summed = independent_deltas(model, X, references, explanation, targets)
    assert (summed.abs() <= tolerance.sum(dim=-1)).all(), summed.abs().max()
    if dtype == torch.float64:
        assert torch.allclose(summed, explanation.deltas.sum(dim=-1), rtol=0, atol=1e-12)
    # Non-trivial: the references really change the outputs.
    assert output_difference.abs().max() > 1e-2


CAPTUM_MATCH = [entry for entry in ZOO if entry.captum == "match"]
CAPTUM_BROKEN = [entry for entry in ZOO if entry.captum == "broken"]
TANGERMEME = [entry for entry in ZOO if entry.tangermeme]


@pytest.mark.parametrize("entry", CAPTUM_MATCH, ids=_ids(CAPTUM_MATCH))
def test_matches_captum_where_captum_is_right(entry):
    # float64: Captum's 1e-10 threshold would otherwise apply the secant to rounding noise.
    model, X, references, targets, explanation = _explained(entry.name, torch.float64)
    for index, target in enumerate(targets):
        theirs = captum_deeplift(model, X, references, target)
        assert theirs.deltas.abs().max() < 1e-10  # Captum is right on this model...
        ours = explanation.hypothetical_sum[index] / references.shape[1]
        # ...and then we agree with it.
        assert relative_difference(ours, theirs.hypothetical_mean) <= RELATIVE_TOLERANCE


@pytest.mark.parametrize("entry", CAPTUM_BROKEN, ids=_ids(CAPTUM_BROKEN))
def test_sums_to_delta_where_captum_does_not(entry):
    model, X, references, targets, explanation = _explained(entry.name, torch.float64)
    # One target is enough to show that Captum misses.
    captum_deltas = captum_deeplift(model, X, references, targets[0]).deltas
    output_difference = explanation.example_predictions[0].unsqueeze(-1) - (
        explanation.reference_predictions[0]
    )
    # Captum's attributions miss the output change by more than 1% of its largest value...
    assert captum_deltas.abs().max() > 1e-2 * output_difference.abs().max()
    # ...where ours account for it to rounding error.
    assert explanation.deltas.abs().max() <= 1e-10


@pytest.mark.parametrize("entry", TANGERMEME, ids=_ids(TANGERMEME))
def test_matches_tangermeme(entry):
    model, X, references, targets, explanation = _explained(entry.name, torch.float32)
    for index, target in enumerate(targets):
        theirs = tangermeme_hypothetical(model, X, references, target)
        ours = explanation.hypothetical_sum[index] / references.shape[1]
        assert relative_difference(ours, theirs) <= RELATIVE_TOLERANCE


def test_zoo_covers_every_activation_and_pool():
    covered = {type(module) for entry in ZOO for module in entry.build().modules()}
    for layer in (
        torch.nn.ReLU, torch.nn.ReLU6, torch.nn.LeakyReLU, torch.nn.PReLU, torch.nn.RReLU,
        torch.nn.ELU, torch.nn.SELU, torch.nn.CELU, torch.nn.GELU, torch.nn.SiLU, torch.nn.Mish,
        torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Softplus, torch.nn.Softshrink,
        torch.nn.Hardtanh, torch.nn.Hardsigmoid, torch.nn.Hardswish, torch.nn.LogSigmoid,
        torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.AdaptiveMaxPool1d, torch.nn.Softmax,
        torch.nn.BatchNorm1d, torch.nn.Dropout, zoo_models.Exp,
    ):
        assert layer in covered, layer

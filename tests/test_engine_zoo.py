"""The engine on every tiny zoo model, on both CPU paths: summation to delta, Captum, tangermeme.

Each model of ``zoo.models.ZOO`` is explained for all its outputs with four references per
example (a near-copy, a shuffle and two random sequences, see ``make_references``), once with the
numba kernel computing the rescale multipliers and once with the torch formulation that CUDA
runs; the two must give bitwise the same explanation. The activation models come from the rule
registry, so a newly registered element-wise class must get a zoo entry before this passes.
"""

from __future__ import annotations

import functools

import pytest
import torch
from engine_helpers import (
    FORMULATIONS,
    assert_bitwise_equal,
    engine_explain,
    standard_inputs,
    torch_threads,
)
from zoo.models import (
    ACTIVATIONS,
    CAPTUM_ACTIVATIONS,
    TANGERMEME_ACTIVATIONS,
    ZOO,
    ZOO_BY_NAME,
    Exp,
    rescaled_classes,
)
from zoo.oracles import (
    captum_deeplift,
    delta_tolerance,
    forward_outputs,
    independent_deltas,
    relative_difference,
    tangermeme_hypothetical,
)

from seqlift import rules

RELATIVE_TOLERANCE = 1e-5
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                                 ids=["float32", "float64"])
ON_BOTH_PATHS = pytest.mark.parametrize("formulation", FORMULATIONS)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    # Tiny models: threads cost more than they save (see engine_helpers.torch_threads).
    with torch_threads(1):
        yield


@functools.cache
def _inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    X, references = standard_inputs()
    return X.to(dtype), references.to(dtype)


@functools.cache
def _model(name: str, dtype: torch.dtype) -> torch.nn.Module:
    return ZOO_BY_NAME[name].build().to(dtype)


@functools.cache
def _explained(name: str, dtype: torch.dtype, formulation: str):
    """The engine's explanation of one zoo model for all its outputs, computed once."""
    entry = ZOO_BY_NAME[name]
    X, references = _inputs(dtype)
    return engine_explain(_model(name, dtype), X, references, list(range(entry.n_outputs)), dtype,
                          entry.additional_nonlinear_ops, formulation=formulation,
                          keep_multipliers=True)


@functools.cache
def _captum(name: str, target: int):
    X, references = _inputs(torch.float64)
    return captum_deeplift(_model(name, torch.float64), X, references, target)


@functools.cache
def _tangermeme(name: str, target: int) -> torch.Tensor:
    X, references = _inputs(torch.float32)
    return tangermeme_hypothetical(_model(name, torch.float32), X, references, target)


def _ids(entries):
    return [entry.name for entry in entries]


@ON_BOTH_PATHS
@DTYPES
@pytest.mark.parametrize("entry", ZOO, ids=_ids(ZOO))
def test_attributions_sum_to_delta(entry, dtype, formulation):
    explanation = _explained(entry.name, dtype, formulation)
    model, (X, references) = _model(entry.name, dtype), _inputs(dtype)
    targets = list(range(entry.n_outputs))
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


@DTYPES
@pytest.mark.parametrize("entry", ZOO, ids=_ids(ZOO))
def test_kernel_and_torch_formulation_are_bitwise_equal(entry, dtype):
    assert_bitwise_equal(_explained(entry.name, dtype, "kernel"),
                         _explained(entry.name, dtype, "torch"))


CAPTUM_MATCH = [entry for entry in ZOO if entry.captum == "match"]
CAPTUM_BROKEN = [entry for entry in ZOO if entry.captum == "broken"]
TANGERMEME = [entry for entry in ZOO if entry.tangermeme]


@ON_BOTH_PATHS
@pytest.mark.parametrize("entry", CAPTUM_MATCH, ids=_ids(CAPTUM_MATCH))
def test_matches_captum_where_captum_is_right(entry, formulation):
    # float64: Captum's 1e-10 threshold would otherwise apply the secant to rounding noise.
    explanation = _explained(entry.name, torch.float64, formulation)
    for index in range(entry.n_outputs):
        theirs = _captum(entry.name, index)
        assert theirs.deltas.abs().max() < 1e-10  # Captum is right on this model...
        ours = explanation.hypothetical_sum[index] / _inputs(torch.float64)[1].shape[1]
        # ...and then we agree with it.
        assert relative_difference(ours, theirs.hypothetical_mean) <= RELATIVE_TOLERANCE


@ON_BOTH_PATHS
@pytest.mark.parametrize("entry", CAPTUM_BROKEN, ids=_ids(CAPTUM_BROKEN))
def test_sums_to_delta_where_captum_does_not(entry, formulation):
    explanation = _explained(entry.name, torch.float64, formulation)
    # One target is enough to show that Captum misses.
    captum_deltas = _captum(entry.name, 0).deltas
    output_difference = explanation.example_predictions[0].unsqueeze(-1) - (
        explanation.reference_predictions[0]
    )
    # Captum's attributions miss the output change by more than 1% of its largest value...
    assert captum_deltas.abs().max() > 1e-2 * output_difference.abs().max()
    # ...where ours account for it to rounding error.
    assert explanation.deltas.abs().max() <= 1e-10


@ON_BOTH_PATHS
@pytest.mark.parametrize("entry", TANGERMEME, ids=_ids(TANGERMEME))
def test_matches_tangermeme(entry, formulation):
    explanation = _explained(entry.name, torch.float32, formulation)
    for index in range(entry.n_outputs):
        ours = explanation.hypothetical_sum[index] / _inputs(torch.float32)[1].shape[1]
        assert relative_difference(ours, _tangermeme(entry.name, index)) <= RELATIVE_TOLERANCE


def test_every_rescaled_class_of_the_registry_has_a_zoo_activation():
    registered = set(rescaled_classes())
    missing = sorted(cls.__name__ for cls in registered - set(ACTIVATIONS))
    assert not missing, f"add these classes to zoo.models.ACTIVATIONS: {missing}"
    stale = sorted(cls.__name__ for cls in set(ACTIVATIONS) - registered)
    assert not stale, f"no longer rescaled by the registry: {stale}"


def test_zoo_builds_every_class_of_the_rule_registry():
    built = {type(module) for entry in ZOO for module in entry.build().modules()}
    missing = sorted(cls.__name__ for cls in set(rules.DEFAULT_MODULE_RULES) - built)
    assert not missing, f"no zoo model contains {missing}"
    # And what the registry leaves to other rules: linear layers, a registered custom module.
    assert {torch.nn.BatchNorm1d, torch.nn.Dropout, Exp} <= built


ACTIVATION_MODELS = [entry for entry in ZOO
                     if entry.activation is not None and not entry.name.endswith("_inplace")]


@pytest.mark.parametrize("entry", ACTIVATION_MODELS, ids=_ids(ACTIVATION_MODELS))
def test_every_activation_meets_every_piece_of_its_function(entry):
    # Some layer's inputs, over the examples and references, lie on both sides of every
    # breakpoint (kink, jump, saturation) with at least 3 values each.
    X, references = _inputs(torch.float32)
    model = entry.build()
    seen: list[torch.Tensor] = []
    for module in model.modules():
        if isinstance(module, entry.activation.cls):
            module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        model(torch.cat([X, references.flatten(0, 1)]))
    assert len(seen) == 2
    for breakpoint in entry.activation.breakpoints:
        assert any(int((x < breakpoint).sum()) >= 3 and int((x > breakpoint).sum()) >= 3
                   for x in seen), (breakpoint, [(float(x.min()), float(x.max())) for x in seen])


def test_zoo_expectations_are_the_peers_own_rule_tables():
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
    from tangermeme._deep_lift_utils import _build_nonlinear_ops

    rescaled = set(rescaled_classes())
    assert set(CAPTUM_ACTIVATIONS) == rescaled & set(SUPPORTED_NON_LINEAR)
    assert set(TANGERMEME_ACTIVATIONS) == rescaled & set(_build_nonlinear_ops())

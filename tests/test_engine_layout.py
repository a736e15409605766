"""Element-wise rules on non-contiguous activations: transposed, batch not first, channels-last.

Regression tests for a crash: the CPU kernel wrote its multipliers through a view of the
activation's layout, which failed on permuted activations (the engine now allocates contiguous
multipliers). Every element-wise class of the rule registry, as a module, in place where it can
be, and as the torch function its ``forward`` calls, meets an input laid out three ways
(:class:`zoo.models.LayoutNet`). On both CPU paths the attributions must sum to delta, and the
numba kernel and the torch formulation must agree bitwise.
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
from zoo.models import LAYOUTS, AsFunction, LayoutNet, layout_activations, seeded
from zoo.oracles import delta_tolerance, independent_deltas

ACTIVATIONS = {activation.name: activation for activation in layout_activations()}
FORMS = ("module", "inplace", "function")
CASES = [(layout, form, name) for layout in LAYOUTS for form in FORMS
         for name, activation in ACTIVATIONS.items()
         if form != "inplace" or activation.has_inplace]
CASE_IDS = ["-".join(case) for case in CASES]
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                                 ids=["float32", "float64"])


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    # Tiny models: threads cost more than they save (see engine_helpers.torch_threads).
    with torch_threads(1):
        yield


def _build(layout: str, form: str, name: str) -> LayoutNet:
    activation = ACTIVATIONS[name]

    def factory() -> LayoutNet:
        module = activation.build(inplace=form == "inplace")
        return LayoutNet(AsFunction(module) if form == "function" else module, layout,
                         activation.gain)

    return seeded(factory, 200 + list(ACTIVATIONS).index(name))()


@functools.cache
def _model(case: tuple[str, str, str], dtype: torch.dtype) -> LayoutNet:
    return _build(*case).to(dtype)


@functools.cache
def _inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    X, references = standard_inputs()
    return X.to(dtype), references.to(dtype)


@functools.cache
def _explained(case: tuple[str, str, str], dtype: torch.dtype, formulation: str):
    X, references = _inputs(dtype)
    return engine_explain(_model(case, dtype), X, references, [0, 1, 2], dtype,
                          formulation=formulation, keep_multipliers=True)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_models_hand_the_activation_a_non_contiguous_input(layout):
    X, references = _inputs(torch.float32)
    model = _build(layout, "module", "relu")
    seen: list[torch.Tensor] = []
    model.act.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        model(torch.cat([X, references.flatten(0, 1)]))
    (activation_input,) = seen
    assert not activation_input.is_contiguous()
    if layout == "batch_not_first":
        assert activation_input.shape[1] == len(X) * (1 + references.shape[1])
    if layout == "channels_last_2d":
        assert activation_input.ndim == 4
        assert activation_input.is_contiguous(memory_format=torch.channels_last)


@DTYPES
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_kernel_and_torch_formulation_are_bitwise_equal_on_permuted_activations(case, dtype):
    assert_bitwise_equal(_explained(case, dtype, "kernel"), _explained(case, dtype, "torch"))


@pytest.mark.parametrize("formulation", FORMULATIONS)
@DTYPES
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attributions_sum_to_delta_on_permuted_activations(case, dtype, formulation):
    explanation = _explained(case, dtype, formulation)
    X, references = _inputs(dtype)
    output_difference = explanation.example_predictions.unsqueeze(-1) - (
        explanation.reference_predictions
    )
    tolerance = delta_tolerance(output_difference, dtype)
    assert (explanation.deltas.abs() <= tolerance).all(), explanation.deltas.abs().max()
    summed = independent_deltas(_model(case, dtype), X, references, explanation, [0, 1, 2])
    assert (summed.abs() <= tolerance.sum(dim=-1)).all(), summed.abs().max()
    assert output_difference.abs().max() > 1e-2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_function_form_is_the_module_form(layout):
    # The same weights: the hidden module's functional call is explained like the module.
    X, references = _inputs(torch.float64)
    module_form = _model((layout, "module", "hardtanh"), torch.float64)
    function_form = _model((layout, "function", "hardtanh"), torch.float64)
    with torch.no_grad():
        assert torch.equal(module_form(X), function_form(X))
    ours = _explained((layout, "function", "hardtanh"), torch.float64, "kernel")
    expected = _explained((layout, "module", "hardtanh"), torch.float64, "kernel")
    assert torch.equal(ours.hypothetical_sum, expected.hypothetical_sum)

"""Rule lookup: unknown layers are named, functional calls are handled, custom rules work."""

from __future__ import annotations

import warnings

import pytest
import torch
from engine_helpers import make_references, random_onehot
from zoo.models import ZOO_BY_NAME, Exp, FunctionalNet, ModuleNet, ScaledExp, UnknownLayerNet
from zoo.oracles import independent_deltas

from seqlift import rules
from seqlift.engine import explain


@pytest.fixture
def inputs():
    X = random_onehot(3, 24, seed=7).double()
    return X, make_references(X, 3, seed=8).double()


def _module_net(exp_class=Exp) -> ModuleNet:
    torch.manual_seed(0)
    functional = FunctionalNet()
    model = ModuleNet(exp_class)
    model.load_state_dict(functional.state_dict())
    return model.double().eval()


def _functional_net() -> FunctionalNet:
    torch.manual_seed(0)
    return FunctionalNet().double().eval()


def test_layer_without_rule_is_named_in_a_warning(inputs):
    X, references = inputs
    torch.manual_seed(0)
    model = UnknownLayerNet().double().eval()
    with pytest.warns(RuntimeWarning, match=r"cumprod.*'cumprod' \(Cumprod\)"):
        explanation = explain(model, X, references, [0], device="cpu")
    # Treated as linear, a cumulative product does not sum to delta: not a false alarm.
    assert explanation.deltas.abs().max() > 1e-3


def test_linear_layers_raise_no_warning(inputs):
    X, references = inputs
    model = ZOO_BY_NAME["batchnorm_dropout_eval"].build().double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explain(model, X, references, [0], device="cpu")


def test_functional_nonlinearities_match_the_module_model(inputs):
    X, references = inputs
    functional, modules = _functional_net(), _module_net()
    with torch.no_grad():
        assert torch.equal(functional(X), modules(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = explain(functional, X, references, [0, 1, 2], device="cpu")
        expected = explain(modules, X, references, [0, 1, 2], device="cpu",
                           additional_nonlinear_ops={Exp: rules.rescale})
    assert ours.deltas.abs().max() <= 1e-10
    assert torch.allclose(ours.hypothetical_sum, expected.hypothetical_sum, rtol=0, atol=1e-14)
    assert torch.allclose(ours.deltas, expected.deltas, rtol=0, atol=1e-14)


def test_registered_custom_module_sums_to_delta(inputs):
    X, references = inputs
    model = _module_net()
    explanation = explain(model, X, references, [0, 1], device="cpu",
                          additional_nonlinear_ops={Exp: rules.rescale})
    assert explanation.deltas.abs().max() <= 1e-10
    summed = independent_deltas(model, X, references, explanation, [0, 1])
    assert summed.abs().max() <= 1e-10


def test_unregistered_module_calling_torch_exp_is_handled_through_the_function(inputs):
    X, references = inputs
    # Exp has no module rule, but its forward calls torch.exp, which has a functional rule:
    # the result must be the registered module's, with no warning needed.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unregistered = explain(_module_net(), X, references, [0], device="cpu")
    registered = explain(_module_net(), X, references, [0], device="cpu",
                         additional_nonlinear_ops={Exp: rules.rescale})
    assert unregistered.deltas.abs().max() <= 1e-10
    assert torch.allclose(unregistered.hypothetical_sum, registered.hypothetical_sum, rtol=0,
                          atol=1e-14)


def test_subclass_of_registered_class_gets_the_parent_rule(inputs):
    X, references = inputs
    parent = explain(_module_net(Exp), X, references, [0, 2], device="cpu",
                     additional_nonlinear_ops={Exp: rules.rescale})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        child = explain(_module_net(ScaledExp), X, references, [0, 2], device="cpu",
                        additional_nonlinear_ops={Exp: rules.rescale})
    assert child.deltas.abs().max() <= 1e-10
    assert torch.equal(child.hypothetical_sum, parent.hypothetical_sum)


def test_overriding_a_builtin_rule_takes_effect(inputs):
    X, references = inputs
    model = _module_net()
    # Declaring the sigmoid linear must change the result and break summation.
    explanation = explain(model, X, references, [0], device="cpu",
                          additional_nonlinear_ops={Exp: rules.rescale,
                                                    torch.nn.Sigmoid: rules.linear})
    assert explanation.deltas.abs().max() > 1e-6  # vs <= 1e-10 with the built-in rule

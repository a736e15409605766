"""The engine borrows the model: mode, device, requires_grad, hooks and in-place flags come back."""

from __future__ import annotations

import warnings

import pytest
import torch
from engine_helpers import make_references, random_onehot
from torch import nn
from zoo.models import LENGTH, NormDropoutNet

from seqlift.engine import deep_lift_shap, explain


class Model(nn.Module):
    """Dropout/BatchNorm (mode matters), an in-place ReLU, and a switch to raise in forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, kernel_size=5)
        self.norm = nn.BatchNorm1d(6)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(6 * (LENGTH - 4), 2)
        self.explode_on_call = None
        self.calls = 0

    def forward(self, X):
        self.calls += 1
        if self.explode_on_call == self.calls:
            raise RuntimeError("boom")
        return self.dense(self.dropout(self.relu(self.norm(self.conv(X)))).flatten(1))


def _snapshot(model: nn.Module) -> dict:
    return {
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "devices": {name: p.device for name, p in model.named_parameters()},
        "dtypes": {name: p.dtype for name, p in model.named_parameters()},
        "hooks": {
            name: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                   len(m._backward_pre_hooks))
            for name, m in model.named_modules()
        },
        "inplace": {name: m.inplace for name, m in model.named_modules() if hasattr(m, "inplace")},
        "state": {key: value.clone() for key, value in model.state_dict().items()},
        "attributes": {name: sorted(vars(m)) for name, m in model.named_modules()},
    }


def _assert_same(before: dict, after: dict) -> None:
    for key in ("training", "requires_grad", "devices", "dtypes", "hooks", "inplace",
                "attributes"):
        assert before[key] == after[key], key
    for name, value in before["state"].items():
        assert torch.equal(value, after["state"][name]), name


@pytest.fixture
def inputs():
    X = random_onehot(2, LENGTH, seed=3)
    return X, make_references(X, 3, seed=4)


def _prepared_model() -> Model:
    torch.manual_seed(0)
    model = Model()
    model.train()
    model.dense.weight.requires_grad_(False)  # a frozen layer must stay frozen
    seen = []
    model.conv.register_forward_hook(lambda module, args, output: seen.append(1))
    model.seen = seen
    return model


def test_state_is_restored_after_a_call(inputs):
    X, references = inputs
    model = _prepared_model()
    before = _snapshot(model)
    with pytest.warns(UserWarning, match="training mode"):
        explain(model, X, references, [0, 1], device="cpu")
    after = _snapshot(model)
    before["attributes"] = after["attributes"] = None  # `calls` counts; compared below
    _assert_same(before, after)
    assert torch._C._len_torch_function_stack() == 0
    # The user's own hook survived and still fires.
    fired = len(model.seen)
    model.eval()
    model(X)
    assert len(model.seen) == fired + 1


@pytest.mark.parametrize("explode_on_call", [1, 2], ids=["first_batch", "second_batch"])
def test_state_is_restored_when_forward_raises(inputs, explode_on_call):
    X, references = inputs
    model = _prepared_model()
    model.explode_on_call = explode_on_call
    before = _snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="boom"):
            explain(model, X, references, [0], batch_size=3, device="cpu")
    after = _snapshot(model)
    before["attributes"] = after["attributes"] = None
    _assert_same(before, after)
    assert torch._C._len_torch_function_stack() == 0
    # And the model still works normally, and can be explained again.
    model.explode_on_call = None
    model.eval()
    model(X)
    explanation = explain(model, X, references, [0], device="cpu")
    assert explanation.deltas.abs().max() <= 1e-5


def test_no_attributes_left_on_modules(inputs):
    X, references = inputs
    model = _prepared_model().eval()
    model.calls = 0
    before = {name: sorted(vars(m)) for name, m in model.named_modules()}
    explain(model, X, references, [0], device="cpu")
    assert {name: sorted(vars(m)) for name, m in model.named_modules()} == before


def test_training_mode_model_is_explained_in_eval_mode_with_a_warning(inputs):
    X, references = inputs
    torch.manual_seed(0)
    model = NormDropoutNet()
    expected = deep_lift_shap(model.eval(), X, references=references, hypothetical=True,
                              device="cpu")
    model.train()
    with pytest.warns(UserWarning, match="training mode"):
        result = deep_lift_shap(model, X, references=references, hypothetical=True,
                                device="cpu")
    assert model.training and model.dropout1.training and model.norm.training
    assert torch.equal(result, expected)
    # Running statistics were not updated by the attribution passes.
    assert torch.equal(model.norm.num_batches_tracked, torch.tensor(0))


def test_dtype_argument_leaves_the_model_in_its_own_precision(inputs):
    X, references = inputs
    torch.manual_seed(0)
    model = NormDropoutNet().eval()
    explanation = explain(model, X, references, [0], device="cpu", dtype=torch.float64)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert explanation.deltas.abs().max() <= 1e-10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to move to")
def test_device_is_restored_after_running_on_another_device(inputs):
    X, references = inputs
    model = _prepared_model().eval()
    explanation = explain(model, X, references, [0], device="cuda")
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert explanation.hypothetical_sum.device.type == "cpu"

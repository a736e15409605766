"""The CPU's two paths to the rescale multipliers: the numba kernel and the torch formulation.

CUDA always takes the torch formulation; on the CPU the kernel is the default. The switch is
``SEQLIFT_RESCALE=torch|kernel`` (read at import) or ``seqlift.rules.rescaling.formulation``, and
the two must give bitwise the same multipliers, including at the threshold itself, where both
take the secant (the threshold is compared in the activation's dtype).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from engine_helpers import FORMULATIONS, assert_bitwise_equal, engine_explain, torch_threads
from torch import nn

from seqlift.rules import rescaling

DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                                 ids=["float32", "float64"])


def test_seqlift_rescale_torch_in_the_environment_makes_the_cpu_take_the_torch_formulation():
    code = "from seqlift.rules import rescaling; print(rescaling.current_formulation())"
    environment = {**os.environ, "SEQLIFT_RESCALE": "torch"}
    completed = subprocess.run([sys.executable, "-c", code], env=environment, check=True,
                               capture_output=True, text=True)
    assert completed.stdout.strip() == "torch"


@pytest.mark.parametrize(("value", "expected"), [("", "kernel"), ("kernel", "kernel"),
                                                 ("torch", "torch"), (" Torch ", "torch")])
def test_seqlift_rescale_values(monkeypatch, value, expected):
    monkeypatch.setenv("SEQLIFT_RESCALE", value)
    assert rescaling._formulation_from_environment() == expected


def test_an_unknown_seqlift_rescale_value_is_refused(monkeypatch):
    monkeypatch.setenv("SEQLIFT_RESCALE", "numba")
    with pytest.raises(ValueError, match=r"SEQLIFT_RESCALE='numba'.*kernel, torch"):
        rescaling._formulation_from_environment()


def test_formulation_applies_to_its_block_and_restores_the_previous_one():
    outer = rescaling.current_formulation()
    with rescaling.torch_formulation():
        assert rescaling.current_formulation() == "torch"
        with rescaling.formulation("kernel"):
            assert rescaling.current_formulation() == "kernel"
        assert rescaling.current_formulation() == "torch"
        with pytest.raises(RuntimeError), rescaling.formulation("kernel"):
            raise RuntimeError
        assert rescaling.current_formulation() == "torch"
    assert rescaling.current_formulation() == outer
    with pytest.raises(ValueError, match="kernel, torch"):
        with rescaling.formulation("cuda"):
            pass


def _activations(n_examples, n_references, shape, dtype, seed):
    """Examples and references in which some pairs share values, some are one threshold apart."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_examples, *shape, generator=generator, dtype=dtype)
    r = torch.randn(n_examples * n_references, *shape, generator=generator, dtype=dtype)
    paired = x.repeat_interleave(n_references, dim=0)
    r[::3] = paired[::3]  # Δx == 0 in every third pair...
    r.view(len(r), -1)[1::3, :5] = paired.view(len(r), -1)[1::3, :5]  # ...and in a few places
    return x, r


def _derivative(function, x):
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(function(leaf).sum(), leaf)
    return grad


def _multipliers(formulation, x, r, function, derivative_calls):
    def derivative():
        derivative_calls.append(formulation)
        return _derivative(function, x)

    out = torch.empty_like(r)
    with rescaling.formulation(formulation):
        rescaling.pair_multipliers(x.shape[0], x, r, function(x), function(r), derivative, out)
    return out


@DTYPES
@pytest.mark.parametrize(("n_examples", "n_references", "shape"),
                         [(3, 4, (6, 20)), (2, 16, (64, 1100))],
                         ids=["serial", "on_threads"])
def test_pair_multipliers_are_bitwise_equal_on_both_paths_and_are_the_rescale_rule(
        dtype, n_examples, n_references, shape):
    x, r = _activations(n_examples, n_references, shape, dtype, seed=3)
    calls: list[str] = []
    with torch_threads(2):  # the large case runs the kernel on two threads
        with_kernel = _multipliers("kernel", x, r, torch.tanh, calls)
        with_torch = _multipliers("torch", x, r, torch.tanh, calls)
    assert torch.equal(with_kernel, with_torch)

    # The rule itself, written out from the same values (so, bitwise): the secant where |Δx|
    # is at least epsilon, else tanh'(x).
    def paired(t):
        return t.repeat_interleave(n_references, dim=0)

    delta = paired(x) - r
    near = delta.abs() < rescaling.rescale_epsilon(dtype)
    y = torch.tanh(x)
    expected = torch.where(near, paired(_derivative(torch.tanh, x)),
                           (paired(y) - torch.tanh(r)) / delta)
    assert near.any() and not near.all()
    assert torch.equal(with_kernel, expected)
    assert calls == ["kernel", "torch"]


def test_the_kernel_takes_the_derivative_only_where_some_difference_is_below_the_threshold():
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, 6, 20, generator=generator)
    r = x.repeat_interleave(3, dim=0) + 0.5  # every |Δx| = 0.5
    calls: list[str] = []
    for formulation in FORMULATIONS:
        _multipliers(formulation, x, r, torch.sigmoid, calls)
    assert calls == []


class _SigmoidOfOneWeight(nn.Module):
    """``sigmoid(w . x)`` with ``w = (epsilon, 0, 0, 0)`` on one position: ``Δz`` is ``epsilon``."""

    def __init__(self, epsilon: float, dtype: torch.dtype):
        super().__init__()
        self.linear = nn.Linear(4, 1, bias=False).to(dtype)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[epsilon, 0.0, 0.0, 0.0]]))
        self.sigmoid = nn.Sigmoid()

    def forward(self, X):
        return self.sigmoid(self.linear(X.flatten(1)))


@DTYPES
def test_a_difference_of_exactly_the_threshold_takes_the_secant_on_both_paths(dtype):
    # |Δx| == epsilon is not below it. In float32 the threshold is float32(1e-6), which is below
    # the float64 1e-6: the kernel once compared in float64 and took the derivative there.
    epsilon = float(np.float32(rescaling.RESCALE_EPSILON)) if dtype == torch.float32 \
        else rescaling.RESCALE_EPSILON_FLOAT64
    model = _SigmoidOfOneWeight(epsilon, dtype).eval()
    X = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]])  # A: z = epsilon
    reference = torch.tensor([[[[0.0], [1.0], [0.0], [0.0]]]])  # C: z = 0
    explanations = {formulation: engine_explain(model, X, reference, [0], dtype,
                                                formulation=formulation, keep_multipliers=True)
                    for formulation in FORMULATIONS}
    assert_bitwise_equal(explanations["kernel"], explanations["torch"])
    z = torch.tensor([epsilon, 0.0], dtype=dtype)
    secant = (torch.sigmoid(z[0]) - torch.sigmoid(z[1])) / z[0]
    multiplier_of_a = explanations["kernel"].multipliers[0, 0, 0, 0, 0]
    assert multiplier_of_a == (secant * z[0]).double()
    assert multiplier_of_a != (0.25 * z[0]).double()  # not the derivative sigmoid'(0)


def test_first_call_does_not_wait_for_the_kernels_and_gives_the_same_bits():
    # In a fresh process the kernels load on a background thread at the first call, which takes
    # the torch formulation meanwhile; once they are loaded, the kernel gives the same bits.
    code = """
import torch
from seqlift.engine import explain
from seqlift.rules import rescaling
from seqlift.zoo import SmallCNN
from seqlift.sequence import random_one_hot
model = SmallCNN(seed=0)
X = random_one_hot((2, 4, 101), random_state=0).float()
R = torch.stack([X.roll(s, -1) for s in (1, 2, 3)], 1)
ready_before = rescaling._KERNELS_READY.is_set()
first = explain(model, X, R, [0, 1])
assert rescaling.wait_for_kernels(120)
later = explain(model, X, R, [0, 1])
same = all(torch.equal(a, b) for a, b in zip(
    (first.hypothetical_sum, first.deltas), (later.hypothetical_sum, later.deltas)))
print(ready_before, same)
"""
    completed = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                               text=True, env={**os.environ, "SEQLIFT_RESCALE": "kernel"})
    assert completed.stdout.split() == ["False", "True"]

"""Cases worked out by hand with hand-set weights; the engine must reproduce them exactly.

Weights and references are chosen so that every multiplier is a dyadic fraction, which float64
represents exactly, so most assertions are ``==``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqlift.engine import deep_lift_shap, explain

A, C, G, T = 0, 1, 2, 3


def onehot(*bases: int) -> torch.Tensor:
    """``(4, len(bases))`` float64 one-hot columns."""
    X = torch.zeros(4, len(bases), dtype=torch.float64)
    X[list(bases), list(range(len(bases)))] = 1.0
    return X


class Dense(nn.Module):
    """``y = act(sum(W * x) + b)`` over a ``(batch, 4, L)`` input, one output."""

    def __init__(self, weight: torch.Tensor, bias: float, activation: nn.Module | None = None):
        super().__init__()
        self.linear = nn.Linear(weight.numel(), 1).double()
        with torch.no_grad():
            self.linear.weight.copy_(weight.reshape(1, -1))
            self.linear.bias.fill_(bias)
        self.flatten = nn.Flatten()
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(self.flatten(X)))


WEIGHT = torch.tensor([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25], [2.0, -0.75]], dtype=torch.float64)


def test_linear_model_attributions_are_difference_times_weight():
    model = Dense(WEIGHT, bias=0.5)
    X = onehot(C, A).unsqueeze(0)
    reference = onehot(T, G).reshape(1, 1, 4, 2)
    explanation = explain(model, X, reference, [0], device="cpu")
    multipliers = WEIGHT  # a linear model's multipliers are its weights
    expected_hypothetical = multipliers - (reference[0, 0] * multipliers).sum(0, keepdim=True)
    assert torch.equal(explanation.hypothetical_sum[0, 0], expected_hypothetical)
    attributions = deep_lift_shap(model, X, references=reference, device="cpu")
    # Actual contributions (x - r) * w, projected on the present bases: C at 0, A at 1.
    expected = torch.zeros(4, 2, dtype=torch.float64)
    expected[C, 0] = WEIGHT[C, 0] - WEIGHT[T, 0]
    expected[A, 1] = WEIGHT[A, 1] - WEIGHT[G, 1]
    assert torch.equal(attributions[0], expected)
    assert explanation.deltas.item() == 0.0


def test_linear_model_with_zero_reference_gives_weights():
    model = Dense(WEIGHT, bias=-1.0)
    X = onehot(G, T).unsqueeze(0)
    zeros = torch.zeros(1, 1, 4, 2, dtype=torch.float64)
    hypothetical = deep_lift_shap(model, X, references=zeros, hypothetical=True, device="cpu")
    assert torch.equal(hypothetical[0], WEIGHT)


def test_relu_of_affine_with_zero_reference():
    model = Dense(WEIGHT, bias=-1.0, activation=nn.ReLU())
    X = onehot(T, G).unsqueeze(0)  # z(x) = 2.0 + 0.25 - 1 = 1.25 = f(x)
    zeros = torch.zeros(1, 1, 4, 2, dtype=torch.float64)  # z(0) = -1, f(0) = 0
    explanation = explain(model, X, zeros, [0], device="cpu")
    # ReLU multiplier Δf / Δz = 1.25 / 2.25; with r = 0 the hypothetical is that times w.
    assert torch.equal(explanation.hypothetical_sum[0, 0], WEIGHT * (1.25 / 2.25))
    assert abs(explanation.deltas.item()) <= 1e-15
    # Both pre-activations negative: the ReLU passes nothing, every multiplier is 0.
    model = Dense(WEIGHT, bias=-10.0, activation=nn.ReLU())
    explanation = explain(model, X, zeros, [0], device="cpu")
    assert torch.equal(explanation.hypothetical_sum[0, 0], torch.zeros(4, 2, dtype=torch.float64))


def test_relu_multiplier_is_exact_when_dyadic():
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    model = Dense(weight, bias=-3.0, activation=nn.ReLU())
    X = onehot(T, C).unsqueeze(0)  # z(x) = 4 + 2 - 3 = 3, f(x) = 3
    reference = onehot(G, G).reshape(1, 1, 4, 2)  # z(r) = -3, f(r) = 0
    explanation = explain(model, X, reference, [0], device="cpu")
    multipliers = (3.0 / 6.0) * weight  # Δf / Δz = 3 / 6
    expected = multipliers - (reference[0, 0] * multipliers).sum(0, keepdim=True)
    assert torch.equal(explanation.hypothetical_sum[0, 0], expected)
    assert explanation.deltas.item() == 0.0
    assert explanation.example_predictions.item() == 3.0
    assert explanation.reference_predictions.item() == 0.0


class TwoPositionPool(nn.Module):
    """``y = maxpool_2(v)`` where ``v_l = (1, 2, 3, 5) . x_l`` (A=1, C=2, G=3, T=5)."""

    def __init__(self):
        super().__init__()
        self.score = nn.Conv1d(4, 1, kernel_size=1, bias=False).double()
        with torch.no_grad():
            self.score.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 5.0]).reshape(1, 4, 1))
        self.pool = nn.MaxPool1d(2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.pool(self.score(X)).flatten(1)


SCORES = torch.tensor([1.0, 2.0, 3.0, 5.0], dtype=torch.float64)


def test_maxpool_two_positions_example_wins():
    # x = (A, T) -> v = (1, 5), max 5 at position 1; r = (C, A) -> v = (2, 1), max 2 at 0.
    # Δy = 3 goes to the example's winner: position 1, whose Δv = 5 - 1 = 4 -> multiplier 3/4.
    # The reference's share, y(x) - max(y(x), y(r)) = 0, goes to position 0 -> multiplier 0.
    X = onehot(A, T).unsqueeze(0)
    reference = onehot(C, A).reshape(1, 1, 4, 2)
    explanation = explain(TwoPositionPool(), X, reference, [0], device="cpu")
    expected = torch.zeros(4, 2, dtype=torch.float64)
    expected[:, 1] = 0.75 * (SCORES - SCORES[A])  # m - r·m with r = A at position 1
    assert torch.equal(explanation.hypothetical_sum[0, 0], expected)
    assert explanation.deltas.item() == 0.0


def test_maxpool_two_positions_reference_wins():
    # x = (A, C) -> v = (1, 2), max 2 at 1; r = (T, A) -> v = (5, 1), max 5 at 0. Δy = -3.
    # The example's share max(2, 5) - 5 = 0 goes to position 1; the reference's share
    # 2 - 5 = -3 goes to the reference's winner, position 0, with Δv = 1 - 5 = -4: 3/4.
    X = onehot(A, C).unsqueeze(0)
    reference = onehot(T, A).reshape(1, 1, 4, 2)
    explanation = explain(TwoPositionPool(), X, reference, [0], device="cpu")
    expected = torch.zeros(4, 2, dtype=torch.float64)
    expected[:, 0] = 0.75 * (SCORES - SCORES[T])
    assert torch.equal(explanation.hypothetical_sum[0, 0], expected)
    assert explanation.deltas.item() == 0.0


def test_sigmoid_of_affine_worked_on_paper():
    model = Dense(WEIGHT, bias=0.25, activation=nn.Sigmoid())
    X = onehot(G, C).unsqueeze(0)  # z(x) = -1.5 + 3.0 + 0.25 = 1.75
    zeros = torch.zeros(1, 1, 4, 2, dtype=torch.float64)  # z(0) = 0.25

    def sigmoid(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    multiplier = (sigmoid(1.75) - sigmoid(0.25)) / (1.75 - 0.25)
    explanation = explain(model, X, zeros, [0], device="cpu")
    assert torch.allclose(explanation.hypothetical_sum[0, 0], multiplier * WEIGHT, rtol=1e-14,
                          atol=0)
    assert math.isclose(explanation.example_predictions.item(), sigmoid(1.75), rel_tol=1e-15)
    assert abs(explanation.deltas.item()) <= 1e-15


def test_two_class_softmax_equals_sigmoid_of_the_difference():
    # softmax(a, b)[0] = sigmoid(a - b); DeepLIFT multipliers on a and b must be ±Δy/Δ(a - b),
    # the sigmoid rescale multiplier, because both split the same change along a - b.
    weight_a = WEIGHT
    weight_b = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, -0.5], [-1.0, 2.0]],
                            dtype=torch.float64)

    class TwoClass(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(8, 2).double()
            with torch.no_grad():
                self.linear.weight.copy_(torch.stack([weight_a.flatten(), weight_b.flatten()]))
                self.linear.bias.copy_(torch.tensor([0.25, -0.5]))
            self.softmax = nn.Softmax(dim=1)

        def forward(self, X):
            return self.softmax(self.linear(X.flatten(1)))

    difference = Dense(weight_a - weight_b, bias=0.75, activation=nn.Sigmoid())
    X = torch.stack([onehot(G, C), onehot(A, T)])
    references = torch.stack([torch.stack([onehot(T, T), onehot(C, G)])] * 2)
    ours = explain(TwoClass(), X, references, [0], device="cpu")
    expected = explain(difference, X, references, [0], device="cpu")
    assert torch.allclose(ours.hypothetical_sum, expected.hypothetical_sum, rtol=0, atol=1e-14)
    assert ours.deltas.abs().max() <= 1e-14

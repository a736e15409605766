"""Recurrent layers, run step by step with the module's own weights so every gate meets its rule.

A single step of an LSTM or GRU from a zero state is a composition of sigmoids, tanhs and
products whose DeepLIFT multipliers can be chained by hand (the secant of each activation, the
midpoint rule for each product); the first tests do exactly that. The rest check DanQ-style
models (conv, ReLU, max-pool, bidirectional two-layer LSTM or GRU, dense head) and the other
variants of torch's recurrent layers for summation to delta against plain forward passes.

Float32: the stem's gain makes ``f(x) - f(r)`` O(0.01-0.1), which the float32 forward resolves to
≤ 1e-6 relative (asserted ≤ 1e-5) before the summation is held to 1e-4.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from transformer_models import (
    EXAMPLE,
    REFERENCES,
    ConvStem,
    DanQ,
    TwoFeatures,
    U,
    feature,
    float32_forward_error,
    in_float32,
    multipliers_of,
    pair_multipliers,
    random_onehot,
    relative_deltas,
    seeded,
    standard_inputs,
    worst_relative_delta,
)

from seqlift import rules
from seqlift.engine import ExplanationError, explain

LENGTH = 12  # four steps after DanQ's max-pool of 3


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _secant(function, x: float, r: float) -> float:
    return (function(x) - function(r)) / (x - r)


def _one_step(recurrent: nn.Module):
    """``recurrent`` over one step of the feature ``a``: ``(batch, 1)`` hidden state."""
    def combine(a, b):
        output, _ = recurrent(a[:, None, :])
        return output[:, 0]

    model = TwoFeatures(combine)
    model.recurrent = recurrent
    return model


def test_one_lstm_step_worked_by_hand():
    # From h = c = 0: c = s(i) tanh(g) (the forget gate multiplies the constant zero state),
    # h = s(o) tanh(c), with i, g, o affine in the feature a = U·x + 0.5. The products take the
    # midpoint rule and the activations their secants:
    # m_a = w_o S(o) T̄(c) + s̄(o) T(c) [w_i S(i) T̄(g) + w_g s̄(i) T(g)],
    # with S, T the sigmoid's and tanh's secants and bars the means of the two ends.
    lstm = nn.LSTM(1, 1, batch_first=True).double()
    w = {"i": 0.5, "f": -1.0, "g": 1.5, "o": 0.75}
    bias = {"i": 0.25, "f": 0.0, "g": -0.5, "o": 0.125}
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor([[w[k]] for k in "ifgo"]))
        lstm.weight_hh_l0.fill_(2.0)  # meets only the zero state
        lstm.bias_ih_l0.copy_(torch.tensor([bias[k] for k in "ifgo"]))
        lstm.bias_hh_l0.zero_()
    m = pair_multipliers(_one_step(lstm), EXAMPLE, REFERENCES[:2])

    def gates(a):
        i, g, o = (w[k] * a + bias[k] for k in "igo")
        return i, g, o, math.tanh(_sigmoid(i) * math.tanh(g))  # ..., tanh(c)

    a_x = feature(U, 0.5, EXAMPLE)
    for j, reference in enumerate(REFERENCES[:2]):
        a_r = feature(U, 0.5, reference)
        (i_x, g_x, o_x, tc_x), (i_r, g_r, o_r, tc_r) = gates(a_x), gates(a_r)
        c_x, c_r = _sigmoid(i_x) * math.tanh(g_x), _sigmoid(i_r) * math.tanh(g_r)
        m_c = (_sigmoid(o_x) + _sigmoid(o_r)) / 2 * _secant(math.tanh, c_x, c_r)
        m_a = (w["o"] * _secant(_sigmoid, o_x, o_r) * (tc_x + tc_r) / 2
               + m_c * (w["i"] * _secant(_sigmoid, i_x, i_r) * (math.tanh(g_x) + math.tanh(g_r)) / 2
                        + w["g"] * (_sigmoid(i_x) + _sigmoid(i_r)) / 2
                        * _secant(math.tanh, g_x, g_r)))
        assert torch.allclose(m[j], m_a * U, rtol=1e-13, atol=1e-15), reference


def test_one_gru_step_worked_by_hand():
    # From h = 0: r = s(w_r a + b_r), z = s(w_z a + b_z), n = tanh(w_n a + b_n + r b_hn) (the
    # recurrent weights meet the zero state, their biases remain), h = n + z (0 - n). The product
    # z (0 - n) takes the midpoint rule: m_n = 1 - z̄, m_z = -n̄, so
    # m_a = (1 - z̄) T(u) (w_n + b_hn S(r) w_r) - n̄ S(z) w_z, u the tanh's input.
    gru = nn.GRU(1, 1, batch_first=True).double()
    w = {"r": 0.5, "z": -0.75, "n": 1.25}
    bias = {"r": 0.25, "z": 0.5, "n": -0.25}
    b_hn = 0.75
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.tensor([[w[k]] for k in "rzn"]))
        gru.weight_hh_l0.fill_(3.0)
        gru.bias_ih_l0.copy_(torch.tensor([bias[k] for k in "rzn"]))
        gru.bias_hh_l0.copy_(torch.tensor([0.0, 0.0, b_hn]))
    m = pair_multipliers(_one_step(gru), EXAMPLE, REFERENCES[:2])

    def step(a):
        r_in, z_in = w["r"] * a + bias["r"], w["z"] * a + bias["z"]
        u = w["n"] * a + bias["n"] + _sigmoid(r_in) * b_hn
        return r_in, z_in, u

    a_x = feature(U, 0.5, EXAMPLE)
    for j, reference in enumerate(REFERENCES[:2]):
        a_r = feature(U, 0.5, reference)
        (r_x, z_x, u_x), (r_r, z_r, u_r) = step(a_x), step(a_r)
        z_middle = (_sigmoid(z_x) + _sigmoid(z_r)) / 2
        n_middle = (math.tanh(u_x) + math.tanh(u_r)) / 2
        m_a = ((1 - z_middle) * _secant(math.tanh, u_x, u_r)
               * (w["n"] + b_hn * _secant(_sigmoid, r_x, r_r) * w["r"])
               - n_middle * _secant(_sigmoid, z_x, z_r) * w["z"])
        assert torch.allclose(m[j], m_a * U, rtol=1e-13, atol=1e-15), reference


# -- DanQ-style models and the other recurrent variants ----------------------------------------


class Recurrent(nn.Module):
    """Conv stem, a recurrent layer over the positions, dense head on its output or its state.

    Parameters
    ----------
    recurrent : nn.Module
        ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``.
    initial_state : bool
        Start from a state computed from the input (a pooled, squashed stem), not zeros.
    head_on_state : bool
        Read the final hidden state ``h_n`` instead of the output sequence.
    """

    def __init__(self, recurrent: nn.Module, initial_state: bool = False,
                 head_on_state: bool = False, channels: int = 5, length: int = LENGTH):
        super().__init__()
        self.stem = ConvStem(channels)
        self.recurrent = recurrent
        self.initial_state, self.head_on_state = initial_state, head_on_state
        directions = 2 if recurrent.bidirectional else 1
        hidden = getattr(recurrent, "proj_size", 0) or recurrent.hidden_size
        features = (recurrent.num_layers * directions * hidden if head_on_state
                    else length * directions * hidden)
        self.linear = nn.Linear(features, 2)

    def _state(self, h: torch.Tensor):
        rnn = self.recurrent
        layers = rnn.num_layers * (2 if rnn.bidirectional else 1)
        hidden = getattr(rnn, "proj_size", 0) or rnn.hidden_size
        pooled = torch.tanh(h.mean(dim=1 if rnn.batch_first else 0))[:, :hidden]
        h0 = pooled.unsqueeze(0).expand(layers, -1, -1).contiguous()
        if isinstance(rnn, nn.LSTM):
            return h0, torch.zeros(layers, h0.shape[1], rnn.hidden_size, dtype=h.dtype)
        return h0

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.stem(X).transpose(1, 2)
        if not self.recurrent.batch_first:
            h = h.transpose(0, 1)
        if self.initial_state:
            output, state = self.recurrent(h, self._state(h))
        else:
            output, state = self.recurrent(h)
        if self.head_on_state:
            h_n = state[0] if isinstance(state, tuple) else state
            return self.linear(h_n.transpose(0, 1).flatten(1))
        if not self.recurrent.batch_first:
            output = output.transpose(0, 1)
        return self.linear(output.flatten(1))


MODELS = {
    "DanQ, BiLSTM": lambda: DanQ(length=LENGTH),
    "DanQ, BiLSTM, sequence-first": lambda: DanQ(batch_first=False, length=LENGTH),
    "DanQ, BiGRU": lambda: DanQ(nn.GRU, length=LENGTH),
    "DanQ, BiGRU, sequence-first": lambda: DanQ(nn.GRU, batch_first=False, length=LENGTH),
    "LSTM with projections, two layers, bidirectional": lambda: Recurrent(
        nn.LSTM(5, 4, proj_size=3, num_layers=2, bidirectional=True, batch_first=True)),
    "LSTM without biases, sequence-first": lambda: Recurrent(nn.LSTM(5, 4, bias=False)),
    "GRU without biases, bidirectional": lambda: Recurrent(
        nn.GRU(5, 4, bias=False, bidirectional=True, batch_first=True)),
    "RNN tanh, two layers": lambda: Recurrent(nn.RNN(5, 4, num_layers=2, batch_first=True)),
    "RNN relu, bidirectional, sequence-first": lambda: Recurrent(
        nn.RNN(5, 4, nonlinearity="relu", bidirectional=True)),
    "LSTM from an input-dependent state": lambda: Recurrent(
        nn.LSTM(5, 4, num_layers=2, batch_first=True), initial_state=True),
    "GRU from an input-dependent state, sequence-first": lambda: Recurrent(
        nn.GRU(5, 4, bidirectional=True), initial_state=True),
    "BiLSTM, head on h_n": lambda: Recurrent(
        nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True), head_on_state=True),
    "GRU, head on h_n, sequence-first": lambda: Recurrent(nn.GRU(5, 4, num_layers=2),
                                                          head_on_state=True),
}


#: Covered in the default run by their batch-first twins and the layout tests.
SLOW_TWINS = {"DanQ, BiLSTM, sequence-first", "DanQ, BiGRU, sequence-first"}


@pytest.mark.parametrize("case", [pytest.param(name, marks=pytest.mark.slow)
                                  if name in SLOW_TWINS else name for name in MODELS])
def test_recurrent_layers_sum_to_delta_in_float64(case):
    X, references = standard_inputs(n=2, k=3, length=LENGTH, seed=31)
    model = seeded(MODELS[case])
    assert worst_relative_delta(model, X, references, [0, 1]) <= 1e-9  # measured <= 2.5e-14


@pytest.mark.parametrize("case", ["DanQ, BiLSTM", "DanQ, BiGRU, sequence-first"])
def test_recurrent_layers_sum_to_delta_in_float32(case):
    """See the module docstring for why 1e-4 is a fair float32 bound here."""
    X, references = standard_inputs(n=2, k=3, length=LENGTH, seed=31)
    model = seeded(MODELS[case])
    assert float32_forward_error(model, X, references, [0, 1]) <= 1e-5
    assert worst_relative_delta(*in_float32(model, X, references), [0, 1]) <= 1e-4


@pytest.mark.parametrize("recurrent", [nn.LSTM, nn.GRU])
def test_both_layouts_give_the_same_multipliers(recurrent):
    X, references = standard_inputs(n=2, k=2, length=LENGTH, seed=32)
    batch_first = multipliers_of(seeded(lambda: DanQ(recurrent, True, length=LENGTH)), X,
                                 references, [0])
    sequence_first = multipliers_of(seeded(lambda: DanQ(recurrent, False, length=LENGTH)), X,
                                    references, [0])
    assert torch.allclose(sequence_first, batch_first, rtol=0,
                          atol=1e-13 * batch_first.abs().max())


def test_danq_results_do_not_depend_on_the_batch_size():
    # Differently batched kernels differ in the last bit (5.6e-17 on this LSTM's forward), and
    # secants of nearly unchanged gates amplify that: measured 3.2e-13 relative, hence 1e-12.
    X, references = standard_inputs(n=2, k=2, length=LENGTH, seed=33)
    model = seeded(MODELS["DanQ, BiLSTM"])
    whole = multipliers_of(model, X, references, [0], batch_size=4)
    scale = whole.abs().max()
    for batch_size in (1, 3):
        part = multipliers_of(model, X, references, [0], batch_size=batch_size)
        assert torch.allclose(part, whole, rtol=0, atol=1e-12 * scale), batch_size
    rows = multipliers_of(model, X[1:], references[1:], [0])
    assert torch.allclose(rows, whole[:, 1:], rtol=0, atol=1e-12 * scale)
    assert float(relative_deltas(model, X, references, whole, [0]).max()) <= 1e-9


# -- rules for the recurrent modules themselves, which return tuples ---------------------------


class LinearStemRecurrent(nn.Module):
    """``recurrent(x^T)`` straight on the one-hot input, then a linear head: every non-linear
    step is inside the recurrent layer, so a rule for it decides the whole result."""

    def __init__(self, recurrent: type[nn.Module], length: int = 6):
        super().__init__()
        self.recurrent = recurrent(4, 3, batch_first=True)
        self.linear = nn.Linear(3 * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        output, _ = self.recurrent(X.transpose(1, 2))
        return self.linear(output.flatten(1))


@pytest.mark.parametrize("recurrent", [nn.LSTM, nn.GRU])
def test_a_recurrent_layer_can_take_a_rule_of_its_own(recurrent):
    # Registered with the gradient rule, the layer (the only non-linear part) is treated as
    # linear at the example, so the multipliers are the plain input gradient at the example.
    # nn.GRU returns (output, h_n) with h_n batch-second, which the rule must accept.
    model = seeded(lambda: LinearStemRecurrent(recurrent))
    X = random_onehot(2, 6, seed=34)
    references = random_onehot(4, 6, seed=35).reshape(2, 2, 4, 6)
    explanation = explain(model, X, references, [0], device="cpu", keep_multipliers=True,
                          additional_nonlinear_ops={recurrent: rules.gradient})
    x = X.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    for j in range(2):
        assert torch.allclose(explanation.multipliers[0, :, j], gradient, rtol=0, atol=1e-14)


class Packed(nn.Module):
    """A model that runs its recurrent layer on a ``PackedSequence`` (every sequence full)."""

    def __init__(self, recurrent: type[nn.Module], length: int = 6):
        super().__init__()
        self.recurrent = recurrent(4, 3, batch_first=True)
        self.linear = nn.Linear(3 * length, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        lengths = torch.full((X.shape[0],), X.shape[2], dtype=torch.int64)
        packed = nn.utils.rnn.pack_padded_sequence(X.transpose(1, 2), lengths, batch_first=True)
        output, _ = self.recurrent(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
        return self.linear(padded.flatten(1))


# Packing is a reordering of rows, linear, but seqlift does not know it and says so; that
# warning is not what this test is about.
@pytest.mark.filterwarnings("ignore:torch._pack_padded_sequence:RuntimeWarning")
@pytest.mark.parametrize("recurrent", [nn.LSTM, nn.GRU, nn.RNN])
def test_packed_sequences_are_refused_as_a_limitation_naming_the_layer(recurrent):
    model = seeded(lambda: Packed(recurrent))
    X = random_onehot(2, 6, seed=36)
    references = random_onehot(2, 6, seed=37).reshape(2, 1, 4, 6)
    with torch.no_grad():
        model(X)  # the model itself runs
    name = recurrent.__name__
    with pytest.raises(ExplanationError, match=rf"'recurrent' \({name}\).*packed"):
        explain(model, X, references, [0], device="cpu")

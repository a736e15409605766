"""Small attention, normalisation and recurrent models for the engine tests, and the checks on them.

Every model takes one-hot DNA ``(batch, 4, length)`` and returns ``(batch, n_outputs)``; weights
are seeded and sized so that a forward pass is a few milliseconds. The checks here never trust
the engine's own bookkeeping: :func:`relative_deltas` re-evaluates ``f(x) - f(r)`` by calling the
model plainly and compares it with ``sum((x - r) * m)`` built from the multipliers the engine
returns.

Float32 conditioning: a model whose output barely moves between an example and a reference
cannot be checked to 1e-4 in float32, because the float32 forward pass itself does not resolve
``f(x) - f(r)`` that well. The stems here use a gain that makes ``f(x) - f(r)`` of the order of
``f`` itself, and :func:`float32_forward_error` measures how far the float32 forward's
``f(x) - f(r)`` is from float64's, which the float32 tests assert is far below their tolerance.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqlift.engine import explain

LENGTH = 24
N_OUTPUTS = 2


# -- hand-set features -------------------------------------------------------------------------

A, C, G, T = 0, 1, 2, 3

#: Weights of two features over a ``(4, 2)`` one-hot input, all dyadic, so that products and
#: sums of them are exact in float64.
U = torch.tensor([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25], [2.0, -0.75]], dtype=torch.float64)
V = torch.tensor([[0.5, 1.0], [-1.0, 0.25], [2.0, -0.5], [0.75, 1.5]], dtype=torch.float64)

#: The example of the hand-worked cases: a = U·x + 0.5 = -1, b = V·x - 0.25 = -0.25 ...
EXAMPLE = (C, A)
#: ... and its references: (a, b) = (2.75, 0), (2, 2), and the example itself (Δ = 0).
REFERENCES = [(T, G), (G, C), (C, A)]


def onehot(*bases: int) -> torch.Tensor:
    """``(4, len(bases))`` float64 one-hot columns."""
    X = torch.zeros(4, len(bases), dtype=torch.float64)
    X[list(bases), list(range(len(bases)))] = 1.0
    return X


def feature(weights: torch.Tensor, bias: float, bases: tuple[int, ...]) -> float:
    """``weights · x + bias`` for the one-hot sequence ``bases``, by hand."""
    return bias + sum(float(weights[base, position]) for position, base in enumerate(bases))


class TwoFeatures(nn.Module):
    """``combine(a, b)`` of ``a = U·x + bias_a`` and ``b = V·x + bias_b``, each ``(batch, 1)``.

    The result is flattened to ``(batch, n_outputs)``.
    """

    def __init__(self, combine: Callable, bias_a: float = 0.5, bias_b: float = -0.25):
        super().__init__()
        self.linear = nn.Linear(8, 2).double()
        with torch.no_grad():
            self.linear.weight.copy_(torch.stack([U.flatten(), V.flatten()]))
            self.linear.bias.copy_(torch.tensor([bias_a, bias_b]))
        self.combine = combine

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        features = self.linear(X.flatten(1))
        return self.combine(features[:, :1], features[:, 1:]).reshape(X.shape[0], -1)


def pair_multipliers(model: nn.Module, example: tuple[int, ...],
                     references: list[tuple[int, ...]], target: int = 0) -> torch.Tensor:
    """The engine's multipliers ``(k, 4, length)`` of one example against ``references``."""
    X = onehot(*example)[None]
    R = torch.stack([onehot(*r) for r in references])[None]
    return multipliers_of(model, X, R, [target])[0, 0]


# -- inputs ------------------------------------------------------------------------------------


def random_onehot(n: int, length: int = LENGTH, seed: int = 0) -> torch.Tensor:
    """Random one-hot sequences ``(n, 4, length)`` in float64, from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n, length), generator=generator)
    return F.one_hot(codes, 4).transpose(1, 2).double().contiguous()


def make_references(X: torch.Tensor, k: int, seed: int = 1) -> torch.Tensor:
    """References ``(n, k, 4, length)``: a lightly mutated copy, a column shuffle, random ones.

    The mutated copy leaves most positions (and so most early activations) unchanged, which
    exercises every rule's ``Δx == 0`` branch; the others change almost everything.
    """
    n, _, length = X.shape
    generator = torch.Generator().manual_seed(seed)
    references = torch.empty(n, k, 4, length, dtype=X.dtype)
    for i in range(n):
        for j in range(k):
            if j == 0:
                reference = X[i].clone()
                positions = torch.randperm(length, generator=generator)[: max(1, length // 8)]
                codes = torch.randint(0, 4, (len(positions),), generator=generator)
                reference[:, positions] = F.one_hot(codes, 4).T.to(X.dtype)
            elif j == 1:
                reference = X[i][:, torch.randperm(length, generator=generator)]
            else:
                codes = torch.randint(0, 4, (length,), generator=generator)
                reference = F.one_hot(codes, 4).T.to(X.dtype)
            references[i, j] = reference
    return references


def standard_inputs(n: int = 3, k: int = 3, length: int = LENGTH, seed: int = 0):
    """``X (n, 4, length)`` and references ``(n, k, 4, length)`` in float64."""
    X = random_onehot(n, length, seed)
    return X, make_references(X, k, seed + 1)


# -- independent checks ------------------------------------------------------------------------


def multipliers_of(model: nn.Module, X: torch.Tensor, references: torch.Tensor,
                   targets: list[int], batch_size: int = 64,
                   additional_nonlinear_ops: dict | None = None) -> torch.Tensor:
    """The engine's multipliers ``(n_targets, n, k, 4, length)`` (float64), warnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = explain(model, X, references, targets, batch_size=batch_size,
                              device="cpu", keep_multipliers=True,
                              additional_nonlinear_ops=additional_nonlinear_ops)
    return explanation.multipliers


def output_differences(model: nn.Module, X: torch.Tensor, references: torch.Tensor,
                       targets: list[int]) -> torch.Tensor:
    """``f(x) - f(r)`` per pair, ``(n_targets, n, k)`` in float64, from plain forward passes."""
    n, k = references.shape[:2]
    with torch.no_grad():
        f_x = model(X)[:, targets].double()
        f_r = model(references.reshape(n * k, *X.shape[1:]))[:, targets].double()
    return f_x.T[:, :, None] - f_r.T.reshape(len(targets), n, k)


def relative_deltas(model: nn.Module, X: torch.Tensor, references: torch.Tensor,
                    multipliers: torch.Tensor, targets: list[int]) -> torch.Tensor:
    """``|f(x) - f(r) - sum((x - r) m)|`` over the largest ``|f(x) - f(r)|`` of the call."""
    difference = output_differences(model, X, references, targets)
    explained = ((X[:, None] - references).double() * multipliers).sum(dim=(-2, -1))
    return (difference - explained).abs() / difference.abs().max()


def worst_relative_delta(model: nn.Module, X: torch.Tensor, references: torch.Tensor,
                         targets: list[int] = (0,), batch_size: int = 64,
                         additional_nonlinear_ops: dict | None = None) -> float:
    """The largest relative delta of one call (see :func:`relative_deltas`)."""
    targets = list(targets)
    m = multipliers_of(model, X, references, targets, batch_size, additional_nonlinear_ops)
    return float(relative_deltas(model, X, references, m, targets).max())


def float32_forward_error(model64: nn.Module, X: torch.Tensor, references: torch.Tensor,
                          targets: list[int] = (0,)) -> float:
    """How far float32's ``f(x) - f(r)`` is from float64's, relative to the largest of the call."""
    targets = list(targets)
    model32 = copy.deepcopy(model64).float()
    exact = output_differences(model64.double(), X.double(), references.double(), targets)
    rounded = output_differences(model32, X.float(), references.float(), targets)
    return float((rounded - exact).abs().max() / exact.abs().max())


def in_float32(model: nn.Module, X: torch.Tensor, references: torch.Tensor):
    """A float32 copy of the model and float32 inputs."""
    return copy.deepcopy(model).float(), X.float(), references.float()


def seeded(factory: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """``factory()`` built under ``torch.manual_seed(seed)``, in float64 and eval mode."""
    torch.manual_seed(seed)
    return factory().double().eval()


# -- building blocks ---------------------------------------------------------------------------


class ConvStem(nn.Module):
    """``relu(conv(4 -> channels, k5, same padding) * gain)``: ``(batch, channels, length)``.

    The gain makes the one-hot input move every downstream activation by O(1) between an
    example and its reference, so float32 resolves ``f(x) - f(r)`` (see the module docstring).
    """

    def __init__(self, channels: int, gain: float = 3.0):
        super().__init__()
        self.conv = nn.Conv1d(4, channels, kernel_size=5, padding=2)
        with torch.no_grad():
            self.conv.weight.mul_(gain)
        self.relu = nn.ReLU()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(X))


class Head(nn.Module):
    """Mean over positions of ``(batch, length, features)``, then a linear map to the outputs."""

    def __init__(self, features: int, n_outputs: int = N_OUTPUTS):
        super().__init__()
        self.linear = nn.Linear(features, n_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h.mean(dim=1))


# -- transformers --------------------------------------------------------------------------------


class ConvTransformer(nn.Module):
    """Conv stem, ``nn.TransformerEncoder`` of two layers, mean over positions, linear head.

    Parameters
    ----------
    norm_first, activation, batch_first
        Passed to ``nn.TransformerEncoderLayer``; with ``batch_first=False`` the encoder sees
        ``(length, batch, features)``.
    mask : str or None
        ``"causal"`` (a float ``-inf`` upper triangle), ``"bool"`` (a boolean band: positions
        more than 4 apart do not attend) or None.
    """

    def __init__(self, d_model: int = 16, heads: int = 2, layers: int = 2,
                 norm_first: bool = False, activation: str = "relu", batch_first: bool = True,
                 mask: str | None = None):
        super().__init__()
        self.stem = ConvStem(d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model,
                                           dropout=0.1, activation=activation,
                                           batch_first=batch_first, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.batch_first = batch_first
        self.mask = mask
        self.head = Head(d_model)

    def _mask(self, length: int) -> torch.Tensor | None:
        if self.mask == "causal":
            return nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64)
        if self.mask == "bool":
            positions = torch.arange(length)
            return (positions[:, None] - positions[None, :]).abs() > 4
        return None

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.stem(X).transpose(1, 2)  # (batch, length, d)
        mask = self._mask(h.shape[1])
        if mask is not None and mask.is_floating_point():
            mask = mask.to(h.dtype)
        if self.batch_first:
            h = self.encoder(h, mask=mask)
        else:
            h = self.encoder(h.transpose(0, 1), mask=mask).transpose(0, 1)
        return self.head(h)


class MultiheadAttentionNet(nn.Module):
    """Conv stem, one ``nn.MultiheadAttention`` (self-attention) with a residual, linear head.

    Parameters
    ----------
    batch_first : bool
        The attention's layout.
    mask : str or None
        ``"attn_bool"``, ``"attn_float"`` (a band mask, boolean or additive ``-inf``),
        ``"padding"`` (``key_padding_mask`` blocking the last 3 positions) or None.
    """

    def __init__(self, d_model: int = 12, heads: int = 3, batch_first: bool = True,
                 mask: str | None = None, need_weights: bool = False):
        super().__init__()
        self.stem = ConvStem(d_model)
        self.attention = nn.MultiheadAttention(d_model, heads, batch_first=batch_first)
        self.batch_first, self.mask, self.need_weights = batch_first, mask, need_weights
        self.head = Head(d_model)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.stem(X).transpose(1, 2)
        n, length = h.shape[:2]
        kwargs = {}
        band = (torch.arange(length)[:, None] - torch.arange(length)[None, :]).abs() > 5
        if self.mask == "attn_bool":
            kwargs["attn_mask"] = band
        elif self.mask == "attn_float":
            kwargs["attn_mask"] = torch.zeros(length, length, dtype=h.dtype).masked_fill(
                band, float("-inf"))
        elif self.mask == "padding":
            padding = torch.zeros(n, length, dtype=torch.bool)
            padding[:, -3:] = True
            kwargs["key_padding_mask"] = padding
        x = h if self.batch_first else h.transpose(0, 1)
        attended, _ = self.attention(x, x, x, need_weights=self.need_weights, **kwargs)
        if not self.batch_first:
            attended = attended.transpose(0, 1)
        return self.head(h + attended)


class GatedAttentionBlock(nn.Module):
    """A pre-norm block of modern code: RMSNorm, ``F.scaled_dot_product_attention``, GLU.

    ``x = x + attention(rms_norm(x)); x = x + W2 glu(W1 rms_norm(x))`` over a conv stem, with
    the attention written as a fused ``qkv`` projection split into heads.

    Parameters
    ----------
    causal : bool
        ``is_causal=True``.
    mask : bool
        Pass a boolean band ``attn_mask`` (True = may attend) instead.
    functional : bool
        Call ``F.rms_norm``/``F.glu`` instead of the ``nn.RMSNorm``/``nn.GLU`` modules.
    """

    def __init__(self, d_model: int = 16, heads: int = 2, causal: bool = False,
                 mask: bool = False, functional: bool = False):
        super().__init__()
        self.stem = ConvStem(d_model)
        self.norm1, self.norm2 = nn.RMSNorm(d_model), nn.RMSNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.up = nn.Linear(d_model, 4 * d_model)
        self.glu = nn.GLU(dim=-1)
        self.down = nn.Linear(2 * d_model, d_model)
        self.heads, self.causal, self.mask, self.functional = heads, causal, mask, functional
        self.head = Head(d_model)

    def _norm(self, norm: nn.RMSNorm, x: torch.Tensor) -> torch.Tensor:
        if self.functional:
            return F.rms_norm(x, norm.normalized_shape, norm.weight, norm.eps)
        return norm(x)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = self.stem(X).transpose(1, 2)
        n, length, d = x.shape
        q, k, v = self.qkv(self._norm(self.norm1, x)).reshape(
            n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        mask = None
        if self.mask:
            mask = (torch.arange(length)[:, None] - torch.arange(length)[None, :]).abs() <= 5
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                  is_causal=self.causal)
        x = x + self.out(attended.transpose(1, 2).reshape(n, length, d))
        up = self.up(self._norm(self.norm2, x))
        gated = F.glu(up, dim=-1) if self.functional else self.glu(up)
        return self.head(x + self.down(gated))


class RelativeAttentionNet(nn.Module):
    """Hand-written attention: ``softmax(q @ k^T * s + q @ R^T + b_rel) @ v`` over a conv stem.

    ``R`` (relative position embeddings, gathered per query-key pair) and ``b_rel`` (a learned
    bias per relative distance) are constants, so their terms stay linear in ``q``; the content
    term ``q @ k^T`` and ``weights @ v`` are products of two input-dependent tensors.
    """

    def __init__(self, d_model: int = 8, length: int = LENGTH):
        super().__init__()
        self.stem = ConvStem(d_model)
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.relative = nn.Parameter(torch.randn(2 * length - 1, d_model) * 0.3)
        self.bias = nn.Parameter(torch.randn(2 * length - 1) * 0.3)
        positions = torch.arange(length)
        self.register_buffer("offsets", positions[None, :] - positions[:, None] + length - 1)
        self.head = Head(d_model)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = self.stem(X).transpose(1, 2)
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        embeddings = self.relative[self.offsets]  # (L, L, d), constant
        scores = scores + torch.einsum("bid,ijd->bij", q, embeddings) + self.bias[self.offsets]
        weights = scores.softmax(dim=-1)
        return self.head(x + weights @ v)


class AttentionPoolNet(nn.Module):
    """Enformer's attention pooling: a softmax over each window of ``pool`` positions.

    ``pooled = sum_window(x * softmax_window(W x))``, then a linear head on the flattened
    pooled features.
    """

    def __init__(self, channels: int = 6, pool: int = 4, length: int = LENGTH):
        super().__init__()
        self.stem = ConvStem(channels)
        self.logits = nn.Conv1d(channels, channels, kernel_size=1, bias=False)
        with torch.no_grad():
            self.logits.weight.mul_(2.0)
        self.pool = pool
        self.linear = nn.Linear(channels * (length // pool), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = self.stem(X)
        n, channels, length = x.shape
        windows = x.reshape(n, channels, length // self.pool, self.pool)
        logits = self.logits(x).reshape(windows.shape)
        pooled = (windows * torch.softmax(logits, dim=-1)).sum(dim=-1)
        return self.linear(pooled.flatten(1))


# -- recurrent -----------------------------------------------------------------------------------


class DanQ(nn.Module):
    """DanQ-style: conv, ReLU, max-pool, a bidirectional two-layer LSTM (or GRU), dense head.

    Parameters
    ----------
    recurrent : type
        ``nn.LSTM`` or ``nn.GRU``.
    batch_first : bool
        The recurrent layer's layout.
    """

    def __init__(self, recurrent: type[nn.Module] = nn.LSTM, batch_first: bool = True,
                 channels: int = 8, hidden: int = 6, length: int = LENGTH, layers: int = 2):
        super().__init__()
        self.stem = ConvStem(channels)
        self.pool = nn.MaxPool1d(3)
        self.rnn = recurrent(channels, hidden, num_layers=layers, bidirectional=True,
                             batch_first=batch_first)
        self.batch_first = batch_first
        self.linear = nn.Linear(2 * hidden * (length // 3), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.stem(X)).transpose(1, 2)  # (batch, steps, channels)
        if self.batch_first:
            output, _ = self.rnn(h)
        else:
            output, _ = self.rnn(h.transpose(0, 1))
            output = output.transpose(0, 1)
        return self.linear(output.flatten(1))


# -- models written twice: with tangermeme's BilinearOp, and with plain products ---------------


class Matmul(nn.Module):
    """``a @ b``, ``a * b`` or ``einsum(equation, a, b)`` as plain torch calls (seqlift's form).

    Takes the same ``equation`` as tangermeme's ``BilinearOp`` (None for matmul,
    ``"...,...->..."`` for the element-wise product), so a model can be built with either.
    """

    def __init__(self, equation: str | None = None):
        super().__init__()
        self.equation = equation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.equation is None:
            return a @ b
        if self.equation == "...,...->...":
            return a * b
        return torch.einsum(self.equation, a, b)


class SigmoidAttentionNet(nn.Module):
    """Attention without a softmax, every product in a ``product`` module.

    ``w = sigmoid(q @ k^T * s)``, ``o = w @ v``, then an element-wise gate ``o * g`` and an
    einsum of the gated output with ``v``; built with ``product=Matmul`` for seqlift and
    ``product=tangermeme.deep_lift_shap.BilinearOp`` for tangermeme, same weights.
    """

    def __init__(self, product: type[nn.Module] = Matmul, d_model: int = 8):
        super().__init__()
        self.stem = ConvStem(d_model, gain=1.5)
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.gate = nn.Linear(d_model, d_model)
        self.scores = product(None)
        self.mix = product(None)
        self.gating = product("...,...->...")
        self.contraction = product("bld,bmd->blm")
        self.sigmoid = nn.Sigmoid()
        self.scale = 1.0 / math.sqrt(d_model)
        self.head = Head(2 * d_model)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = self.stem(X).transpose(1, 2)
        q, k, v = self.query(x), self.key(x), self.value(x)
        weights = self.sigmoid(self.scores(q * self.scale, k.transpose(1, 2)))
        mixed = self.mix(weights, v)
        gated = self.gating(mixed, self.gate(x))
        second = self.contraction(gated, v)  # (batch, L, L)
        return self.head(torch.cat([gated, second[..., : x.shape[-1]]], dim=-1))


class NormNet(nn.Module):
    """Conv stem, a normalisation over the features (or features and positions), dense head.

    Parameters
    ----------
    norm : str
        ``"layer"`` (``nn.LayerNorm``), ``"rms"`` (``nn.RMSNorm``), ``"layer_function"``/
        ``"rms_function"`` (``F.layer_norm``/``F.rms_norm`` with the same weights).
    over_positions : bool
        Normalise over ``(length, features)`` instead of the features alone.
    """

    def __init__(self, norm: str = "layer", over_positions: bool = False, channels: int = 8,
                 length: int = LENGTH):
        super().__init__()
        self.stem = ConvStem(channels)
        shape = (length, channels) if over_positions else (channels,)
        module = nn.RMSNorm(shape, eps=1e-5) if norm.startswith("rms") else nn.LayerNorm(shape)
        with torch.no_grad():
            module.weight.copy_(1.0 + 0.5 * torch.randn(shape))
            if getattr(module, "bias", None) is not None:
                module.bias.copy_(0.3 * torch.randn(shape))
        self.norm, self.kind = module, norm
        self.mix = nn.Linear(channels, channels)
        self.relu = nn.ReLU()
        self.head = Head(channels)

    def _normalised(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        if self.kind == "layer_function":
            return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        if self.kind == "rms_function":
            return F.rms_norm(x, norm.normalized_shape, norm.weight, norm.eps)
        return norm(x)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = self.stem(X).transpose(1, 2)
        return self.head(self.relu(self.mix(self._normalised(x))))


class GLUNet(nn.Module):
    """Conv to ``2 * channels``, a GLU over the channels, conv, ReLU, dense head.

    Parameters
    ----------
    functional : bool
        Call ``F.glu`` instead of ``nn.GLU``.
    """

    def __init__(self, channels: int = 6, length: int = LENGTH, functional: bool = False):
        super().__init__()
        self.conv = nn.Conv1d(4, 2 * channels, kernel_size=5, padding=2)
        with torch.no_grad():
            self.conv.weight.mul_(3.0)
        self.glu = nn.GLU(dim=1)
        self.functional = functional
        self.mix = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.linear = nn.Linear(channels * length, N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = self.conv(X)
        gated = F.glu(h, dim=1) if self.functional else self.glu(h)
        return self.linear(self.relu(self.mix(gated)).flatten(1))


def tangermeme_multipliers(model: nn.Module, X: torch.Tensor, references: torch.Tensor,
                           target: int = 0, additional_nonlinear_ops: dict | None = None
                           ) -> torch.Tensor:
    """tangermeme 1.6.0's multipliers ``(n, k, 4, length)`` for the same references (float64)."""
    from tangermeme.deep_lift_shap import deep_lift_shap as tangermeme_deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own convergence warnings; we measure instead
        multipliers = tangermeme_deep_lift_shap(
            model, X, target=target, references=references, raw_outputs=True, device="cpu",
            batch_size=references.shape[0] * references.shape[1], warning_threshold=math.inf,
            additional_nonlinear_ops=additional_nonlinear_ops)
    return multipliers.double()


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """``max |ours - theirs| / max |theirs|``."""
    return float((ours - theirs).abs().max() / theirs.abs().max())

"""Tiny named models for the engine tests, and the helpers that measure the engine against them.

Every model takes one-hot DNA ``(batch, 4, LENGTH)`` and returns ``(batch, n_outputs)``. Each
:class:`ZooEntry` records what the two reference implementations are expected to do with it:

- ``captum``: ``"match"`` where Captum 0.9's ``DeepLift`` has rules for every non-linear layer
  and gets them right, so ours must agree with it; ``"broken"`` where Captum treats a layer as
  linear, routes overlapping max-pool windows wrongly, or mis-handles a ReLU feeding a max-pool
  (then its convergence deltas are large and ours must not be); ``None`` where Captum cannot be
  run on the model at all.
- ``tangermeme``: whether tangermeme 1.6.0 has rules for every non-linear layer, so ours must
  agree with it.

Run ``python tests/zoo_models.py`` to print the accuracy table (largest |delta| in float32 and
float64, largest relative difference from Captum and from tangermeme) for every model.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

LENGTH = 24
N_OUTPUTS = 3


def random_onehot(n: int, length: int, seed: int) -> torch.Tensor:
    """Random one-hot sequences ``(n, 4, length)`` in float32, from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n, length), generator=generator)
    return F.one_hot(codes, 4).transpose(1, 2).float().contiguous()


def make_references(X: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """References ``(n, k, 4, length)`` that exercise every branch of a rule.

    Reference 0 is ``X`` with a handful of bases mutated, so most positions and most
    first-layer windows are identical to the input (exact zero differences, where every rule
    falls back to the gradient); reference 1 is a shuffle of ``X``'s columns; the rest are
    independent random sequences.
    """
    n, _, length = X.shape
    generator = torch.Generator().manual_seed(seed)
    references = []
    for i in range(n):
        per_example = []
        for j in range(k):
            if j == 0:
                reference = X[i].clone()
                positions = torch.randperm(length, generator=generator)[: max(1, length // 10)]
                codes = torch.randint(0, 4, (len(positions),), generator=generator)
                reference[:, positions] = F.one_hot(codes, 4).T.to(X.dtype)
            elif j == 1:
                reference = X[i][:, torch.randperm(length, generator=generator)]
            else:
                codes = torch.randint(0, 4, (length,), generator=generator)
                reference = F.one_hot(codes, 4).T.to(X.dtype)
            per_example.append(reference)
        references.append(torch.stack(per_example))
    return torch.stack(references)


def _conv_gain(conv: nn.Conv1d, gain: float) -> nn.Conv1d:
    """Scale a convolution's weights so its outputs reach every regime of the next activation."""
    with torch.no_grad():
        conv.weight.mul_(gain)
    return conv


class ActivationNet(nn.Module):
    """``conv(4->6, k5) act conv(6->6, k3) act Flatten Linear(->3)`` with two instances of ``act``.

    Parameters
    ----------
    make_activation : callable
        Builds one activation module; called twice so the two layers are distinct instances.
    gain : float
        Multiplier on the first convolution's weights; 6 spreads the pre-activations over
        roughly (-5, 5) so saturating activations (ReLU6, Hardtanh, Hardsigmoid) hit all pieces.
    """

    def __init__(self, make_activation: Callable[[], nn.Module], gain: float = 6.0) -> None:
        super().__init__()
        self.conv1 = _conv_gain(nn.Conv1d(4, 6, kernel_size=5), gain)
        self.act1 = make_activation()
        self.conv2 = nn.Conv1d(6, 6, kernel_size=3)
        self.act2 = make_activation()
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(6 * (LENGTH - 6), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense(self.flatten(self.act2(self.conv2(self.act1(self.conv1(X))))))


class PoolNet(nn.Module):
    """``conv(4->6, k3) [ReLU] pool [ReLU] Flatten Linear(->3)`` for one pooling layer.

    Parameters
    ----------
    pool : torch.nn.Module
        A ``MaxPool1d`` or ``AdaptiveMaxPool1d``.
    relu_first : bool
        ReLU then pool (the order Captum 0.9 gets wrong) instead of pool then ReLU.
    dropout_between : bool
        Put an eval-mode ``Dropout`` between the ReLU and the pool.
    """

    def __init__(
        self, pool: nn.Module, relu_first: bool = True, dropout_between: bool = False
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, kernel_size=3, padding=1)
        layers: list[nn.Module] = [nn.ReLU()]
        if dropout_between:
            layers.append(nn.Dropout(0.3))
        layers = [*layers, pool] if relu_first else [pool, *layers]
        self.body = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_features = self.body(self.conv(torch.zeros(1, 4, LENGTH))).shape[1]
        self.dense = nn.Linear(n_features, N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense(self.body(self.conv(X)))


class ConvPoolNet(nn.Module):
    """``conv ReLU conv MaxPool1d(2, 2) Flatten Linear``: a pool fed by a convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(4, 6, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv1d(6, 6, kernel_size=3, padding=1)
        self.pool = nn.MaxPool1d(2, 2)
        self.dense = nn.Linear(6 * (LENGTH // 2), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense(self.pool(self.conv2(self.relu(self.conv1(X)))).flatten(1))


class Pool2dNet(nn.Module):
    """A ``MaxPool2d`` over (channel, position) with overlapping, padded windows."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=(0, 1))
        with torch.no_grad():
            n_features = self.pool(torch.zeros(1, 1, 6, LENGTH)).numel()
        self.dense = nn.Linear(n_features, N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self.relu(self.conv(X)).unsqueeze(1))
        return self.dense(pooled.flatten(1))


class SoftmaxNet(nn.Module):
    """``conv ReLU Flatten Linear(->4) Softmax(dim=1)``: class probabilities per row."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv_gain(nn.Conv1d(4, 5, kernel_size=5), 2.0)
        self.relu = nn.ReLU()
        self.dense = nn.Linear(5 * (LENGTH - 4), 4)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.dense(self.relu(self.conv(X)).flatten(1)))


class ReusedReLUNet(nn.Module):
    """One ``nn.ReLU`` instance called twice in a forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _conv_gain(nn.Conv1d(4, 6, kernel_size=5), 2.0)
        self.conv2 = nn.Conv1d(6, 5, kernel_size=3)
        self.relu = nn.ReLU()
        self.dense = nn.Linear(5 * (LENGTH - 6), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense(self.relu(self.conv2(self.relu(self.conv1(X)))).flatten(1))


class Exp(nn.Module):
    """Element-wise ``exp`` as a module, a non-linearity no rule table knows by default."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.exp(X)


class ScaledExp(Exp):
    """A subclass of :class:`Exp` (``exp(x) * 1``), to check that rules are inherited."""


class FunctionalNet(nn.Module):
    """``relu``, ``sigmoid`` and ``exp`` called as functions inside ``forward``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _conv_gain(nn.Conv1d(4, 6, kernel_size=5), 2.0)
        self.conv2 = nn.Conv1d(6, 5, kernel_size=3)
        self.dense = nn.Linear(5 * (LENGTH - 6), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        hidden = torch.sigmoid(self.conv2(F.relu(self.conv1(X))))
        return torch.exp(self.dense(hidden.flatten(1)) * 0.5)


class ModuleNet(nn.Module):
    """:class:`FunctionalNet` written with modules (``Exp`` needs ``additional_nonlinear_ops``).

    Copy a ``FunctionalNet``'s state dict into it to get the same function.
    """

    def __init__(self, exp_class: type[nn.Module] = Exp) -> None:
        super().__init__()
        self.conv1 = _conv_gain(nn.Conv1d(4, 6, kernel_size=5), 2.0)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv1d(6, 5, kernel_size=3)
        self.sigmoid = nn.Sigmoid()
        self.dense = nn.Linear(5 * (LENGTH - 6), N_OUTPUTS)
        self.exp = exp_class()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        hidden = self.sigmoid(self.conv2(self.relu(self.conv1(X))))
        return self.exp(self.dense(hidden.flatten(1)) * 0.5)


class TwoHeadNet(nn.Module):
    """Returns a tuple ``(profile (batch, 2, length-4), summary (batch, 3))``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv_gain(nn.Conv1d(4, 6, kernel_size=5), 2.0)
        self.relu = nn.ReLU()
        self.profile = nn.Conv1d(6, 2, kernel_size=1)
        self.summary = nn.Linear(6, N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.relu(self.conv(X))
        return self.profile(hidden), self.summary(hidden.mean(dim=-1))


class SecondOutput(nn.Module):
    """Wrapper exposing the second element of a model's tuple output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.model(X)[1]


class NormDropoutNet(nn.Module):
    """``conv BatchNorm1d ReLU Dropout conv ELU Dropout Flatten Linear`` (eval: BN is affine)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(4, 6, kernel_size=5)
        self.norm = nn.BatchNorm1d(6)
        self.relu = nn.ReLU()
        self.dropout1 = nn.Dropout(0.5)
        self.conv2 = nn.Conv1d(6, 5, kernel_size=3)
        self.elu = nn.ELU()
        self.dropout2 = nn.Dropout(0.5)
        self.dense = nn.Linear(5 * (LENGTH - 6), N_OUTPUTS)
        with torch.no_grad():
            generator = torch.Generator().manual_seed(11)
            self.norm.running_mean.copy_(torch.randn(6, generator=generator))
            self.norm.running_var.copy_(torch.rand(6, generator=generator) + 0.5)
            self.norm.weight.copy_(torch.randn(6, generator=generator))
            self.norm.bias.copy_(torch.randn(6, generator=generator))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout1(self.relu(self.norm(self.conv1(X))))
        return self.dense(self.dropout2(self.elu(self.conv2(hidden))).flatten(1))


class Cumprod(nn.Module):
    """``cumprod(x)`` along the length: a non-linear module that no rule table knows."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X.cumprod(dim=-1)


class UnknownLayerNet(nn.Module):
    """``conv Cumprod Flatten Linear``: the engine must name ``Cumprod`` in a warning."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, kernel_size=3)
        self.cumprod = Cumprod()
        self.dense = nn.Linear(3 * (LENGTH - 2), N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense(self.cumprod(self.conv(X)).flatten(1))


@dataclass(frozen=True)
class ZooEntry:
    """A named test model and what each reference implementation is expected to do with it.

    Attributes
    ----------
    name : str
        Test id.
    build : callable
        Returns a fresh model in eval mode (seeded, so every call gives the same weights).
    captum : str or None
        ``"match"``, ``"broken"`` or ``None`` (see the module docstring).
    tangermeme : bool
        Whether tangermeme has rules for every non-linear layer of the model.
    length : int
        Input length.
    n_outputs : int
        Number of outputs.
    additional_nonlinear_ops : dict or None
        Extra rules the model needs (passed to the engine).
    """

    name: str
    build: Callable[[], nn.Module]
    captum: str | None
    tangermeme: bool
    length: int = LENGTH
    n_outputs: int = N_OUTPUTS
    additional_nonlinear_ops: dict | None = field(default=None, hash=False)


def _seeded(factory: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory()
        return model.eval()

    return build


def _prelu() -> nn.Module:
    prelu = nn.PReLU(num_parameters=6)
    with torch.no_grad():
        prelu.weight.uniform_(-0.5, 0.5)
    return prelu


# Activations with their tangermeme support; Captum's rule table covers only the ones in
# CAPTUM_ACTIVATIONS, the rest it silently treats as linear (so its deltas are large).
_ACTIVATIONS: list[tuple[str, Callable[[], nn.Module], bool]] = [
    ("relu", nn.ReLU, True),
    ("relu_inplace", lambda: nn.ReLU(inplace=True), True),
    ("relu6", nn.ReLU6, True),
    ("relu6_inplace", lambda: nn.ReLU6(inplace=True), True),
    ("leaky_relu", lambda: nn.LeakyReLU(0.1), True),
    ("leaky_relu_inplace", lambda: nn.LeakyReLU(0.1, inplace=True), True),
    ("prelu", _prelu, True),
    ("rrelu_eval", nn.RReLU, True),
    ("rrelu_eval_inplace", lambda: nn.RReLU(inplace=True), True),
    ("elu", nn.ELU, True),
    ("elu_inplace", lambda: nn.ELU(inplace=True), True),
    ("selu", nn.SELU, True),
    ("selu_inplace", lambda: nn.SELU(inplace=True), True),
    ("celu", lambda: nn.CELU(0.7), True),
    ("celu_inplace", lambda: nn.CELU(0.7, inplace=True), True),
    ("gelu", nn.GELU, True),
    ("gelu_tanh", lambda: nn.GELU(approximate="tanh"), True),
    ("silu", nn.SiLU, True),
    ("silu_inplace", lambda: nn.SiLU(inplace=True), True),
    ("mish", nn.Mish, True),
    ("mish_inplace", lambda: nn.Mish(inplace=True), True),
    ("sigmoid", nn.Sigmoid, True),
    ("tanh", nn.Tanh, True),
    ("softplus", nn.Softplus, True),
    ("softshrink", lambda: nn.Softshrink(0.5), True),
    ("hardtanh", nn.Hardtanh, False),
    ("hardtanh_inplace", lambda: nn.Hardtanh(inplace=True), False),
    ("hardsigmoid", nn.Hardsigmoid, False),
    ("hardsigmoid_inplace", lambda: nn.Hardsigmoid(inplace=True), False),
    ("hardswish", nn.Hardswish, False),
    ("hardswish_inplace", lambda: nn.Hardswish(inplace=True), False),
    ("logsigmoid", nn.LogSigmoid, True),
]

CAPTUM_ACTIVATIONS = {"relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus"}


def _activation_entries() -> list[ZooEntry]:
    entries = []
    for index, (name, make, in_tangermeme) in enumerate(_ACTIVATIONS):
        captum = "match" if name.removesuffix("_inplace") in CAPTUM_ACTIVATIONS else "broken"
        # tangermeme 1.6.0 raises on in-place activations ("... is a view and is being
        # modified inplace"), so they are compared with Captum only.
        gain = 12.0 if name.startswith("hardsigmoid") else 6.0
        entries.append(
            ZooEntry(
                name=name,
                build=_seeded(lambda make=make, gain=gain: ActivationNet(make, gain), 100 + index),
                captum=captum,
                tangermeme=in_tangermeme and not name.endswith("_inplace"),
            )
        )
    return entries


def _small_cnn() -> nn.Module:
    from seqlift.zoo import SmallCNN

    return SmallCNN(n_outputs=N_OUTPUTS, sequence_length=LENGTH, seed=0)


ZOO: list[ZooEntry] = [
    *_activation_entries(),
    ZooEntry("maxpool_after_conv", _seeded(ConvPoolNet, 14), captum="match", tangermeme=True),
    ZooEntry(
        "maxpool_nonoverlap_pool_first",
        _seeded(lambda: PoolNet(nn.MaxPool1d(2, 2), relu_first=False), 1),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_nonoverlap_relu_first",
        _seeded(lambda: PoolNet(nn.MaxPool1d(2, 2)), 2),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_relu_dropout_pool",
        _seeded(lambda: PoolNet(nn.MaxPool1d(3, 3), dropout_between=True), 3),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_overlap_k3_s1",
        _seeded(lambda: PoolNet(nn.MaxPool1d(3, 1), relu_first=False), 4),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_overlap_padding",
        _seeded(lambda: PoolNet(nn.MaxPool1d(3, 2, padding=1), relu_first=False), 5),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_overlap_ceil_mode",
        # 24 positions, windows of 5 every 2: ceil mode adds a last partial window.
        _seeded(lambda: PoolNet(nn.MaxPool1d(5, 2, ceil_mode=True), relu_first=False), 6),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry("maxpool2d_overlap_padding", _seeded(Pool2dNet, 7), captum="broken", tangermeme=True),
    ZooEntry(
        "adaptive_maxpool1d",
        # 24 -> 7 windows of uneven size that overlap.
        _seeded(lambda: PoolNet(nn.AdaptiveMaxPool1d(7), relu_first=False), 8),
        captum="broken",
        tangermeme=False,
    ),
    ZooEntry("small_cnn", _small_cnn, captum="broken", tangermeme=True),
    # tangermeme's softmax rule is a different (also exact) split of the same change, so the
    # two disagree by design; ours is checked by summation and by the two-class hand case.
    ZooEntry("softmax_rows", _seeded(SoftmaxNet, 9), captum="broken", tangermeme=False, n_outputs=4),
    # Captum raises on a module called twice ("ensure that module is being used only once").
    ZooEntry("reused_relu", _seeded(ReusedReLUNet, 10), captum=None, tangermeme=True),
    ZooEntry("functional_ops", _seeded(FunctionalNet, 11), captum="broken", tangermeme=False),
    ZooEntry(
        "module_ops_exp_registered",
        _seeded(ModuleNet, 11),
        captum=None,
        tangermeme=False,
        additional_nonlinear_ops={Exp: "rescale"},
    ),
    ZooEntry(
        "two_heads_wrapped",
        _seeded(lambda: SecondOutput(TwoHeadNet()), 12),
        captum="match",
        tangermeme=True,
    ),
    ZooEntry("batchnorm_dropout_eval", _seeded(NormDropoutNet, 13), captum="match", tangermeme=True),
]

ZOO_BY_NAME = {entry.name: entry for entry in ZOO}


def resolve_ops(ops: dict | None) -> dict | None:
    """Turn ``{cls: "rule_name"}`` into ``{cls: seqlift.rules.rule_name}`` (rules load lazily)."""
    if ops is None:
        return None
    from seqlift import rules

    return {cls: getattr(rules, rule) if isinstance(rule, str) else rule for cls, rule in ops.items()}


# ---------------------------------------------------------------------------------------------
# Reference computations
# ---------------------------------------------------------------------------------------------


def forward_outputs(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``model(X)`` in float64 without gradients, ``(batch, n_outputs)``."""
    with torch.no_grad():
        return model(X).double()


def hypothetical_from_multipliers(
    multipliers: torch.Tensor, references: torch.Tensor
) -> torch.Tensor:
    """Project multipliers onto hypothetical contributions, ``H = m - sum_c r_c m_c``.

    Parameters
    ----------
    multipliers, references : torch.Tensor
        ``(..., 4, length)`` each.

    Returns
    -------
    torch.Tensor
        ``(..., 4, length)``: the contribution of each base had it been present.
    """
    return multipliers - (references * multipliers).sum(dim=-2, keepdim=True)


def captum_multipliers(
    model: nn.Module, X: torch.Tensor, references: torch.Tensor, target: int
) -> torch.Tensor:
    """Captum's DeepLIFT multipliers for every (example, reference) pair, ``(n, k, 4, length)``.

    For models with a max-pool, pairs are sent one at a time: Captum 0.9's max-pool rule falls
    back to ``grad_input[0]``, the gradient of the first row of the batch, wherever an input
    does not change, so in a batch of several pairs every row would get the first row's
    gradient there.
    """
    from captum.attr import DeepLift

    n, k = references.shape[:2]
    explainer = DeepLift(model, multiply_by_inputs=False)
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
    one_pair_at_a_time = any(isinstance(module, pools) for module in model.modules())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not one_pair_at_a_time:
            inputs = X.unsqueeze(1).expand(-1, k, -1, -1).reshape(n * k, *X.shape[1:])
            baselines = references.reshape(n * k, *X.shape[1:])
            multipliers = explainer.attribute(
                inputs.clone(), baselines=baselines.clone(), target=target
            )
            return multipliers.detach().reshape(n, k, *X.shape[1:])
        multipliers = torch.empty(n, k, *X.shape[1:], dtype=X.dtype)
        for i in range(n):
            for j in range(k):
                multipliers[i, j] = explainer.attribute(
                    X[i : i + 1].clone(), baselines=references[i, j : j + 1].clone(), target=target
                ).detach()[0]
    return multipliers


@dataclass
class CaptumResult:
    """Captum's mean hypothetical contributions ``(n, 4, L)`` and its per-pair deltas ``(n, k)``."""

    hypothetical_mean: torch.Tensor
    deltas: torch.Tensor


def captum_deeplift(
    model: nn.Module, X: torch.Tensor, references: torch.Tensor, target: int
) -> CaptumResult:
    """Run Captum's DeepLift on every pair and project like the engine does.

    The deltas are Captum's own convergence deltas, ``f(x) - f(r) - sum (x - r) m``, computed
    here from its multipliers because ``return_convergence_delta`` assumes multiplied inputs.
    """
    multipliers = captum_multipliers(model, X, references, target).double()
    Xd, references_d = X.double(), references.double()
    n, k = references.shape[:2]
    f_x = forward_outputs(model, X)[:, target]
    f_r = forward_outputs(model, references.reshape(n * k, *X.shape[1:]))[:, target].reshape(n, k)
    contributions = ((Xd.unsqueeze(1) - references_d) * multipliers).sum(dim=(-2, -1))
    deltas = f_x.unsqueeze(1) - f_r - contributions
    hypothetical = hypothetical_from_multipliers(multipliers, references_d).mean(dim=1)
    return CaptumResult(hypothetical, deltas)


def tangermeme_hypothetical(
    model: nn.Module,
    X: torch.Tensor,
    references: torch.Tensor,
    target: int,
    additional_nonlinear_ops: dict | None = None,
) -> torch.Tensor:
    """tangermeme 1.6.0's mean hypothetical attributions ``(n, 4, L)`` for the same references."""
    from tangermeme.deep_lift_shap import deep_lift_shap as tangermeme_deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tangermeme_deep_lift_shap(
            model,
            X,
            target=target,
            references=references,
            hypothetical=True,
            device="cpu",
            batch_size=max(1, references.shape[0] * references.shape[1]),
            warning_threshold=math.inf,
            additional_nonlinear_ops=additional_nonlinear_ops,
        )
    return result.double()


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """``max |ours - theirs| / max |theirs|``: a difference relative to the attribution scale."""
    ours, theirs = ours.double(), theirs.double()
    scale = theirs.abs().max().clamp_min(1e-30)
    return float((ours - theirs).abs().max() / scale)


def delta_tolerance(output_difference: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Allowed ``|delta|`` per pair: 1e-5 * max(1, |f(x) - f(r)|) in float32, 1e-10 in float64."""
    if dtype == torch.float64:
        return torch.full_like(output_difference, 1e-10)
    return 1e-5 * output_difference.abs().clamp_min(1.0)


def engine_explain(
    model: nn.Module,
    X: torch.Tensor,
    references: torch.Tensor,
    targets: list[int],
    dtype: torch.dtype = torch.float32,
    additional_nonlinear_ops: dict | None = None,
    batch_size: int = 32,
):
    """Run ``seqlift.engine.explain`` with the model and inputs cast to ``dtype``."""
    from seqlift.engine import explain

    return explain(
        model.to(dtype),
        X.to(dtype),
        references.to(dtype),
        targets,
        batch_size=batch_size,
        dtype=dtype,
        additional_nonlinear_ops=resolve_ops(additional_nonlinear_ops),
    )


def independent_deltas(model: nn.Module, X: torch.Tensor, references: torch.Tensor, explanation,
                       targets: list[int]) -> torch.Tensor:
    """Summation errors checked without trusting the engine's own deltas, ``(n_targets, n)``.

    For one-hot ``X`` the projection satisfies ``sum(X * sum_k H_k) = sum_k sum (x - r_k) m_k``,
    so ``sum(X * hypothetical_sum) - (k f(x) - sum_k f(r_k))`` is the sum of the per-pair deltas,
    with ``f`` evaluated here by calling the model directly.
    """
    n, k = references.shape[:2]
    f_x = forward_outputs(model, X)[:, targets].T  # (n_targets, n)
    f_r = forward_outputs(model, references.reshape(n * k, *X.shape[1:]))[:, targets]
    f_r = f_r.T.reshape(len(targets), n, k)
    attributed = (X.double().unsqueeze(0) * explanation.hypothetical_sum).sum(dim=(-2, -1))
    return attributed - (k * f_x - f_r.sum(dim=-1))


@dataclass
class Measurement:
    """Accuracy figures for one model (``nan`` where a comparison does not apply)."""

    name: str
    max_delta_float32: float = math.nan
    max_delta_float64: float = math.nan
    captum_relative_difference: float = math.nan
    captum_max_delta: float = math.nan
    tangermeme_relative_difference: float = math.nan


def measure(
    name: str,
    model_factory: Callable[[], nn.Module],
    X: torch.Tensor,
    references: torch.Tensor,
    targets: list[int],
    captum: str | None,
    tangermeme: bool,
    additional_nonlinear_ops: dict | None = None,
) -> Measurement:
    """Measure one model: engine deltas in both precisions, distance to Captum and tangermeme.

    tangermeme is compared in float32, the precision users run in: it falls back to the
    derivative below the same ``|Δx| < 1e-6`` as we do. Captum is compared in float64: its
    threshold is 1e-10, so in float32 it divides rounding noise by rounding noise wherever an
    example and a reference share a receptive field, and the comparison would measure that.
    The worst target is reported.
    """
    measurement = Measurement(name)
    model = model_factory()
    explanation = engine_explain(model, X, references, targets, torch.float32,
                                 additional_nonlinear_ops)
    measurement.max_delta_float32 = float(explanation.deltas.abs().max())
    ours = explanation.hypothetical_sum / references.shape[1]
    if tangermeme:
        measurement.tangermeme_relative_difference = max(
            relative_difference(
                ours[index],
                tangermeme_hypothetical(model, X, references, target,
                                        resolve_ops(additional_nonlinear_ops)),
            )
            for index, target in enumerate(targets)
        )
    del model, explanation
    model = model_factory().double()
    X64, references64 = X.double(), references.double()
    explanation = engine_explain(model, X64, references64, targets, torch.float64,
                                 additional_nonlinear_ops)
    measurement.max_delta_float64 = float(explanation.deltas.abs().max())
    if captum is not None:
        ours = explanation.hypothetical_sum / references.shape[1]
        differences, deltas = [], []
        for index, target in enumerate(targets):
            result = captum_deeplift(model, X64, references64, target)
            differences.append(relative_difference(ours[index], result.hypothetical_mean))
            deltas.append(float(result.deltas.abs().max()))
        measurement.captum_relative_difference = max(differences)
        measurement.captum_max_delta = max(deltas)
    return measurement


def standard_inputs(length: int = LENGTH, n: int = 3, k: int = 4, seed: int = 0):
    """The inputs every zoo test uses: ``X (n, 4, length)`` and references ``(n, k, 4, length)``."""
    X = random_onehot(n, length, seed)
    return X, make_references(X, k, seed + 1)


def _large_models() -> list[tuple[str, Callable[[], nn.Module], int, list[int], str, bool]]:
    from seqlift.zoo import Beluga, BPNetStyle, CountWrapper, SmallCNN

    return [
        ("small_cnn_101bp", lambda: SmallCNN(seed=0).eval(), 101, [0, 1, 2], "broken", True),
        ("bpnet_style_counts", lambda: CountWrapper(BPNetStyle(seed=0)).eval(), 2114, [0],
         "match", True),
        ("beluga", lambda: Beluga(seed=0).eval(), 2000, [0, 1000], "broken", True),
    ]


def format_table(measurements: list[Measurement]) -> str:
    """Markdown table of measurements."""
    lines = [
        "| model | max abs delta f32 | max abs delta f64 | rel. diff vs Captum (f64) "
        "| Captum max abs delta (f64) | rel. diff vs tangermeme (f32) |",
        "|---|---|---|---|---|---|",
    ]
    for m in measurements:
        def cell(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.2e}"

        lines.append(
            f"| {m.name} | {cell(m.max_delta_float32)} | {cell(m.max_delta_float64)} | "
            f"{cell(m.captum_relative_difference)} | {cell(m.captum_max_delta)} | "
            f"{cell(m.tangermeme_relative_difference)} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """Print the accuracy table for every zoo model (``--large`` adds SmallCNN, bpnet, Beluga)."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    measurements = []
    X, references = standard_inputs()
    for entry in ZOO:
        targets = list(range(entry.n_outputs))
        measurements.append(
            measure(entry.name, entry.build, X, references, targets, entry.captum,
                    entry.tangermeme, entry.additional_nonlinear_ops)
        )
        print(format_table(measurements[-1:]).splitlines()[-1], flush=True)
    if "--large" in argv:
        for name, factory, length, targets, captum, tangermeme in _large_models():
            X_large, references_large = standard_inputs(length=length, n=2, k=2, seed=5)
            measurements.append(
                measure(name, factory, X_large, references_large, targets, captum, tangermeme)
            )
            print(format_table(measurements[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(measurements))


if __name__ == "__main__":
    main(sys.argv[1:])

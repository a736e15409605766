"""Tiny named models for the engine tests, and what each reference implementation makes of them.

Every model takes one-hot DNA ``(batch, 4, LENGTH)`` and returns ``(batch, n_outputs)``. Each
:class:`ZooEntry` records what the two reference implementations are expected to do with it:

- ``captum``: ``"match"`` where Captum 0.9's ``DeepLift`` has rules for every non-linear layer
  and gets them right, so ours must agree with it; ``"broken"`` where Captum treats a layer as
  linear, routes overlapping max-pool windows wrongly, or mis-handles a ReLU feeding a max-pool
  (then its convergence deltas are large and ours must not be); ``None`` where Captum cannot be
  run on the model at all.
- ``tangermeme``: whether tangermeme 1.6.0 has rules for every non-linear layer, so ours must
  agree with it.

The activation models are built from the rule registry: one :class:`ActivationNet` per
:class:`Activation` of every class in ``seqlift.rules.ELEMENTWISE_MODULES``, each with the
constructor arguments and input scale that reach every piece of its function, plus an in-place
twin wherever the class takes ``inplace``. A class added to the registry without an entry in
:data:`ACTIVATIONS` makes ``test_engine_zoo`` fail. :data:`LARGE` lists the full-size
architectures of ``seqlift.zoo``; :class:`LayoutNet` applies an activation to a permuted view.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from seqlift import rules

LENGTH = 24
N_OUTPUTS = 3


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


class PoolGridNet(nn.Module):
    """``conv ReLU`` then a 2d or 3d pool over the (channel, position) grid, ``Flatten Linear``.

    Parameters
    ----------
    pool : torch.nn.Module
        A 2d pool sees ``(batch, 1, 6, LENGTH)``, a 3d pool ``(batch, 1, 1, 6, LENGTH)``.
    """

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.pool = pool
        self.grid_axes = 2 if isinstance(pool, (nn.MaxPool3d, nn.AdaptiveMaxPool3d)) else 1
        with torch.no_grad():
            n_features = self.pool(torch.zeros(1, *[1] * self.grid_axes, 6, LENGTH)).numel()
        self.dense = nn.Linear(n_features, N_OUTPUTS)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        grid = self.relu(self.conv(X))
        for _ in range(self.grid_axes):
            grid = grid.unsqueeze(1)
        return self.dense(self.pool(grid).flatten(1))


class SoftmaxNet(nn.Module):
    """``conv ReLU Flatten Linear(->4) Softmax(dim=1)``: class probabilities per row.

    Parameters
    ----------
    softmax_class : type, default torch.nn.Softmax
        ``nn.Softmax`` or ``nn.LogSoftmax``.
    """

    def __init__(self, softmax_class: type[nn.Module] = nn.Softmax) -> None:
        super().__init__()
        self.conv = _conv_gain(nn.Conv1d(4, 5, kernel_size=5), 2.0)
        self.relu = nn.ReLU()
        self.dense = nn.Linear(5 * (LENGTH - 4), 4)
        self.softmax = softmax_class(dim=1)

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


class AsFunction(nn.Module):
    """Call an activation module's ``forward`` as a plain function, hidden from module hooks.

    The engine then meets the torch function that ``forward`` calls (``F.relu``,
    ``torch.sigmoid``, ``F.threshold``, ...), the *functional form* of the class. The activation
    follows this module's dtype, device and mode, and its parameters are frozen (a model's are,
    during attribution).
    """

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self._hidden = (activation,)  # a tuple, so that it is not a submodule
        activation.requires_grad_(False)

    @property
    def activation(self) -> nn.Module:
        return self._hidden[0]

    def _apply(self, fn, recurse=True):
        self.activation._apply(fn)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> AsFunction:
        self.activation.train(mode)
        return super().train(mode)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.activation.forward(X)


#: How :class:`LayoutNet` lays out the activation's input.
LAYOUTS = ("transposed", "batch_not_first", "channels_last_2d")


class LayoutNet(nn.Module):
    """``conv(4->6, k5) act conv(6->5, k3) Flatten Linear(->3)``, ``act`` on a permuted view.

    Parameters
    ----------
    activation : torch.nn.Module
        The element-wise activation (wrap it in :class:`AsFunction` for its functional form).
    layout : str
        ``"transposed"``: ``act(h.transpose(1, 2))``, ``(batch, length, channels)``;
        ``"batch_not_first"``: ``act(h.permute(2, 0, 1))``, ``(length, batch, channels)``, the
        batch on axis 1; ``"channels_last_2d"``: ``act`` on ``h`` as a ``(batch, 6, 4, 5)`` grid
        in ``torch.channels_last`` memory format. None of them is contiguous.
    gain : float
        Multiplier on the first convolution's weights (see :class:`ActivationNet`).
    """

    def __init__(self, activation: nn.Module, layout: str, gain: float = 6.0) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout = layout
        self.conv1 = _conv_gain(nn.Conv1d(4, 6, kernel_size=5), gain)
        self.act = activation
        self.conv2 = nn.Conv1d(6, 5, kernel_size=3)
        self.dense = nn.Linear(5 * (LENGTH - 6), N_OUTPUTS)

    def permuted(self, hidden: torch.Tensor) -> torch.Tensor:
        """The first convolution's output ``(batch, 6, LENGTH - 4)`` as the activation sees it."""
        if self.layout == "transposed":
            return hidden.transpose(1, 2)
        if self.layout == "batch_not_first":
            return hidden.permute(2, 0, 1)
        grid = hidden.reshape(hidden.shape[0], 6, 4, (LENGTH - 4) // 4)
        return grid.contiguous(memory_format=torch.channels_last)

    def restored(self, activated: torch.Tensor) -> torch.Tensor:
        """The activation's output back in ``(batch, 6, LENGTH - 4)`` order."""
        if self.layout == "transposed":
            return activated.transpose(1, 2)
        if self.layout == "batch_not_first":
            return activated.permute(1, 2, 0)
        return activated.reshape(activated.shape[0], 6, LENGTH - 4)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        hidden = self.restored(self.act(self.permuted(self.conv1(X))))
        return self.dense(self.conv2(hidden).flatten(1))


# -- the activations of the rule registry ------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """One way the zoo builds an element-wise class so that its inputs reach every piece of it.

    Attributes
    ----------
    name : str
        Test id (its in-place twin is ``name + "_inplace"``).
    cls : type
        The ``torch.nn`` class.
    kwargs : dict
        Constructor arguments (``Threshold(0.5, -1.0)``, ``Hardshrink(0.5)``, ...).
    breakpoints : tuple of float
        Inputs where the function changes piece (a kink, a jump, a saturation); for a smooth
        function, ``0.0``. The test models' pre-activations lie on both sides of each.
    gain : float
        Scale of the first convolution's weights in :class:`ActivationNet`, enough to reach the
        outermost breakpoint.
    initialise : callable, optional
        Called on the new module (PReLU's random per-channel slopes).
    """

    name: str
    cls: type[nn.Module]
    kwargs: dict = field(default_factory=dict, hash=False)
    breakpoints: tuple[float, ...] = (0.0,)
    gain: float = 6.0
    initialise: Callable[[nn.Module], None] | None = None

    @property
    def has_inplace(self) -> bool:
        """Whether the class takes ``inplace``."""
        return "inplace" in inspect.signature(self.cls).parameters

    def build(self, inplace: bool = False) -> nn.Module:
        """A new module (in place if asked and the class takes it)."""
        module = self.cls(**self.kwargs, **({"inplace": True} if inplace else {}))
        if self.initialise is not None:
            with torch.no_grad():
                self.initialise(module)
        return module


def _random_slopes(prelu: nn.Module) -> None:
    prelu.weight.uniform_(-0.5, 0.5)


#: For every element-wise class of the registry, the ways the zoo builds it. The first one of each
#: class works on any layout (PReLU's per-channel variant needs the channels on axis 1).
ACTIVATIONS: dict[type[nn.Module], tuple[Activation, ...]] = {
    nn.ReLU: (Activation("relu", nn.ReLU),),
    # 9: pre-activations past 6, ReLU6's upper kink.
    nn.ReLU6: (Activation("relu6", nn.ReLU6, breakpoints=(0.0, 6.0), gain=9.0),),
    nn.LeakyReLU: (Activation("leaky_relu", nn.LeakyReLU, {"negative_slope": 0.1}),),
    nn.PReLU: (
        Activation("prelu", nn.PReLU, {"init": -0.3}),
        Activation("prelu_per_channel", nn.PReLU, {"num_parameters": 6},
                   initialise=_random_slopes),
    ),
    # Evaluated, RReLU is a leaky ReLU of slope (lower + upper) / 2.
    nn.RReLU: (Activation("rrelu_eval", nn.RReLU),),
    nn.ELU: (Activation("elu", nn.ELU),),
    nn.SELU: (Activation("selu", nn.SELU),),
    nn.CELU: (Activation("celu", nn.CELU, {"alpha": 0.7}),),
    nn.GELU: (
        Activation("gelu", nn.GELU),
        Activation("gelu_tanh", nn.GELU, {"approximate": "tanh"}),
    ),
    nn.SiLU: (Activation("silu", nn.SiLU),),
    nn.Mish: (Activation("mish", nn.Mish),),
    nn.Sigmoid: (Activation("sigmoid", nn.Sigmoid),),
    nn.Tanh: (Activation("tanh", nn.Tanh),),
    nn.Softplus: (
        Activation("softplus", nn.Softplus),
        # Linear above beta * x > threshold: a jump of log1p(exp(-threshold)) at x = 2.
        Activation("softplus_threshold", nn.Softplus, {"beta": 1.0, "threshold": 2.0},
                   breakpoints=(2.0,)),
    ),
    nn.Softshrink: (Activation("softshrink", nn.Softshrink, {"lambd": 0.5},
                               breakpoints=(-0.5, 0.5)),),
    nn.Softsign: (Activation("softsign", nn.Softsign),),
    nn.Hardtanh: (Activation("hardtanh", nn.Hardtanh, breakpoints=(-1.0, 1.0)),),
    nn.Hardsigmoid: (Activation("hardsigmoid", nn.Hardsigmoid, breakpoints=(-3.0, 3.0),
                                gain=12.0),),
    nn.Hardswish: (Activation("hardswish", nn.Hardswish, breakpoints=(-3.0, 3.0), gain=9.0),),
    nn.Hardshrink: (Activation("hardshrink", nn.Hardshrink, {"lambd": 0.5},
                               breakpoints=(-0.5, 0.5)),),
    nn.LogSigmoid: (Activation("logsigmoid", nn.LogSigmoid),),
    nn.Tanhshrink: (Activation("tanhshrink", nn.Tanhshrink),),
    # x above 0.5, else -1: a jump of 1.5 at the threshold.
    nn.Threshold: (Activation("threshold", nn.Threshold, {"threshold": 0.5, "value": -1.0},
                              breakpoints=(0.5,)),),
}

#: Classes whose DeepLIFT rule tangermeme 1.6.0 has (``_build_nonlinear_ops``).
TANGERMEME_ACTIVATIONS = frozenset({
    nn.ReLU, nn.ReLU6, nn.RReLU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.ELU,
    nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softshrink, nn.LogSigmoid, nn.PReLU,
})
#: Classes whose DeepLIFT rule Captum 0.9 has (``SUPPORTED_NON_LINEAR``); it treats the other
#: element-wise classes as linear, so its deltas there are large.
CAPTUM_ACTIVATIONS = frozenset({nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus})


def rescaled_classes() -> tuple[type[nn.Module], ...]:
    """Every module class the registry explains with the rescale rule, in registry order."""
    registered = [cls for cls, rule in rules.DEFAULT_MODULE_RULES.items() if rule is rules.rescale]
    return tuple(dict.fromkeys([*rules.ELEMENTWISE_MODULES, *registered]))


def registry_activations() -> list[Activation]:
    """The :data:`ACTIVATIONS` of every rescaled class of the registry, in registry order."""
    return [activation for cls in rescaled_classes() for activation in ACTIVATIONS.get(cls, ())]


def layout_activations() -> list[Activation]:
    """One :class:`Activation` per rescaled class of the registry, each usable on any layout."""
    return [ACTIVATIONS[cls][0] for cls in rescaled_classes() if cls in ACTIVATIONS]


# -- the zoo -----------------------------------------------------------------------------------


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
    activation : Activation or None
        For the activation models, how their activation was built.
    """

    name: str
    build: Callable[[], nn.Module]
    captum: str | None
    tangermeme: bool
    length: int = LENGTH
    n_outputs: int = N_OUTPUTS
    additional_nonlinear_ops: dict | None = field(default=None, hash=False)
    activation: Activation | None = None


def seeded(factory: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    """A builder that calls ``factory`` under ``torch.manual_seed(seed)`` and returns it in eval mode."""

    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory()
        return model.eval()

    return build


def _activation_entries() -> list[ZooEntry]:
    entries = []
    for index, activation in enumerate(registry_activations()):
        # tangermeme 1.6.0 raises on in-place activations ("... is a view and is being modified
        # inplace"), so they are compared with Captum only.
        for inplace in (False, True) if activation.has_inplace else (False,):
            def make(activation=activation, inplace=inplace):
                return ActivationNet(lambda: activation.build(inplace), activation.gain)

            entries.append(ZooEntry(
                name=activation.name + ("_inplace" if inplace else ""),
                build=seeded(make, 100 + index),
                captum="match" if activation.cls in CAPTUM_ACTIVATIONS else "broken",
                tangermeme=activation.cls in TANGERMEME_ACTIVATIONS and not inplace,
                activation=activation,
            ))
    return entries


def _small_cnn() -> nn.Module:
    from seqlift.zoo import SmallCNN

    return SmallCNN(n_outputs=N_OUTPUTS, sequence_length=LENGTH, seed=0)


ZOO: list[ZooEntry] = [
    *_activation_entries(),
    ZooEntry("maxpool_after_conv", seeded(ConvPoolNet, 14), captum="match", tangermeme=True),
    ZooEntry(
        "maxpool_nonoverlap_pool_first",
        seeded(lambda: PoolNet(nn.MaxPool1d(2, 2), relu_first=False), 1),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_nonoverlap_relu_first",
        seeded(lambda: PoolNet(nn.MaxPool1d(2, 2)), 2),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_relu_dropout_pool",
        seeded(lambda: PoolNet(nn.MaxPool1d(3, 3), dropout_between=True), 3),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_overlap_k3_s1",
        seeded(lambda: PoolNet(nn.MaxPool1d(3, 1), relu_first=False), 4),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_overlap_padding",
        seeded(lambda: PoolNet(nn.MaxPool1d(3, 2, padding=1), relu_first=False), 5),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool_overlap_ceil_mode",
        # 24 positions, windows of 5 every 2: ceil mode adds a last partial window.
        seeded(lambda: PoolNet(nn.MaxPool1d(5, 2, ceil_mode=True), relu_first=False), 6),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool2d_overlap_padding",
        seeded(lambda: PoolGridNet(nn.MaxPool2d((2, 3), stride=(1, 2), padding=(0, 1))), 7),
        captum="broken",
        tangermeme=True,
    ),
    ZooEntry(
        "maxpool3d_overlap",
        seeded(lambda: PoolGridNet(nn.MaxPool3d((1, 2, 3), stride=(1, 1, 2))), 15),
        captum="broken",
        tangermeme=False,
    ),
    ZooEntry(
        "adaptive_maxpool1d",
        # 24 -> 7 windows of uneven size that overlap.
        seeded(lambda: PoolNet(nn.AdaptiveMaxPool1d(7), relu_first=False), 8),
        captum="broken",
        tangermeme=False,
    ),
    ZooEntry(
        "adaptive_maxpool2d",
        seeded(lambda: PoolGridNet(nn.AdaptiveMaxPool2d((4, 7))), 16),
        captum="broken",
        tangermeme=False,
    ),
    ZooEntry(
        "adaptive_maxpool3d",
        seeded(lambda: PoolGridNet(nn.AdaptiveMaxPool3d((1, 4, 7))), 17),
        captum="broken",
        tangermeme=False,
    ),
    ZooEntry("small_cnn", _small_cnn, captum="broken", tangermeme=True),
    # tangermeme's softmax rule is a different (also exact) split of the same change, so the
    # two disagree by design; ours is checked by summation and by the two-class hand case.
    ZooEntry("softmax_rows", seeded(SoftmaxNet, 9), captum="broken", tangermeme=False,
             n_outputs=4),
    ZooEntry("log_softmax_rows", seeded(lambda: SoftmaxNet(nn.LogSoftmax), 18),
             captum="broken", tangermeme=False, n_outputs=4),
    # Captum raises on a module called twice ("ensure that module is being used only once").
    ZooEntry("reused_relu", seeded(ReusedReLUNet, 10), captum=None, tangermeme=True),
    ZooEntry("functional_ops", seeded(FunctionalNet, 11), captum="broken", tangermeme=False),
    ZooEntry(
        "module_ops_exp_registered",
        seeded(ModuleNet, 11),
        captum=None,
        tangermeme=False,
        additional_nonlinear_ops={Exp: rules.rescale},
    ),
    ZooEntry(
        "two_heads_wrapped",
        seeded(lambda: SecondOutput(TwoHeadNet()), 12),
        captum="match",
        tangermeme=True,
    ),
    ZooEntry("batchnorm_dropout_eval", seeded(NormDropoutNet, 13), captum="match",
             tangermeme=True),
]

ZOO_BY_NAME = {entry.name: entry for entry in ZOO}


# -- full-size architectures -------------------------------------------------------------------


@dataclass(frozen=True)
class LargeEntry:
    """A full-size architecture of ``seqlift.zoo`` and the (small) inputs it is tested on.

    Attributes
    ----------
    name : str
        Test id.
    build : callable
        Returns the model in eval mode, seeded.
    length : int
        Input length.
    n_examples : int
        Examples; each gets two references.
    targets : list of int
        Outputs explained.
    captum : str
        ``"match"`` or ``"broken"`` (see the module docstring).
    """

    name: str
    build: Callable[[], nn.Module]
    length: int
    n_examples: int
    targets: list[int] = field(hash=False)
    captum: str


def _large_entries() -> list[LargeEntry]:
    from seqlift.zoo import Beluga, BPNetStyle, CountWrapper, SmallCNN

    # Inputs are kept to one or two sequences so this runs in CI on two cores.
    return [
        LargeEntry("small_cnn", lambda: SmallCNN(seed=0).eval(), 101, 2, [0, 1, 2], "broken"),
        LargeEntry("bpnet_style_counts", lambda: CountWrapper(BPNetStyle(seed=0)).eval(), 2114,
                   2, [0], "match"),
        LargeEntry("beluga", lambda: Beluga(seed=0).eval(), 2000, 1, [0, 1000], "broken"),
    ]


LARGE: list[LargeEntry] = _large_entries()
LARGE_BY_NAME = {entry.name: entry for entry in LARGE}

"""Reference architectures with seeded random weights, for testing and benchmarking attribution.

The models here are the shapes that genomics users actually bring to DeepLIFT/SHAP, built with
random (but reproducible) weights so that tests and benchmarks need no downloads:

- :class:`Beluga`: the public DeepSEA-Beluga architecture, 2000 bp in, 2002 sigmoid outputs.
- :class:`BPNetStyle`: a ChromBPNet/bpnet-style dilated residual network for 2114 bp input with a
  profile head and a count head; :class:`CountWrapper` exposes the count head as ``(batch, n)``.
- :class:`SmallCNN`: a small convolutional network with overlapping max-pooling (kernel larger
  than stride, with padding and with ``ceil_mode``), the case that naive max-pool rules get wrong.
- :class:`ConvTransformer`: a convolutional stem and a transformer encoder (Enformer's shape).
- :class:`DanQ`: convolution, max-pooling and a bidirectional LSTM (DanQ's shape).

Weights are drawn by :func:`seeded_init` under ``torch.manual_seed(seed)`` inside a forked random
state, so building a model never disturbs the caller's random stream.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BPNetStyle", "Beluga", "ConvTransformer", "CountWrapper", "DanQ", "SmallCNN",
           "seeded_init"]


def seeded_init(module: nn.Module, seed: int) -> nn.Module:
    """Draw every convolution and dense layer of ``module`` afresh under ``seed``.

    Weights are He-normal (fan-in, gain for ReLU) and biases are normal with standard deviation
    0.1. Attention projections are Xavier-uniform and recurrent layers take torch's own uniform
    initialisation, drawn under the seed too, so that every parameter is reproducible. PyTorch's default initialiser shrinks the signal at every layer, so a deep network such
    as Beluga ends up predicting nearly the same value for every sequence, and its attributions
    drown in rounding error; He scaling keeps the activations, and so the attributions, at a
    scale where a test can tell a right answer from a wrong one.

    Parameters
    ----------
    module : torch.nn.Module
        The model whose ``Conv1d``, ``Conv2d``, ``Linear``, ``MultiheadAttention`` and recurrent
        layers are re-drawn in place.
    seed : int
        Seed for the draw. The global torch random state is forked, so the caller's
        stream is left where it was.

    Returns
    -------
    torch.nn.Module
        ``module`` itself, for chaining.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for layer in module.modules():
                if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                    if layer.bias is not None:
                        nn.init.normal_(layer.bias, std=0.1)
                elif isinstance(layer, nn.MultiheadAttention) and layer.in_proj_weight is not None:
                    nn.init.xavier_uniform_(layer.in_proj_weight)
                    nn.init.normal_(layer.in_proj_bias, std=0.1)
                elif isinstance(layer, nn.RNNBase):
                    layer.reset_parameters()
    return module


class Beluga(nn.Module):
    """The public DeepSEA-Beluga architecture with seeded random weights.

    Six convolutions of kernel 8 in three blocks (320, 480, 640 filters) with ReLUs, dropout
    and two non-overlapping max-pools of 4, then two dense layers and a sigmoid. The published
    model stores its convolutions as ``Conv2d`` with ``(1, 8)`` kernels over an unsqueezed
    ``(batch, 4, 1, 2000)`` input; ``Conv1d`` over ``(batch, 4, 2000)`` is the same computation.

    Lengths: 2000 -> 1993 -> 1986 -> pool 496 -> 489 -> 482 -> pool 120 -> 113 -> 106, so the
    flattened feature vector has 640 * 106 = 67840 entries.

    Parameters
    ----------
    seed : int, default 0
        Seed for the random weights.

    Notes
    -----
    Input ``(batch, 4, 2000)``; output ``(batch, 2002)`` probabilities. The first dense layer
    alone holds 136 million weights (543 MB in float32).
    """

    sequence_length = 2000
    n_outputs = 2002

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(4, 320, kernel_size=8),
            nn.ReLU(),
            nn.Conv1d(320, 320, kernel_size=8),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.MaxPool1d(kernel_size=4, stride=4),
            nn.Conv1d(320, 480, kernel_size=8),
            nn.ReLU(),
            nn.Conv1d(480, 480, kernel_size=8),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.MaxPool1d(kernel_size=4, stride=4),
            nn.Conv1d(480, 640, kernel_size=8),
            nn.ReLU(),
            nn.Conv1d(640, 640, kernel_size=8),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Flatten(),
            nn.Linear(640 * 106, 2003),
            nn.ReLU(),
            nn.Linear(2003, 2002),
            nn.Sigmoid(),
        )
        seeded_init(self, seed)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Predict the 2002 chromatin profiles.

        Parameters
        ----------
        X : torch.Tensor
            One-hot sequences, shape ``(batch, 4, 2000)``.

        Returns
        -------
        torch.Tensor
            Probabilities, shape ``(batch, 2002)``.
        """
        return self.classifier(self.features(X))


def _crop_to(X: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop the last axis of ``X`` to ``length`` (ChromBPNet's residual crop)."""
    excess = X.shape[-1] - length
    left = excess // 2
    return X[..., left : left + length]


class BPNetStyle(nn.Module):
    """A ChromBPNet/bpnet-style dilated residual network with a profile and a count head.

    The trunk is an unpadded convolution of kernel 21 and ReLU, then ``n_layers`` unpadded
    convolutions of kernel 3 with dilations 2, 4, ..., 2**n_layers, each followed by a ReLU
    and added to the centre-cropped input of its layer (the residual crop of ChromBPNet). The
    profile head is an unpadded convolution of kernel 75; the count head averages the trunk
    over its whole length and applies a dense layer.

    With the defaults the lengths are 2114 -> 2094 (first conv) -> 1074 (after the dilated
    stack, which removes 2 * (2 + 4 + ... + 256) = 1020) -> 1000 (profile head).

    Parameters
    ----------
    n_filters : int, default 64
        Channels of the trunk.
    n_layers : int, default 8
        Number of dilated residual layers.
    n_outputs : int, default 1
        Number of profile tracks; the count head predicts one log-count per track.
    seed : int, default 0
        Seed for the random weights.

    Notes
    -----
    ``forward`` returns ``(profile, counts)`` with shapes ``(batch, n_outputs, out_length)``
    and ``(batch, n_outputs)``. Wrap in :class:`CountWrapper` to explain the counts.
    """

    sequence_length = 2114

    def __init__(
        self, n_filters: int = 64, n_layers: int = 8, n_outputs: int = 1, seed: int = 0
    ) -> None:
        super().__init__()
        self.n_filters = n_filters
        self.n_layers = n_layers
        self.n_outputs = n_outputs
        self.input_conv = nn.Conv1d(4, n_filters, kernel_size=21)
        self.input_relu = nn.ReLU()
        self.dilated_convs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, kernel_size=3, dilation=2**layer)
            for layer in range(1, n_layers + 1)
        )
        self.dilated_relus = nn.ModuleList(nn.ReLU() for _ in range(n_layers))
        self.profile_conv = nn.Conv1d(n_filters, n_outputs, kernel_size=75)
        self.count_dense = nn.Linear(n_filters, n_outputs)
        seeded_init(self, seed)
        # Each residual add would otherwise double the trunk's variance (2**8 over eight
        # layers); half-scale branches keep the log-counts near the range of a trained model.
        with torch.no_grad():
            for conv in self.dilated_convs:
                conv.weight.mul_(0.5)

    def output_length(self, input_length: int) -> int:
        """Length of the profile output for an input of ``input_length`` bases."""
        trunk = input_length - 20 - sum(2 * 2**layer for layer in range(1, self.n_layers + 1))
        return trunk - 74

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the profile logits and the log-counts.

        Parameters
        ----------
        X : torch.Tensor
            One-hot sequences, shape ``(batch, 4, length)``; 2114 for the standard model.

        Returns
        -------
        tuple of torch.Tensor
            Profile logits ``(batch, n_outputs, output_length(length))`` and log-counts
            ``(batch, n_outputs)``.
        """
        trunk = self.input_relu(self.input_conv(X))
        for conv, relu in zip(self.dilated_convs, self.dilated_relus, strict=True):
            update = relu(conv(trunk))
            trunk = _crop_to(trunk, update.shape[-1]) + update
        profile = self.profile_conv(trunk)
        counts = self.count_dense(trunk.mean(dim=-1))
        return profile, counts


class CountWrapper(nn.Module):
    """Expose the count head of a two-headed (profile, counts) model as ``(batch, n)``.

    Parameters
    ----------
    model : torch.nn.Module
        A model whose ``forward`` returns ``(profile, counts)``, such as :class:`BPNetStyle`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return the counts, shape ``(batch, n_outputs)``, for ``X`` of shape ``(batch, 4, L)``."""
        return self.model(X)[1]


class SmallCNN(nn.Module):
    """A small CNN whose max-pools overlap (kernel > stride), one padded and one in ceil mode.

    ``conv(4->8, k5, pad 2) ReLU MaxPool(3, stride 2, padding 1) conv(8->8, k3) ReLU
    MaxPool(4, stride 2, ceil_mode) Flatten Linear(->16) ReLU Linear(16->n_outputs)``.

    The default length of 101 is chosen so that ``ceil_mode`` matters: the second pool sees 49
    positions and makes 24 windows where floor mode would make 23, the last one partial.

    Parameters
    ----------
    n_outputs : int, default 3
        Number of outputs.
    sequence_length : int, default 101
        Input length the dense layer is sized for.
    seed : int, default 0
        Seed for the random weights.

    Notes
    -----
    Input ``(batch, 4, sequence_length)``; output ``(batch, n_outputs)``.
    """

    def __init__(self, n_outputs: int = 3, sequence_length: int = 101, seed: int = 0) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        self.n_outputs = n_outputs
        self.features = nn.Sequential(
            nn.Conv1d(4, 8, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(kernel_size=3, stride=2, padding=1),
            nn.Conv1d(8, 8, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool1d(kernel_size=4, stride=2, ceil_mode=True),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = self.features(torch.zeros(1, 4, sequence_length)).shape[1]
        self.head = nn.Sequential(
            nn.Linear(n_features, 16),
            nn.ReLU(),
            nn.Linear(16, n_outputs),
        )
        seeded_init(self, seed)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return ``(batch, n_outputs)`` for one-hot ``X`` of shape ``(batch, 4, sequence_length)``."""
        return self.head(self.features(X))


class ConvTransformer(nn.Module):
    """A convolutional stem and a transformer encoder: the shape of Enformer-style models.

    ``conv(4->d, k15, pad 7) GELU MaxPool(4) (L/4, d) -> TransformerEncoder(n_layers, n_heads,
    feed-forward 2d, pre-norm, GELU) -> mean over positions -> Linear(d->n_outputs)``.

    Parameters
    ----------
    n_outputs : int, default 3
        Number of outputs.
    sequence_length : int, default 200
        Input length (any length divisible by 4 works; the attribute documents the default).
    dim : int, default 32
        Channels of the stem and width of the transformer.
    n_heads, n_layers : int, default 4, 2
        Attention heads and encoder layers.
    seed : int, default 0
        Seed for the random weights.

    Notes
    -----
    Input ``(batch, 4, length)``; output ``(batch, n_outputs)``.
    """

    def __init__(self, n_outputs: int = 3, sequence_length: int = 200, dim: int = 32,
                 n_heads: int = 4, n_layers: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        self.n_outputs = n_outputs
        self.stem = nn.Sequential(nn.Conv1d(4, dim, kernel_size=15, padding=7), nn.GELU(),
                                  nn.MaxPool1d(4))
        layer = nn.TransformerEncoderLayer(dim, n_heads, 2 * dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, n_outputs)
        seeded_init(self, seed)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return ``(batch, n_outputs)`` for one-hot ``X`` of shape ``(batch, 4, length)``."""
        hidden = self.encoder(self.stem(X).transpose(1, 2))
        return self.head(hidden.mean(dim=1))


class DanQ(nn.Module):
    """A DanQ-style model: convolution, max-pooling, a bidirectional LSTM and a dense head.

    ``conv(4->d, k13) ReLU MaxPool(8) Dropout -> BiLSTM(d, hidden) -> flatten -> Linear(->32)
    ReLU Linear(32->n_outputs)``, after Quang & Xie (2016), scaled down.

    Parameters
    ----------
    n_outputs : int, default 3
        Number of outputs.
    sequence_length : int, default 200
        Input length the dense layer is sized for.
    channels, hidden : int, default 16, 8
        Convolution filters and LSTM hidden size per direction.
    seed : int, default 0
        Seed for the random weights.

    Notes
    -----
    Input ``(batch, 4, sequence_length)``; output ``(batch, n_outputs)``.
    """

    def __init__(self, n_outputs: int = 3, sequence_length: int = 200, channels: int = 16,
                 hidden: int = 8, seed: int = 0) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        self.n_outputs = n_outputs
        self.conv = nn.Sequential(nn.Conv1d(4, channels, kernel_size=13), nn.ReLU(),
                                  nn.MaxPool1d(8), nn.Dropout(0.2))
        self.lstm = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        steps = (sequence_length - 12) // 8
        self.head = nn.Sequential(nn.Linear(steps * 2 * hidden, 32), nn.ReLU(),
                                  nn.Linear(32, n_outputs))
        seeded_init(self, seed)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return ``(batch, n_outputs)`` for one-hot ``X`` of shape ``(batch, 4, length)``."""
        hidden, _ = self.lstm(self.conv(X).transpose(1, 2))
        return self.head(hidden.flatten(1))

"""Heads: small wrappers that turn a model's outputs into the ``(batch, n)`` that is explained.

Profile models (BPNet, ChromBPNet, their relatives) return a tuple ``(profile, counts)`` with a
profile of shape ``(batch, [strands,] length)``; seqlift explains one ``(batch, n_outputs)``
tensor. These wrappers select and reduce, without changing the model:

- :class:`SelectOutput`: one element of a tuple (or dict) output;
- :class:`Counts`: the total-count head, ``(batch, 1)``;
- :class:`ProfileContribution`: the BPNet profile contribution, one number per example;
- :class:`TargetHeads`: several of these from one forward pass, one column each (what the
  workflow builds from its ``targets:`` when they name heads).

Each wrapper passes extra positional arguments (a control track) on to the model, so
``deep_lift_shap(ProfileContribution(model), X, args=(X_ctl,))`` works as with bpnet-lite.

bpnet-lite's own wrappers (``bpnetlite.bpnet.ProfileWrapper``, ``CountWrapper``) need nothing:
seqlift recognises bpnet-lite's ``_ProfileLogitScaling``, ``_Log`` and ``_Exp`` layers and gives
them the rules that ``bpnetlite.attribute.deep_lift_shap`` registers, so a wrapped bpnet-lite
model gets bpnet-lite's numbers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["HEADS", "Counts", "ProfileContribution", "SelectOutput", "TargetHeads",
           "profile_contribution"]


def _select(outputs: Any, index: int | str) -> torch.Tensor:
    if isinstance(outputs, torch.Tensor):
        if index in (0, -1):
            return outputs
        raise IndexError(f"the model returned a single tensor; there is no output {index!r}")
    try:
        return outputs[index]
    except (IndexError, KeyError, TypeError) as error:
        available = list(outputs) if isinstance(outputs, dict) else f"0..{len(outputs) - 1}"
        raise IndexError(
            f"the model has no output {index!r} (its outputs: {available})"
        ) from error


class SelectOutput(nn.Module):
    """One output of a model that returns several: ``model(X, *args)[index]``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns a tuple, list or dict of tensors.
    index : int or str
        Which output (a position, or a key of a dict).
    """

    def __init__(self, model: nn.Module, index: int | str = 0):
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, X: torch.Tensor, *args: Any) -> torch.Tensor:
        """``(batch, ...)``: the selected output."""
        return _select(self.model(X, *args), self.index)


class Counts(SelectOutput):
    """The total-count head of a BPNet-style model, ``(batch, 1)``.

    This is the count output as bpnet-lite's ``CountWrapper`` (and ChromBPNet's count
    contribution scores) define it: the model's second output, the predicted log total count.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(profile, counts)``.
    index : int
        Position of the counts in the model's outputs (1 for BPNet and ChromBPNet).
    """

    def __init__(self, model: nn.Module, index: int = 1):
        super().__init__(model, index)

    def forward(self, X: torch.Tensor, *args: Any) -> torch.Tensor:
        """``(batch, 1)``: the counts output."""
        counts = super().forward(X, *args)
        return counts.reshape(counts.shape[0], -1)


def profile_contribution(logits: torch.Tensor) -> torch.Tensor:
    """The BPNet profile contribution of profile logits, ``(batch, 1)``.

    ``sum_i l_i * softmax(l)_i`` with ``l`` the logits of all strands and positions, flattened
    and mean-centred per example: the "weighted sum of mean-normalised logits" of the BPNet
    paper (Avsec et al. 2021) and of ChromBPNet's profile contribution scores, and the value of
    bpnet-lite's ``ProfileWrapper``.

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, [strands,] length)``.

    Returns
    -------
    torch.Tensor
        ``(batch, 1)``.
    """
    flat = logits.reshape(logits.shape[0], -1)
    centred = flat - flat.mean(dim=-1, keepdim=True)
    return (centred * torch.softmax(centred, dim=-1)).sum(dim=-1, keepdim=True)


class ProfileContribution(SelectOutput):
    """The BPNet profile contribution of a profile model, ``(batch, 1)``.

    The value is the published one (:func:`profile_contribution`). How its change is split
    differs between implementations: the BPNet and ChromBPNet code bases stop the gradient at the
    softmax (in their DeepSHAP runs the weights count as constants, so attributions do not sum
    to the change of this value), and bpnet-lite gives the whole product one element-wise
    rescale rule. seqlift explains the product of the centred logits with their softmax as it
    is written, with the midpoint rule for the product and the softmax rule for the weights, so
    the attributions sum to the change of the value exactly. To reproduce bpnet-lite's numbers,
    pass bpnet-lite's own ``ProfileWrapper(model)`` instead.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(profile_logits, counts)`` or profile logits alone.
    index : int
        Position of the profile logits in the model's outputs (0 for BPNet and ChromBPNet).
    """

    def forward(self, X: torch.Tensor, *args: Any) -> torch.Tensor:
        """``(batch, 1)``: the profile contribution."""
        return profile_contribution(super().forward(X, *args))


def _column(outputs: Any, head: str, output: int | str | None, index: int) -> torch.Tensor:
    """One target's column ``(batch,)`` from a model's outputs."""
    if head == "profile":
        return profile_contribution(_select(outputs, 0 if output is None else output))[:, 0]
    if head == "counts":
        counts = _select(outputs, 1 if output is None else output)
        return counts.reshape(counts.shape[0], -1)[:, index]
    selected = _select(outputs, 0 if output is None else output)
    return selected.reshape(selected.shape[0], -1)[:, index]


#: The heads a target can name: ``output`` (a column of one output), ``counts`` and ``profile``.
HEADS = ("output", "counts", "profile")


class TargetHeads(nn.Module):
    """Several targets of one model from one forward pass: ``(batch, n_targets)``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns a tensor, or a tuple/dict of tensors (``(profile, counts)`` for BPNet).
    targets : sequence of dict
        One per column: ``head`` (one of :data:`HEADS`, default ``"output"``), ``output`` (which
        of the model's outputs; default 0, or 1 for ``counts``) and ``index`` (the column of
        that output, flattened per example; default 0; not used by ``profile``).
    """

    def __init__(self, model: nn.Module, targets: list[dict]):
        super().__init__()
        self.model = model
        self.targets = [(t.get("head", "output"), t.get("output"), int(t.get("index", 0)))
                        for t in targets]
        unknown = sorted({head for head, _, _ in self.targets} - set(HEADS))
        if unknown:
            raise ValueError(f"unknown head(s) {unknown}: a target's head is one of {HEADS}")

    def forward(self, X: torch.Tensor, *args: Any) -> torch.Tensor:
        """``(batch, n_targets)``."""
        outputs = self.model(X, *args)
        return torch.stack([_column(outputs, *target) for target in self.targets], dim=1)

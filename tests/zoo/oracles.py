"""What the engine is measured against: Captum, tangermeme, and the model itself.

- :func:`captum_deeplift`: Captum 0.9's ``DeepLift`` multipliers for every pair, projected as the
  engine projects them, with Captum's own convergence deltas.
- :func:`tangermeme_hypothetical`: tangermeme 1.6.0's mean hypothetical attributions.
- :func:`independent_deltas`: summation errors recomputed from the model's outputs, without
  trusting the engine's own deltas.
- :func:`delta_tolerance` and :func:`relative_difference`: how close is close enough.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "CaptumResult",
    "captum_deeplift",
    "captum_multipliers",
    "delta_tolerance",
    "forward_outputs",
    "hypothetical_from_multipliers",
    "independent_deltas",
    "relative_difference",
    "tangermeme_hypothetical",
]


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

"""Print the engine's accuracy on every zoo model: summation deltas, distance to Captum and tangermeme.

For every model of ``tests/zoo/models.py`` (``ZOO``, and with ``--large`` the full-size
architectures of ``LARGE``): the largest ``|delta|`` in float32 and float64, the largest
difference from Captum's attributions relative to their scale (float64; where Captum has rules
for every layer), Captum's own largest ``|delta|``, and the largest relative difference from
tangermeme's (float32; where tangermeme has rules for every layer). The worst target is reported.

Usage::

    python benchmarks/zoo_accuracy.py [--large] [--formulation kernel|torch] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]
from common import markdown_table  # noqa: E402
from engine_helpers import engine_explain, standard_inputs  # noqa: E402
from zoo.models import LARGE, ZOO  # noqa: E402
from zoo.oracles import captum_deeplift, relative_difference, tangermeme_hypothetical  # noqa: E402

HEADERS = ["model", "max abs delta f32", "max abs delta f64", "rel. diff vs Captum (f64)",
           "Captum max abs delta (f64)", "rel. diff vs tangermeme (f32)"]


@dataclass
class Measurement:
    """Accuracy figures for one model (``nan`` where a comparison does not apply)."""

    name: str
    max_delta_float32: float = math.nan
    max_delta_float64: float = math.nan
    captum_relative_difference: float = math.nan
    captum_max_delta: float = math.nan
    tangermeme_relative_difference: float = math.nan

    def row(self) -> list[str]:
        """The measurement as a table row, ``n/a`` where a comparison does not apply."""
        values = (self.max_delta_float32, self.max_delta_float64,
                  self.captum_relative_difference, self.captum_max_delta,
                  self.tangermeme_relative_difference)
        return [self.name, *("n/a" if math.isnan(v) else f"{v:.2e}" for v in values)]


def measure(
    name: str,
    build: Callable[[], nn.Module],
    X: torch.Tensor,
    references: torch.Tensor,
    targets: list[int],
    captum: str | None,
    tangermeme: bool,
    additional_nonlinear_ops: dict | None = None,
    formulation: str = "kernel",
) -> Measurement:
    """Measure one model: engine deltas in both precisions, distance to Captum and tangermeme.

    tangermeme is compared in float32, the precision users run in: it falls back to the
    derivative below the same ``|Δx| < 1e-6`` as we do. Captum is compared in float64: its
    threshold is 1e-10, so in float32 it divides rounding noise by rounding noise wherever an
    example and a reference share a receptive field, and the comparison would measure that.
    """
    measurement = Measurement(name)
    model = build()
    explanation = engine_explain(model, X, references, targets, torch.float32,
                                 additional_nonlinear_ops, formulation=formulation)
    measurement.max_delta_float32 = float(explanation.deltas.abs().max())
    ours = explanation.hypothetical_sum / references.shape[1]
    if tangermeme:
        measurement.tangermeme_relative_difference = max(
            relative_difference(ours[index], tangermeme_hypothetical(model, X, references, target))
            for index, target in enumerate(targets)
        )
    del model, explanation
    model = build().double()
    X64, references64 = X.double(), references.double()
    explanation = engine_explain(model, X64, references64, targets, torch.float64,
                                 additional_nonlinear_ops, formulation=formulation)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true",
                        help="also SmallCNN (101 bp), a bpnet-style count head and Beluga")
    parser.add_argument("--formulation", choices=["kernel", "torch"], default="kernel",
                        help="how the CPU computes rescale multipliers (default: kernel)")
    parser.add_argument("--only", nargs="*", default=None, help="model names to measure")
    args = parser.parse_args(argv)

    def chosen(name: str) -> bool:
        return args.only is None or name in args.only

    measurements = []
    print(markdown_table(HEADERS, []), flush=True)
    X, references = standard_inputs()
    for entry in ZOO:
        if chosen(entry.name):
            measurements.append(measure(
                entry.name, entry.build, X, references, list(range(entry.n_outputs)),
                entry.captum, entry.tangermeme, entry.additional_nonlinear_ops, args.formulation))
            print(markdown_table(HEADERS, [measurements[-1].row()]).splitlines()[-1], flush=True)
    for entry in LARGE if args.large else []:
        if chosen(entry.name):
            X_large, references_large = standard_inputs(length=entry.length, n=entry.n_examples,
                                                        k=2, seed=5)
            measurements.append(measure(
                entry.name, entry.build, X_large, references_large, entry.targets, entry.captum,
                True, formulation=args.formulation))
            print(markdown_table(HEADERS, [measurements[-1].row()]).splitlines()[-1], flush=True)
    print()
    print(markdown_table(HEADERS, [m.row() for m in measurements]))


if __name__ == "__main__":
    main()

"""Stage ``plots``: the figures of an ``attributions.zarr`` store for the workflow report.

The rule's function is :func:`draw_figures` (every figure of the run in one job):

- :func:`plot_top_logos` -- sequence logos of the top regions of a target, ranked by total
  ``|projected|`` score, each zoomed to its highest-scoring window.
- :func:`plot_delta_histogram` -- the distribution of ``|delta|`` per target on a log axis, with the
  QC threshold.
- :func:`plot_mean_profile` -- mean ``|projected|`` score against position relative to the region
  centre, one line per target.
- :func:`plot_motif_recovery` -- the auROC table of :func:`seqlift.pipeline.qc.motif_recovery` as
  a heatmap.

Figures are drawn on :class:`matplotlib.figure.Figure` objects, which save through the Agg
renderer whatever pyplot's backend is; pyplot's global state is never touched (nor the caller's
backend switched), so these run in workers without a display and in notebooks alike.
Positions are relative to the centre base at index ``length // 2`` (the summit for summit-centred
windows, see :mod:`seqlift.pipeline.regions`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from seqlift.pipeline.storage import (
    iter_target_blocks,
    open_store,
    projected_scores,
    read_region_table,
    read_target_block,
    resolve_target,
    target_names,
)
from seqlift.plot import plot_logo

PathLike = str | os.PathLike

__all__ = [
    "draw_figures",
    "plot_top_logos",
    "plot_delta_histogram",
    "plot_mean_profile",
    "plot_motif_recovery",
    "rank_regions",
    "best_window",
]

_DPI = 150


def rank_regions(attributions_zarr: PathLike, target: str | int) -> tuple[np.ndarray, np.ndarray]:
    """Region indices sorted by total ``|projected|`` score (highest first), and the totals.

    Returns
    -------
    order : np.ndarray
        ``(n,)`` int64 region indices; equal totals keep store order.
    totals : np.ndarray
        ``(n,)`` float64, ``sum over positions of |projected score|``, in store order.
    """
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    totals = np.zeros(group["onehot"].shape[0], dtype=np.float64)
    for first, onehot, hypothetical in iter_target_blocks(group, name):
        block = np.abs(projected_scores(hypothetical, onehot)).sum(axis=-1, dtype=np.float64)
        totals[first : first + block.shape[0]] = block
    order = np.argsort(-totals, kind="stable")
    return order, totals


def best_window(scores: np.ndarray, width: int) -> int:
    """Start of the ``width``-base window to show for ``scores`` ``(length,)``.

    First the window with the highest total ``|scores|`` is found (ties to the one whose middle
    is nearest the centre of ``scores``). Near-equal windows are common, since any window that
    holds the whole motif scores about the same, so the shown window is then re-centred on the
    ``|score|``-weighted mean position inside that best window (clipped to the sequence): the
    motif ends up in the middle of the logo rather than against its edge. When ``width >=
    length`` the whole sequence is shown (start 0).
    """
    length = scores.shape[-1]
    if width >= length:
        return 0
    magnitude = np.abs(np.asarray(scores, dtype=np.float64))
    cumulative = np.concatenate([[0.0], np.cumsum(magnitude)])
    window_totals = cumulative[width:] - cumulative[:-width]
    candidates = np.flatnonzero(window_totals == window_totals.max())
    first = int(candidates[np.argmin(np.abs(2 * candidates + width - length))])
    weights = magnitude[first : first + width]
    if weights.sum() > 0:
        centre = float(np.dot(np.arange(first, first + width), weights) / weights.sum())
    else:
        centre = first + (width - 1) / 2
    start = math.floor(centre - (width - 1) / 2 + 0.5)
    return int(min(max(start, 0), length - width))


def plot_top_logos(
    attributions_zarr: PathLike,
    target: str | int,
    out_png: PathLike,
    n_top: int = 5,
    flank: int = 20,
) -> list[str]:
    """Draw logos of projected scores for the ``n_top`` regions with the highest total ``|score|``.

    Regions are ranked by ``sum over positions of |hypothetical x one-hot summed over bases|``
    (ties keep store order). Each logo zooms to ``2 * flank`` bases around the highest-scoring
    part of its region (see :func:`best_window`), labelled in bp relative to the region centre,
    so the motif driving the prediction is readable rather than squeezed into the full window.

    Returns
    -------
    list of str
        The ids of the regions drawn, best first.
    """
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    regions = read_region_table(group)
    order, totals = rank_regions(group, name)
    top = [int(index) for index in order[:n_top]]
    length = int(group["onehot"].shape[2])
    width = min(2 * flank, length)

    figure = Figure(figsize=(max(6.0, 0.22 * width + 1.5), 1.9 * max(len(top), 1) + 0.6))
    if not top:
        axis = figure.add_subplot()
        axis.text(0.5, 0.5, "no regions", ha="center", va="center")
        axis.set_axis_off()
    for row, index in enumerate(top):
        axis = figure.add_subplot(len(top), 1, row + 1)
        onehot, hypothetical = read_target_block(group, name, index, index + 1)
        contributions = hypothetical[0] * onehot[0].astype(np.float32)
        scores = contributions.sum(axis=0)
        start = best_window(scores, width)
        positions = np.arange(start, start + width) - length // 2
        _draw_logo(contributions[:, start : start + width], positions, axis)
        axis.set_title(
            f"#{row + 1} {regions.ids[index]}  {regions.chroms[index]}:{regions.starts[index]:,}-"
            f"{regions.ends[index]:,}  total |projected| = {totals[index]:.3g}",
            fontsize=9,
            loc="left",
        )
        axis.set_ylabel("projected\nattribution", fontsize=8)
    if top:
        figure.axes[-1].set_xlabel("position relative to region centre (bp)")
    figure.suptitle(f"{name}: top {len(top)} regions by total |projected attribution|")
    figure.tight_layout()
    _save(figure, out_png)
    return [regions.ids[index] for index in top]


def plot_delta_histogram(
    attributions_zarr: PathLike, out_png: PathLike, threshold: float | None = None, n_bins: int = 50
) -> dict[str, dict[str, object]]:
    """Histogram of ``|delta|`` over all regions and references, one step line per target.

    The x axis is logarithmic with ``n_bins`` log-spaced bins spanning all targets' non-zero
    ``|delta|``; exact zeros cannot sit on it and are counted in the legend instead. A dashed line
    marks ``threshold`` when given.

    Returns
    -------
    dict
        Per target: ``counts`` (``(n_bins,)`` int64), ``edges`` (``(n_bins + 1,)``), ``n_zero``
        and ``n_non_finite`` (left out of the histogram).
    """
    group = open_store(attributions_zarr)
    names = target_names(group)
    magnitudes = {name: np.abs(np.asarray(group[f"deltas/{name}"][:], dtype=np.float64)).ravel() for name in names}
    positive = np.concatenate(
        [values[np.isfinite(values) & (values > 0)] for values in magnitudes.values()] or [np.zeros(0)]
    )
    if positive.size:
        low = math.floor(math.log10(positive.min()))
        high = max(math.ceil(math.log10(positive.max())), low + 1)
    else:
        low, high = -8, 0
    if threshold is not None and threshold > 0:
        low = min(low, math.floor(math.log10(threshold)))
        high = max(high, math.ceil(math.log10(threshold)))
    edges = np.logspace(low, high, n_bins + 1)

    figure = Figure(figsize=(7, 4.2))
    axis = figure.add_subplot()
    histograms: dict[str, dict[str, object]] = {}
    for name, values in magnitudes.items():
        finite = values[np.isfinite(values)]
        counts, _ = np.histogram(finite[finite > 0], bins=edges)
        n_zero = int((finite == 0).sum())
        n_non_finite = int(values.size - finite.size)
        histograms[name] = {
            "counts": counts,
            "edges": edges,
            "n_zero": n_zero,
            "n_non_finite": n_non_finite,
        }
        label = f"{name} (n = {values.size:,}"
        label += f", {n_zero:,} exactly 0" if n_zero else ""
        label += f", {n_non_finite:,} non-finite" if n_non_finite else ""
        axis.stairs(counts, edges, label=label + ")", linewidth=1.5)
    if threshold is not None:
        axis.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axis.set_xscale("log")
    axis.set_xlabel("|delta| = |f(x) - f(r) - sum of contributions|")
    axis.set_ylabel("region x reference pairs")
    axis.set_title("DeepLIFT convergence deltas")
    axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, out_png)
    return histograms


def plot_mean_profile(attributions_zarr: PathLike, out_png: PathLike) -> dict[str, np.ndarray]:
    """Mean ``|projected|`` score over regions at each position, one line per target.

    Returns
    -------
    dict
        Per target, the ``(length,)`` float64 profile; index ``i`` is position ``i - length // 2``.
    """
    group = open_store(attributions_zarr)
    n_regions, _, length = group["onehot"].shape
    positions = np.arange(length) - length // 2
    profiles: dict[str, np.ndarray] = {}
    figure = Figure(figsize=(7, 4))
    axis = figure.add_subplot()
    for name in target_names(group):
        total = np.zeros(length, dtype=np.float64)
        for _, onehot, hypothetical in iter_target_blocks(group, name):
            total += np.abs(projected_scores(hypothetical, onehot)).sum(axis=0, dtype=np.float64)
        profiles[name] = total / max(n_regions, 1)
        axis.plot(positions, profiles[name], label=name, linewidth=1.2)
    axis.set_xlabel("position relative to region centre (bp)")
    axis.set_ylabel("mean |projected attribution|")
    axis.set_title(f"Mean |attribution| around the centre ({n_regions:,} regions)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, out_png)
    return profiles


def plot_motif_recovery(motif_recovery_json: PathLike, out_png: PathLike) -> np.ndarray:
    """Heatmap of motif-recovery auROC, targets (rows) by motif names (columns, then ``any``).

    Returns
    -------
    np.ndarray
        ``(n_targets, n_motifs + 1)`` auROC values as drawn (NaN where undefined).
    """
    result = json.loads(Path(motif_recovery_json).read_text())
    targets = list(result["targets"])
    motifs = [*result["motif_names"], "any"]
    values = np.array(
        [
            [_nan_if_none(result["targets"][target][motif]["auroc"]) for motif in motifs]
            for target in targets
        ],
        dtype=np.float64,
    ).reshape(len(targets), len(motifs))
    figure = Figure(figsize=(1.3 * len(motifs) + 2.5, 0.7 * len(targets) + 1.8))
    axis = figure.add_subplot()
    image = axis.imshow(values, vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
    for row, column in np.ndindex(values.shape):
        value = values[row, column]
        text = "n/a" if math.isnan(value) else f"{value:.3f}"
        axis.text(column, row, text, ha="center", va="center", color="white" if value < 0.8 else "black")
    axis.set_xticks(range(len(motifs)), motifs)
    axis.set_yticks(range(len(targets)), targets)
    axis.set_xlabel("planted motif")
    axis.set_ylabel("target")
    axis.set_title("Motif recovery: auROC of per-base |projected|\ninside planted motifs vs outside")
    figure.colorbar(image, ax=axis, label="auROC")
    figure.tight_layout()
    _save(figure, out_png)
    return values


def _draw_logo(contributions: np.ndarray, positions: np.ndarray, axis) -> None:
    """Draw a ``(4, width)`` logo on ``axis``, x ticks labelled with ``positions``.

    :func:`seqlift.plot.plot_logo` draws position ``i`` of the array it is given at x = ``i``;
    the tick labels add the window's offset.
    """
    plot_logo(contributions, ax=axis)
    offset = int(positions[0])
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(round(x)) + offset}"))
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.spines[["top", "right"]].set_visible(False)
    axis.tick_params(labelsize=8)


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _save(figure: Figure, out_png: PathLike) -> None:
    path = Path(out_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)


def draw_figures(
    attributions_zarr: PathLike,
    logos: Mapping[str, PathLike],
    delta_histogram: PathLike,
    mean_profile: PathLike,
    threshold: float,
    n_top: int = 5,
    flank: int = 20,
    motif_recovery_json: PathLike | None = None,
    motif_recovery: PathLike | None = None,
) -> None:
    """Rule ``plots``: every figure of the run, in one process.

    Parameters
    ----------
    logos : mapping
        Target name -> PNG of its top regions' logos (:func:`plot_top_logos`).
    delta_histogram, mean_profile : path
        PNGs of :func:`plot_delta_histogram` (with the QC ``threshold``) and
        :func:`plot_mean_profile`.
    n_top, flank : int
        Logos per target, and half the width of each.
    motif_recovery_json, motif_recovery : path, optional
        The motif-recovery QC result and the PNG of its heatmap; both or neither.
    """
    if (motif_recovery_json is None) != (motif_recovery is None):
        raise ValueError("give both motif_recovery_json and motif_recovery, or neither")
    for target, out_png in logos.items():
        plot_top_logos(attributions_zarr, target, out_png, n_top=n_top, flank=flank)
    plot_delta_histogram(attributions_zarr, delta_histogram, threshold=threshold)
    plot_mean_profile(attributions_zarr, mean_profile)
    if motif_recovery is not None:
        plot_motif_recovery(motif_recovery_json, motif_recovery)

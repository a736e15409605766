"""Stage ``qc``: convergence deltas of an ``attributions.zarr`` store, and motif recovery.

The rule's function is :func:`run_qc` (all targets in one job).

Convergence
-----------
DeepLIFT's summation-to-delta property says that, for each reference ``r``, the contributions add
up to ``f(x) - f(r)``. The store keeps the signed residual ``delta = f(x) - f(r) - sum((x - r) *
m)`` per region and reference (``deltas/<target>``, ``(n, n_references)``). Per region we report

- ``max_abs_delta``: ``max_k |delta_k|`` over the region's references;
- ``relative_delta``: ``max_k |delta_k| / max(|f(x) - f(r_k)|, eps)`` when the store has the
  per-reference predictions ``predictions/<target>/reference`` ``(n, n_references)``; otherwise
  ``max_k |delta_k| / max(|f(x) - mean_k f(r_k)|, eps)``. ``summary.json`` records which basis
  was used. A small residual relative to a tiny ``f(x) - f(r)`` can still be large: that is why
  the relative threshold is optional.

A region is flagged when ``max_abs_delta > threshold``, when ``relative_delta >
relative_threshold`` (if given), or when any of its deltas is not finite.

Motif recovery
--------------
For data with known planted motifs (the demo), :func:`motif_recovery` scores how well per-base
``|projected score|`` separates bases inside planted instances from bases outside every planted
instance, as an auROC per target and motif name.

Motifs
------
With the motifs stage on, ``summary.json`` also records, per target, what
:func:`seqlift.pipeline.motifs.summarize_outcomes` reads from its ``motifs/<target>/matches.json``:
whether TF-MoDISco ran or was skipped (and why), the leading pattern (most seqlets), its seqlet
count and its top TOMTOM match (JASPAR id, name, q-value). QC runs without motifs as well.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr

from seqlift._utils import LISTED, listing
from seqlift.errors import InputError, SeqliftError
from seqlift.pipeline.motifs import summarize_outcomes
from seqlift.pipeline.regions import read_bed
from seqlift.pipeline.storage import (
    RegionStore,
    atomic_file,
    iter_target_blocks,
    open_store,
    projected_scores,
    read_region_table,
    resolve_target,
    target_names,
    write_json,
)

PathLike = str | os.PathLike

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "TSV_COLUMNS",
    "convergence_table",
    "convergence_qc",
    "auroc",
    "motif_recovery",
    "run_qc",
]

TSV_COLUMNS = ("id", "chrom", "start", "end", "max_abs_delta", "relative_delta", "flagged", "reason")

logger = logging.getLogger(__name__)

# Flagged regions listed per target in summary.json, as many as a message names; the tsv has
# them all.
_REGIONS_LISTED = LISTED


class ConvergenceError(SeqliftError):
    """Some regions' convergence deltas exceed the threshold and ``on_failure="fail"``."""


class ConvergenceWarning(UserWarning):
    """Some regions' convergence deltas exceed the threshold and ``on_failure="warn"``."""


def convergence_table(
    attributions_zarr: PathLike | zarr.Group,
    target: str | int,
    threshold: float,
    relative_threshold: float | None = None,
    eps: float = 1e-8,
) -> list[dict[str, Any]]:
    """Per-region convergence rows of one target (see the module docstring for definitions).

    Returns
    -------
    list of dict
        One dict per region, in store order, with the keys of :data:`TSV_COLUMNS`: ``id``,
        ``chrom``, ``start``, ``end``, ``max_abs_delta`` (float), ``relative_delta`` (float),
        ``flagged`` (bool) and ``reason`` (``"absolute"``, ``"relative"``, ``"non-finite"``,
        comma-joined, or ``""``).
    """
    rows, _ = _convergence_rows(attributions_zarr, target, threshold, relative_threshold, eps)
    return rows


def _convergence_rows(
    attributions_zarr: PathLike | zarr.Group,
    target: str | int,
    threshold: float,
    relative_threshold: float | None,
    eps: float,
) -> tuple[list[dict[str, Any]], str]:
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    regions = read_region_table(group)
    max_abs_delta, relative_delta, basis = _region_deltas(group, name, eps)
    rows = []
    for index in range(len(regions)):
        reasons = []
        if not math.isfinite(max_abs_delta[index]):
            reasons.append("non-finite")
        elif max_abs_delta[index] > threshold:
            reasons.append("absolute")
        if relative_threshold is not None and relative_delta[index] > relative_threshold:
            reasons.append("relative")
        rows.append(
            {
                "id": regions.ids[index],
                "chrom": regions.chroms[index],
                "start": int(regions.starts[index]),
                "end": int(regions.ends[index]),
                "max_abs_delta": float(max_abs_delta[index]),
                "relative_delta": float(relative_delta[index]),
                "flagged": bool(reasons),
                "reason": ",".join(reasons),
            }
        )
    return rows, basis


def convergence_qc(
    attributions_zarr: PathLike,
    out_dir: PathLike,
    threshold: float,
    relative_threshold: float | None = None,
    on_failure: Literal["warn", "fail"] = "warn",
    eps: float = 1e-8,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``out_dir/convergence_<target>.tsv`` for every target and ``out_dir/summary.json``.

    Parameters
    ----------
    attributions_zarr : path
        The aggregated store.
    out_dir : path
        The QC folder (``results/<name>/qc``); created if missing.
    threshold : float
        A region is flagged when its max ``|delta|`` is above this.
    relative_threshold : float, optional
        Also flag regions whose ``relative_delta`` is above this.
    on_failure : {"warn", "fail"}
        What to do when any region is flagged, after every file is written: issue a
        :class:`ConvergenceWarning`, or raise :class:`ConvergenceError` naming the targets and
        regions.
    eps : float
        Floor of ``|f(x) - f(r)|`` in the relative delta.
    extra : dict, optional
        More sections of ``summary.json`` (``motifs``), written with it.

    Returns
    -------
    dict
        The content of ``summary.json``: ``status`` (``"pass"``, ``"warn"`` or ``"fail"``),
        the thresholds, and per target ``n_regions``, ``n_flagged``, ``max_abs_delta`` (over all
        regions and references), ``median_abs_delta`` (median over all regions and references),
        ``median_region_max_abs_delta``, ``relative_delta_basis``, ``status`` and the first
        flagged region ids.
    """
    if on_failure not in ("warn", "fail"):
        raise InputError(f"qc on_failure must be 'warn' or 'fail', got {on_failure!r}.")
    if not threshold >= 0:
        raise InputError(f"qc threshold must be a number >= 0, got {threshold!r}.")
    group = open_store(attributions_zarr)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    failed_status = "fail" if on_failure == "fail" else "warn"
    summary: dict[str, Any] = {
        "threshold": threshold,
        "relative_threshold": relative_threshold,
        "on_failure": on_failure,
        "eps": eps,
        "targets": {},
    }
    problems = []
    for name in target_names(group):
        rows, basis = _convergence_rows(group, name, threshold, relative_threshold, eps)
        tsv_path = out_dir / f"convergence_{name}.tsv"
        _write_tsv(tsv_path, rows)
        all_abs = np.abs(np.asarray(group[f"deltas/{name}"][:], dtype=np.float64))
        flagged = [row for row in rows if row["flagged"]]
        region_max = np.array([row["max_abs_delta"] for row in rows], dtype=np.float64)
        summary["targets"][name] = {
            "n_regions": len(rows),
            "n_flagged": len(flagged),
            "max_abs_delta": _json_number(np.max(all_abs) if all_abs.size else math.nan),
            "median_abs_delta": _json_number(np.median(all_abs) if all_abs.size else math.nan),
            "median_region_max_abs_delta": _json_number(
                np.median(region_max) if region_max.size else math.nan
            ),
            "threshold": threshold,
            "relative_threshold": relative_threshold,
            "relative_delta_basis": basis,
            "status": failed_status if flagged else "pass",
            "flagged_regions": [row["id"] for row in flagged[:_REGIONS_LISTED]],
            "table": tsv_path.name,
        }
        logger.info(
            "convergence QC %s: %d of %d regions flagged, max |delta| %s -> %s",
            name, len(flagged), len(rows), summary["targets"][name]["max_abs_delta"], tsv_path,
        )
        if flagged:
            problems.append(_describe_flagged(name, rows, flagged, tsv_path, threshold))
    summary["status"] = failed_status if problems else "pass"
    summary |= extra or {}
    write_json(out_dir / "summary.json", summary)

    if problems:
        message = (
            "convergence QC: DeepLIFT deltas are too large for\n"
            + "\n".join(problems)
            + "\nLarge deltas usually mean a nonlinearity without a DeepLIFT rule, or float32 "
            "round-off on a deep model: check the model's layers, try dtype float64, or raise "
            "the qc threshold if the deltas are acceptable."
        )
        if on_failure == "fail":
            raise ConvergenceError(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return summary


def auroc(scores: np.ndarray, is_positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the labels ``is_positive``.

    Computed from ranks (the Mann-Whitney U statistic), with tied scores given their average rank
    so that a tie between a positive and a negative counts one half.

    Parameters
    ----------
    scores : np.ndarray
        Any shape; flattened.
    is_positive : np.ndarray
        Booleans, same size as ``scores``.

    Returns
    -------
    float
        The auROC, or NaN when there are no positives or no negatives.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    is_positive = np.asarray(is_positive, dtype=bool).ravel()
    if scores.shape != is_positive.shape:
        raise ValueError(f"{scores.size} scores but {is_positive.size} labels")
    if np.isnan(scores).any():
        raise ValueError("auroc: scores contain NaN")
    n_positive = int(is_positive.sum())
    n_negative = scores.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return math.nan
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    run_starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_scores)) + 1])
    run_ends = np.concatenate([run_starts[1:], [scores.size]])
    # 1-based ranks run_start + 1 .. run_end share their mean.
    average_ranks = (run_starts + run_ends + 1) / 2.0
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[order] = np.repeat(average_ranks, run_ends - run_starts)
    u_statistic = ranks[is_positive].sum() - n_positive * (n_positive + 1) / 2.0
    return float(u_statistic / (n_positive * n_negative))


def motif_recovery(
    attributions_zarr: PathLike, motifs_bed: PathLike, out_json: PathLike
) -> dict[str, Any]:
    """Score recovery of planted motifs: auROC of per-base ``|projected score|``, inside vs outside.

    Every base of every region is one observation (a base covered by two overlapping regions
    counts once per region). For target ``t`` and motif name ``m``, the positives are bases
    inside at least one planted instance named ``m``, the negatives are bases inside no planted
    instance of any name (so other motifs' bases are left out rather than counted as
    negatives); ``"any"`` pools every name. The score is ``|sum over bases of hypothetical x
    one-hot|``. A target whose name equals a motif name up to case and punctuation (target
    ``AP-1``, motif ``AP1``) gets a ``matched`` entry: the auROC of its own motif, which should
    be close to 1 for a model that learned it.

    Parameters
    ----------
    motifs_bed : path
        BED with at least 4 columns: chrom, start, end, motif name (0-based, half-open).
    out_json : path
        Where the result is written.

    Returns
    -------
    dict
        ``{"targets": {target: {motif: {"auroc", "n_inside", "n_outside"}}}, "matched":
        {target: auroc}, "motif_names": [...], "n_instances", "n_instances_in_regions"}``;
        an auROC is ``None`` where a motif has no base inside the regions.
    """
    group = open_store(attributions_zarr)
    regions = read_region_table(group)
    length = int(group["onehot"].shape[2])
    instances = _read_motif_instances(motifs_bed)
    motif_names = sorted({name for _, _, _, name in instances})

    inside = {name: np.zeros((len(regions), length), dtype=bool) for name in motif_names}
    n_in_regions = _mark_instances(instances, regions, length, inside)
    any_motif = np.zeros((len(regions), length), dtype=bool)
    for mask in inside.values():
        any_motif |= mask
    outside = ~any_motif

    result: dict[str, Any] = {
        "score": "|projected| = |sum over bases of hypothetical x onehot| per base",
        "negatives": "bases inside no planted motif instance",
        "motifs_bed": str(motifs_bed),
        "motif_names": motif_names,
        "n_instances": len(instances),
        "n_instances_in_regions": n_in_regions,
        "targets": {},
        "matched": {},
    }
    for target in target_names(group):
        scores = np.zeros((len(regions), length), dtype=np.float32)
        for first, onehot, hypothetical in iter_target_blocks(group, target):
            scores[first : first + onehot.shape[0]] = np.abs(projected_scores(hypothetical, onehot))
        per_motif = {}
        for name, mask in [*inside.items(), ("any", any_motif)]:
            per_motif[name] = _recovery_entry(scores, mask, outside)
        result["targets"][target] = per_motif
        matching = [name for name in motif_names if _same_name(name, target)]
        if len(matching) == 1:
            result["matched"][target] = per_motif[matching[0]]["auroc"]
    write_json(Path(out_json), result)
    logger.info("motif recovery auROC of matched motifs: %s -> %s", result["matched"], out_json)
    return result


def _same_name(motif_name: str, target_name: str) -> bool:
    """Names equal up to case and punctuation, so a target ``AP-1`` matches motif ``AP1``."""
    return _canonical_name(motif_name) == _canonical_name(target_name)


def _canonical_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _recovery_entry(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> dict:
    selected = positives | negatives
    value = auroc(scores[selected], positives[selected])
    return {
        "auroc": _json_number(value),
        "n_inside": int(positives.sum()),
        "n_outside": int(negatives.sum()),
    }


def _read_motif_instances(motifs_bed: PathLike) -> list[tuple[str, int, int, str]]:
    instances = []
    for record in read_bed(motifs_bed):
        if not record.name:
            raise InputError(
                f"{motifs_bed}:{record.source_line}: a motif instance needs a name in column 4 "
                "(chrom, start, end, name)."
            )
        instances.append((record.chrom, record.start, record.end, record.name))
    return instances


def _mark_instances(
    instances: Sequence[tuple[str, int, int, str]],
    regions: RegionStore,
    length: int,
    inside: dict[str, np.ndarray],
) -> int:
    """Set ``inside[name][region, offset]`` for bases of each instance; count instances hit."""
    by_chrom: dict[str, np.ndarray] = {}
    for chrom in set(regions.chroms):
        indices = np.array([i for i, c in enumerate(regions.chroms) if c == chrom], dtype=np.int64)
        by_chrom[chrom] = indices[np.argsort(regions.starts[indices], kind="stable")]
    n_in_regions = 0
    for chrom, start, end, name in instances:
        candidates = by_chrom.get(chrom)
        if candidates is None:
            continue
        starts = regions.starts[candidates]
        # All regions are `length` wide: they overlap [start, end) iff start - length < s < end.
        low = np.searchsorted(starts, start - length, side="right")
        high = np.searchsorted(starts, end, side="left")
        hit = False
        for index in candidates[low:high]:
            first = max(start, int(regions.starts[index])) - int(regions.starts[index])
            last = min(end, int(regions.ends[index])) - int(regions.starts[index])
            if first < last:
                inside[name][index, first:last] = True
                hit = True
        n_in_regions += hit
    return n_in_regions


def _region_deltas(group: zarr.Group, target: str, eps: float) -> tuple[np.ndarray, np.ndarray, str]:
    """``max_abs_delta`` ``(n,)``, ``relative_delta`` ``(n,)`` and the relative basis name."""
    deltas = np.asarray(group[f"deltas/{target}"][:], dtype=np.float64)
    if deltas.ndim != 2 or deltas.shape[1] == 0:
        raise InputError(
            f"deltas/{target} in the attributions store has shape {deltas.shape}; expected "
            "(n_regions, n_references) with at least one reference."
        )
    abs_deltas = np.abs(deltas)
    # np.max propagates NaN, so a region with any NaN delta reads as non-finite.
    max_abs_delta = abs_deltas.max(axis=1)
    predictions = group[f"predictions/{target}"]
    example = np.asarray(predictions["example"][:], dtype=np.float64)
    if "reference" in predictions:
        reference = np.asarray(predictions["reference"][:], dtype=np.float64)
        change = np.maximum(np.abs(example[:, None] - reference), eps)
        relative = (abs_deltas / change).max(axis=1)
        basis = "per_reference"
    else:
        reference_mean = np.asarray(predictions["reference_mean"][:], dtype=np.float64)
        relative = max_abs_delta / np.maximum(np.abs(example - reference_mean), eps)
        basis = "mean_reference"
    return max_abs_delta, relative, basis


def _describe_flagged(
    target: str, rows: list[dict], flagged: list[dict], tsv_path: Path, threshold: float
) -> str:
    named = listing(
        f"{row['id']} ({row['chrom']}:{row['start']}-{row['end']}, max |delta| "
        f"{row['max_abs_delta']:.3g}, {row['reason']})"
        for row in flagged
    )
    return (
        f"  target {target}: {len(flagged)} of {len(rows)} regions flagged (threshold "
        f"{threshold:g}): {named}; all rows in {tsv_path}"
    )


def _format_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Deltas are stored as float32: the shortest text that reads back as the same float32.
        return str(np.float32(value))
    return str(value)


def _write_tsv(path: Path, rows: list[dict[str, Any]]) -> None:
    lines = ["\t".join(TSV_COLUMNS)]
    lines += ["\t".join(_format_cell(row[column]) for column in TSV_COLUMNS) for row in rows]
    with atomic_file(path) as temporary:
        temporary.write_text("\n".join(lines) + "\n")


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None



def run_qc(
    attributions_zarr: PathLike,
    out_dir: PathLike,
    threshold: float,
    relative_threshold: float | None = None,
    on_failure: str = "warn",
    truth_bed: PathLike | None = None,
    motif_recovery_json: PathLike | None = None,
    motif_results: Sequence[PathLike] = (),
) -> dict[str, Any]:
    """Rule ``qc``: convergence QC of every target (:func:`convergence_qc`), then motif recovery.

    Writes ``out_dir/convergence_<target>.tsv`` and ``out_dir/summary.json``; with ``truth_bed``
    also ``motif_recovery_json`` (:func:`motif_recovery`). ``motif_results`` (every target's
    ``motifs/<target>/matches.json``, when the motifs stage ran) are summarised under
    ``summary["motifs"]`` (:func:`seqlift.pipeline.motifs.summarize_outcomes`), before the
    convergence verdict can stop the run.

    Returns
    -------
    dict
        The summary.
    """
    if (truth_bed is None) != (motif_recovery_json is None):
        raise ValueError("give both truth_bed and motif_recovery_json, or neither")
    motifs = summarize_outcomes(motif_results) if motif_results else None
    summary = convergence_qc(
        attributions_zarr=attributions_zarr,
        out_dir=out_dir,
        threshold=threshold,
        relative_threshold=relative_threshold,
        on_failure=on_failure,
        extra={"motifs": motifs} if motifs is not None else None,
    )
    if truth_bed is not None:
        motif_recovery(
            attributions_zarr=attributions_zarr, motifs_bed=truth_bed, out_json=motif_recovery_json
        )
    return summary

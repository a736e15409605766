"""Convergence QC tables, summary and failure modes; motif recovery auROC."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from helpers import write_attributions_store

from seqlift.pipeline.qc import (
    ConvergenceError,
    ConvergenceWarning,
    auroc,
    convergence_qc,
    convergence_table,
    motif_recovery,
)

REGIONS = [
    ("region_000000", "chr1", 0, 8),
    ("region_000001", "chr1", 20, 28),
    ("region_000002", "chr2", 5, 13),
]


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture
def delta_store(tmp_path: Path) -> Path:
    onehot = np.zeros((3, 4, 8), dtype=np.uint8)
    onehot[:, 0, :] = 1
    hypothetical = {"AP-1": np.zeros((3, 4, 8)), "CTCF": np.zeros((3, 4, 8))}
    deltas = {
        # Region 1 breaks the 0.01 threshold through its second reference (|-0.05|).
        "AP-1": np.array([[0.001, -0.002], [0.01, -0.05], [0.0, 0.004]]),
        "CTCF": np.array([[1e-4, 2e-4], [-3e-4, 1e-5], [5e-5, 0.0]]),
    }
    example = {"AP-1": np.array([2.0, 1.0, 0.5]), "CTCF": np.array([1.0, 1.0, 1.0])}
    reference_means = {"AP-1": np.array([1.5, 0.0, 0.5]), "CTCF": np.array([0.0, 0.5, 0.9])}
    return write_attributions_store(
        tmp_path / "attributions.zarr",
        onehot,
        hypothetical,
        REGIONS,
        deltas=deltas,
        example_predictions=example,
        reference_means=reference_means,
    )


def test_table_rows_match_hand_built_deltas(delta_store: Path) -> None:
    rows = convergence_table(delta_store, "AP-1", threshold=0.01)
    assert [row["id"] for row in rows] == ["region_000000", "region_000001", "region_000002"]
    assert [row["max_abs_delta"] for row in rows] == [
        float(np.float32(0.002)),
        float(np.float32(0.05)),
        float(np.float32(0.004)),
    ]
    # |f(x) - mean f(r)| = 0.5, 1.0 and 0 (floored at eps = 1e-8).
    assert rows[0]["relative_delta"] == pytest.approx(float(np.float32(0.002)) / 0.5, rel=1e-12)
    assert rows[1]["relative_delta"] == pytest.approx(float(np.float32(0.05)) / 1.0, rel=1e-12)
    assert rows[2]["relative_delta"] == pytest.approx(float(np.float32(0.004)) / 1e-8, rel=1e-12)
    assert [row["flagged"] for row in rows] == [False, True, False]
    assert rows[1]["reason"] == "absolute"
    assert (rows[1]["chrom"], rows[1]["start"], rows[1]["end"]) == ("chr1", 20, 28)


def test_threshold_is_strict(delta_store: Path) -> None:
    rows = convergence_table(delta_store, "AP-1", threshold=float(np.float32(0.05)))
    assert not any(row["flagged"] for row in rows)


def test_relative_threshold_flags_small_delta_over_tiny_change(delta_store: Path) -> None:
    rows = convergence_table(delta_store, "AP-1", threshold=1.0, relative_threshold=0.01)
    # Region 0: 0.002 / 0.5 = 0.004; region 1: 0.05 / 1 = 0.05; region 2: 0.004 / 1e-8.
    assert [row["flagged"] for row in rows] == [False, True, True]
    assert [row["reason"] for row in rows] == ["", "relative", "relative"]


def test_relative_delta_uses_per_reference_predictions_when_stored(delta_store: Path) -> None:
    group = zarr.open_group(str(delta_store), mode="r+")
    # f(x) = 2 for region 0; f(r) = 1.9 and 1.0 -> per-reference changes 0.1 and 1.0.
    reference = np.array([[1.9, 1.0], [0.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    group.create_array("predictions/AP-1/reference", data=reference)
    rows = convergence_table(delta_store, "AP-1", threshold=1.0)
    change = np.abs(np.float32(2.0) - reference[0].astype(np.float64))
    expected = max(float(np.float32(0.001)) / change[0], float(np.float32(0.002)) / change[1])
    assert rows[0]["relative_delta"] == pytest.approx(expected, rel=1e-12)


def test_qc_writes_tsv_and_summary_with_flags(delta_store: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "qc"
    with pytest.warns(ConvergenceWarning, match="target AP-1: 1 of 3 regions flagged"):
        summary = convergence_qc(delta_store, out_dir, threshold=0.01)

    rows = read_tsv(out_dir / "convergence_AP-1.tsv")
    assert list(rows[0]) == [
        "id", "chrom", "start", "end", "max_abs_delta", "relative_delta", "flagged", "reason"
    ]
    assert [row["flagged"] for row in rows] == ["false", "true", "false"]
    assert [np.float32(row["max_abs_delta"]) for row in rows] == [
        np.float32(0.002), np.float32(0.05), np.float32(0.004)
    ]
    assert rows[1]["max_abs_delta"] == "0.05"
    assert read_tsv(out_dir / "convergence_CTCF.tsv")[1]["max_abs_delta"] == "0.0003"

    on_disk = json.loads((out_dir / "summary.json").read_text())
    assert on_disk == summary
    assert summary["status"] == "warn"
    ap1 = summary["targets"]["AP-1"]
    assert (ap1["n_regions"], ap1["n_flagged"], ap1["status"]) == (3, 1, "warn")
    assert ap1["flagged_regions"] == ["region_000001"]
    assert ap1["max_abs_delta"] == float(np.float32(0.05))
    # Median of the six |delta|s 0, 0.001, 0.002, 0.004, 0.01, 0.05.
    assert ap1["median_abs_delta"] == (float(np.float32(0.002)) + float(np.float32(0.004))) / 2
    assert ap1["median_region_max_abs_delta"] == float(np.float32(0.004))
    assert ap1["relative_delta_basis"] == "mean_reference"
    ctcf = summary["targets"]["CTCF"]
    assert (ctcf["n_flagged"], ctcf["status"]) == (0, "pass")


def test_qc_passes_silently_under_a_loose_threshold(delta_store: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = convergence_qc(delta_store, tmp_path / "qc", threshold=0.1, on_failure="fail")
    assert summary["status"] == "pass"
    assert [t["status"] for t in summary["targets"].values()] == ["pass", "pass"]


def test_fail_mode_names_target_and_region_and_still_writes_files(
    delta_store: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "qc"
    with pytest.raises(ConvergenceError) as caught:
        convergence_qc(delta_store, out_dir, threshold=0.01, on_failure="fail")
    message = str(caught.value)
    assert "target AP-1" in message and "region_000001 (chr1:20-28" in message
    assert "CTCF" not in message
    assert read_tsv(out_dir / "convergence_AP-1.tsv")[1]["flagged"] == "true"
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["status"] == "fail" and summary["targets"]["AP-1"]["status"] == "fail"


def test_nan_delta_is_flagged_non_finite(tmp_path: Path) -> None:
    onehot = np.zeros((2, 4, 8), dtype=np.uint8)
    path = write_attributions_store(
        tmp_path / "n.zarr",
        onehot,
        {"t": np.zeros((2, 4, 8))},
        REGIONS[:2],
        deltas={"t": np.array([[np.nan, 0.0], [0.0, 0.0]])},
    )
    with pytest.raises(ConvergenceError, match="region_000000 .*non-finite"):
        convergence_qc(path, tmp_path / "qc", threshold=1.0, on_failure="fail")
    summary = json.loads((tmp_path / "qc" / "summary.json").read_text())
    assert summary["targets"]["t"]["max_abs_delta"] is None
    assert read_tsv(tmp_path / "qc" / "convergence_t.tsv")[0]["max_abs_delta"] == "nan"


def test_unknown_on_failure_is_rejected(delta_store: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'warn' or 'fail'"):
        convergence_qc(delta_store, tmp_path / "qc", threshold=0.1, on_failure="ignore")


def test_auroc_of_hand_computed_case() -> None:
    # Positives 0.8, 0.4; negatives 0.6, 0.4, 0.1. Pairs won: 0.8 beats all 3; 0.4 beats 0.1,
    # ties 0.4 (one half), loses to 0.6: (3 + 1.5) / 6 = 0.75.
    scores = np.array([0.8, 0.6, 0.4, 0.4, 0.1])
    labels = np.array([True, False, True, False, False])
    assert auroc(scores, labels) == 0.75


def test_auroc_counts_each_tie_between_a_positive_and_a_negative_as_one_half() -> None:
    # Positives 0.9, 0.4; negatives 0.4, 0.1: 0.9 wins both, 0.4 ties one and wins one.
    labels = np.array([True, True, False, False])
    assert auroc(np.array([0.9, 0.4, 0.4, 0.1]), labels) == 0.875
    assert auroc(np.array([0.1, 0.2, 0.3, 0.4]), labels) == 0.0


def test_auroc_perfect_inverted_and_uninformative() -> None:
    labels = np.array([False, False, True, True])
    assert auroc(np.array([0.1, 0.2, 0.3, 0.4]), labels) == 1.0
    assert auroc(np.array([0.4, 0.3, 0.2, 0.1]), labels) == 0.0
    assert auroc(np.ones(4), labels) == 0.5
    assert math.isnan(auroc(np.ones(3), np.zeros(3, dtype=bool)))


def test_auroc_of_random_scores_is_near_one_half() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200_000)
    labels = rng.random(200_000) < 0.3
    # The standard error of the auROC here is about 0.0014.
    assert abs(auroc(scores, labels) - 0.5) < 0.006


def test_motif_recovery_scores_planted_instances(tmp_path: Path) -> None:
    # Two 10 bp regions on chr1 at [100, 110) and [200, 210).
    onehot = np.zeros((2, 4, 10), dtype=np.uint8)
    onehot[:, 2, :] = 1  # all G: projected = hypothetical channel 2
    ap1 = np.zeros((2, 4, 10), dtype=np.float32)
    ap1[:, 2, :] = 0.1
    ap1[0, 2, 2:5] = -3.0  # |score| counts, so negative scores inside the motif still rank high
    ap1[1, 2, 6] = 2.0  # a high base outside any motif: one pair lost per inside base
    gata = np.zeros((2, 4, 10), dtype=np.float32)
    gata[1, 2, 7:10] = 5.0
    gata[0, 0, 2:5] = 9.0  # on an unobserved base: not part of the projected score
    regions = [("r0", "chr1", 100, 110), ("r1", "chr1", 200, 210)]
    store = write_attributions_store(
        tmp_path / "m.zarr", onehot, {"AP-1": ap1, "GATA": gata}, regions
    )
    motifs = tmp_path / "motifs.bed"
    motifs.write_text(
        "chr1\t102\t105\tAP-1\n"  # bases 2..4 of r0
        "chr1\t207\t212\tGATA\n"  # bases 7..9 of r1 (runs past the region end)
        "chr2\t0\t5\tAP-1\n"  # outside every region
    )
    result = motif_recovery(store, motifs, tmp_path / "qc" / "motif_recovery.json")

    assert result["n_instances"] == 3 and result["n_instances_in_regions"] == 2
    ap1_entry = result["targets"]["AP-1"]["AP-1"]
    assert (ap1_entry["n_inside"], ap1_entry["n_outside"]) == (3, 14)
    # 3 inside bases at 3.0; outside: one 2.0 and thirteen 0.1: every pair won.
    assert ap1_entry["auroc"] == 1.0
    # GATA bases for the AP-1 target score 0.1, tied with 13 of 14 outside bases, below 2.0:
    # per inside base 13 ties -> 6.5 of 14 pairs.
    assert result["targets"]["AP-1"]["GATA"]["auroc"] == 19.5 / 42
    # The GATA target's projected scores are 5.0 on GATA bases and 0 elsewhere (the 9.0 sits on
    # unobserved A): AP-1 bases tie with all 14 outside bases.
    assert result["targets"]["GATA"]["GATA"]["auroc"] == 1.0
    assert result["targets"]["GATA"]["AP-1"]["auroc"] == 0.5
    assert result["matched"] == {"AP-1": 1.0, "GATA": 1.0}
    # "any" pools both names: 6 inside bases for AP-1: 3 win all 14, 3 win 6.5 of 14.
    assert result["targets"]["AP-1"]["any"]["auroc"] == (3 * 14 + 3 * 6.5) / 84
    assert json.loads((tmp_path / "qc" / "motif_recovery.json").read_text()) == result


def test_motif_recovery_matches_target_to_motif_up_to_punctuation(tmp_path: Path) -> None:
    onehot = np.zeros((1, 4, 10), dtype=np.uint8)
    onehot[0, 0] = 1
    hypothetical = np.zeros((1, 4, 10), dtype=np.float32)
    hypothetical[0, 0, 4:7] = 1.0
    store = write_attributions_store(
        tmp_path / "m.zarr", onehot, {"ap-1": hypothetical}, [("r0", "chr1", 0, 10)]
    )
    # The demo's motifs.bed: chrom, start, end, family, score, strand, sequence, peak.
    motifs = tmp_path / "motifs.bed"
    motifs.write_text("chr1\t4\t7\tAP1\t0\t+\tTGA\tpeak_0001\n")
    result = motif_recovery(store, motifs, tmp_path / "motif_recovery.json")
    assert result["matched"] == {"ap-1": 1.0}
    assert result["targets"]["ap-1"]["AP1"] == {"auroc": 1.0, "n_inside": 3, "n_outside": 7}


def _motif_outcome(path: Path, target: str, status: str, patterns: list[dict]) -> Path:
    """A matches.json as rule motifs writes it (the fields the QC summary reads)."""
    path.write_text(json.dumps({
        "target": target, "status": status,
        "reason": None if status == "ok" else f"target {target}: only 3 regions",
        "leading_pattern": max(patterns, key=lambda p: p["n_seqlets"])["name"] if patterns else None,
        "patterns": patterns, "matching": {"status": "ok" if patterns else "skipped",
                                           "reason": None if patterns else "no pattern"},
    }))
    return path


def test_the_summary_records_each_targets_leading_motif_and_still_fails_on_deltas(
    delta_store: Path, tmp_path: Path
) -> None:
    from seqlift.pipeline.qc import run_qc

    match = {"rank": 1, "id": "MA0099.4", "name": "FOS::JUN", "q_value": 2e-6, "p_value": 1e-9}
    found = _motif_outcome(tmp_path / "ap1.json", "AP-1", "ok", [
        {"name": "pos_patterns.pattern_0", "n_seqlets": 40, "matches": [match]},
        {"name": "pos_patterns.pattern_1", "n_seqlets": 90, "matches": []},
    ])
    skipped = _motif_outcome(tmp_path / "ctcf.json", "CTCF", "skipped", [])
    with pytest.raises(ConvergenceError):
        run_qc(delta_store, tmp_path / "qc", threshold=0.01, on_failure="fail",
               motif_results=[found, skipped])
    summary = json.loads((tmp_path / "qc" / "summary.json").read_text())
    assert summary["status"] == "fail"
    # The leading pattern has the most seqlets, whether or not it was matched.
    assert summary["motifs"]["AP-1"] == {
        "status": "ok", "reason": None, "n_patterns": 2, "leading_pattern": "pos_patterns.pattern_1",
        "n_seqlets": 90, "top_match": None, "matching": {"status": "ok", "reason": None},
        "table": str(found),
    }
    assert summary["motifs"]["CTCF"]["status"] == "skipped"
    assert summary["motifs"]["CTCF"]["reason"] == "target CTCF: only 3 regions"
    assert summary["motifs"]["CTCF"]["top_match"] is None
    # Its first pattern has a match: that is the top match once it leads.
    _motif_outcome(found, "AP-1", "ok", [{"name": "pos_patterns.pattern_0", "n_seqlets": 90,
                                          "matches": [match]}])
    run_qc(delta_store, tmp_path / "qc2", threshold=1.0, motif_results=[found])
    recorded = json.loads((tmp_path / "qc2" / "summary.json").read_text())["motifs"]["AP-1"]
    assert recorded["top_match"] == {"id": "MA0099.4", "name": "FOS::JUN", "q_value": 2e-6}
    # Without the motifs stage the summary has no motifs section.
    run_qc(delta_store, tmp_path / "qc3", threshold=1.0)
    assert "motifs" not in json.loads((tmp_path / "qc3" / "summary.json").read_text())

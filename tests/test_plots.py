"""Stage plots: the ranking behind the top logos, histogram counts, profiles, files written."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from helpers import random_onehot, write_attributions_store

from seqlift.pipeline.plots import (
    best_window,
    plot_delta_histogram,
    plot_mean_profile,
    plot_motif_recovery,
    plot_top_logos,
    rank_regions,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_width: int = 400) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[1] >= min_width
    # Not a blank canvas: some pixels differ from the background.
    assert (image[..., :3] < 0.9).any()


@pytest.fixture
def ranked_store(tmp_path: Path) -> Path:
    length = 30
    onehot = np.zeros((4, 4, length), dtype=np.uint8)
    onehot[:, 1, :] = 1  # all C: projected = hypothetical channel 1
    hypothetical = np.zeros((4, 4, length), dtype=np.float32)
    hypothetical[0, 1, 10:15] = 1.0  # total 5
    hypothetical[1, 1, 3:6] = -4.0  # total |.| 12: negative scores rank by magnitude
    hypothetical[2, 0, :] = 100.0  # on unobserved A: total 0 despite huge hypothetical scores
    hypothetical[2, 1, 0] = 0.5  # total 0.5
    hypothetical[3, 1, 20:28] = 1.0  # total 8
    regions = [(f"region_{i:06d}", "chr1", 100 * i, 100 * i + length) for i in range(4)]
    return write_attributions_store(tmp_path / "a.zarr", onehot, {"GATA": hypothetical}, regions)


def test_regions_rank_by_total_absolute_projected_score(ranked_store: Path) -> None:
    order, totals = rank_regions(ranked_store, "GATA")
    np.testing.assert_array_equal(totals, [5.0, 12.0, 0.5, 8.0])
    np.testing.assert_array_equal(order, [1, 3, 0, 2])


def test_top_logos_draw_the_top_regions_in_rank_order(ranked_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots" / "top_logos_GATA.png"
    ids = plot_top_logos(ranked_store, "GATA", out, n_top=3, flank=5)
    assert ids == ["region_000001", "region_000003", "region_000000"]
    assert_png(out)


def test_top_logos_with_more_requested_than_regions(ranked_store: Path, tmp_path: Path) -> None:
    ids = plot_top_logos(ranked_store, 0, tmp_path / "all.png", n_top=10, flank=50)
    assert ids == ["region_000001", "region_000003", "region_000000", "region_000002"]
    assert_png(tmp_path / "all.png")


def test_best_window_finds_the_highest_scoring_window() -> None:
    scores = np.array([0.0, 0.0, 1.0, -5.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0])
    assert best_window(scores, 3) == 2  # |1| + |-5| + |1| = 7
    assert best_window(scores, 20) == 0


def test_best_window_ties_go_to_the_window_nearest_the_centre() -> None:
    scores = np.zeros(11)
    scores[[0, 6, 10]] = 1.0
    # Width 1: windows at 0, 6 and 10 tie; 6 is nearest the centre 5.5 of an 11-long sequence.
    assert best_window(scores, 1) == 6
    assert best_window(np.zeros(8), 2) == 3  # all tie: the central window [3, 5)


def test_best_window_recentres_on_the_motif() -> None:
    scores = np.zeros(100)
    scores[30:35] = 1.0
    scores[15] = 0.01  # makes [15, 35) the single best 20-base window, motif at its edge
    # Weighted centre (0.01 * 15 + 30 + 31 + 32 + 33 + 34) / 5.01 = 31.966; minus 9.5 -> 22.
    assert best_window(scores, 20) == 22
    scores[95:100] = 3.0  # a motif at the sequence end: the window is clipped, not shifted off
    assert best_window(scores, 20) == 80


def test_delta_histogram_counts_every_pair(tmp_path: Path) -> None:
    onehot = np.zeros((2, 4, 6), dtype=np.uint8)
    deltas = {
        # Values sit inside bins: float32 storage moves 1e-5 just below its decade edge.
        "AP-1": np.array([[1.5e-5, -2e-5, 0.0], [2e-3, -2.5e-3, 5e-1]]),
        "CTCF": np.array([[1.5e-6, 1.5e-6, 1.5e-6], [1.5e-6, np.inf, 2e-6]]),
    }
    store = write_attributions_store(
        tmp_path / "d.zarr",
        onehot,
        {"AP-1": np.zeros((2, 4, 6)), "CTCF": np.zeros((2, 4, 6))},
        [("a", "chr1", 0, 6), ("b", "chr1", 10, 16)],
        deltas=deltas,
        n_references=3,
    )
    out = tmp_path / "delta_histogram.png"
    histograms = plot_delta_histogram(store, out, threshold=1e-2, n_bins=12)
    edges = histograms["AP-1"]["edges"]
    # Decades 1e-6 .. 1e0, twelve bins: two per decade.
    np.testing.assert_allclose(edges, np.logspace(-6, 0, 13), rtol=1e-12)
    ap1, ctcf = histograms["AP-1"], histograms["CTCF"]
    assert (ap1["counts"].sum(), ap1["n_zero"], ap1["n_non_finite"]) == (5, 1, 0)
    assert (ctcf["counts"].sum(), ctcf["n_zero"], ctcf["n_non_finite"]) == (5, 0, 1)
    # 1.5e-5 and 2e-5 fall in [1e-5, 10**-4.5), 2e-3 and 2.5e-3 in [1e-3, 10**-2.5), 0.5 last.
    expected = np.zeros(12, dtype=np.int64)
    expected[[2, 6, 11]] = [2, 2, 1]
    np.testing.assert_array_equal(ap1["counts"], expected)
    assert ctcf["counts"][0] == 5
    assert_png(out)


def test_mean_profile_is_the_mean_absolute_projected_score(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    onehot = random_onehot(rng, 3, 9)
    hypothetical = rng.normal(size=(3, 4, 9)).astype(np.float32)
    store = write_attributions_store(
        tmp_path / "p.zarr", onehot, {"CTCF": hypothetical}, [(f"r{i}", "chr1", 20 * i, 20 * i + 9) for i in range(3)]
    )
    out = tmp_path / "mean_profile.png"
    profiles = plot_mean_profile(store, out)
    projected = (hypothetical * onehot).sum(axis=1)  # exact: one non-zero term per position
    expected = np.abs(projected).astype(np.float64).sum(axis=0) / 3
    np.testing.assert_allclose(profiles["CTCF"], expected, rtol=1e-15)
    assert_png(out)


def test_motif_recovery_heatmap_draws_the_json_values(tmp_path: Path) -> None:
    result = {
        "motif_names": ["AP-1", "GATA"],
        "targets": {
            "AP-1": {
                "AP-1": {"auroc": 0.97},
                "GATA": {"auroc": 0.55},
                "any": {"auroc": 0.8},
            },
            "GATA": {"AP-1": {"auroc": None}, "GATA": {"auroc": 0.99}, "any": {"auroc": 0.7}},
        },
    }
    source = tmp_path / "motif_recovery.json"
    source.write_text(json.dumps(result))
    values = plot_motif_recovery(source, tmp_path / "motif_recovery.png")
    np.testing.assert_array_equal(values, [[0.97, 0.55, 0.8], [np.nan, 0.99, 0.7]])
    assert_png(tmp_path / "motif_recovery.png", min_width=300)

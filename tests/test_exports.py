"""Stage exports: tfmodisco-lite npz, ChromBPNet h5 and per-base bigWig of an attributions store,
and the store's readers they share with qc and plots."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pyBigWig
import pytest
from helpers import random_onehot, write_attributions_store

from seqlift.pipeline import storage
from seqlift.pipeline.exports import (
    export_bigwig,
    export_chrombpnet_h5,
    export_tfmodisco,
    read_chrom_sizes,
    write_exports,
)
from seqlift.pipeline.storage import projected_scores, read_region_table, resolve_target


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    onehot = random_onehot(rng, 5, 12)
    onehot[2, :, 4] = 0  # an N base
    hypothetical = {
        "AP-1": rng.normal(size=(5, 4, 12)).astype(np.float32),
        "CTCF": rng.normal(size=(5, 4, 12)).astype(np.float32),
    }
    regions = [(f"region_{i:06d}", "chr1", 100 * i, 100 * i + 12) for i in range(5)]
    path = write_attributions_store(tmp_path / "attributions.zarr", onehot, hypothetical, regions)
    return path, onehot, hypothetical


def test_projected_scores_pick_the_observed_base_and_zero_for_n() -> None:
    hypothetical = np.array([[[1.0, -2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [0.5, 0.25, 2.0]]])
    onehot = np.array([[[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(projected_scores(hypothetical, onehot), [[1.0, 8.0, 0.0]])


def test_targets_resolve_by_name_or_output_index(store) -> None:
    path, _, _ = store
    assert resolve_target(path, "CTCF") == "CTCF"
    assert resolve_target(path, 1) == "CTCF"
    with pytest.raises(KeyError, match="GATA.*available.*AP-1"):
        resolve_target(path, "GATA")


def test_tfmodisco_npz_round_trip_is_exact_and_channel_first(store, tmp_path: Path) -> None:
    path, onehot, hypothetical = store
    ohe_path, attr_path = export_tfmodisco(path, "CTCF", tmp_path / "exports" / "CTCF")
    ohe = np.load(ohe_path)
    attr = np.load(attr_path)
    assert list(ohe.keys()) == ["arr_0"] and list(attr.keys()) == ["arr_0"]
    assert ohe["arr_0"].dtype == np.float32 and ohe["arr_0"].shape == (5, 4, 12)
    np.testing.assert_array_equal(ohe["arr_0"], onehot.astype(np.float32))
    np.testing.assert_array_equal(attr["arr_0"], hypothetical["CTCF"])


def test_tfmodisco_npz_spans_several_read_blocks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(storage, "BLOCK_SIZE", 2)
    rng = np.random.default_rng(3)
    onehot = random_onehot(rng, 5, 6)
    hypothetical = {"t": rng.normal(size=(5, 4, 6)).astype(np.float32)}
    regions = [(f"r{i}", "chr1", 10 * i, 10 * i + 6) for i in range(5)]
    path = write_attributions_store(tmp_path / "a.zarr", onehot, hypothetical, regions)
    assert [first for first, _, _ in storage.iter_target_blocks(path, "t")] == [0, 2, 4]
    _, attr_path = export_tfmodisco(path, "t", tmp_path / "out")
    np.testing.assert_array_equal(np.load(attr_path)["arr_0"], hypothetical["t"])


def test_chrombpnet_h5_round_trip_is_exact(store, tmp_path: Path) -> None:
    path, onehot, hypothetical = store
    out = export_chrombpnet_h5(path, "AP-1", tmp_path / "AP-1.h5")
    with h5py.File(out, "r") as h5:
        assert h5["raw/seq"].dtype == np.int8
        np.testing.assert_array_equal(h5["raw/seq"][:], onehot.astype(np.int8))
        np.testing.assert_array_equal(h5["shap/seq"][:], hypothetical["AP-1"])
        np.testing.assert_array_equal(
            h5["projected_shap/seq"][:], hypothetical["AP-1"] * onehot.astype(np.float32)
        )
        # The N base of region 2 projects to zero on every channel.
        np.testing.assert_array_equal(h5["projected_shap/seq"][2, :, 4], np.zeros(4))


def test_chrom_sizes_read_from_fai_in_file_order(tmp_path: Path) -> None:
    fai = tmp_path / "genome.fa.fai"
    fai.write_text("chr2\t500\t6\t60\t61\nchr1\t300\t520\t60\t61\n")
    assert list(read_chrom_sizes(fai).items()) == [("chr2", 500), ("chr1", 300)]


def read_bigwig(path: Path, chrom: str, start: int, end: int) -> np.ndarray:
    with pyBigWig.open(str(path)) as bigwig:
        return np.array(bigwig.values(chrom, start, end, numpy=True))


def test_bigwig_values_equal_projected_scores(store, tmp_path: Path) -> None:
    path, onehot, hypothetical = store
    out = export_bigwig(path, "AP-1", tmp_path / "AP-1.bw", {"chr1": 1000})
    expected = projected_scores(hypothetical["AP-1"], onehot)
    for index in range(5):
        values = read_bigwig(out, "chr1", 100 * index, 100 * index + 12)
        np.testing.assert_array_equal(values, expected[index])
    # Bases between regions carry no entry.
    assert np.isnan(read_bigwig(out, "chr1", 12, 100)).all()


def test_bigwig_overlap_takes_value_of_nearest_centre(tmp_path: Path) -> None:
    # a covers [10, 20) with centre 15, b covers [14, 24) with centre 19; they overlap on [14, 20).
    # Base 16 (midpoint 16.5) is 1.5 from a's centre and 2.5 from b's: a. Base 17 (17.5) is 2.5
    # from a and 1.5 from b: b. So the overlap splits halfway between the centres.
    onehot = np.zeros((2, 4, 10), dtype=np.uint8)
    onehot[:, 0, :] = 1  # all A, so projected = hypothetical channel 0
    hypothetical = np.zeros((2, 4, 10), dtype=np.float32)
    hypothetical[0, 0] = 1.0 + np.arange(10)  # a: 1..10
    hypothetical[1, 0] = -(1.0 + np.arange(10))  # b: -1..-10
    regions = [("a", "chr1", 10, 20), ("b", "chr1", 14, 24)]
    path = write_attributions_store(tmp_path / "o.zarr", onehot, {"t": hypothetical}, regions)
    out = export_bigwig(path, "t", tmp_path / "o.bw", {"chr1": 100})
    values = read_bigwig(out, "chr1", 10, 24)
    expected = [1, 2, 3, 4, 5, 6, 7, -4, -5, -6, -7, -8, -9, -10]
    np.testing.assert_array_equal(values, expected)


def test_bigwig_overlap_tie_goes_to_the_region_with_smaller_centre(tmp_path: Path) -> None:
    # early covers [10, 20) with centre 15, late covers [13, 23) with centre 18. Base 16 (midpoint
    # 16.5) is 1.5 from both centres: a tie, which goes to early. Base 17 is nearer late.
    onehot = np.zeros((2, 4, 10), dtype=np.uint8)
    onehot[:, 3, :] = 1
    hypothetical = np.zeros((2, 4, 10), dtype=np.float32)
    hypothetical[0, 3] = 2.0
    hypothetical[1, 3] = 1.0
    # The store lists late first, so the tie-break is seen to follow the centre, not store order.
    regions = [("late", "chr1", 13, 23), ("early", "chr1", 10, 20)]
    path = write_attributions_store(tmp_path / "t.zarr", onehot, {"t": hypothetical}, regions)
    out = export_bigwig(path, "t", tmp_path / "t.bw", {"chr1": 100})
    values = read_bigwig(out, "chr1", 10, 23)
    np.testing.assert_array_equal(values, [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2])


def test_bigwig_follows_fai_chromosome_order(tmp_path: Path) -> None:
    onehot = np.zeros((2, 4, 4), dtype=np.uint8)
    onehot[:, 1, :] = 1
    hypothetical = np.zeros((2, 4, 4), dtype=np.float32)
    hypothetical[0, 1] = 3.0
    hypothetical[1, 1] = 5.0
    regions = [("on_chr1", "chr1", 0, 4), ("on_chr2", "chr2", 8, 12)]
    path = write_attributions_store(tmp_path / "c.zarr", onehot, {"t": hypothetical}, regions)
    fai = tmp_path / "genome.fa.fai"
    fai.write_text("chr2\t50\t6\t60\t61\nchr1\t40\t70\t60\t61\n")
    out = export_bigwig(path, "t", tmp_path / "c.bw", fai)
    with pyBigWig.open(str(out)) as bigwig:
        assert list(bigwig.chroms().items()) == [("chr2", 50), ("chr1", 40)]
        assert bigwig.intervals("chr2") == ((8, 9, 5.0), (9, 10, 5.0), (10, 11, 5.0), (11, 12, 5.0))
        assert bigwig.intervals("chr1")[0] == (0, 1, 3.0)


def test_bigwig_rejects_regions_on_unknown_chromosomes(store, tmp_path: Path) -> None:
    path, _, _ = store
    with pytest.raises(ValueError, match="region_000000 is on 'chr1'"):
        export_bigwig(path, "AP-1", tmp_path / "x.bw", {"chr2": 1000})
    assert not (tmp_path / "x.bw").exists()


def test_bigwig_rejects_regions_whose_width_is_not_the_stored_length(tmp_path: Path) -> None:
    onehot = np.zeros((1, 4, 4), dtype=np.uint8)
    regions = [("wide", "chr1", 0, 5)]
    path = write_attributions_store(tmp_path / "w.zarr", onehot, {"t": onehot * 1.0}, regions)
    with pytest.raises(ValueError, match="wide .* is 5 bp but the stored sequences are 4 bp"):
        export_bigwig(path, "t", tmp_path / "w.bw", {"chr1": 100})


def test_region_table_reads_ids_numbers_and_coordinates(store) -> None:
    path, _, _ = store
    regions = read_region_table(path)
    assert len(regions) == 5
    assert regions.ids[3] == "region_000003" and regions.chroms[3] == "chr1"
    np.testing.assert_array_equal(regions.numbers, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(regions.starts, [0, 100, 200, 300, 400])
    np.testing.assert_array_equal(regions.ends, [12, 112, 212, 312, 412])


def test_write_exports_writes_the_switched_on_files_of_every_target(store, tmp_path: Path) -> None:
    path, _, hypothetical = store
    written = write_exports(
        path, tmp_path / "exports", ["AP-1", "CTCF"], tfmodisco=True, chrombpnet_h5=False,
        bigwig=True, chrom_sizes={"chr1": 1000},
    )
    relative = [str(p.relative_to(tmp_path / "exports")) for p in written]
    assert relative == [
        "AP-1/ohe.npz", "AP-1/attr.npz", "AP-1/projected.bw",
        "CTCF/ohe.npz", "CTCF/attr.npz", "CTCF/projected.bw",
    ]
    np.testing.assert_array_equal(np.load(written[4])["arr_0"], hypothetical["CTCF"])
    with pytest.raises(ValueError, match="needs chrom_sizes"):
        write_exports(path, tmp_path / "x", ["AP-1"], bigwig=True)

"""The workflow's stages as library calls: sharding, references, shards, aggregation, storage.

These run the same functions the Snakemake scripts call, without Snakemake, on a small seeded
CNN from seqlift.zoo; tests/test_workflow.py runs them through the Snakemake CLI.

The model runs in float64 so that the convergence deltas, which are round-off by nature
(about 1e-7 of f(x) in float32), can be compared between shard layouts to 1e-6 as well.
"""

import errno
import gzip
import json
import os
import tempfile

import numpy as np
import pytest
import torch
import zarr

import seqlift
from seqlift import pipeline, storage
from seqlift.engine import deep_lift_shap
from seqlift.errors import InputError, SeqliftError
from seqlift.references import dinucleotide_shuffle, region_seed
from seqlift.zoo import SmallCNN

WIDTH = 32
N_REGIONS = 7
N_REFERENCES = 6
MODEL = {
    "factory": "seqlift.zoo:SmallCNN",
    "kwargs": {"n_outputs": 2, "sequence_length": WIDTH, "seed": 1},
}
CONFIG = {
    "regions": "peaks.bed",
    "genome": "genome.fa",
    "width": WIDTH,
    "model": MODEL,
    "targets": [0, {"index": 1, "name": "second"}],
    "references": {"method": "dinucleotide_shuffle", "n": N_REFERENCES, "seed": 3, "file": None},
    "dtype": "float64",
    "device": "cpu",
}


def _region_store(n=N_REGIONS, width=WIDTH, numbers=None, seed=0):
    rng = np.random.default_rng(seed)
    onehot = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, size=(n, width))].transpose(0, 2, 1)
    numbers = np.arange(n) * 2 + 5 if numbers is None else np.asarray(numbers)
    return storage.RegionStore(
        onehot=np.ascontiguousarray(onehot),
        ids=np.array([f"region_{k:06d}" for k in numbers]),
        chroms=np.array(["chr1"] * n),
        starts=np.arange(n, dtype=np.int64) * 100,
        ends=np.arange(n, dtype=np.int64) * 100 + width,
        numbers=np.asarray(numbers, dtype=np.int64),
    )


@pytest.fixture
def stores(tmp_path):
    """regions.zarr and references.zarr (dinucleotide shuffles) of 7 random regions."""
    regions = tmp_path / "regions.zarr"
    references = tmp_path / "references.zarr"
    storage.write_region_store(regions, _region_store())
    pipeline.make_references(regions, references, "dinucleotide_shuffle", N_REFERENCES, seed=3)
    return regions, references


def _run(stores, tmp_path, n_shards, n_blocks, config=CONFIG, folder="run"):
    regions, references = stores
    paths = []
    for shard in range(1, n_shards + 1):
        for block in range(1, n_blocks + 1):
            path = tmp_path / folder / f"{shard}-of-{n_shards}" / f"block_{block}-of-{n_blocks}.npz"
            pipeline.run_attribution_shard(
                config, regions, references, f"{shard}-of-{n_shards}", f"{block}-of-{n_blocks}", path,
                batch_size=5,
            )
            paths.append(path)
    out = tmp_path / folder / "attributions.zarr"
    pipeline.aggregate_shards(paths, regions, references, out, config)
    return zarr.open_group(str(out), mode="r"), paths


def _stacked(group, name):
    return np.stack([np.asarray(group[f"{name}/{t}"][:]) for t in ("target_0", "second")])


# ---------------------------------------------------------------------------------------------
# Sharding helpers


def test_split_range_covers_every_index_once_in_near_equal_parts():
    for n in (0, 1, 7, 10, 1001):
        for n_parts in (1, 2, 3, 8):
            parts = [pipeline.split_range(n, n_parts, p) for p in range(n_parts)]
            covered = [i for start, stop in parts for i in range(start, stop)]
            assert covered == list(range(n))
            sizes = [stop - start for start, stop in parts]
            assert max(sizes) - min(sizes) <= 1


def test_split_range_rejects_a_part_outside_the_count():
    with pytest.raises(ValueError):
        pipeline.split_range(10, 3, 3)


def test_parse_scatteritem_is_zero_based_and_checks_bounds():
    assert pipeline.parse_scatteritem("1-of-3") == (0, 3)
    assert pipeline.parse_scatteritem("3-of-3") == (2, 3)
    for bad in ("0-of-3", "4-of-3", "1of3", "a-of-b"):
        with pytest.raises(ValueError):
            pipeline.parse_scatteritem(bad)


def test_count_bed_rows_skips_headers_comments_and_blank_lines(tmp_path):
    text = "track name=x\nbrowser position chr1\n# comment\nchr1\t1\t5\n\nchr1\t7\t9\nchr2\t0\t3\n"
    plain = tmp_path / "peaks.bed"
    plain.write_text(text)
    packed = tmp_path / "peaks.bed.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert pipeline.count_bed_rows(plain) == 3
    assert pipeline.count_bed_rows(packed) == 3


def test_default_shard_count_rounds_up_and_survives_a_missing_file(tmp_path):
    bed = tmp_path / "peaks.bed"
    bed.write_text("".join(f"chr1\t{i}\t{i + 1}\n" for i in range(2500)))
    assert pipeline.default_shard_count(bed, 1000) == 3
    assert pipeline.default_shard_count(bed, 2500) == 1
    assert pipeline.default_shard_count(tmp_path / "missing.bed", 1000) == 1


def test_normalize_targets_names_unnamed_outputs_by_index():
    assert pipeline.normalize_targets([2, {"index": 0, "name": "AP1"}, {"index": 1}]) == [
        {"index": 2, "name": "target_2"},
        {"index": 0, "name": "AP1"},
        {"index": 1, "name": "target_1"},
    ]


@pytest.mark.parametrize(
    "targets, message",
    [
        ([], "empty"),
        ([{"index": 0, "name": "a"}, {"index": 1, "name": "a"}], "more than once"),
        ([{"index": 0, "name": "a/b"}], "folder name"),
        ([-1], "non-negative"),
    ],
)
def test_normalize_targets_rejects_unusable_targets(targets, message):
    with pytest.raises(InputError, match=message):
        pipeline.normalize_targets(targets)


def test_config_hash_covers_only_keys_that_change_numbers():
    base = pipeline.config_hash(CONFIG)
    assert pipeline.config_hash(CONFIG | {"batch_size": 7, "qc": {"delta_threshold": 1}}) == base
    assert pipeline.config_hash(pipeline.attribution_config(CONFIG)) == base
    reseeded = CONFIG | {"references": CONFIG["references"] | {"seed": 4}}
    assert pipeline.config_hash(reseeded) != base
    assert pipeline.config_hash(CONFIG | {"dtype": "float32"}) != base


# ---------------------------------------------------------------------------------------------
# Storage


def test_atomic_file_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError):
        with storage.atomic_file(target, suffix=".npz") as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert os.listdir(tmp_path) == []


def test_atomic_directory_replaces_an_existing_store_only_when_complete(tmp_path):
    target = tmp_path / "store.zarr"
    with storage.atomic_directory(target) as temporary:
        (temporary / "old").write_text("1")
    with pytest.raises(RuntimeError):
        with storage.atomic_directory(target) as temporary:
            (temporary / "new").write_text("2")
            raise RuntimeError("killed mid-write")
    assert sorted(os.listdir(tmp_path)) == ["store.zarr"]
    assert os.listdir(target) == ["old"]
    with storage.atomic_directory(target) as temporary:
        (temporary / "new").write_text("2")
    assert os.listdir(target) == ["new"]
    assert sorted(os.listdir(tmp_path)) == ["store.zarr"]


def test_shard_files_round_trip_float64_sums_and_header(tmp_path):
    rng = np.random.default_rng(0)
    result = storage.ShardResult(
        hypothetical_sum=rng.normal(size=(2, 3, 4, 5)),
        deltas=rng.normal(size=(2, 3, 4)),
        example_predictions=rng.normal(size=(2, 3)),
        reference_predictions=rng.normal(size=(2, 3, 4)),
        header={"config_hash": "abc", "region_start": 3},
    )
    storage.write_shard(tmp_path / "shard.npz", result)
    back = storage.read_shard(tmp_path / "shard.npz")
    assert back.header == result.header
    for name in ("hypothetical_sum", "deltas", "example_predictions", "reference_predictions"):
        assert getattr(back, name).dtype == np.float64
        assert np.array_equal(getattr(back, name), getattr(result, name))


def test_shard_chunks_read_back_across_chunk_boundaries(tmp_path):
    rng = np.random.default_rng(1)
    whole = [rng.normal(size=(2, 7, 4, 5)), rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 7)),
             rng.normal(size=(2, 7, 3))]
    with storage.write_shard_chunks(tmp_path / "shard.npz", {"region_start": 0}) as writer:
        for first, last in ((0, 3), (3, 3), (3, 4), (4, 7)):
            writer.append(*(array[:, first:last] for array in whole))
        assert not (tmp_path / "shard.npz").exists()  # appears only when complete
    with storage.ShardFile(tmp_path / "shard.npz") as shard:
        assert shard.bounds == [(0, 3), (3, 3), (3, 4), (4, 7)]
        assert shard.header == {"region_start": 0}
        for start, stop in ((0, 7), (2, 5), (3, 4), (5, 5), (6, 7)):
            assert np.array_equal(shard.read("hypothetical_sum", start, stop), whole[0][:, start:stop])
            assert np.array_equal(shard.read("reference_predictions", start, stop), whole[3][:, start:stop])
    back = storage.read_shard(tmp_path / "shard.npz")
    assert np.array_equal(back.deltas, whole[1]) and np.array_equal(back.example_predictions, whole[2])


def test_an_interrupted_shard_writer_leaves_no_file(tmp_path):
    rng = np.random.default_rng(2)
    chunk = [rng.normal(size=(1, 2, 4, 5)), rng.normal(size=(1, 2, 3)), rng.normal(size=(1, 2)),
             rng.normal(size=(1, 2, 3))]
    with pytest.raises(KeyboardInterrupt):
        with storage.write_shard_chunks(tmp_path / "shard.npz", {}) as writer:
            writer.append(*chunk)
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_rewriting_a_path_removes_what_a_killed_write_of_it_left_and_nothing_else(tmp_path):
    """A SIGKILL leaves the temporaries in place; their names are made as the writers make them."""

    def leftover(name, suffix="", folder=False):
        if folder:
            return os.path.basename(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=tmp_path))
        handle, path = tempfile.mkstemp(prefix=f".{name}.tmp-", suffix=suffix, dir=tmp_path)
        os.close(handle)
        return os.path.basename(path)

    own = [leftover("block_1-of-2.npz", ".npz"), leftover("block_1-of-2.npz", ".npz")]
    others = [leftover("block_2-of-2.npz", ".npz"), leftover("block_1-of-2.npz.bak", ".npz"),
              leftover("block_1-of-2")]
    with storage.write_shard_chunks(tmp_path / "block_1-of-2.npz", {}) as writer:
        writer.append(np.zeros((1, 0, 4, 5)), np.zeros((1, 0, 2)), np.zeros((1, 0)), np.zeros((1, 0, 2)))
    assert sorted(os.listdir(tmp_path)) == sorted(["block_1-of-2.npz", *others])
    assert not set(own) & set(os.listdir(tmp_path))

    stale_store = leftover("store.zarr", folder=True)
    (tmp_path / stale_store / "half").write_text("killed")
    with storage.atomic_directory(tmp_path / "store.zarr") as temporary:
        (temporary / "complete").write_text("1")
    assert sorted(os.listdir(tmp_path)) == sorted(["block_1-of-2.npz", "store.zarr", *others])


def test_region_store_round_trips_ids_and_slices(tmp_path):
    written = _region_store()
    storage.write_region_store(tmp_path / "r.zarr", written)
    back = storage.read_region_store(tmp_path / "r.zarr", 2, 5)
    assert list(back.ids) == list(written.ids[2:5])
    assert np.array_equal(back.onehot, written.onehot[2:5])
    assert np.array_equal(back.numbers, written.numbers[2:5])
    assert np.array_equal(back.starts, written.starts[2:5])


# ---------------------------------------------------------------------------------------------
# References


def test_references_are_the_seeded_shuffles_of_each_region(stores):
    regions, references = stores
    X = torch.as_tensor(storage.read_region_store(regions).onehot, dtype=torch.float32)
    numbers = storage.read_region_store(regions).numbers
    expected = dinucleotide_shuffle(
        X, n=N_REFERENCES, random_state=[region_seed(3, int(k)) for k in numbers]
    )
    stored = pipeline.load_references(references, slice(None), slice(None), N_REGIONS)
    assert torch.equal(stored, expected.float())
    kind, codes = storage.read_reference_store(references)
    assert kind == "codes" and codes.dtype == np.uint8 and codes.shape == (N_REGIONS, N_REFERENCES, WIDTH)


def test_a_regions_references_do_not_depend_on_the_other_regions(tmp_path):
    full = _region_store()
    keep = [1, 4, 6]
    subset = storage.RegionStore(
        onehot=full.onehot[keep], ids=full.ids[keep], chroms=full.chroms[keep],
        starts=full.starts[keep], ends=full.ends[keep], numbers=full.numbers[keep],
    )
    storage.write_region_store(tmp_path / "full.zarr", full)
    storage.write_region_store(tmp_path / "subset.zarr", subset)
    pipeline.make_references(tmp_path / "full.zarr", tmp_path / "full_refs.zarr", n=4, seed=9)
    pipeline.make_references(tmp_path / "subset.zarr", tmp_path / "subset_refs.zarr", n=4, seed=9)
    _, full_codes = storage.read_reference_store(tmp_path / "full_refs.zarr")
    _, subset_codes = storage.read_reference_store(tmp_path / "subset_refs.zarr")
    assert np.array_equal(full_codes[keep], subset_codes)


def test_uniform_references_are_stored_once_and_are_a_quarter_everywhere(tmp_path):
    storage.write_region_store(tmp_path / "r.zarr", _region_store())
    pipeline.make_references(tmp_path / "r.zarr", tmp_path / "u.zarr", "uniform", n=3)
    kind, shared = storage.read_reference_store(tmp_path / "u.zarr")
    assert kind == "shared" and shared.shape == (3, 4, WIDTH)
    loaded = pipeline.load_references(tmp_path / "u.zarr", slice(2, 5), slice(0, 2), 3)
    assert loaded.shape == (3, 2, 4, WIDTH)
    assert torch.all(loaded == 0.25)


def test_references_from_a_file_must_match_the_kept_regions(tmp_path):
    storage.write_region_store(tmp_path / "r.zarr", _region_store())
    onehot = np.eye(4, dtype=np.float32)[np.zeros((N_REGIONS, 2, WIDTH), dtype=int)]
    np.save(tmp_path / "refs.npy", onehot.transpose(0, 1, 3, 2))
    pipeline.make_references(tmp_path / "r.zarr", tmp_path / "f.zarr", "file", n=2, file=tmp_path / "refs.npy")
    loaded = pipeline.load_references(tmp_path / "f.zarr", slice(None), slice(None), N_REGIONS)
    assert torch.all(loaded[:, :, 0] == 1) and torch.all(loaded[:, :, 1:] == 0)
    np.save(tmp_path / "short.npy", onehot.transpose(0, 1, 3, 2)[:3])
    with pytest.raises(InputError, match="3 regions"):
        pipeline.make_references(
            tmp_path / "r.zarr", tmp_path / "g.zarr", "file", n=2, file=tmp_path / "short.npy"
        )


# ---------------------------------------------------------------------------------------------
# Shards and aggregation


def test_aggregate_equals_one_direct_deep_lift_shap_call(stores, tmp_path):
    group, _ = _run(stores, tmp_path, n_shards=1, n_blocks=1)
    regions, references = stores
    X = torch.as_tensor(storage.read_region_store(regions).onehot, dtype=torch.float32)
    R = pipeline.load_references(references, slice(None), slice(None), N_REGIONS)
    model = SmallCNN(n_outputs=2, sequence_length=WIDTH, seed=1).eval()
    hypothetical, deltas = deep_lift_shap(
        model, X, target=[0, 1], references=R, hypothetical=True, return_deltas=True,
        dtype=torch.float64,
    )
    stored = _stacked(group, "hypothetical")
    scale = np.abs(hypothetical.numpy()).max()
    np.testing.assert_allclose(stored, hypothetical.numpy(), rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(_stacked(group, "deltas"), deltas.numpy(), rtol=0, atol=1e-6 * scale)
    model = model.double()
    with torch.no_grad():
        fx = model(X.double()).T.numpy()
        fr = model(R.reshape(-1, 4, WIDTH).double()).reshape(N_REGIONS, N_REFERENCES, 2).mean(1).T.numpy()
    for index, name in enumerate(("target_0", "second")):
        np.testing.assert_allclose(group[f"predictions/{name}/example"][:], fx[index], rtol=1e-6)
        np.testing.assert_allclose(group[f"predictions/{name}/reference_mean"][:], fr[index], rtol=1e-6)


def test_shard_and_block_counts_do_not_change_results(stores, tmp_path):
    one, _ = _run(stores, tmp_path, n_shards=1, n_blocks=1, folder="one")
    many, _ = _run(stores, tmp_path, n_shards=3, n_blocks=2, folder="many")
    # More shards than regions, or blocks than references, leaves some of them empty.
    empty_shards, _ = _run(stores, tmp_path, n_shards=N_REGIONS + 1, n_blocks=1, folder="shards")
    empty_blocks, _ = _run(stores, tmp_path, n_shards=1, n_blocks=N_REFERENCES + 1, folder="blocks")
    expected = _stacked(one, "hypothetical")
    scale = np.abs(expected).max()
    for other in (many, empty_shards, empty_blocks):
        np.testing.assert_allclose(_stacked(other, "hypothetical"), expected, rtol=1e-6, atol=1e-6 * scale)
        np.testing.assert_allclose(_stacked(other, "deltas"), _stacked(one, "deltas"), rtol=0, atol=1e-6 * scale)
        assert list(other["regions/id"][:]) == list(one["regions/id"][:])


@pytest.mark.parametrize("batch_size", [4, 12, 32])
def test_chunk_size_does_not_change_a_shard_by_a_single_bit(stores, tmp_path, batch_size):
    """float32 model; with 6 references, batches hold part of an example, 2 or 5 examples."""
    regions, references = stores
    config = CONFIG | {"dtype": "float32"}
    results = {}
    for chunk in (1, 2, 3, N_REGIONS):
        path = tmp_path / f"chunk{chunk}.npz"
        pipeline.run_attribution_shard(
            config, regions, references, "1-of-1", "1-of-1", path, batch_size=batch_size,
            regions_per_chunk=chunk,
        )
        with storage.ShardFile(path) as shard:
            assert len(shard.bounds) == -(-N_REGIONS // chunk)
        results[chunk] = storage.read_shard(path)
    for chunk in (1, 2, 3):
        for name in ("hypothetical_sum", "deltas", "example_predictions", "reference_predictions"):
            assert np.array_equal(getattr(results[chunk], name), getattr(results[N_REGIONS], name)), (chunk, name)
        assert results[chunk].header == results[N_REGIONS].header


def test_shard_chunks_fit_the_memory_budget_and_whole_batches():
    # Demo: 20 references of 250 bp, 3 targets: 104 kB per region.
    assert pipeline.shard_chunk_size(20, 250, 3, 32) == pipeline.CHUNK_BYTES // 104_000
    # 4 examples per batch of 80 pairs: chunks are multiples of 4.
    assert pipeline.shard_chunk_size(20, 250, 3, 80) % 4 == 0
    # Beluga-sized windows still get at least one batch of examples.
    assert pipeline.shard_chunk_size(20, 100_000, 1, 64) == 3


def test_float32_scores_do_not_depend_on_the_layout_either(stores, tmp_path):
    config = CONFIG | {"dtype": "float32"}
    one, _ = _run(stores, tmp_path, n_shards=1, n_blocks=1, config=config, folder="one")
    many, _ = _run(stores, tmp_path, n_shards=3, n_blocks=2, config=config, folder="many")
    expected = _stacked(one, "hypothetical")
    np.testing.assert_allclose(
        _stacked(many, "hypothetical"), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max()
    )


def test_result_store_has_the_shared_layout_and_provenance(stores, tmp_path):
    group, _ = _run(stores, tmp_path, n_shards=2, n_blocks=1)
    assert group["onehot"].dtype == np.uint8 and group["onehot"].shape == (N_REGIONS, 4, WIDTH)
    assert group["hypothetical/second"].dtype == np.float32
    assert group["deltas/second"].shape == (N_REGIONS, N_REFERENCES)
    assert group["predictions/second/example"].shape == (N_REGIONS,)
    assert group["regions/start"].dtype == np.int64
    assert list(group["regions/id"][:]) == [f"region_{5 + 2 * k:06d}" for k in range(N_REGIONS)]
    attrs = dict(group.attrs)
    assert attrs["targets"] == [{"index": 0, "name": "target_0"}, {"index": 1, "name": "second"}]
    assert attrs["n_references"] == N_REFERENCES
    assert attrs["seqlift_version"] == seqlift.__version__
    assert attrs["model_checksum"].startswith("state_dict-sha256:")
    assert attrs["config"]["width"] == WIDTH
    onehot = np.asarray(group["onehot"][:])
    assert np.array_equal(onehot, storage.read_region_store(stores[0]).onehot)


def test_aggregation_refuses_a_shard_made_with_another_config(stores, tmp_path):
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=2, n_blocks=1)
    reseeded = CONFIG | {"references": CONFIG["references"] | {"seed": 4}}
    pipeline.run_attribution_shard(reseeded, regions, references, "2-of-2", "1-of-1", paths[1])
    with pytest.raises(pipeline.ShardMismatchError, match="config_hash") as error:
        pipeline.aggregate_shards(paths, regions, references, tmp_path / "mixed.zarr", CONFIG)
    assert str(paths[1]) in str(error.value) and str(paths[0]) not in str(error.value)
    assert not (tmp_path / "mixed.zarr").exists()


def test_aggregation_refuses_shards_from_another_model_or_version(stores, tmp_path):
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=2, n_blocks=1)
    shard = storage.read_shard(paths[0])
    shard.header["seqlift_version"] = "0.0.1"
    storage.write_shard(paths[0], shard)
    with pytest.raises(pipeline.ShardMismatchError, match="seqlift_version '0.0.1'"):
        pipeline.aggregate_shards(paths, regions, references, tmp_path / "x.zarr", CONFIG)
    reseeded_model = CONFIG | {"model": MODEL | {"kwargs": MODEL["kwargs"] | {"seed": 2}}}
    # A different model also changes the config hash; both are named.
    with pytest.raises(pipeline.ShardMismatchError, match="model_checksum"):
        pipeline.aggregate_shards(paths[1:], regions, references, tmp_path / "y.zarr", reseeded_model)


def test_aggregation_counts_each_mismatched_shard_once_and_gives_the_seed_hint_once(stores, tmp_path):
    """Two shards of an unseeded-looking model: "2 shard file(s)", not one per line of the message."""
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=2, n_blocks=1)
    reseeded_model = CONFIG | {"model": MODEL | {"kwargs": MODEL["kwargs"] | {"seed": 2}}}
    with pytest.raises(pipeline.ShardMismatchError) as error:
        pipeline.aggregate_shards(paths, regions, references, tmp_path / "x.zarr", reseeded_model)
    message = str(error.value)
    assert message.startswith("2 shard file(s) were made with another config, model or seqlift version")
    assert [line.split(":")[0].strip() for line in message.splitlines() if line.startswith("  ")] == [
        str(path) for path in paths
    ]
    assert message.count("(A model without model.weights must build the same weights every time") == 1


def test_aggregation_refuses_shards_that_do_not_cover_every_region(stores, tmp_path):
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=3, n_blocks=2)
    with pytest.raises(pipeline.ShardMismatchError, match="uncovered"):
        pipeline.aggregate_shards(paths[2:], regions, references, tmp_path / "x.zarr", CONFIG)
    with pytest.raises(pipeline.ShardMismatchError, match="reference blocks"):
        pipeline.aggregate_shards(paths[:-1], regions, references, tmp_path / "y.zarr", CONFIG)


def test_shard_header_records_ranges_and_provenance(stores, tmp_path):
    _, paths = _run(stores, tmp_path, n_shards=3, n_blocks=2)
    header = storage.read_shard(paths[3]).header  # shard 2-of-3, block 2-of-2
    assert (header["region_start"], header["region_stop"]) == (2, 4)
    assert (header["reference_start"], header["reference_stop"]) == (3, 6)
    assert header["config_hash"] == pipeline.config_hash(CONFIG)
    assert header["seqlift_version"] == seqlift.__version__


def test_a_full_disk_gives_a_clear_error_and_no_shard_file(stores, tmp_path, monkeypatch):
    regions, references = stores

    write_array, calls = np.lib.format.write_array, []

    def disk_full_at_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) > 4:  # four arrays per chunk
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", disk_full_at_the_second_chunk)
    out = tmp_path / "shards" / "1-of-1.npz"
    with pytest.raises(storage.StorageError, match=f"cannot write {out}: No space left on device; the disk"):
        pipeline.run_attribution_shard(
            CONFIG, regions, references, "1-of-1", "1-of-1", out, regions_per_chunk=2
        )
    assert len(calls) == 5
    assert os.listdir(out.parent) == []


def test_an_unwritable_results_folder_gives_a_clear_error(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    # chmod cannot make a folder unwritable for root, who runs CI: refuse at the first write.
    monkeypatch.setattr(storage.tempfile, "mkstemp", denied)
    with pytest.raises(storage.StorageError, match=f"{tmp_path} is not writable: fix its permissions"):
        storage.write_json(tmp_path / "summary.json", {"a": 1})


def test_other_write_failures_are_not_disguised(tmp_path):
    with pytest.raises(RuntimeError):
        with storage.atomic_file(tmp_path / "x.npz"):
            raise RuntimeError("a bug, not a disk problem")


def test_shard_stops_on_nan_predictions_and_names_the_regions(stores, tmp_path, monkeypatch):
    regions, references = stores
    original = SmallCNN.forward

    def forward(self, X):
        output = original(self, X)
        # Regions whose first base is A give NaN.
        return torch.where(X[:, 0:1, 0] == 1, torch.full_like(output, float("nan")), output)

    monkeypatch.setattr(SmallCNN, "forward", forward)
    first_is_a = storage.read_region_store(regions).onehot[:, 0, 0] == 1
    assert first_is_a.any()
    expected = storage.read_region_store(regions).ids[first_is_a][0]
    with pytest.raises(SeqliftError, match=f"NaN or Inf.*{expected}"):
        pipeline.run_attribution_shard(CONFIG, regions, references, "1-of-1", "1-of-1", tmp_path / "s.npz")
    assert not (tmp_path / "s.npz").exists()


def test_a_nan_shard_names_every_bad_region_not_only_the_first_failing_batch(tmp_path, monkeypatch):
    """60 regions in chunks of 4: the engine stops in the first chunk with a NaN, the message
    still counts every region whose f(x) or an f(r) is NaN, names the first 20, counts the rest."""
    regions, references = tmp_path / "regions.zarr", tmp_path / "references.zarr"
    storage.write_region_store(regions, _region_store(n=60, seed=4))
    pipeline.make_references(regions, references, "dinucleotide_shuffle", N_REFERENCES, seed=3)
    original = SmallCNN.forward

    def forward(self, X):
        output = original(self, X)
        # Sequences starting with A or C give NaN (a shuffle keeps its region's first base).
        bad_rows = (X[:, 0:1, 0] == 1) | (X[:, 1:2, 0] == 1)
        return torch.where(bad_rows, torch.full_like(output, float("nan")), output)

    monkeypatch.setattr(SmallCNN, "forward", forward)
    store = storage.read_region_store(regions)
    bad = [str(i) for i in store.ids[(store.onehot[:, 0, 0] == 1) | (store.onehot[:, 1, 0] == 1)]]
    assert len(bad) > 20
    with pytest.raises(SeqliftError) as error:
        pipeline.run_attribution_shard(
            CONFIG, regions, references, "1-of-1", "1-of-1", tmp_path / "s.npz", batch_size=8,
            regions_per_chunk=4,
        )
    assert str(error.value) == (
        f"the model returned NaN or Inf for {len(bad)} region(s) of shard 1-of-1: {', '.join(bad[:20])} "
        f"and {len(bad) - 20} more; check the model and these sequences (e.g. a window of only N)"
    )
    assert sorted(os.listdir(tmp_path)) == ["references.zarr", "regions.zarr"]


def test_shard_rejects_a_target_the_model_does_not_have(stores, tmp_path):
    regions, references = stores
    with pytest.raises(InputError, match=r"targets \[5\] are out of range: the model has 2 outputs"):
        pipeline.run_attribution_shard(
            CONFIG | {"targets": [5]}, regions, references, "1-of-1", "1-of-1", tmp_path / "s.npz"
        )


def test_shard_names_the_width_when_the_model_cannot_take_it(stores, tmp_path):
    regions, references = stores
    wrong = CONFIG | {"model": MODEL | {"kwargs": MODEL["kwargs"] | {"sequence_length": 64}}}
    with pytest.raises(InputError, match=f"width {WIDTH}"):
        pipeline.run_attribution_shard(wrong, regions, references, "1-of-1", "1-of-1", tmp_path / "s.npz")


def test_extract_regions_to_store_writes_all_three_outputs(tmp_path):
    rng = np.random.default_rng(1)
    sequence = "".join(rng.choice(list("ACGT"), 400))
    (tmp_path / "genome.fa").write_text(">chr1\n" + "\n".join(sequence[i : i + 50] for i in range(0, 400, 50)) + "\n")
    (tmp_path / "peaks.bed").write_text("chr1\t100\t140\nchr1\t390\t400\nchr1\t200\t300\n")
    store = pipeline.extract_regions_to_store(
        tmp_path / "peaks.bed", tmp_path / "genome.fa", 20,
        tmp_path / "regions.bed", tmp_path / "dropped.tsv", tmp_path / "regions.zarr",
    )
    assert list(store.ids) == ["region_000000", "region_000002"]
    assert list(store.numbers) == [0, 2]
    back = storage.read_region_store(tmp_path / "regions.zarr")
    assert np.array_equal(back.starts, [110, 240])
    codes = "ACGT"
    assert "".join(codes[i] for i in back.onehot[0].argmax(0)) == sequence[110:130]
    dropped = (tmp_path / "dropped.tsv").read_text().splitlines()
    assert len(dropped) == 2 and dropped[1].split("\t")[1:4] == ["chr1", "390", "400"]
    assert json.loads(json.dumps(dict(zarr.open_group(str(tmp_path / "regions.zarr"), mode="r").attrs)))["width"] == 20

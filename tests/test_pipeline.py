"""The workflow's references, attribution and aggregate stages (and the regions stage's store)
as library calls.

These run the same functions the Snakemake scripts call, without Snakemake, on a small seeded
CNN from seqlift.zoo; tests/test_workflow.py runs them through the Snakemake CLI.

The model runs in float64 so that the convergence deltas, which are round-off by nature
(about 1e-7 of f(x) in float32), can be compared between shard layouts to 1e-6 as well.
"""

import json
import os

import numpy as np
import pytest
import torch
import zarr
from helpers import (
    N_REFERENCES,
    STAGE_CONFIG,
    TINY_MODEL,
    WIDTH,
    fail_chunk_writes_after,
    region_store,
    write_bed,
    write_genome,
)

import seqlift
from seqlift._utils import LISTED
from seqlift.engine import deep_lift_shap
from seqlift.errors import InputError, SeqliftError
from seqlift.pipeline import attribution, config, storage
from seqlift.pipeline.aggregate import ShardMismatchError, aggregate_shards
from seqlift.pipeline.references import load_references, make_references
from seqlift.pipeline.regions import extract_regions_to_store
from seqlift.references import dinucleotide_shuffle, region_seed
from seqlift.zoo import SmallCNN

N_REGIONS = 7
MODEL = TINY_MODEL
CONFIG = STAGE_CONFIG


def _run(stores, tmp_path, n_shards, n_blocks, config=CONFIG, folder="run"):
    regions, references = stores
    paths = []
    for shard in range(1, n_shards + 1):
        for block in range(1, n_blocks + 1):
            path = tmp_path / folder / f"{shard}-of-{n_shards}" / f"block_{block}-of-{n_blocks}.zarr"
            attribution.run_attribution_shard(
                config, regions, references, f"{shard}-of-{n_shards}", f"{block}-of-{n_blocks}", path,
                batch_size=5,
            )
            paths.append(path)
    out = tmp_path / folder / "attributions.zarr"
    aggregate_shards(paths, regions, references, out, config)
    return zarr.open_group(str(out), mode="r"), paths


def _stacked(group, name):
    return np.stack([np.asarray(group[f"{name}/{t}"][:]) for t in ("target_0", "second")])


def _shard(path):
    group = storage.open_shard(path)
    return {name: np.asarray(group[name][...]) for name in storage.SHARD_ARRAYS}


# ---------------------------------------------------------------------------------------------
# Sharding helpers


def test_split_range_covers_every_index_once_in_near_equal_parts():
    for n in (0, 1, 7, 10, 1001):
        for n_parts in (1, 2, 3, 8):
            parts = [attribution.split_range(n, n_parts, p) for p in range(n_parts)]
            covered = [i for start, stop in parts for i in range(start, stop)]
            assert covered == list(range(n))
            sizes = [stop - start for start, stop in parts]
            assert max(sizes) - min(sizes) <= 1


def test_split_range_rejects_a_part_outside_the_count():
    with pytest.raises(ValueError):
        attribution.split_range(10, 3, 3)


def test_parse_scatteritem_is_zero_based_and_checks_bounds():
    assert attribution.parse_scatteritem("1-of-3") == (0, 3)
    assert attribution.parse_scatteritem("3-of-3") == (2, 3)
    for bad in ("0-of-3", "4-of-3", "1of3", "a-of-b"):
        with pytest.raises(ValueError):
            attribution.parse_scatteritem(bad)


# ---------------------------------------------------------------------------------------------
# References


def test_references_are_the_seeded_shuffles_of_each_region(stores):
    regions, references = stores
    X = torch.as_tensor(storage.read_region_store(regions).onehot, dtype=torch.float32)
    numbers = storage.read_region_store(regions).numbers
    expected = dinucleotide_shuffle(
        X, n=N_REFERENCES, random_state=[region_seed(3, int(k)) for k in numbers]
    )
    stored = load_references(references, slice(None), slice(None), N_REGIONS)
    assert torch.equal(stored, expected.float())
    kind, codes = storage.read_reference_store(references)
    assert kind == "codes" and codes.dtype == np.uint8 and codes.shape == (N_REGIONS, N_REFERENCES, WIDTH)


def test_a_regions_references_do_not_depend_on_the_other_regions(tmp_path):
    full = region_store()
    keep = [1, 4, 6]
    subset = storage.RegionStore(
        onehot=full.onehot[keep], ids=full.ids[keep], chroms=full.chroms[keep],
        starts=full.starts[keep], ends=full.ends[keep], numbers=full.numbers[keep],
    )
    storage.write_region_store(tmp_path / "full.zarr", full)
    storage.write_region_store(tmp_path / "subset.zarr", subset)
    make_references(tmp_path / "full.zarr", tmp_path / "full_refs.zarr", n=4, seed=9)
    make_references(tmp_path / "subset.zarr", tmp_path / "subset_refs.zarr", n=4, seed=9)
    _, full_codes = storage.read_reference_store(tmp_path / "full_refs.zarr")
    _, subset_codes = storage.read_reference_store(tmp_path / "subset_refs.zarr")
    assert np.array_equal(full_codes[keep], subset_codes)


def test_uniform_references_are_stored_once_and_are_a_quarter_everywhere(tmp_path):
    storage.write_region_store(tmp_path / "r.zarr", region_store())
    make_references(tmp_path / "r.zarr", tmp_path / "u.zarr", "uniform", n=3)
    kind, shared = storage.read_reference_store(tmp_path / "u.zarr")
    assert kind == "shared" and shared.shape == (3, 4, WIDTH)
    loaded = load_references(tmp_path / "u.zarr", slice(2, 5), slice(0, 2), 3)
    assert loaded.shape == (3, 2, 4, WIDTH)
    assert torch.all(loaded == 0.25)


def test_references_from_a_file_must_match_the_kept_regions(tmp_path):
    storage.write_region_store(tmp_path / "r.zarr", region_store())
    onehot = np.eye(4, dtype=np.float32)[np.zeros((N_REGIONS, 2, WIDTH), dtype=int)]
    np.save(tmp_path / "refs.npy", onehot.transpose(0, 1, 3, 2))
    make_references(tmp_path / "r.zarr", tmp_path / "f.zarr", "file", n=2, file=tmp_path / "refs.npy")
    loaded = load_references(tmp_path / "f.zarr", slice(None), slice(None), N_REGIONS)
    assert torch.all(loaded[:, :, 0] == 1) and torch.all(loaded[:, :, 1:] == 0)
    np.save(tmp_path / "short.npy", onehot.transpose(0, 1, 3, 2)[:3])
    with pytest.raises(InputError, match="3 regions"):
        make_references(
            tmp_path / "r.zarr", tmp_path / "g.zarr", "file", n=2, file=tmp_path / "short.npy"
        )


# ---------------------------------------------------------------------------------------------
# Shards and aggregation


def test_aggregate_equals_one_direct_deep_lift_shap_call(stores, tmp_path):
    group, _ = _run(stores, tmp_path, n_shards=1, n_blocks=1)
    regions, references = stores
    X = torch.as_tensor(storage.read_region_store(regions).onehot, dtype=torch.float32)
    R = load_references(references, slice(None), slice(None), N_REGIONS)
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [4, 12, 32])
def test_chunk_size_does_not_change_a_shard_by_a_single_bit(stores, tmp_path, batch_size):
    """float32 model; with 6 references, batches hold part of an example, 2 or 5 examples."""
    regions, references = stores
    config = CONFIG | {"dtype": "float32"}
    results, headers = {}, {}
    for chunk in (1, 2, 3, N_REGIONS):
        path = tmp_path / f"chunk{chunk}.zarr"
        attribution.run_attribution_shard(
            config, regions, references, "1-of-1", "1-of-1", path, batch_size=batch_size,
            regions_per_chunk=chunk,
        )
        assert storage.open_shard(path)["hypothetical_sum"].chunks[1] == chunk
        assert len(os.listdir(path / "deltas" / "c" / "0")) == -(-N_REGIONS // chunk)
        results[chunk], headers[chunk] = _shard(path), storage.read_shard_header(path)
    for chunk in (1, 2, 3):
        for name in storage.SHARD_ARRAYS:
            assert results[chunk][name].tobytes() == results[N_REGIONS][name].tobytes(), (chunk, name)
        assert headers[chunk] == headers[N_REGIONS]


def test_shard_chunks_fit_the_memory_budget_and_whole_batches():
    # Demo: 20 references of 250 bp, 3 targets: 104 kB per region.
    assert attribution.shard_chunk_size(20, 250, 3, 32) == attribution.CHUNK_BYTES // 104_000
    # 4 examples per batch of 80 pairs: chunks are multiples of 4.
    assert attribution.shard_chunk_size(20, 250, 3, 80) % 4 == 0
    # Beluga-sized windows still get at least one batch of examples.
    assert attribution.shard_chunk_size(20, 100_000, 1, 64) == 3


@pytest.mark.slow
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
    attribution.run_attribution_shard(reseeded, regions, references, "2-of-2", "1-of-1", paths[1])
    with pytest.raises(ShardMismatchError, match="config_hash") as error:
        aggregate_shards(paths, regions, references, tmp_path / "mixed.zarr", CONFIG)
    assert str(paths[1]) in str(error.value) and str(paths[0]) not in str(error.value)
    assert not (tmp_path / "mixed.zarr").exists()


def test_aggregation_refuses_shards_from_another_model_or_version(stores, tmp_path):
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=2, n_blocks=1)
    zarr.open_group(str(paths[0]), mode="r+").attrs["seqlift_version"] = "0.0.1"
    with pytest.raises(ShardMismatchError, match="seqlift_version '0.0.1'"):
        aggregate_shards(paths, regions, references, tmp_path / "x.zarr", CONFIG)
    reseeded_model = CONFIG | {"model": MODEL | {"kwargs": MODEL["kwargs"] | {"seed": 2}}}
    # A different model also changes the config hash; both are named.
    with pytest.raises(ShardMismatchError, match="model_checksum"):
        aggregate_shards(paths[1:], regions, references, tmp_path / "y.zarr", reseeded_model)


def test_aggregation_counts_each_mismatched_shard_once_and_gives_the_seed_hint_once(stores, tmp_path):
    """Two shards of an unseeded-looking model: "2 shard file(s)", not one per line of the message."""
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=2, n_blocks=1)
    reseeded_model = CONFIG | {"model": MODEL | {"kwargs": MODEL["kwargs"] | {"seed": 2}}}
    with pytest.raises(ShardMismatchError) as error:
        aggregate_shards(paths, regions, references, tmp_path / "x.zarr", reseeded_model)
    message = str(error.value)
    assert message.startswith("2 shard file(s) were made with another config, model or seqlift version")
    assert [line.split(":")[0].strip() for line in message.splitlines() if line.startswith("  ")] == [
        str(path) for path in paths
    ]
    assert message.count("(A model without model.weights must build the same weights every time") == 1


def test_aggregation_refuses_shards_that_do_not_cover_every_region(stores, tmp_path):
    regions, references = stores
    _, paths = _run(stores, tmp_path, n_shards=3, n_blocks=2)
    with pytest.raises(ShardMismatchError, match="uncovered"):
        aggregate_shards(paths[2:], regions, references, tmp_path / "x.zarr", CONFIG)
    with pytest.raises(ShardMismatchError, match="reference blocks"):
        aggregate_shards(paths[:-1], regions, references, tmp_path / "y.zarr", CONFIG)


def test_shard_header_records_ranges_and_provenance(stores, tmp_path):
    _, paths = _run(stores, tmp_path, n_shards=3, n_blocks=2)
    header = storage.read_shard_header(paths[3])  # shard 2-of-3, block 2-of-2
    assert (header["region_start"], header["region_stop"]) == (2, 4)
    assert (header["reference_start"], header["reference_stop"]) == (3, 6)
    assert header["config_hash"] == config.config_hash(CONFIG)
    assert header["seqlift_version"] == seqlift.__version__


def test_a_full_disk_gives_a_clear_error_and_no_shard_group(stores, tmp_path, monkeypatch):
    regions, references = stores
    chunk_writes = fail_chunk_writes_after(monkeypatch, 4)  # the first chunk's four arrays
    out = tmp_path / "shards" / "1-of-1" / "block_1-of-1.zarr"
    with pytest.raises(storage.StorageError, match=f"cannot write {out}: No space left on device; the disk"):
        attribution.run_attribution_shard(
            CONFIG, regions, references, "1-of-1", "1-of-1", out, regions_per_chunk=2
        )
    assert len(chunk_writes) == 5
    assert os.listdir(out.parent) == []


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
        attribution.run_attribution_shard(CONFIG, regions, references, "1-of-1", "1-of-1", tmp_path / "s.zarr")
    assert not (tmp_path / "s.zarr").exists()


def test_a_nan_shard_names_every_bad_region_not_only_the_first_failing_batch(tmp_path, monkeypatch):
    """60 regions in chunks of 4: the engine stops in the first chunk with a NaN, the message
    still counts every region whose f(x) or an f(r) is NaN, names the first LISTED, counts the rest."""
    regions, references = tmp_path / "regions.zarr", tmp_path / "references.zarr"
    storage.write_region_store(regions, region_store(n=60, seed=4))
    make_references(regions, references, "dinucleotide_shuffle", N_REFERENCES, seed=3)
    original = SmallCNN.forward

    def forward(self, X):
        output = original(self, X)
        # Sequences starting with A or C give NaN (a shuffle keeps its region's first base).
        bad_rows = (X[:, 0:1, 0] == 1) | (X[:, 1:2, 0] == 1)
        return torch.where(bad_rows, torch.full_like(output, float("nan")), output)

    monkeypatch.setattr(SmallCNN, "forward", forward)
    store = storage.read_region_store(regions)
    bad = [str(i) for i in store.ids[(store.onehot[:, 0, 0] == 1) | (store.onehot[:, 1, 0] == 1)]]
    assert len(bad) > LISTED
    with pytest.raises(SeqliftError) as error:
        attribution.run_attribution_shard(
            CONFIG, regions, references, "1-of-1", "1-of-1", tmp_path / "s.zarr", batch_size=8,
            regions_per_chunk=4,
        )
    assert str(error.value) == (
        f"the model returned NaN or Inf for {len(bad)} region(s) of shard 1-of-1: "
        f"{', '.join(bad[:LISTED])} and {len(bad) - LISTED} more; check the model and these "
        "sequences (e.g. a window of only N)"
    )
    assert sorted(os.listdir(tmp_path)) == ["references.zarr", "regions.zarr"]


def test_shard_rejects_a_target_the_model_does_not_have(stores, tmp_path):
    regions, references = stores
    with pytest.raises(InputError, match=r"targets 5 are out of range: the model has 2 outputs"):
        attribution.run_attribution_shard(
            CONFIG | {"targets": [5]}, regions, references, "1-of-1", "1-of-1", tmp_path / "s.zarr"
        )


def test_shard_names_the_width_when_the_model_cannot_take_it(stores, tmp_path):
    regions, references = stores
    wrong = CONFIG | {"model": MODEL | {"kwargs": MODEL["kwargs"] | {"sequence_length": 64}}}
    with pytest.raises(InputError, match=f"width {WIDTH}"):
        attribution.run_attribution_shard(wrong, regions, references, "1-of-1", "1-of-1", tmp_path / "s.zarr")


def test_extract_regions_to_store_writes_all_three_outputs_and_carries_the_numbers(tmp_path):
    sequence = write_genome(tmp_path / "genome.fa", {"chr1": 400}, seed=1)["chr1"]
    write_bed(tmp_path / "peaks.bed", [("chr1", 100, 140), ("chr1", 390, 400), ("chr1", 200, 300)])
    store = extract_regions_to_store(
        tmp_path / "peaks.bed", tmp_path / "genome.fa", 20,
        tmp_path / "regions.bed", tmp_path / "dropped.tsv", tmp_path / "regions.zarr",
    )
    assert list(store.ids) == ["region_000000", "region_000002"]
    assert list(store.numbers) == [0, 2]
    back = storage.read_region_store(tmp_path / "regions.zarr")
    assert np.array_equal(back.starts, [110, 240])
    assert list(back.numbers) == [0, 2]
    codes = "ACGT"
    assert "".join(codes[i] for i in back.onehot[0].argmax(0)) == sequence[110:130]
    dropped = (tmp_path / "dropped.tsv").read_text().splitlines()
    assert len(dropped) == 2 and dropped[1].split("\t")[1:4] == ["chr1", "390", "400"]
    bed = [line.split("\t") for line in (tmp_path / "regions.bed").read_text().splitlines()[1:]]
    assert [(row[3], row[-1]) for row in bed] == [("region_000000", "0"), ("region_000002", "2")]
    assert json.loads(json.dumps(dict(zarr.open_group(str(tmp_path / "regions.zarr"), mode="r").attrs)))["width"] == 20


def test_references_are_seeded_by_the_stored_number_not_the_id(tmp_path):
    """Two regions with the same number (whatever their ids say) get the same references."""
    written = region_store(n=2, numbers=[7, 7])
    written.onehot[1] = written.onehot[0]
    written.ids[1] = "renamed"
    storage.write_region_store(tmp_path / "r.zarr", written)
    make_references(tmp_path / "r.zarr", tmp_path / "refs.zarr", n=4, seed=9)
    _, codes = storage.read_reference_store(tmp_path / "refs.zarr")
    assert np.array_equal(codes[0], codes[1])

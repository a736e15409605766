"""seqlift.pipeline.storage: atomic writes, the region store and shard groups.

attributions.zarr is written by the aggregate stage (tests/test_pipeline.py) and read by qc,
plots and exports (their tests).
"""

import errno
import os
import tempfile

import numpy as np
import pytest
from helpers import fail_chunk_writes_after, region_store

from seqlift.pipeline import storage


def _shard_arrays(rng, n_targets=2, n=7, k=3, width=5):
    return [
        rng.normal(size=(n_targets, n, 4, width)), rng.normal(size=(n_targets, n, k)),
        rng.normal(size=(n_targets, n)), rng.normal(size=(n_targets, n, k)),
    ]


# ---------------------------------------------------------------------------------------------
# Atomic writes


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


def test_rewriting_a_path_removes_what_a_killed_write_of_it_left_and_nothing_else(tmp_path):
    """A SIGKILL leaves the temporaries in place; their names are made as the writers make them."""

    def leftover(name, suffix="", folder=False):
        if folder:
            path = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=tmp_path)
            open(os.path.join(path, "zarr.json"), "w").close()
            return os.path.basename(path)
        handle, path = tempfile.mkstemp(prefix=f".{name}.tmp-", suffix=suffix, dir=tmp_path)
        os.close(handle)
        return os.path.basename(path)

    own = [leftover("block_1-of-2.zarr", folder=True), leftover("block_1-of-2.zarr", folder=True)]
    others = [
        leftover("block_2-of-2.zarr", folder=True), leftover("block_1-of-2.zarr.bak", folder=True),
        leftover("block_1-of-2"), leftover("summary.json", ".json"),
    ]
    with storage.write_shard(tmp_path / "block_1-of-2.zarr", {}, 1, 0, 2, 5, 4) as shard:
        shard.append(np.zeros((1, 0, 4, 5)), np.zeros((1, 0, 2)), np.zeros((1, 0)), np.zeros((1, 0, 2)))
    assert sorted(os.listdir(tmp_path)) == sorted(["block_1-of-2.zarr", *others])
    assert not set(own) & set(os.listdir(tmp_path))

    stale_file = leftover("summary.json", ".json")
    storage.write_json(tmp_path / "summary.json", {"status": "pass"})
    assert stale_file not in os.listdir(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(["block_1-of-2.zarr", "summary.json", *others[:-1]])


def test_a_full_disk_names_the_path_and_what_to_do(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.tempfile, "mkstemp", full)
    with pytest.raises(storage.StorageError) as error:
        storage.write_json(tmp_path / "summary.json", {"a": 1})
    assert str(error.value) == (
        f"[Errno 28] cannot write {tmp_path / 'summary.json'}: No space left on device; the disk "
        "(or your quota) is full: free space, or write the results elsewhere with snakemake "
        "--directory"
    )


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


def test_write_json_keeps_the_key_order(tmp_path):
    storage.write_json(tmp_path / "a.json", {"status": "pass", "a": [1, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "status": "pass",\n  "a": [\n    1,\n    2\n  ]\n}\n'


# ---------------------------------------------------------------------------------------------
# regions.zarr


def test_region_store_round_trips_ids_numbers_and_slices(tmp_path):
    written = region_store()
    storage.write_region_store(tmp_path / "r.zarr", written)
    back = storage.read_region_store(tmp_path / "r.zarr", 2, 5)
    assert list(back.ids) == list(written.ids[2:5])
    assert np.array_equal(back.onehot, written.onehot[2:5])
    assert np.array_equal(back.numbers, written.numbers[2:5])
    assert np.array_equal(back.starts, written.starts[2:5])
    table = storage.read_region_table(tmp_path / "r.zarr")
    assert len(table) == 7 and table.onehot.shape == (0, 4, written.onehot.shape[-1])
    assert list(table.numbers) == list(written.numbers)
    assert storage.count_regions(tmp_path / "r.zarr") == 7
    assert storage.region_width(tmp_path / "r.zarr") == written.onehot.shape[-1]


# ---------------------------------------------------------------------------------------------
# Shard groups


def test_a_shard_group_round_trips_float64_sums_and_its_header(tmp_path):
    whole = _shard_arrays(np.random.default_rng(0))
    header = {"config_hash": "abc", "region_start": 3, "targets": [{"index": 0, "name": "a"}]}
    with storage.write_shard(tmp_path / "shard.zarr", header, 2, 7, 3, 5, 7) as shard:
        shard.append(*whole)
    assert storage.read_shard_header(tmp_path / "shard.zarr") == header
    group = storage.open_shard(tmp_path / "shard.zarr")
    for name, array in zip(storage.SHARD_ARRAYS, whole, strict=True):
        assert group[name].dtype == np.float64
        assert np.array_equal(group[name][...], array), name
    (codec,) = group["hypothetical_sum"].compressors
    assert (codec.cname.value, codec.clevel, codec.shuffle.value, codec.typesize) == ("zstd", 5, "shuffle", 8)


def test_a_shard_is_chunked_by_the_regions_appended_at_a_time(tmp_path):
    whole = _shard_arrays(np.random.default_rng(1))
    with storage.write_shard(tmp_path / "shard.zarr", {"region_start": 0}, 2, 7, 3, 5, 3) as shard:
        for first, last in ((0, 3), (3, 3), (3, 6), (6, 7)):
            shard.append(*(array[:, first:last] for array in whole))
        assert shard.n_written == 7
        assert not (tmp_path / "shard.zarr").exists()  # appears only when complete
    group = storage.open_shard(tmp_path / "shard.zarr")
    assert group["hypothetical_sum"].chunks == (2, 3, 4, 5)
    assert group["deltas"].chunks == (2, 3, 3)
    # Each appended chunk of whole regions is one chunk file per array (3 + 3 + 1 regions).
    assert sorted(os.listdir(tmp_path / "shard.zarr" / "hypothetical_sum" / "c" / "0")) == ["0", "1", "2"]
    for start, stop in ((0, 7), (2, 5), (3, 4), (5, 5), (6, 7)):
        assert np.array_equal(group["hypothetical_sum"][:, start:stop], whole[0][:, start:stop])
        assert np.array_equal(group["reference_predictions"][:, start:stop], whole[3][:, start:stop])


def test_a_shard_must_receive_every_region_it_was_made_for(tmp_path):
    whole = _shard_arrays(np.random.default_rng(2))
    with pytest.raises(ValueError, match="5 of the shard's 7 regions were appended"):
        with storage.write_shard(tmp_path / "shard.zarr", {}, 2, 7, 3, 5, 5) as shard:
            shard.append(*(array[:, :5] for array in whole))
    with pytest.raises(ValueError, match="disagree on the number of regions"):
        with storage.write_shard(tmp_path / "shard.zarr", {}, 2, 7, 3, 5, 5) as shard:
            shard.append(whole[0], whole[1][:, :2], whole[2], whole[3])
    assert os.listdir(tmp_path) == []


def test_an_interrupted_shard_writer_leaves_no_folder(tmp_path):
    whole = _shard_arrays(np.random.default_rng(3))
    with pytest.raises(KeyboardInterrupt):
        with storage.write_shard(tmp_path / "shard.zarr", {}, 2, 7, 3, 5, 2) as shard:
            shard.append(*(array[:, :2] for array in whole))
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_full_disk_while_a_shard_streams_leaves_no_folder(tmp_path, monkeypatch):
    chunk_writes = fail_chunk_writes_after(monkeypatch, 4)  # the first chunk's four arrays
    whole = _shard_arrays(np.random.default_rng(4))
    out = tmp_path / "shards" / "block_1-of-1.zarr"
    with pytest.raises(storage.StorageError, match=f"cannot write {out}: No space left on device; the disk"):
        with storage.write_shard(out, {}, 2, 7, 3, 5, 4) as shard:
            shard.append(*(array[:, :4] for array in whole))
            shard.append(*(array[:, 4:] for array in whole))
    assert len(chunk_writes) == 5
    assert os.listdir(out.parent) == []


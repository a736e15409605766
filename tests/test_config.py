"""seqlift.pipeline.config: targets, the keys that make shards, provenance and shard counts."""

import gzip

import pytest
from helpers import STAGE_CONFIG

import seqlift
from seqlift.errors import InputError
from seqlift.pipeline import config

CONFIG = STAGE_CONFIG


def test_normalize_targets_names_unnamed_outputs_by_index():
    assert config.normalize_targets([2, {"index": 0, "name": "AP1"}, {"index": 1}]) == [
        {"index": 2, "name": "target_2"},
        {"index": 0, "name": "AP1"},
        {"index": 1, "name": "target_1"},
    ]


def test_normalized_targets_normalize_to_themselves():
    once = config.normalize_targets([2, {"index": 0, "name": None},
                                     {"head": "counts"}, {"head": "output", "output": 0,
                                                          "index": 3}])
    assert config.normalize_targets(once) == once


def test_targets_that_name_heads_keep_them_and_are_named_after_them():
    assert config.normalize_targets([
        {"head": "profile"}, {"head": "counts", "index": None, "name": None, "output": None},
        {"head": "output", "output": 0, "index": 7, "name": "bin7"},
    ]) == [
        {"index": 0, "name": "profile", "head": "profile", "output": None},
        {"index": 0, "name": "counts", "head": "counts", "output": None},
        {"index": 7, "name": "bin7", "head": "output", "output": 0},
    ]


def test_targets_without_heads_are_what_they_were():
    # The schema fills head: output and output: null; the targets (and the config hash) of a
    # model with one output stay {index, name}.
    assert config.normalize_targets([{"index": 1, "name": None, "head": "output",
                                      "output": None}]) == [{"index": 1, "name": "target_1"}]
    assert not config.uses_heads(config.normalize_targets([0, 1]))
    assert config.uses_heads(config.normalize_targets([{"head": "counts"}]))


@pytest.mark.parametrize(
    "targets, message",
    [
        ([], "empty"),
        ([{"index": 0, "name": "a"}, {"index": 1, "name": "a"}], "names a are used more than once"),
        ([{"index": 0, "name": "a/b"}], "folder name"),
        ([-1], "non-negative"),
        ([{"name": "a"}], "needs its output column as 'index'"),
        ([{"head": "profiles"}], "head 'profiles' is not one of output, counts, profile"),
        ([{"head": "output", "output": -1, "index": 0}], "output -1 is not"),
    ],
)
def test_normalize_targets_rejects_unusable_targets(targets, message):
    with pytest.raises(InputError, match=message):
        config.normalize_targets(targets)


def test_config_hash_covers_only_keys_that_change_numbers():
    base = config.config_hash(CONFIG)
    unrelated = {"batch_size": 7, "qc": {"delta_threshold": 1}, "sharding": {"keep_shards": False}}
    assert config.config_hash(CONFIG | unrelated) == base
    assert config.config_hash(config.attribution_config(CONFIG)) == base
    reseeded = CONFIG | {"references": CONFIG["references"] | {"seed": 4}}
    assert config.config_hash(reseeded) != base
    assert config.config_hash(CONFIG | {"dtype": "float32"}) != base


def test_provenance_is_the_config_hash_model_checksum_and_version():
    assert config.provenance(CONFIG, "sha256:abc") == {
        "config_hash": config.config_hash(CONFIG),
        "model_checksum": "sha256:abc",
        "seqlift_version": seqlift.__version__,
    }


def test_default_shard_count_rounds_up_and_survives_a_missing_file(tmp_path):
    bed = tmp_path / "peaks.bed"
    bed.write_text("".join(f"chr1\t{i}\t{i + 1}\n" for i in range(2500)))
    assert config.default_shard_count(bed, 1000) == 3
    assert config.default_shard_count(bed, 2500) == 1
    assert config.default_shard_count(tmp_path / "missing.bed", 1000) == 1
    with pytest.raises(InputError, match="regions_per_shard must be at least 1"):
        config.default_shard_count(bed, 0)


def test_shard_counts_skip_headers_comments_and_blank_lines(tmp_path):
    from seqlift.pipeline.regions import count_bed_rows

    text = "track name=x\nbrowser position chr1\n# comment\nchr1\t1\t5\n\nchr1\t7\t9\nchr2\t0\t3\n"
    plain = tmp_path / "peaks.bed"
    plain.write_text(text)
    packed = tmp_path / "peaks.bed.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert count_bed_rows(plain) == 3
    assert count_bed_rows(packed) == 3
    assert config.default_shard_count(packed, 2) == 2


def test_the_workflow_parses_without_importing_torch_or_zarr():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import seqlift.models, seqlift.pipeline.config\n"
        "from seqlift.pipeline.config import default_shard_count\n"
        "default_shard_count('missing.bed', 10)\n"
        "print(sorted({'torch', 'zarr'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

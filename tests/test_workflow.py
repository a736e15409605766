"""The Snakemake workflow, run through its CLI in temporary folders on the tiny project.

The tiny project is described in tests/helpers.py. Runs are shared between tests through
module-scoped fixtures to keep the whole file near two minutes on two cores.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import jsonschema
import numpy as np
import pytest
import torch
import yaml
from helpers import (
    BED_ROWS,
    N_REFERENCES,
    ROOT,
    SCHEMA,
    SEED,
    SNAKEFILE,
    TARGETS,
    TINY_CONFIG,
    WIDTH,
    job_counts,
    open_attributions,
    results_of,
    run_snakemake,
    stacked,
    write_tiny_project,
)

from seqlift.engine import deep_lift_shap
from seqlift.pipeline import storage
from seqlift.references import dinucleotide_shuffle, region_seed
from seqlift.zoo import SmallCNN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Everything (rule all) with the default layout: one shard, one reference block."""
    folder = write_tiny_project(tmp_path_factory.mktemp("full"))
    run_snakemake(folder)
    return folder


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory):
    """attributions.zarr only, with 3 region shards x 2 reference blocks."""
    folder = write_tiny_project(tmp_path_factory.mktemp("sharded"))
    run_snakemake(folder, "results/tiny/attributions.zarr", "--set-scatter", "shards=3", "reference_blocks=2")
    return folder


def test_full_run_writes_every_stage_output(full_run):
    results = results_of(full_run)
    kept = [line.split("\t")[3] for line in (results / "regions.bed").read_text().splitlines()[1:]]
    assert kept == [f"region_{i:06d}" for i in range(len(BED_ROWS)) if i != 2]
    dropped = (results / "dropped_regions.tsv").read_text().splitlines()[1:]
    assert len(dropped) == 1 and dropped[0].split("\t")[1:4] == ["chr1", "2990", "3000"]
    summary = json.loads((results / "qc" / "summary.json").read_text())
    assert summary["status"] == "pass"
    assert set(summary["targets"]) == set(TARGETS)
    for target in TARGETS:
        rows = (results / "qc" / f"convergence_{target}.tsv").read_text().splitlines()
        assert len(rows) == 1 + len(kept)
        assert (results / "plots" / f"logos_{target}.png").stat().st_size > 1000
        assert (results / "exports" / target / "projected.bw").stat().st_size > 0
    for figure in ("delta_histogram", "mean_profile", "motif_recovery"):
        assert (results / "plots" / f"{figure}.png").stat().st_size > 1000
    assert "AP1" in json.loads((results / "qc" / "motif_recovery.json").read_text())["motif_names"]


def test_exports_hold_the_aggregated_scores(full_run):
    group = open_attributions(full_run)
    exports = results_of(full_run) / "exports"
    for target in TARGETS:
        hypothetical = np.asarray(group[f"hypothetical/{target}"][:])
        with np.load(exports / target / "attr.npz") as attr:
            assert np.array_equal(attr["arr_0"], hypothetical)
        with np.load(exports / target / "ohe.npz") as ohe:
            assert np.array_equal(ohe["arr_0"], np.asarray(group["onehot"][:]))
        with h5py.File(exports / target / "shap.h5", "r") as h5:
            assert np.array_equal(h5["shap/seq"][:], hypothetical)


def test_aggregated_results_equal_a_direct_library_call(full_run):
    group = open_attributions(full_run)
    X = torch.as_tensor(np.asarray(group["onehot"][:]), dtype=torch.float64)
    numbers = np.asarray(group["regions/number"][:])
    references = dinucleotide_shuffle(
        X, n=N_REFERENCES, random_state=[region_seed(SEED, int(k)) for k in numbers]
    )
    model = SmallCNN(n_outputs=2, sequence_length=WIDTH, seed=1).eval()
    hypothetical, deltas = deep_lift_shap(
        model, X, target=[0, 1], references=references, hypothetical=True, return_deltas=True,
        dtype=torch.float64,
    )
    expected = hypothetical.numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(stacked(group, "hypothetical"), expected, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(stacked(group, "deltas"), deltas.numpy(), rtol=0, atol=1e-6 * scale)
    with torch.no_grad():
        fx = model.double()(X).T.numpy()
    for index, target in enumerate(TARGETS):
        np.testing.assert_allclose(group[f"predictions/{target}/example"][:], fx[index], rtol=1e-6)
    assert group.attrs["n_references"] == N_REFERENCES
    assert group.attrs["config"]["references"]["seed"] == SEED


def test_shard_and_block_counts_do_not_change_results(full_run, sharded_run):
    """1 shard x 1 block against 3 shards x 2 blocks (tests/test_pipeline.py varies each alone)."""
    one, many = open_attributions(full_run), open_attributions(sharded_run)
    shards = sorted(p.relative_to(results_of(sharded_run)) for p in results_of(sharded_run).glob("shards/*/*.zarr"))
    assert [str(p) for p in shards] == [
        f"shards/{s}-of-3/block_{b}-of-2.zarr" for s in (1, 2, 3) for b in (1, 2)
    ]
    expected = stacked(one, "hypothetical")
    scale = np.abs(expected).max()
    np.testing.assert_allclose(stacked(many, "hypothetical"), expected, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(stacked(many, "deltas"), stacked(one, "deltas"), rtol=0, atol=1e-6 * scale)
    for target in TARGETS:
        np.testing.assert_allclose(
            many[f"predictions/{target}/reference_mean"][:], one[f"predictions/{target}/reference_mean"][:],
            rtol=1e-6,
        )


def test_rerun_after_deleting_one_shard_recomputes_only_that_shard(sharded_run):
    """As after a run whose shard job was killed: that shard and the aggregate are missing."""
    results = results_of(sharded_run)
    before = stacked(open_attributions(sharded_run), "hypothetical")
    shards = sorted(results.glob("shards/*/*.zarr"))
    deleted = results / "shards" / "2-of-3" / "block_1-of-2.zarr"
    files = [path for shard in shards if shard != deleted for path in shard.rglob("*") if path.is_file()]
    mtimes = {path: path.stat().st_mtime_ns for path in files}
    shutil.rmtree(deleted)
    # With attributions.zarr still there Snakemake would not look back at its missing inputs.
    shutil.rmtree(results / "attributions.zarr")
    output = run_snakemake(
        sharded_run, "results/tiny/attributions.zarr", "--set-scatter", "shards=3", "reference_blocks=2"
    )
    counts = job_counts(output.stdout + output.stderr)
    assert counts["attribution"] == 1
    assert counts["aggregate"] == 1
    assert "references" not in counts and "regions" not in counts
    assert deleted.exists()
    assert {path: path.stat().st_mtime_ns for path in mtimes} == mtimes
    # The recomputed shard gives bit-identical results.
    assert np.array_equal(stacked(open_attributions(sharded_run), "hypothetical"), before)


def test_finished_runs_leave_no_temporary_files(full_run, sharded_run):
    for folder in (full_run, sharded_run):
        assert [p.name for p in results_of(folder).rglob("*") if ".tmp-" in p.name] == []


def test_report_is_one_html_file_naming_the_targets(full_run):
    report = results_of(full_run) / "report.html"
    run_snakemake(full_run, "--report", str(report))
    text = report.read_text(errors="replace")
    assert report.stat().st_size > 10_000
    assert "logos_second.png" in text and "delta_histogram.png" in text
    # The workflow description names the targets (and their outputs), not a list of dicts.
    # (The report embeds the text as a JSON string, where line breaks read "\n".)
    gap = r"(?:\s|\\n)+"
    assert re.search(rf"target_0{gap}\(output 0\),{gap}second{gap}\(output 1\) against", text)
    assert "{&#x27;index&#x27;" not in text and "{'index'" not in text


def test_weights_under_home_load_and_are_checksummed_where_the_loader_finds_them(tmp_path):
    """`weights: ~/model.pt` is an input of the shard jobs, loads, and shards and aggregation
    agree on its checksum (HOME is a temporary folder)."""
    import hashlib

    home = tmp_path / "home"
    home.mkdir()
    model = SmallCNN(n_outputs=2, sequence_length=WIDTH, seed=5)
    torch.save(model.state_dict(), home / "model.pt")
    checksum = "sha256:" + hashlib.sha256((home / "model.pt").read_bytes()).hexdigest()
    config = TINY_CONFIG | {"model": TINY_CONFIG["model"] | {"weights": "~/model.pt"}}
    folder = write_tiny_project(tmp_path / "project", config)
    env = os.environ | {"HOME": str(home)}
    run_snakemake(folder, "results/tiny/attributions.zarr", "--set-scatter", "shards=2", env=env)
    shards = sorted(results_of(folder).glob("shards/*/*.zarr"))
    assert len(shards) == 2
    assert [storage.read_shard_header(path)["model_checksum"] for path in shards] == [checksum] * 2
    group = open_attributions(folder)
    assert group.attrs["model_checksum"] == checksum
    # The weights in the home folder, not the factory's seed-1 initialisation, made the numbers.
    X = torch.as_tensor(np.asarray(group["onehot"][:2]), dtype=torch.float64)
    with torch.no_grad():
        fx = model.double()(X).T.numpy()
    np.testing.assert_allclose(group["predictions/target_0/example"][:2], fx[0], rtol=1e-6)
    # New weights in that file make its shards out of date (it is an input of the jobs).
    torch.save(SmallCNN(n_outputs=2, sequence_length=WIDTH, seed=6).state_dict(), home / "model.pt")
    planned = run_snakemake(folder, "-n", "results/tiny/attributions.zarr", "--set-scatter", "shards=2", env=env)
    assert job_counts(planned.stdout)["attribution"] == 2


def test_without_keep_shards_shards_go_once_aggregated_and_nothing_reruns(tmp_path):
    config = TINY_CONFIG | {"sharding": {"keep_shards": False}}
    folder = write_tiny_project(tmp_path, config)
    scatter = ("--set-scatter", "shards=2")
    run_snakemake(folder, "results/tiny/qc/summary.json", *scatter)
    results = results_of(folder)
    assert (results / "attributions.zarr").is_dir()
    assert list(results.glob("shards/*/*")) == []
    again = run_snakemake(folder, "-n", "results/tiny/qc/summary.json", *scatter)
    assert "Nothing to be done" in again.stdout + again.stderr
    # QC and plot settings are not part of what aggregation depends on.
    changed = config | {"qc": config["qc"] | {"delta_threshold": 0.5}, "plots": {"top_regions": 1}}
    (folder / "config.yaml").write_text(yaml.safe_dump(changed))
    planned = run_snakemake(folder, "-n", "results/tiny/qc/summary.json", *scatter)
    assert job_counts(planned.stdout) == {"qc": 1}


def test_default_shard_count_follows_regions_per_shard(tmp_path):
    folder = write_tiny_project(tmp_path, TINY_CONFIG | {"sharding": {"regions_per_shard": 2}})
    output = run_snakemake(folder, "-n", "results/tiny/attributions.zarr")
    assert job_counts(output.stdout)["attribution"] == 5  # ceil(9 BED rows / 2)
    output = run_snakemake(
        folder, "-n", "results/tiny/attributions.zarr", "--set-scatter", "shards=4", "reference_blocks=3"
    )
    assert job_counts(output.stdout)["attribution"] == 12


def test_qc_plots_and_exports_are_one_job_each_and_follow_the_switches(tmp_path):
    config = TINY_CONFIG | {"qc": {"truth_bed": None}, "exports": {"bigwig": False, "chrombpnet_h5": False}}
    output = run_snakemake(write_tiny_project(tmp_path, config), "-n")
    counts = job_counts(output.stdout)
    assert counts["qc"] == counts["plots"] == counts["exports"] == 1
    planned = output.stdout
    assert "motif_recovery" not in planned and "projected.bw" not in planned and "shap.h5" not in planned
    for target in TARGETS:
        assert f"results/tiny/exports/{target}/attr.npz" in planned
        assert f"results/tiny/plots/logos_{target}.png" in planned


def test_a_cuda_config_asks_each_shard_for_one_gpu(tmp_path):
    folder = write_tiny_project(tmp_path, TINY_CONFIG | {"device": "cuda"})
    output = run_snakemake(folder, "-n", "-p", "results/tiny/attributions.zarr")
    attribution = output.stdout.split("rule attribution:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"resources: .*gpu=1", attribution)
    cpu = run_snakemake(write_tiny_project(tmp_path / "cpu"), "-n", "results/tiny/attributions.zarr")
    assert re.search(r"resources: .*gpu=0", cpu.stdout.split("rule attribution:", 1)[1].split("\n\n", 1)[0])


def test_unknown_config_keys_stop_the_workflow_with_the_schema_message(tmp_path):
    folder = write_tiny_project(tmp_path, TINY_CONFIG | {"widht": 10})
    result = run_snakemake(folder, "-n", check=False)
    assert result.returncode != 0
    assert "widht" in result.stdout + result.stderr


def test_lint_and_snakefmt_are_clean(tmp_path):
    folder = write_tiny_project(tmp_path)
    lint = run_snakemake(folder, "--lint")
    assert "Congratulations" in lint.stdout + lint.stderr
    snakefmt = Path(sys.executable).parent / "snakefmt"
    files = [str(SNAKEFILE), str(ROOT / "workflow" / "rules")]
    check = subprocess.run([str(snakefmt), "--check", *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def _schema_branches(schema: dict) -> list[dict]:
    """The sub-schemas an instance may be checked against: oneOf/anyOf/allOf and if/then/else."""
    branches = [option for word in ("oneOf", "anyOf", "allOf") for option in schema.get(word, [])]
    branches += [schema[word] for word in ("then", "else") if isinstance(schema.get(word), dict)]
    return branches


def _schema_keys(schema: dict, prefix: str = "") -> dict[str, dict]:
    """Every named key of the schema by its path (``targets[].index``), through items and branches."""
    keys = {}
    for name, entry in schema.get("properties", {}).items():
        keys[prefix + name] = entry
        keys.update(_schema_keys(entry, f"{prefix}{name}."))
        items = entry.get("items", {})
        for option in [items, *_schema_branches(items)]:
            keys.update(_schema_keys(option, f"{prefix}{name}[]."))
    for option in _schema_branches(schema):
        keys.update(_schema_keys(option, prefix))
    return keys


def test_schema_keys_are_found_inside_list_items_and_their_branches():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = _schema_keys(schema)
    assert {"targets[].index", "targets[].name"} <= set(keys)
    toy = {"properties": {"a": {"items": {"if": {"type": "object"}, "then": {"properties": {"b": {}}},
                                          "else": {"oneOf": [{"properties": {"c": {}}}]}}}}}
    assert set(_schema_keys(toy)) == {"a", "a[].b", "a[].c"}


def test_every_schema_key_has_a_description_and_a_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = _schema_keys(schema)
    assert len(keys) > 30
    for key, entry in keys.items():
        assert entry.get("description"), key
        assert "default" in entry, key


@pytest.mark.parametrize("config_file", ["config.yaml", "demo.yaml"])
def test_shipped_configs_are_valid_and_every_key_is_commented(config_file):
    schema = yaml.safe_load(SCHEMA.read_text())
    text = (ROOT / "config" / config_file).read_text()
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))
    if config_file != "config.yaml":
        return
    known = {key.split(".")[-1] for key in _schema_keys(schema)}
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^\s*([A-Za-z_]+):", line)
        if not match or match.group(1) not in known:
            continue
        previous = next(text for text in reversed(lines[:number]) if text.strip())
        assert previous.strip().startswith("#") or match.group(1) in ("index", "name"), line


@pytest.mark.skipif(not (ROOT / "demo" / "model.pt").exists(), reason="demo model not built")
def test_demo_config_plans_every_stage_of_the_demo():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(ROOT),
         "--configfile", str(ROOT / "config" / "demo.yaml"), "--cores", "2", "-n", "--nolock",
         "--forceall"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    counts = job_counts(result.stdout)
    assert counts["attribution"] == 2  # 450 peaks / regions_per_shard 250
    # QC, figures and exports are one job each for all three targets; motifs one per target,
    # after one JASPAR database for all.
    assert counts["qc"] == counts["plots"] == counts["exports"] == 1
    assert counts["motifs"] == 3 and counts["motif_database"] == 1
    assert sum(counts.values()) == 13


def test_motifs_are_one_job_per_target_and_off_unless_enabled(tmp_path):
    planned = run_snakemake(write_tiny_project(tmp_path / "off"), "-n").stdout
    assert "motif" not in job_counts(planned) and "results/tiny/motifs" not in planned
    folder = write_tiny_project(tmp_path / "on", TINY_CONFIG | {"motifs": {"enabled": True}})
    output = run_snakemake(folder, "-n", "-p")
    counts = job_counts(output.stdout)
    assert counts["motifs"] == len(TARGETS) and counts["motif_database"] == 1
    for target in TARGETS:
        assert f"results/tiny/motifs/{target}/modisco.h5" in output.stdout
    # The user's own MEME file replaces the JASPAR database job.
    mine = TINY_CONFIG | {"motifs": {"enabled": True, "meme_file": "mine.meme"}}
    (folder / "mine.meme").write_text("MEME version 4\n")
    write_tiny_project(folder, mine)
    assert "motif_database" not in job_counts(run_snakemake(folder, "-n").stdout)


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        (64, "motifs.window is 64 but the regions are 32 bp wide (width): set motifs.window to at "
             "most 32"),
        (16, "the motifs window is 16 bp, narrower than one TF-MoDISco seqlet core "
             "(motifs.sliding_window_size: 20)"),
    ],
    ids=["wider_than_the_regions", "narrower_than_a_seqlet_core"],
)
def test_a_motif_window_that_does_not_fit_stops_before_anything_runs(tmp_path, window, problem):
    config = TINY_CONFIG | {"motifs": {"enabled": True, "window": window}}
    result = run_snakemake(write_tiny_project(tmp_path, config), "-n", check=False)
    assert result.returncode != 0
    assert problem in result.stdout + result.stderr

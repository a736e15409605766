"""The Snakemake workflow, run through its CLI in temporary folders on a tiny project.

The project: a random two-chromosome genome, nine regions (one runs off its chromosome and is
dropped), seqlift.zoo's SmallCNN (two outputs, 32 bp, seeded) and six dinucleotide-shuffled
references per region. The model runs in float64 so that the convergence deltas (round-off by
nature) can be compared between shard layouts to 1e-6 as well (see tests/test_pipeline.py). Runs are shared between tests
through module-scoped fixtures to keep the whole file near two minutes on two cores.
"""

import json
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
import zarr

from seqlift.engine import deep_lift_shap
from seqlift.references import dinucleotide_shuffle, region_seed
from seqlift.zoo import SmallCNN

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
WIDTH = 32
N_REFERENCES = 6
SEED = 3
TARGETS = ("target_0", "second")
BED_ROWS = [
    ("chr1", 100, 300), ("chr1", 500, 700), ("chr1", 2990, 3000), ("chr2", 10, 90),
    ("chr2", 1000, 1200), ("chr1", 1500, 1600), ("chr2", 1800, 1900), ("chr1", 2000, 2100),
    ("chr1", 2400, 2440),
]
CONFIG = {
    "name": "tiny",
    "regions": "peaks.bed",
    "genome": "genome.fa",
    "width": WIDTH,
    "model": {
        "factory": "seqlift.zoo:SmallCNN",
        "kwargs": {"n_outputs": 2, "sequence_length": WIDTH, "seed": 1},
    },
    "targets": [0, {"index": 1, "name": "second"}],
    "references": {"n": N_REFERENCES, "seed": SEED},
    "dtype": "float64",
    "qc": {"truth_bed": "motifs.bed"},
    "plots": {"top_regions": 2, "logo_flank": 8},
}

pytestmark = pytest.mark.slow


def _write_project(folder: Path, config: dict = CONFIG) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "genome.fa", "w") as handle:
        for chrom, length in (("chr1", 3000), ("chr2", 2000)):
            sequence = "".join(rng.choice(list("ACGT"), length))
            lines = [sequence[i : i + 60] for i in range(0, length, 60)]
            handle.write(f">{chrom}\n" + "\n".join(lines) + "\n")
    (folder / "peaks.bed").write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in BED_ROWS))
    (folder / "motifs.bed").write_text("chr1\t195\t203\tAP1\nchr2\t1095\t1101\tGATA\n")
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def _snakemake(folder: Path, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(folder),
        "--configfile", str(folder / "config.yaml"), "--cores", "2", *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(arguments)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def _job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's 'Job stats' table."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def _results(folder: Path) -> Path:
    return folder / "results" / "tiny"


def _stacked(group: zarr.Group, name: str) -> np.ndarray:
    return np.stack([np.asarray(group[f"{name}/{target}"][:]) for target in TARGETS])


def _open(folder: Path) -> zarr.Group:
    return zarr.open_group(str(_results(folder) / "attributions.zarr"), mode="r")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Everything (rule all) with the default layout: one shard, one reference block."""
    folder = _write_project(tmp_path_factory.mktemp("full"))
    _snakemake(folder)
    return folder


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory):
    """attributions.zarr only, with 3 region shards x 2 reference blocks."""
    folder = _write_project(tmp_path_factory.mktemp("sharded"))
    _snakemake(folder, "results/tiny/attributions.zarr", "--set-scatter", "shards=3", "reference_blocks=2")
    return folder


def test_full_run_writes_every_stage_output(full_run):
    results = _results(full_run)
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
    group = _open(full_run)
    exports = _results(full_run) / "exports"
    for target in TARGETS:
        hypothetical = np.asarray(group[f"hypothetical/{target}"][:])
        with np.load(exports / target / "attr.npz") as attr:
            assert np.array_equal(attr["arr_0"], hypothetical)
        with np.load(exports / target / "ohe.npz") as ohe:
            assert np.array_equal(ohe["arr_0"], np.asarray(group["onehot"][:]))
        with h5py.File(exports / target / "shap.h5", "r") as h5:
            assert np.array_equal(h5["shap/seq"][:], hypothetical)


def test_aggregated_results_equal_a_direct_library_call(full_run):
    group = _open(full_run)
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
    np.testing.assert_allclose(_stacked(group, "hypothetical"), expected, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(_stacked(group, "deltas"), deltas.numpy(), rtol=0, atol=1e-6 * scale)
    with torch.no_grad():
        fx = model.double()(X).T.numpy()
    for index, target in enumerate(TARGETS):
        np.testing.assert_allclose(group[f"predictions/{target}/example"][:], fx[index], rtol=1e-6)
    assert group.attrs["n_references"] == N_REFERENCES
    assert group.attrs["config"]["references"]["seed"] == SEED


def test_shard_and_block_counts_do_not_change_results(full_run, sharded_run):
    """1 shard x 1 block against 3 shards x 2 blocks (tests/test_pipeline.py varies each alone)."""
    one, many = _open(full_run), _open(sharded_run)
    shards = sorted(p.relative_to(_results(sharded_run)) for p in _results(sharded_run).glob("shards/*/*.npz"))
    assert [str(p) for p in shards] == [
        f"shards/{s}-of-3/block_{b}-of-2.npz" for s in (1, 2, 3) for b in (1, 2)
    ]
    expected = _stacked(one, "hypothetical")
    scale = np.abs(expected).max()
    np.testing.assert_allclose(_stacked(many, "hypothetical"), expected, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(_stacked(many, "deltas"), _stacked(one, "deltas"), rtol=0, atol=1e-6 * scale)
    for target in TARGETS:
        np.testing.assert_allclose(
            many[f"predictions/{target}/reference_mean"][:], one[f"predictions/{target}/reference_mean"][:],
            rtol=1e-6,
        )


def test_rerun_after_deleting_one_shard_recomputes_only_that_shard(sharded_run):
    """As after a run whose shard job was killed: that shard and the aggregate are missing."""
    results = _results(sharded_run)
    before = _stacked(_open(sharded_run), "hypothetical")
    shards = sorted(results.glob("shards/*/*.npz"))
    deleted = results / "shards" / "2-of-3" / "block_1-of-2.npz"
    mtimes = {path: path.stat().st_mtime_ns for path in shards if path != deleted}
    deleted.unlink()
    # With attributions.zarr still there Snakemake would not look back at its missing inputs.
    shutil.rmtree(results / "attributions.zarr")
    output = _snakemake(
        sharded_run, "results/tiny/attributions.zarr", "--set-scatter", "shards=3", "reference_blocks=2"
    )
    counts = _job_counts(output.stdout + output.stderr)
    assert counts["attribution"] == 1
    assert counts["aggregate"] == 1
    assert "references" not in counts and "regions" not in counts
    assert deleted.exists()
    assert {path: path.stat().st_mtime_ns for path in mtimes} == mtimes
    # The recomputed shard gives bit-identical results.
    assert np.array_equal(_stacked(_open(sharded_run), "hypothetical"), before)


def test_finished_runs_leave_no_temporary_files(full_run, sharded_run):
    for folder in (full_run, sharded_run):
        assert [p.name for p in _results(folder).rglob("*") if ".tmp-" in p.name] == []


def test_report_is_one_html_file(full_run):
    report = _results(full_run) / "report.html"
    _snakemake(full_run, "--report", str(report))
    text = report.read_text(errors="replace")
    assert report.stat().st_size > 10_000
    assert "logos_second.png" in text and "delta_histogram.png" in text


def test_default_shard_count_follows_regions_per_shard(tmp_path):
    folder = _write_project(tmp_path, CONFIG | {"sharding": {"regions_per_shard": 2}})
    output = _snakemake(folder, "-n", "results/tiny/attributions.zarr")
    assert _job_counts(output.stdout)["attribution"] == 5  # ceil(9 BED rows / 2)
    output = _snakemake(
        folder, "-n", "results/tiny/attributions.zarr", "--set-scatter", "shards=4", "reference_blocks=3"
    )
    assert _job_counts(output.stdout)["attribution"] == 12


def test_qc_plots_and_exports_are_one_job_each_and_follow_the_switches(tmp_path):
    config = CONFIG | {"qc": {"truth_bed": None}, "exports": {"bigwig": False, "chrombpnet_h5": False}}
    output = _snakemake(_write_project(tmp_path, config), "-n")
    counts = _job_counts(output.stdout)
    assert counts["qc"] == counts["plots"] == counts["exports"] == 1
    planned = output.stdout
    assert "motif_recovery" not in planned and "projected.bw" not in planned and "shap.h5" not in planned
    for target in TARGETS:
        assert f"results/tiny/exports/{target}/attr.npz" in planned
        assert f"results/tiny/plots/logos_{target}.png" in planned


def test_a_cuda_config_asks_each_shard_for_one_gpu(tmp_path):
    folder = _write_project(tmp_path, CONFIG | {"device": "cuda"})
    output = _snakemake(folder, "-n", "-p", "results/tiny/attributions.zarr")
    attribution = output.stdout.split("rule attribution:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"resources: .*gpu=1", attribution)
    cpu = _snakemake(_write_project(tmp_path / "cpu"), "-n", "results/tiny/attributions.zarr")
    assert re.search(r"resources: .*gpu=0", cpu.stdout.split("rule attribution:", 1)[1].split("\n\n", 1)[0])


def test_unknown_config_keys_stop_the_workflow_with_the_schema_message(tmp_path):
    folder = _write_project(tmp_path, CONFIG | {"widht": 10})
    result = _snakemake(folder, "-n", check=False)
    assert result.returncode != 0
    assert "widht" in result.stdout + result.stderr


def test_lint_and_snakefmt_are_clean(tmp_path):
    folder = _write_project(tmp_path)
    lint = _snakemake(folder, "--lint")
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
    counts = _job_counts(result.stdout)
    assert counts["attribution"] == 2  # 450 peaks / regions_per_shard 250
    # QC, figures and exports are one job each for all three targets.
    assert counts["qc"] == counts["plots"] == counts["exports"] == 1
    assert sum(counts.values()) == 9

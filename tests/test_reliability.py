"""Reliability (issue 6): bad input stops with a clear message, faults lose nothing, reruns agree.

Bad inputs are data files, one per case (tests/data/README.md lists them all):
tests/data/bad_configs/*.yaml go through the Snakemake CLI; tests/data/bad_models/* through
seqlift.models, seqlift.pipeline.attribution and the workflow. Faults are real: a shard job's
process is killed with SIGKILL while it computes and while it writes its shard group, and the
resumed run is compared bit for bit with an uninterrupted one. The tiny project and the
workflow runners come from tests/helpers.py.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import yaml
import zarr
from helpers import (
    DATA,
    TINY_CONFIG,
    WIDTH,
    assert_bit_identical,
    job_counts,
    job_logs,
    run_snakemake,
    snakemake_command,
    write_bed,
    write_config,
    write_genome,
    write_tiny_project,
)

from seqlift.engine import explain
from seqlift.errors import InputError, SeqliftError
from seqlift.models import load_model
from seqlift.pipeline import storage
from seqlift.pipeline.attribution import run_attribution_shard

BAD_CONFIGS = DATA / "bad_configs"
BAD_MODELS = DATA / "bad_models"

pytestmark = pytest.mark.slow


def _snakemake(folder: Path, *arguments: str, cores: int = 2) -> subprocess.CompletedProcess:
    """Run the workflow; the caller checks the exit status (many runs here must fail)."""
    return run_snakemake(folder, *arguments, cores=cores, check=False)


def _succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        pytest.fail(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def _model_file(name: str, class_name: str, **kwargs) -> dict:
    return {"file": str(BAD_MODELS / name), "class": class_name, "kwargs": kwargs}


# ---------------------------------------------------------------------------------------------
# Config: schema validation through the Snakemake CLI, one YAML file per case

CONFIG_CASES = {
    # file: (what is wrong, where: the key path jsonschema reports)
    "unknown_key.yaml": ("Additional properties are not allowed ('widht' was unexpected)", "On instance:"),
    "unknown_nested_key.yaml": ("Additional properties are not allowed ('count' was unexpected)",
                                "On instance['references']:"),
    "missing_model.yaml": ("'model' is a required property", "On instance:"),
    "missing_target_index.yaml": ("'index' is a required property", "On instance['targets'][0]:"),
    "width_string.yaml": ("'32' is not of type 'integer'", "On instance['width']:"),
    "width_zero.yaml": ("0 is less than the minimum of 1", "On instance['width']:"),
    "width_negative.yaml": ("-32 is less than the minimum of 1", "On instance['width']:"),
    "references_n_zero.yaml": ("0 is less than the minimum of 1", "On instance['references']['n']:"),
    "targets_not_a_list.yaml": ("{'index': 0} is not of type 'array'", "On instance['targets']:"),
    "targets_negative_index.yaml": ("-1 is less than the minimum of 0", "On instance['targets'][0]:"),
    "dtype_unknown.yaml": ("'float16' is not one of ['float32', 'float64']", "On instance['dtype']:"),
    "on_failure_unknown.yaml": ("'stop' is not one of ['warn', 'fail']", "On instance['qc']['on_failure']:"),
    "model_kwargs_not_a_mapping.yaml": ("[2, 32, 1] is not of type 'object'", "On instance['model']['kwargs']:"),
}


@pytest.fixture(scope="module")
def config_dry_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """`snakemake -n` on the tiny project with each bad config, four at a time."""
    root = tmp_path_factory.mktemp("bad_configs")

    def dry_run(name: str) -> subprocess.CompletedProcess:
        folder = write_tiny_project(root / name)
        shutil.copy(BAD_CONFIGS / name, folder / "config.yaml")
        return _snakemake(folder, "-n")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CONFIG_CASES, pool.map(dry_run, CONFIG_CASES), strict=True))


def test_every_bad_config_file_has_a_case():
    assert sorted(p.name for p in BAD_CONFIGS.glob("*.yaml")) == sorted(CONFIG_CASES)


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_a_bad_config_stops_the_dry_run_with_a_message_naming_the_key(config_dry_runs, name):
    result = config_dry_runs[name]
    output = result.stdout + result.stderr
    problem, where = CONFIG_CASES[name]
    assert result.returncode != 0
    assert "Error validating config file." in output
    assert f"ValidationError: {problem}" in output
    assert where in output
    assert "Traceback" not in output
    # The reason and the key, not a dump of the schema.
    assert "Failed validating" not in output and "'description':" not in output
    assert len(output.splitlines()) < 10


# ---------------------------------------------------------------------------------------------
# Model: loading (seqlift.models), checks before and during a shard (seqlift.pipeline)


def test_a_model_file_that_does_not_exist_is_named_with_the_fix():
    with pytest.raises(InputError) as error:
        load_model({"file": "bad_models/no_such_model.py", "class": "Net"}, base_dir=DATA)
    assert str(error.value) == (
        f"model.file {str(BAD_MODELS / 'no_such_model.py')!r} does not exist; fix the path in the config"
    )


def test_a_model_file_that_fails_to_import_names_the_file_and_the_missing_package():
    with pytest.raises(InputError) as error:
        load_model(_model_file("import_error.py", "Net"))
    message = str(error.value)
    assert f"model.file {str(BAD_MODELS / 'import_error.py')!r} raised ModuleNotFoundError" in message
    assert "No module named 'seqlift_no_such_dependency'" in message
    assert message.endswith("install the missing package in the environment the jobs run in")


def test_weights_with_other_key_names_list_the_missing_and_unexpected_keys():
    config = _model_file("two_layer.py", "TwoLayer") | {"weights": str(BAD_MODELS / "two_layer_renamed_keys.pt")}
    with pytest.raises(InputError) as error:
        load_model(config)
    message = str(error.value)
    assert "two_layer_renamed_keys.pt' does not match the architecture TwoLayer" in message
    assert "missing keys linear.weight, linear.bias;" in message
    assert "unexpected keys head.weight, head.bias." in message
    assert "Check model.kwargs" in message


def test_weights_of_another_layer_size_name_every_differing_shape():
    config = _model_file("two_layer.py", "TwoLayer") | {"weights": str(BAD_MODELS / "two_layer_hidden5.pt")}
    with pytest.raises(InputError) as error:
        load_model(config)
    message = str(error.value)
    assert "conv.weight: file (5, 4, 1) vs model (3, 4, 1)" in message
    assert "conv.bias: file (5,) vs model (3,)" in message
    assert "linear.weight: file (2, 5) vs model (2, 3)" in message
    assert "linear.bias" not in message  # same shape (2,) in both


def _shard(stores, tmp_path, model: dict, targets=(0, 1), batch_size=64) -> Path:
    regions, references = stores
    config = {"model": model, "targets": list(targets), "dtype": "float64", "device": "cpu"}
    (tmp_path / "out").mkdir(exist_ok=True)
    output = tmp_path / "out" / "shard.zarr"
    run_attribution_shard(
        config, regions, references, "1-of-1", "1-of-1", output, batch_size=batch_size
    )
    return output


@pytest.mark.parametrize(
    "file, class_name, shown",
    [("tuple_output.py", "ProfileAndCounts", "tuple"), ("output_3d.py", "TrailingAxis", "(2, 2, 1)")],
)
def test_a_model_output_other_than_batch_by_outputs_is_refused(stores, tmp_path, file, class_name, shown):
    with pytest.raises(InputError) as error:
        _shard(stores, tmp_path, _model_file(file, class_name))
    assert str(error.value) == (
        f"the model returns {shown} for a batch of 2; seqlift needs (batch, n_outputs). "
        "Wrap the model so that it returns one tensor of that shape"
    )
    assert os.listdir(tmp_path / "out") == []


def test_a_target_index_out_of_range_names_the_model_output_count(stores, tmp_path):
    with pytest.raises(InputError, match=r"targets 2, 7 are out of range: the model has 2 outputs "
                                         r"\(indices 0\.\.1\)"):
        _shard(stores, tmp_path, _model_file("two_layer.py", "TwoLayer"), targets=(0, 2, 7))
    assert os.listdir(tmp_path / "out") == []


def test_the_engine_says_which_input_length_the_model_expects():
    model = load_model(_model_file("fixed_length.py", "FixedLength"))
    X = torch.zeros(1, 4, WIDTH)
    X[0, 0] = 1
    with pytest.raises(ValueError) as error:
        explain(model, X, X.unsqueeze(1).clone(), [0])
    message = str(error.value)
    assert f"the model cannot take inputs of shape (batch, 4, {WIDTH})" in message
    assert "The model expects length 40." in message


def test_a_shard_says_which_input_length_the_model_expects(stores, tmp_path):
    with pytest.raises(InputError) as error:
        _shard(stores, tmp_path, _model_file("fixed_length.py", "FixedLength"))
    message = str(error.value)
    assert message.startswith(f"the model fails on input of shape (batch, 4, {WIDTH}) (config width {WIDTH}): ")
    assert message.endswith(". The model expects length 40. Set width: 40 in the config")
    assert os.listdir(tmp_path / "out") == []


def _ids_where_first_base_is(stores, base: int) -> list[str]:
    regions = storage.read_region_store(stores[0])
    return [str(i) for i in regions.ids[regions.onehot[:, base, 0] == 1]]


@pytest.mark.parametrize(
    "file, class_name, base", [("nan_output.py", "NaNWhenFirstBaseIsA", 0), ("inf_output.py", "InfWhenFirstBaseIsT", 3)]
)
def test_nan_or_inf_outputs_stop_the_shard_and_name_exactly_those_regions(stores, tmp_path, file, class_name, base):
    bad = _ids_where_first_base_is(stores, base)
    assert 0 < len(bad) < 7
    with pytest.raises(SeqliftError) as error:
        _shard(stores, tmp_path, _model_file(file, class_name))
    message = str(error.value)
    assert f"the model returned NaN or Inf for {len(bad)} region(s) of shard 1-of-1: {', '.join(bad)};" in message
    assert "check the model and these sequences" in message
    assert os.listdir(tmp_path / "out") == []


def test_nan_outputs_fail_the_shard_job_of_the_workflow_naming_the_regions(tmp_path):
    folder = write_tiny_project(tmp_path, model=_model_file("nan_output.py", "NaNWhenFirstBaseIsA"), targets=[0])
    result = _snakemake(folder, "results/tiny/attributions.zarr")
    assert result.returncode != 0
    regions = storage.read_region_store(folder / "results" / "tiny" / "regions.zarr")
    first_is_a = regions.onehot[:, 0, 0] == 1
    bad, good = regions.ids[first_is_a], regions.ids[~first_is_a]
    assert len(bad) and len(good)
    message = next(line for line in job_logs(folder).splitlines() if "SeqliftError: the model returned NaN" in line)
    # The engine stops at the first batch holding a NaN; the shard still names every bad region.
    assert f"for {len(bad)} region(s) of shard 1-of-1: {', '.join(bad)};" in message
    assert not any(region in message for region in good)
    assert not (folder / "results" / "tiny" / "shards" / "1-of-1" / "block_1-of-1.zarr").exists()
    assert not (folder / "results" / "tiny" / "attributions.zarr").exists()


# ---------------------------------------------------------------------------------------------
# Convergence: large deltas reported per region and target; qc.on_failure decides the outcome


def test_convergence_failure_stops_the_workflow_naming_targets_and_regions(tmp_path):
    model = _model_file("no_deeplift_rule.py", "CumulativeProduct", n_outputs=2, seed=0)
    folder = write_tiny_project(tmp_path, model=model, qc={"on_failure": "fail"}, dtype="float64")
    failed = _snakemake(folder, "results/tiny/qc/summary.json")
    assert failed.returncode != 0
    log = job_logs(folder)
    assert "convergence QC: DeepLIFT deltas are too large for" in log
    for target in ("target_0", "second"):
        assert f"target {target}: " in log
    assert "region_000000 (chr1:" in log
    assert "try dtype float64, or raise the qc threshold" in log

    # The same deltas with on_failure: warn finish the run, flagged in the summary.
    (folder / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG | {"model": model, "dtype": "float64"}))
    warned = _succeeded(_snakemake(folder, "results/tiny/qc/summary.json"))
    assert "attribution" not in job_counts(warned.stdout + warned.stderr)  # only QC reruns
    summary = json.loads((folder / "results" / "tiny" / "qc" / "summary.json").read_text())
    assert summary["status"] == "warn"
    for target in ("target_0", "second"):
        entry = summary["targets"][target]
        assert entry["n_flagged"] > 0 and entry["max_abs_delta"] > 1e-3
        assert entry["flagged_regions"][0] == "region_000000"
        table = (folder / "results" / "tiny" / "qc" / f"convergence_{target}.tsv").read_text().splitlines()
        assert len(table) == 1 + entry["n_regions"]


# ---------------------------------------------------------------------------------------------
# Faults: a shard job killed with SIGKILL, mixed shards, an unwritable or full results folder

KILL_WIDTH = 600
KILL_ROWS = 300
KILL_SHARDS = ("--set-scatter", "shards=3")


def _kill_project(folder: Path) -> Path:
    """One 20 kb chromosome, 300 windows of 600 bp: a shard computes for about a second."""
    folder.mkdir(parents=True, exist_ok=True)
    write_genome(folder / "genome.fa", {"chr1": 20_000}, seed=7)
    starts = np.random.default_rng(7).integers(0, 20_000 - KILL_WIDTH, KILL_ROWS)
    write_bed(folder / "peaks.bed", [("chr1", start, start + KILL_WIDTH) for start in starts])
    write_config(folder, {
        "name": "tiny", "regions": "peaks.bed", "genome": "genome.fa", "width": KILL_WIDTH,
        "model": {"factory": "seqlift.zoo:SmallCNN",
                  "kwargs": {"n_outputs": 2, "sequence_length": KILL_WIDTH, "seed": 1}},
        "targets": [0, 1], "references": {"n": 2, "seed": 3}, "dtype": "float64",
    })
    return folder


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory) -> Path:
    """The kill project run to attributions.zarr without faults, on 2 cores."""
    folder = _kill_project(tmp_path_factory.mktemp("uninterrupted"))
    _succeeded(_snakemake(folder, "results/tiny/attributions.zarr", *KILL_SHARDS, cores=2))
    return folder


def _attribution_jobs(parent: psutil.Process) -> dict[int, tuple[psutil.Process, str]]:
    """Running attribution scripts under ``parent`` -> (process, shard), the shard read from
    the job's open log file (results/tiny/logs/attribution/<shard>/...)."""
    jobs = {}
    for child in parent.children(recursive=True):
        try:
            if not any(part.endswith("attribution.py") for part in child.cmdline()):
                continue
            logs = [Path(f.path) for f in child.open_files() if f.path.endswith(".log")]
        except psutil.Error:
            continue
        if logs:
            jobs[child.pid] = (child, logs[0].parent.name)
    return jobs


def _kill_while_computing(job: psutil.Process, log: Path, shard: str) -> None:
    deadline = time.monotonic() + 60
    while f"shard {shard}" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert job.is_running(), "the shard finished before it could be killed mid-computation"
    os.kill(job.pid, signal.SIGKILL)


def _kill_while_writing(job: psutil.Process, shard_folder: Path) -> list[str]:
    """SIGKILL the job the moment anything appears in its shard folder; return what was there."""
    while job.is_running():
        entries = os.listdir(shard_folder) if shard_folder.is_dir() else []
        if entries:
            os.kill(job.pid, signal.SIGKILL)
            return entries
    return []


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """The kill project on 1 core: the first shard job killed mid-computation, the second the
    moment its file appears (mid-write), the third left alone; then the same command again."""
    folder = _kill_project(tmp_path_factory.mktemp("killed"))
    results = folder / "results" / "tiny"
    process = subprocess.Popen(
        snakemake_command(folder, "results/tiny/attributions.zarr", *KILL_SHARDS, cores=1),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder,
    )
    parent = psutil.Process(process.pid)
    killed, seen_while_writing = {}, []
    deadline = time.monotonic() + 150
    while process.poll() is None and time.monotonic() < deadline:
        for job, shard in _attribution_jobs(parent).values():
            if shard in killed or len(killed) == 2:
                continue
            if not killed:
                _kill_while_computing(job, results / "logs" / "attribution" / shard / "block_1-of-1.log", shard)
                killed[shard] = "computing"
            else:
                seen_while_writing = _kill_while_writing(job, results / "shards" / shard)
                killed[shard] = "writing"
        time.sleep(0.01)
    output = process.communicate(timeout=60)[0]
    shards = sorted(results.glob("shards/*/*"))
    state = {
        "returncode": process.returncode,
        "output": output,
        "killed": killed,
        "seen_while_writing": seen_while_writing,
        "after_kill": {str(p.relative_to(results)): p.stat().st_mtime_ns for p in shards},
        "aggregated": (results / "attributions.zarr").exists(),
    }
    rerun = _succeeded(_snakemake(folder, "results/tiny/attributions.zarr", *KILL_SHARDS, cores=1))
    return folder, state, rerun


def test_a_killed_shard_job_leaves_no_file_that_counts_as_finished(killed_run):
    _, state, _ = killed_run
    assert sorted(state["killed"].values()) == ["computing", "writing"]
    assert state["returncode"] != 0
    assert "Error in rule attribution" in state["output"]
    assert not state["aggregated"]
    writing = next(s for s, how in state["killed"].items() if how == "writing")
    # The kill landed while the shard's temporary file existed, before it was moved into place.
    assert state["seen_while_writing"] and "block_1-of-1.zarr" not in state["seen_while_writing"]
    finished = [name for name in state["after_kill"] if name.endswith("/block_1-of-1.zarr")]
    survivor = ({"1-of-3", "2-of-3", "3-of-3"} - set(state["killed"])).pop()
    assert finished == [f"shards/{survivor}/block_1-of-1.zarr"]
    # What the kill leaves behind is a dot-file outside the names Snakemake and aggregation read.
    leftovers = [name for name in state["after_kill"] if name not in finished]
    assert all(Path(name).name.startswith(".block_1-of-1.zarr.tmp-") for name in leftovers)
    assert all(any(f"shards/{shard}/" in name for shard in state["killed"]) for name in leftovers)
    assert any(f"shards/{writing}/" in name for name in leftovers)


def test_rerunning_recomputes_exactly_the_killed_shards(killed_run):
    folder, state, rerun = killed_run
    counts = job_counts(rerun.stdout + rerun.stderr)
    assert counts["attribution"] == 2
    assert counts["aggregate"] == 1
    assert "regions" not in counts and "references" not in counts
    results = folder / "results" / "tiny"
    for name, mtime in state["after_kill"].items():
        if not Path(name).name.startswith("."):  # temporaries are removed, see below
            assert (results / name).stat().st_mtime_ns == mtime, f"{name} was rewritten"
    for shard in state["killed"]:
        assert (results / "shards" / shard / "block_1-of-1.zarr" / "zarr.json").is_file()
    # The reruns removed the temporaries the killed jobs left.
    assert sorted(p.name for p in results.glob("shards/*/*")) == ["block_1-of-1.zarr"] * 3


def test_the_resumed_run_is_bit_identical_to_an_uninterrupted_one(killed_run, uninterrupted_run):
    """Also the job-order check: `--cores 1`, the killed shards computed last in a second
    invocation, against `--cores 2` in one go; every array and attribute the same bits."""
    folder, _, _ = killed_run
    assert_bit_identical(
        folder / "results" / "tiny" / "attributions.zarr",
        uninterrupted_run / "results" / "tiny" / "attributions.zarr",
    )


@pytest.fixture(scope="module")
def finished_tiny_run(tmp_path_factory) -> Path:
    folder = write_tiny_project(tmp_path_factory.mktemp("provenance"))
    _succeeded(_snakemake(folder, "results/tiny/attributions.zarr", "--set-scatter", "shards=2"))
    return folder


def test_aggregation_refuses_shards_of_another_model_seed(finished_tiny_run):
    """The config changes but Snakemake is told to look at file dates only, so the old shards are
    kept and aggregation must notice."""
    folder = finished_tiny_run
    results = folder / "results" / "tiny"
    shutil.rmtree(results / "attributions.zarr")
    model = TINY_CONFIG["model"] | {"kwargs": TINY_CONFIG["model"]["kwargs"] | {"seed": 2}}
    (folder / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG | {"model": model}))
    try:
        result = _snakemake(
            folder, "results/tiny/attributions.zarr", "--set-scatter", "shards=2", "--rerun-triggers", "mtime"
        )
    finally:
        (folder / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    log = job_logs(folder)
    assert result.returncode != 0
    assert "2 shard file(s) were made with another config, model or seqlift version than this run" in log
    assert log.count("(A model without model.weights must build the same weights every time") == 1
    for shard in ("1-of-2", "2-of-2"):
        assert f"results/tiny/shards/{shard}/block_1-of-1.zarr: config_hash" in log
    assert "model_checksum 'state_dict-sha256:" in log
    assert "Delete these shard files (or run snakemake with --forcerun attribution)" in log
    assert not (results / "attributions.zarr").exists()


def test_aggregation_refuses_a_shard_of_another_seqlift_version(finished_tiny_run):
    folder = finished_tiny_run
    results = folder / "results" / "tiny"
    if (results / "attributions.zarr").exists():
        shutil.rmtree(results / "attributions.zarr")
    tampered = results / "shards" / "2-of-2" / "block_1-of-1.zarr"
    zarr.open_group(str(tampered), mode="r+").attrs["seqlift_version"] = "0.0.1"
    result = _snakemake(folder, "results/tiny/attributions.zarr", "--set-scatter", "shards=2")
    log = job_logs(folder)
    assert result.returncode != 0
    assert "1 shard file(s) were made with another config" in log
    assert "shards/2-of-2/block_1-of-1.zarr: seqlift_version '0.0.1' (this run: " in log
    assert "shards/1-of-2/" not in log
    assert not (results / "attributions.zarr").exists()


def test_a_regular_file_where_the_results_folder_belongs_is_named(tmp_path):
    folder = write_tiny_project(tmp_path)
    (folder / "results").mkdir()
    (folder / "results" / "tiny").write_text("not a folder\n")
    result = _snakemake(folder, "results/tiny/attributions.zarr")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "results/tiny is a file, but the results of this run go into a folder of that name: move or "
        "remove the file, or run in another folder with --directory"
    ) in output
    assert "Traceback" not in output and "NotADirectoryError" not in output


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare -m and mount (root in a container)")
def test_a_read_only_results_folder_is_named_before_any_job_runs(tmp_path):
    """results/tiny/shards is a read-only tmpfs, in a mount namespace of the run alone."""
    folder = write_tiny_project(tmp_path)
    shards = folder / "results" / "tiny" / "shards"
    shards.mkdir(parents=True)
    snakemake = " ".join(snakemake_command(folder, "results/tiny/attributions.zarr"))
    script = f"mount -t tmpfs -o ro,size=8k tmpfs {shards} && {snakemake}"
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=folder)
    output = result.stdout + result.stderr
    if "mount:" in output and "results/tiny/shards is not writable" not in output:
        pytest.skip(f"cannot mount here: {output[:200]}")
    assert result.returncode != 0
    assert (
        "results/tiny/shards is not writable (permissions or a read-only mount): fix it, or write the "
        "results elsewhere with --directory"
    ) in output
    assert "Traceback" not in output and "Read-only file system" not in output
    assert not (folder / "results" / "tiny" / "regions.zarr").exists()


def _can_mount() -> bool:
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=8k tmpfs /mnt"], capture_output=True
    ) if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs unshare -m and mount (root in a container)")
def test_a_full_disk_under_the_shards_gives_a_clear_error_and_no_shard_file(tmp_path):
    """shards/ is an 8 kB tmpfs, in a mount namespace of the run alone: the shard group's files
    (a 4 kB page each at least) fill it."""
    folder = write_tiny_project(tmp_path)
    shards = folder / "results" / "tiny" / "shards"
    shards.mkdir(parents=True)
    snakemake = " ".join(snakemake_command(folder, "results/tiny/attributions.zarr"))
    script = (
        f"mount -t tmpfs -o size=8k tmpfs {shards} && {{ {snakemake}; status=$?; "
        f"find {shards} -type f > {tmp_path / 'left.txt'}; exit $status; }}"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=folder)
    assert result.returncode != 0
    log = job_logs(folder)
    assert (
        "StorageError: [Errno 28] cannot write results/tiny/shards/1-of-1/block_1-of-1.zarr: No space left "
        "on device; the disk (or your quota) is full: free space, or write the results elsewhere"
    ) in log
    assert (tmp_path / "left.txt").read_text() == ""

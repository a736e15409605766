"""Checks of the SLURM cluster test (tests/cluster/run_cluster_test.sh); not collected by pytest.

Subcommands, each exiting non-zero with a message on the first failed check::

    check_cluster.py shards DRYRUN_LOG
        print the attribution jobs a dry run plans, one wildcard string per line
    check_cluster.py jobs --expect SHARDS_FILE [--after-job-id N] [--exactly-once]
        every planned shard ran as its own COMPLETED SLURM job that was allocated one GPU
    check_cluster.py compare RESULT.zarr REFERENCE.zarr
        two attributions.zarr stores hold the same arrays, bit for bit, and the same attrs
    check_cluster.py profiles SLURM_PROFILE CI_PROFILE
        the CI profile changes only what the single test node needs

``jobs`` reads ``squeue`` (finished jobs stay listed for MinJobAge seconds) and
``scontrol -d show job``, whose ``JOB_GRES`` is what SLURM actually allocated.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import yaml
import zarr

# Keys of profiles/slurm that profiles/slurm-ci may change, with why: the test node is one
# machine with 2 cores, local disk, no slurmdbd, a partition called "debug" and no accounts.
CI_MAY_CHANGE = {
    "latency-wait",
    "slurm-status-command",
    "slurm-init-seconds-before-status-checks",
    "default-resources.slurm_partition",
    "default-resources.slurm_account",
    "set-resources.attribution.slurm_partition",
    "set-resources.attribution.cpus_per_gpu",
    "set-resources.attribution.mem_mb",
}
ATTRIBUTION_COMMENT = "rule_attribution_wildcards_"


def fail(message: str) -> None:
    """Print a failed check and stop with exit status 1."""
    print(f"check_cluster: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def planned_shards(dry_run_text: str) -> list[str]:
    """Wildcard strings (``name_scatteritem_block``) of the attribution jobs in a dry run.

    The SLURM plugin names each job's comment ``rule_<rule>_wildcards_<values joined by _>``, so
    the same string identifies a planned shard and the SLURM job that ran it.
    """
    shards = []
    in_attribution = False
    for line in dry_run_text.splitlines():
        stripped = line.strip()
        if re.match(r"^(local)?rule \w+:$", stripped):
            in_attribution = stripped in ("rule attribution:", "localrule attribution:")
        elif in_attribution and stripped.startswith("wildcards:"):
            values = [item.split("=", 1)[1] for item in stripped[len("wildcards:"):].split(", ")]
            shards.append("_".join(values).replace("/", "_"))
            in_attribution = False
    return shards


def squeue_jobs() -> list[dict[str, str]]:
    """Every job squeue still lists (running, pending and finished within MinJobAge)."""
    fields = ["JobID", "State", "Comment", "tres-per-job"]
    output = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--Format=" + ",".join(f"{f}:|" for f in fields)],
        check=True, capture_output=True, text=True,
    ).stdout
    jobs = []
    for line in output.splitlines():
        values = [value.strip() for value in line.split("|")[: len(fields)]]
        jobs.append(dict(zip(["id", "state", "comment", "tres_per_job"], values, strict=True)))
    return jobs


def allocated_gres(job_id: str) -> str:
    """The GRES SLURM allocated to a job (``JOB_GRES`` of ``scontrol -d show job``)."""
    output = subprocess.run(
        ["scontrol", "-d", "show", "job", job_id], check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"\bJOB_GRES=(\S+)", output)
    return match.group(1) if match else ""


def check_jobs(expected: list[str], after_job_id: int, exactly_once: bool) -> None:
    """Each expected shard ran as its own completed SLURM job with one GPU allocated."""
    jobs = [
        job for job in squeue_jobs()
        if job["comment"].startswith(ATTRIBUTION_COMMENT) and int(job["id"]) > after_job_id
    ]
    by_shard: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        by_shard.setdefault(job["comment"][len(ATTRIBUTION_COMMENT):], []).append(job)
    unexpected = sorted(set(by_shard) - set(expected))
    if unexpected:
        fail(f"attribution jobs ran for shards nobody asked for: {unexpected}")
    for shard in expected:
        runs = by_shard.get(shard, [])
        completed = [job for job in runs if job["state"] == "COMPLETED"]
        if len(completed) != 1 or (exactly_once and len(runs) != 1):
            states = [(job["id"], job["state"]) for job in runs]
            fail(f"shard {shard}: expected one COMPLETED SLURM job, squeue lists {states}")
        job = completed[0]
        if "gpu:1" not in job["tres_per_job"]:
            fail(f"shard {shard}: job {job['id']} requested {job['tres_per_job']!r}, not gpu:1")
        gres = allocated_gres(job["id"])
        if not re.fullmatch(r"gpu(:\w+)?:1(\(.*\))?", gres):
            fail(f"shard {shard}: job {job['id']} was allocated GRES {gres!r}, not one GPU")
        print(f"shard {shard}: SLURM job {job['id']} COMPLETED, requested "
              f"{job['tres_per_job']}, allocated {gres}")
    ids = [job["id"] for shard in expected for job in by_shard[shard] if job["state"] == "COMPLETED"]
    if len(set(ids)) != len(expected):
        fail(f"shards shared SLURM jobs: {ids}")


def zarr_contents(path: Path) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """All arrays (by path) and all attrs (by group or array path) of a zarr store."""
    # Snakemake leaves a .snakemake_timestamp file in directory() outputs; zarr warns about it.
    warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
    root = zarr.open_group(str(path), mode="r")
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, dict] = {"/": dict(root.attrs)}
    for name, node in root.members(max_depth=None):
        attrs[name] = dict(node.attrs)
        if isinstance(node, zarr.Array):
            arrays[name] = node[...]
    return arrays, attrs


def compare_stores(result: Path, reference: Path) -> None:
    """The two stores hold the same array names, dtypes, shapes and values, and the same attrs."""
    result_arrays, result_attrs = zarr_contents(result)
    reference_arrays, reference_attrs = zarr_contents(reference)
    if sorted(result_arrays) != sorted(reference_arrays):
        fail(f"array names differ: {sorted(result_arrays)} vs {sorted(reference_arrays)}")
    for name in sorted(reference_arrays):
        got, want = result_arrays[name], reference_arrays[name]
        if got.dtype != want.dtype or got.shape != want.shape:
            fail(f"{name}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}")
        if not np.array_equal(got, want):
            if np.issubdtype(want.dtype, np.floating):
                difference = np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64)))
                fail(f"{name}: values differ, largest absolute difference {difference:.3g}")
            fail(f"{name}: values differ")
    if result_attrs != reference_attrs:
        differing = sorted(
            key for key in set(result_attrs) | set(reference_attrs)
            if result_attrs.get(key) != reference_attrs.get(key)
        )
        fail(f"attrs differ at {differing}")
    n_values = sum(array.size for array in reference_arrays.values())
    print(f"{result} == {reference}: {len(reference_arrays)} arrays, {n_values} values, "
          "bit-identical, same attrs")


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_profiles(slurm_profile: Path, ci_profile: Path) -> None:
    """profiles/slurm + profiles/slurm-ci differ from profiles/slurm only in CI_MAY_CHANGE.

    A key of the CI profile replaces the whole key of the real one (that is how Snakemake
    stacks profiles), so a mapping the CI profile repeats must repeat every entry.
    """
    real = yaml.safe_load(slurm_profile.read_text())
    ci = yaml.safe_load(ci_profile.read_text())
    effective = flatten({**real, **ci})
    wanted = flatten(real)
    changed = sorted(
        key for key in set(effective) | set(wanted) if effective.get(key) != wanted.get(key)
    )
    not_allowed = [key for key in changed if key not in CI_MAY_CHANGE]
    if not_allowed:
        fail(f"{ci_profile} changes {not_allowed} of {slurm_profile}; only "
             f"{sorted(CI_MAY_CHANGE)} may differ on the test node")
    print(f"{ci_profile} changes only {changed} of {slurm_profile}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    shards = commands.add_parser("shards")
    shards.add_argument("dry_run_log", type=Path)
    jobs = commands.add_parser("jobs")
    jobs.add_argument("--expect", type=Path, required=True)
    jobs.add_argument("--after-job-id", type=int, default=0)
    jobs.add_argument("--exactly-once", action="store_true")
    compare = commands.add_parser("compare")
    compare.add_argument("result", type=Path)
    compare.add_argument("reference", type=Path)
    profiles = commands.add_parser("profiles")
    profiles.add_argument("slurm_profile", type=Path)
    profiles.add_argument("ci_profile", type=Path)
    args = parser.parse_args()

    if args.command == "shards":
        found = planned_shards(args.dry_run_log.read_text())
        if not found:
            fail(f"no attribution jobs in the dry run {args.dry_run_log}")
        print("\n".join(found))
    elif args.command == "jobs":
        expected = args.expect.read_text().split()
        check_jobs(expected, args.after_job_id, args.exactly_once)
    elif args.command == "compare":
        compare_stores(args.result, args.reference)
    else:
        check_profiles(args.slurm_profile, args.ci_profile)


if __name__ == "__main__":
    main()

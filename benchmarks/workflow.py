"""Wall time of a workflow run split by stage, from Snakemake's ``benchmark:`` files.

Rules with a ``benchmark:`` directive write one TSV per job under ``results/<name>/benchmarks/``
(``references.tsv``, ``attribution/<shard>/block_<b>.tsv``, ``aggregate.tsv``, ...). This script
sums them per stage (the first path component under ``benchmarks/``) and reads the attribution
jobs' logs for the time spent inside the engine: the progress bar's final elapsed time, so the
attribution stage is split into compute and the job's own overhead (Python start-up, imports,
model loading, zarr reads, writing the shard).

Two overhead figures are printed: F's (one minus the summed engine time of all attribution
jobs over wall time; with parallel shards this counts overlapping engine time twice) and the
stricter one (one minus the wall time during which at least one engine ran, from the start/end
times the attribution jobs log, over wall time).

With ``--memory 100,1000`` it instead runs one attribution job (demo model, width and references)
in a fresh interpreter for shards of that many random regions and reports its peak RSS.

Usage::

    python benchmarks/workflow.py [--results results/demo]
    python benchmarks/workflow.py --run [--configfile config/demo.yaml] [--cores 1]
    python benchmarks/workflow.py --memory 100,1000 [--chunk N]

With ``--run`` the workflow is run first (``--forceall``) and its wall time measured. Use
``--cores 1`` for an additive split: jobs then run one after another, so wall time = sum of the
jobs + Snakemake's own scheduling, and rules without a ``benchmark:`` (qc, plots, exports) show up
as the remainder.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import malloc_settings_line, markdown_table  # noqa: E402

# tqdm's closing line, e.g. "... 5000/5000 [00:12<00:00, 401.2pair/s]" or "[1:02:03<00:00,
# 1.25s/pair]": pairs done, elapsed time, and the rate.
PROGRESS = re.compile(
    r"(\d+)/\d+ \[(\d+(?::\d{2}){1,2})<[^,\]]*, *([\d.]+)(pair/s|s/pair)\]"
)


def read_benchmarks(results: Path) -> dict[str, list[dict[str, float]]]:
    """Every job's benchmark row, grouped by stage.

    Parameters
    ----------
    results : Path
        ``results/<name>``; its ``benchmarks/`` folder is read.

    Returns
    -------
    dict
        ``{stage: [{"s": wall seconds, "max_rss": MiB, "cpu_time": seconds, "file": path}, ...]}``.
    """
    folder = results / "benchmarks"
    stages: dict[str, list[dict[str, float]]] = defaultdict(list)
    for path in sorted(folder.rglob("*.tsv")):
        relative = path.relative_to(folder)
        stage = relative.parts[0].removesuffix(".tsv")
        with path.open() as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                stages[stage].append({
                    "s": _number(row.get("s")),
                    "max_rss": _number(row.get("max_rss")),
                    "cpu_time": _number(row.get("cpu_time")),
                    "file": str(relative),
                })
    return dict(stages)


def _number(value: str | None) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):  # Snakemake writes "NA" when it could not measure
        return float("nan")


def parse_progress(text: str) -> float | None:
    """Engine seconds from the last tqdm line in ``text``: pairs / rate, else the elapsed field.

    The elapsed field has a resolution of one second, too coarse for the demo's short jobs; the
    rate has more digits. tqdm's displayed rate is smoothed over the last updates (one per batch),
    so ``pairs / rate`` is an estimate that is exact when all batches run at the same speed.
    """
    matches = PROGRESS.findall(text)
    if not matches:
        return None
    pairs, elapsed, rate, unit = matches[-1]
    rate = float(rate)
    if rate > 0:
        return int(pairs) / rate if unit == "pair/s" else int(pairs) * rate
    seconds = 0.0
    for part in elapsed.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def attribution_compute_seconds(results: Path) -> tuple[float, int, int]:
    """Summed engine time of the attribution jobs from their logs' progress bars.

    Returns
    -------
    tuple
        ``(seconds, logs_with_a_time, logs_read)``.
    """
    total, found, read = 0.0, 0, 0
    for path in sorted((results / "logs" / "attribution").rglob("*.log")):
        read += 1
        elapsed = parse_progress(path.read_text(errors="replace"))
        if elapsed is not None:
            total += elapsed
            found += 1
    return total, found, read


STAMP = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) seqlift.pipeline(?:.attribution)? INFO: shard",
    re.MULTILINE,
)
ENGINE = re.compile(r"engine: \d+ pairs .* from ([\d.]+) to ([\d.]+)")


def engine_intervals(results: Path) -> list[tuple[float, float]]:
    """Wall-clock ``(start, end)`` of each attribution job's engine work, from its log.

    ``seqlift.pipeline.attribution.run_attribution_shard`` logs when its first chunk starts and its
    last ends.
    """
    intervals = []
    for path in sorted((results / "logs" / "attribution").rglob("*.log")):
        text = path.read_text(errors="replace")
        match = ENGINE.search(text)
        if match:
            intervals.append((float(match.group(1)), float(match.group(2))))
            continue
        # Logs of jobs from before that line existed: the shard's first log line (written just
        # before the model check and the engine) plus the progress bar's engine time.
        stamp, seconds = STAMP.search(text), parse_progress(text)
        if stamp and seconds is not None:
            begin = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            intervals.append((begin, begin + seconds))
    return intervals


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: wall time during which at least one engine ran."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a store or a folder of them); 0 when it is missing."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def store_sizes(results: Path) -> list[str]:
    """Lines giving the bytes on disk of the run's shard groups and result store."""
    shards = sorted(results.glob("shards/*/*"))
    lines = [f"- shards: {folder_bytes(results / 'shards'):,} bytes in {len(shards)} shard(s)"]
    for name in ("regions.zarr", "references.zarr", "attributions.zarr"):
        lines.append(f"- {name}: {folder_bytes(results / name):,} bytes")
    return lines


def run_workflow(configfile: str, cores: int) -> float:
    """Run the whole workflow from scratch and return its wall time in seconds."""
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile",
               configfile, "--forceall"]
    print(f"- running: {' '.join(command)}")
    begin = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - begin


def report(results: Path, wall: float | None, cores: int | None) -> None:
    """Print the per-stage table and the compute/overhead split."""
    stages = read_benchmarks(results)
    if not stages:
        raise SystemExit(f"no benchmark TSVs under {results / 'benchmarks'}; run the workflow "
                         "first (or pass --run)")
    job_total = sum(row["s"] for rows in stages.values() for row in rows)
    rows = []
    for stage, jobs in sorted(stages.items(), key=lambda item: -sum(j["s"] for j in item[1])):
        seconds = sum(job["s"] for job in jobs)
        rows.append([
            stage, len(jobs), f"{seconds:.2f}", f"{max(job['s'] for job in jobs):.2f}",
            f"{100 * seconds / job_total:.1f}%",
            f"{100 * seconds / wall:.1f}%" if wall else "-",
            f"{max(job['max_rss'] for job in jobs):.0f}",
            f"{sum(job['cpu_time'] for job in jobs):.2f}",
        ])
    print()
    print(markdown_table(["stage", "jobs", "sum of job wall s", "slowest job s",
                          "share of benchmarked job time", "share of run wall time",
                          "max RSS MiB", "CPU s"], rows))
    print()
    compute, found, read = attribution_compute_seconds(results)
    print("\n".join(store_sizes(results)))
    print(f"- benchmarked jobs: {job_total:.2f} s in total")
    if read:
        attribution = sum(job["s"] for job in stages.get("attribution", []))
        print(f"- attribution compute (engine, pairs / rate from {found} of {read} job logs' "
              f"progress bars): {compute:.2f} s = {100 * compute / job_total:.1f}% of "
              f"benchmarked job time; the attribution jobs' other {attribution - compute:.1f} s "
              "are start-up, imports, model loading and shard I/O")
    if wall:
        print(f"- whole run: {wall:.2f} s wall with --cores {cores}; not in any benchmark file "
              f"(Snakemake scheduling, rules without benchmark:): {wall - job_total:.2f} s"
              + ("" if cores == 1 else " (jobs overlap with --cores > 1, so this difference "
                 "understates the overhead; use --cores 1 for an additive split)"))
        if read:
            print(f"- compute share of wall time, summing the jobs' engine time: "
                  f"{100 * compute / wall:.1f}%, non-compute overhead {100 * (1 - compute / wall):.1f}%")
        intervals = engine_intervals(results)
        if intervals:
            busy = union_seconds(intervals)
            print(f"- wall time during which an engine ran (union of {len(intervals)} jobs' "
                  f"engine intervals, parallel jobs counted once): {busy:.2f} s; non-compute "
                  f"overhead {100 * (1 - busy / wall):.1f}% of wall time")


# Runs one attribution job in a fresh interpreter and prints its peak RSS (VmHWM): after start-up
# (imports, model), and at the end. A child is needed: a forked child inherits ru_maxrss.
_MEMORY_CHILD = """
import json, logging, sys
from seqlift.pipeline.attribution import run_attribution_shard

logging.basicConfig(level=logging.INFO)

def vmhwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

config, regions, references, output, chunk = json.loads(sys.argv[1])
import torch, seqlift.engine, seqlift.demo  # noqa: E401, F401 - start-up, measured apart
before = vmhwm()
run_attribution_shard(config, regions, references, "1-of-1", "1-of-1", output,
                      batch_size=32, threads=1, regions_per_chunk=chunk)
print(json.dumps({"startup_mib": before, "peak_mib": vmhwm()}))
"""


def measure_shard_memory(sizes: list[int], configfile: str, chunk: int | None) -> None:
    """Peak RSS of one attribution job (demo model and width) for shards of ``sizes`` regions."""
    import json
    import tempfile

    import numpy as np
    import yaml

    from seqlift.pipeline import storage
    from seqlift.pipeline.config import attribution_config
    from seqlift.pipeline.references import make_references

    config = yaml.safe_load(Path("config/config.yaml").read_text()) | yaml.safe_load(Path(configfile).read_text())
    width, n_references = int(config["width"]), int(config["references"]["n"])
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=".") as folder:
            rng = np.random.default_rng(n)
            onehot = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, size=(n, width))].transpose(0, 2, 1)
            store = storage.RegionStore(
                onehot=np.ascontiguousarray(onehot), ids=np.array([f"region_{i:06d}" for i in range(n)]),
                chroms=np.array(["chr1"] * n), starts=np.arange(n, dtype=np.int64) * width,
                ends=np.arange(n, dtype=np.int64) * width + width, numbers=np.arange(n, dtype=np.int64),
            )
            regions, references = f"{folder}/regions.zarr", f"{folder}/references.zarr"
            storage.write_region_store(regions, store)
            make_references(regions, references, "dinucleotide_shuffle", n_references, seed=0)
            arguments = json.dumps([attribution_config(config), regions, references,
                                    f"{folder}/shard.zarr", chunk])
            begin = time.perf_counter()
            child = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, arguments], check=True,
                                   capture_output=True, text=True)
            seconds = time.perf_counter() - begin
            result = json.loads(child.stdout.strip().splitlines()[-1])
            chunks = re.search(r"in (\d+) chunk", child.stderr)
            rows.append([n, n * n_references, chunks.group(1) if chunks else "?",
                         f"{result['startup_mib']:.0f}", f"{result['peak_mib']:.0f}",
                         f"{result['peak_mib'] - result['startup_mib']:.0f}", f"{seconds:.1f}"])
    print()
    print(markdown_table(["regions", "pairs", "chunks", "peak RSS after start-up MiB",
                          "peak RSS MiB", "growth during the shard MiB", "job wall s"], rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results/demo"),
                        help="results/<name> folder of the run (default results/demo)")
    parser.add_argument("--run", action="store_true", help="run the workflow first (--forceall)")
    parser.add_argument("--configfile", default="config/demo.yaml")
    parser.add_argument("--cores", type=int, default=1,
                        help="cores for --run (default 1: stages add up to the wall time)")
    parser.add_argument("--memory", default=None, metavar="N,N,...",
                        help="instead, measure one attribution job's peak RSS for shards of these "
                             "numbers of random regions (demo model and width), e.g. 100,1000")
    parser.add_argument("--chunk", type=int, default=None,
                        help="regions per chunk for --memory (default: the pipeline's choice)")
    args = parser.parse_args(argv)
    print(f"- {malloc_settings_line()}")
    if args.memory:
        measure_shard_memory([int(n) for n in args.memory.split(",")], args.configfile, args.chunk)
        return
    wall = run_workflow(args.configfile, args.cores) if args.run else None
    report(args.results, wall, args.cores if args.run else None)


if __name__ == "__main__":
    main()

"""Wall time of a workflow run split by stage, from Snakemake's ``benchmark:`` files.

Rules with a ``benchmark:`` directive write one TSV per job under ``results/<name>/benchmarks/``
(``references.tsv``, ``attribution/<shard>/block_<b>.tsv``, ``aggregate.tsv``, ...). This script
sums them per stage (the first path component under ``benchmarks/``) and reads the attribution
jobs' logs for the time spent inside the engine: the progress bar's final elapsed time, so the
attribution stage is split into compute and the job's own overhead (Python start-up, imports,
model loading, zarr reads, writing the shard).

Usage::

    python benchmarks/workflow.py [--results results/demo]
    python benchmarks/workflow.py --run [--configfile config/demo.yaml] [--cores 1]

With ``--run`` the workflow is run first (``--forceall``) and its wall time measured. Use
``--cores 1`` for an additive split: jobs then run one after another, so wall time = sum of the
jobs + Snakemake's own scheduling, and rules without a ``benchmark:`` (qc, plots, exports) show up
as the remainder.
"""

from __future__ import annotations

import argparse
import csv
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
            print(f"- compute share of wall time: {100 * compute / wall:.1f}%, non-compute "
                  f"overhead {100 * (1 - compute / wall):.1f}%")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results/demo"),
                        help="results/<name> folder of the run (default results/demo)")
    parser.add_argument("--run", action="store_true", help="run the workflow first (--forceall)")
    parser.add_argument("--configfile", default="config/demo.yaml")
    parser.add_argument("--cores", type=int, default=1,
                        help="cores for --run (default 1: stages add up to the wall time)")
    args = parser.parse_args(argv)
    print(f"- {malloc_settings_line()}")
    wall = run_workflow(args.configfile, args.cores) if args.run else None
    report(args.results, wall, args.cores if args.run else None)


if __name__ == "__main__":
    main()

"""Time and peak memory of the motifs stage (rule ``motifs``: TF-MoDISco, TOMTOM, tables,
logos, modisco-lite's own report) for a given number of seqlets.

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        .venv/bin/python benchmarks/motifs.py --seqlets 2000 20000 [--threads 2] [--json out.json]

Inputs are synthetic, built to give about the asked number of seqlets: regions of 400 bp of
random sequence, each with two planted sites drawn from AP-1 (``TGACTCA``), GATA (``AGATAAG``)
and the CTCF core (``CCGCGAGGGGGCAG``) at random positions and strands, whose hypothetical scores
favour the planted bases (+1, the others -1/3) over Gaussian noise (sd 0.05) elsewhere; written as
an ``attributions.zarr`` by the storage module, as the aggregate stage writes it. ``max_seqlets``
is set to the asked number, the window is the whole 400 bp; modisco-lite's own report is off (the
default) unless --modisco-report. Each size runs in a fresh process
(as a Snakemake job does), with numba's cache already filled by an untimed warm-up run, so the
figures are those of every job after the first on an installation; the first job also compiles
(measured separately with --cold, which points numba at an empty cache directory).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_lines, malloc_settings_line, markdown_table, own_peak_rss_mib  # noqa: E402

SITES = ("TGACTCA", "AGATAAG", "CCGCGAGGGGGCAG")
MODISCO_REPORT = False
WIDTH = 400


def build_store(folder: Path, n_regions: int, seed: int = 0) -> Path:
    """The synthetic attributions.zarr of the module docstring."""
    import numpy as np

    from seqlift.pipeline import storage

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n_regions, WIDTH))
    hypothetical = rng.normal(0, 0.05, size=(n_regions, 4, WIDTH)).astype(np.float32)
    complement = str.maketrans("ACGT", "TGCA")
    for region in range(n_regions):
        for slot in range(2):
            site = SITES[rng.integers(len(SITES))]
            if rng.random() < 0.5:
                site = site.translate(complement)[::-1]
            start = slot * WIDTH // 2 + rng.integers(20, WIDTH // 2 - 20 - len(site))
            for offset, base in enumerate(site):
                codes[region, start + offset] = "ACGT".index(base)
                hypothetical[region, :, start + offset] = -1 / 3
                hypothetical[region, "ACGT".index(base), start + offset] = 1.0
    onehot = np.zeros((n_regions, 4, WIDTH), dtype=np.uint8)
    np.put_along_axis(onehot, codes[:, None, :], 1, axis=1)
    regions = storage.RegionStore(
        onehot=onehot, ids=np.array([f"region_{i:06d}" for i in range(n_regions)]),
        chroms=np.array(["chr1"] * n_regions), starts=np.arange(n_regions) * 1000,
        ends=np.arange(n_regions) * 1000 + WIDTH, numbers=np.arange(n_regions),
    )
    storage.write_region_store(folder / "regions.zarr", regions)
    part = storage.AttributionPart(
        0, n_regions, hypothetical[None], np.zeros((1, n_regions, 1)),
        np.zeros((1, n_regions)), np.zeros((1, n_regions, 1)),
    )
    storage.write_attribution_store(
        folder / "attributions.zarr", folder / "regions.zarr", ["bench"], 1, [part],
        {"targets": [{"index": 0, "name": "bench"}], "n_references": 1},
    )
    return folder / "attributions.zarr"


class _Clock(logging.Handler):
    """Keeps (time, message) of the motifs stage's log records."""

    def __init__(self):
        super().__init__()
        self.records: list[tuple[float, str]] = []

    def emit(self, record):
        self.records.append((record.created, record.getMessage()))


def child(arguments) -> None:
    """One timed run_motifs in this process; prints a JSON line."""
    import resource

    from seqlift.pipeline import motifs

    # numba as the job starts it (before modiscolite is imported here, which imports numba).
    motifs.start_numba(arguments.threads)
    import modiscolite.tfmodisco

    clustered = []
    to_patterns = modiscolite.tfmodisco.seqlets_to_patterns

    def counting(seqlets, *args, **kwargs):  # the seqlets each metacluster clusters
        clustered.append(len(seqlets))
        return to_patterns(seqlets, *args, **kwargs)

    modiscolite.tfmodisco.seqlets_to_patterns = counting
    folder = Path(arguments.folder)
    clock = _Clock()
    logging.getLogger("seqlift.pipeline.motifs").addHandler(clock)
    logging.getLogger("seqlift.pipeline.motifs").setLevel(logging.INFO)
    start = time.time()
    outcome = motifs.run_motifs(
        folder / "attributions.zarr", "bench", folder / "out" / "modisco.h5",
        folder / "out" / "matches.json", folder / "out" / "matches.tsv",
        folder / "out" / "motifs.html", folder / "out" / "logos", arguments.meme,
        arguments.meme_info, {"max_seqlets": arguments.max_seqlets},
        modisco_report=folder / "out" / "modisco_report" if arguments.modisco_report else None,
        n_threads=arguments.threads,
    )
    end = time.time()
    began = next(t for t, message in clock.records if message.startswith("TF-MoDISco on"))
    found = next(t for t, message in clock.records if message.startswith("TF-MoDISco found"))
    print(json.dumps({
        "total_s": end - start, "read_s": began - start, "modisco_s": found - began,
        "rest_s": end - found, "peak_mib": own_peak_rss_mib(),
        # modisco-lite's forked helpers (compilers, the negative metacluster, Leiden seeds)
        # share this process's pages copy-on-write; their largest peak counts those too.
        "children_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "n_clustered": sum(clustered),
        "n_patterns": len(outcome["patterns"]),
        "n_seqlets": sum(pattern["n_seqlets"] for pattern in outcome["patterns"]),
        "top": [(p["n_seqlets"], p["consensus"], p["matches"][0]["name"] if p["matches"] else None)
                for p in outcome["patterns"][:5]],
    }))


def run_child(folder: Path, max_seqlets: int, meme: Path, info: Path, threads: int,
              env: dict | None = None) -> dict:
    command = [sys.executable, __file__, "--child", "--folder", str(folder), "--meme", str(meme),
               "--meme-info", str(info), "--max-seqlets", str(max_seqlets),
               "--threads", str(threads), *(["--modisco-report"] if MODISCO_REPORT else [])]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seqlets", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="also time a run on an empty numba cache")
    parser.add_argument("--modisco-report", action="store_true",
                        help="also write modisco-lite's own report (motifs.modisco_report)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--meme", help=argparse.SUPPRESS)
    parser.add_argument("--meme-info", help=argparse.SUPPRESS)
    parser.add_argument("--max-seqlets", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments)
        return
    from seqlift.pipeline import motifs

    global MODISCO_REPORT
    MODISCO_REPORT = arguments.modisco_report
    print("\n".join(environment_lines(arguments.threads, "cpu")))
    print(malloc_settings_line())
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="seqlift-bench-motifs-") as scratch:
        scratch = Path(scratch)
        meme, info = scratch / "jaspar.meme", scratch / "jaspar.json"
        motifs.write_motif_database(meme, info)
        warm = scratch / "warm"
        warm.mkdir()
        build_store(warm, 200, seed=9)
        if arguments.cold:
            env = os.environ | {"NUMBA_CACHE_DIR": str(scratch / "empty-numba-cache")}
            cold = run_child(warm, 2000, meme, info, arguments.threads, env)
            print(f"cold numba cache, 200 regions: {cold['total_s']:.1f} s "
                  f"(modisco {cold['modisco_s']:.1f} s)")
            results["cold_200_regions"] = cold
        run_child(warm, 2000, meme, info, arguments.threads)
        for n_seqlets in arguments.seqlets:
            folder = scratch / f"n{n_seqlets}"
            folder.mkdir()
            # Two sites per region, nearly all of them called as seqlets.
            build_store(folder, n_seqlets // 2)
            measured = run_child(folder, n_seqlets, meme, info, arguments.threads)
            results[n_seqlets] = measured
            rows.append((f"{n_seqlets:,}", f"{n_seqlets // 2:,}", f"{measured['n_clustered']:,}",
                         f"{measured['n_seqlets']:,}", measured["n_patterns"],
                         f"{measured['modisco_s']:.1f}", f"{measured['total_s']:.1f}",
                         f"{measured['peak_mib']:.0f}",
                         f"{measured['children_peak_mib']:.0f}"))
            print(json.dumps({n_seqlets: measured}), flush=True)
    print(markdown_table(
        ["max_seqlets", "regions (400 bp)", "seqlets clustered", "seqlets in patterns",
         "patterns", "TF-MoDISco s", "whole job s", "peak RSS MiB",
         "largest forked helper MiB"], rows))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

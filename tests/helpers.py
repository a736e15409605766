"""Shared builders of the tests: tiny projects, stores, Snakemake runs and store comparisons.

Tests import what they need from here (``from helpers import ...``) instead of from each other;
the fixtures built on these are in ``conftest.py``.

The tiny project: a random two-chromosome genome, nine BED rows (one runs off its chromosome
and is dropped), seqlift.zoo's SmallCNN (two outputs, 32 bp, seeded) and six
dinucleotide-shuffled references per region. The model runs in float64 so that the convergence
deltas (round-off by nature, about 1e-7 of f(x) in float32) can be compared between shard
layouts to 1e-6 as well.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from zarr.errors import ZarrUserWarning

from seqlift.pipeline import storage

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DATA = Path(__file__).parent / "data"

WIDTH = 32
N_REFERENCES = 6
SEED = 3
TARGETS = ("target_0", "second")
BED_ROWS = [
    ("chr1", 100, 300), ("chr1", 500, 700), ("chr1", 2990, 3000), ("chr2", 10, 90),
    ("chr2", 1000, 1200), ("chr1", 1500, 1600), ("chr2", 1800, 1900), ("chr1", 2000, 2100),
    ("chr1", 2400, 2440),
]
TINY_MODEL = {
    "factory": "seqlift.zoo:SmallCNN",
    "kwargs": {"n_outputs": 2, "sequence_length": WIDTH, "seed": 1},
}
TINY_CONFIG = {
    "name": "tiny",
    "regions": "peaks.bed",
    "genome": "genome.fa",
    "width": WIDTH,
    "model": TINY_MODEL,
    "targets": [0, {"index": 1, "name": "second"}],
    "references": {"n": N_REFERENCES, "seed": SEED},
    "dtype": "float64",
    "qc": {"truth_bed": "motifs.bed"},
    "plots": {"top_regions": 2, "logo_flank": 8},
}
"""The tiny project's config (``config.yaml`` of :func:`write_tiny_project`)."""

STAGE_CONFIG = {
    "regions": "peaks.bed",
    "genome": "genome.fa",
    "width": WIDTH,
    "model": TINY_MODEL,
    "targets": [0, {"index": 1, "name": "second"}],
    "references": {"method": "dinucleotide_shuffle", "n": N_REFERENCES, "seed": 3, "file": None},
    "dtype": "float64",
    "device": "cpu",
}
"""The attribution keys of a config, as the stages receive them (for library-level tests)."""


# ---------------------------------------------------------------------------------------------
# Input files


def write_genome(path: Path, lengths: dict[str, int], seed: int = 0) -> dict[str, str]:
    """A random FASTA with 60-base lines; returns the sequences by name."""
    rng = np.random.default_rng(seed)
    sequences = {chrom: "".join(rng.choice(list("ACGT"), n)) for chrom, n in lengths.items()}
    with open(path, "w") as handle:
        for chrom, sequence in sequences.items():
            lines = [sequence[i : i + 60] for i in range(0, len(sequence), 60)]
            handle.write(f">{chrom}\n" + "\n".join(lines) + "\n")
    return sequences


def write_bed(path: Path, rows: list[tuple]) -> Path:
    """A tab-separated BED file of ``rows``."""
    path.write_text("".join("\t".join(str(value) for value in row) + "\n" for row in rows))
    return path


def write_config(folder: Path, config: dict) -> Path:
    """``folder/config.yaml``."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def write_tiny_project(folder: Path, config: dict = TINY_CONFIG, **changes) -> Path:
    """The tiny project in ``folder`` (created), with ``changes`` to its config's keys."""
    folder.mkdir(parents=True, exist_ok=True)
    write_genome(folder / "genome.fa", {"chr1": 3000, "chr2": 2000})
    write_bed(folder / "peaks.bed", BED_ROWS)
    (folder / "motifs.bed").write_text("chr1\t195\t203\tAP1\nchr2\t1095\t1101\tGATA\n")
    write_config(folder, config | changes)
    return folder


def write_demo_project(folder: Path) -> Path:
    """The bundled demo in ``folder``: ``config.yaml`` is ``config/demo.yaml`` and ``demo/`` a copy
    of the committed genome, peaks, planted motifs and model (pyfaidx indexes the copy)."""
    (folder / "demo" / "data").mkdir(parents=True)
    for name in ("genome.fa", "peaks.bed", "motifs.bed"):
        shutil.copyfile(ROOT / "demo" / "data" / name, folder / "demo" / "data" / name)
    shutil.copyfile(ROOT / "demo" / "model.pt", folder / "demo" / "model.pt")
    shutil.copyfile(ROOT / "config" / "demo.yaml", folder / "config.yaml")
    return folder


# ---------------------------------------------------------------------------------------------
# Snakemake


def snakemake_command(folder: Path, *arguments: str, cores: int = 2) -> list[str]:
    """The workflow's command line in ``folder`` with its ``config.yaml``."""
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory",
        str(folder), "--configfile", str(folder / "config.yaml"), "--cores", str(cores),
        *arguments,
    ]


def run_snakemake(
    folder: Path, *arguments: str, cores: int = 2, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the workflow; with ``check``, a failed run fails the test with Snakemake's output."""
    result = subprocess.run(
        snakemake_command(folder, *arguments, cores=cores),
        capture_output=True, text=True, cwd=folder, env=env,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(arguments)} failed:\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-8000:]}"
        )
    return result


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's 'Job stats' table."""
    import re

    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def results_of(folder: Path, name: str = "tiny") -> Path:
    """``folder/results/<name>``."""
    return folder / "results" / name


def job_logs(folder: Path, name: str = "tiny") -> str:
    """Every job log of a run, concatenated (rule and log names may change; the text may not)."""
    logs = sorted((results_of(folder, name) / "logs").rglob("*.log"))
    return "".join(path.read_text() for path in logs)


def fail_chunk_writes_after(monkeypatch, n_writes: int) -> list:
    """Make zarr's file writes of chunks (keys ``.../c/...``) fail with ENOSPC after ``n_writes``.

    Returns the list of chunk paths written or attempted, which grows as zarr writes.
    """
    import errno

    from zarr.storage import _local

    put, chunk_writes = _local._put, []

    def disk_full_after(path, *args, **kwargs):
        if "/c/" in str(path):
            chunk_writes.append(path)
            if len(chunk_writes) > n_writes:
                raise OSError(errno.ENOSPC, "No space left on device")
        return put(path, *args, **kwargs)

    monkeypatch.setattr(_local, "_put", disk_full_after)
    return chunk_writes


# ---------------------------------------------------------------------------------------------
# Stores


def random_onehot(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``(n, 4, length)`` uint8 one-hot of random bases."""
    codes = rng.integers(0, 4, size=(n, length))
    onehot = np.zeros((n, 4, length), dtype=np.uint8)
    np.put_along_axis(onehot, codes[:, None, :], 1, axis=1)
    return onehot


def region_store(
    n: int = 7, width: int = WIDTH, numbers=None, seed: int = 0
) -> storage.RegionStore:
    """``n`` random regions of ``width`` bp, numbered ``5, 7, 9, ...`` unless ``numbers``."""
    numbers = np.arange(n) * 2 + 5 if numbers is None else np.asarray(numbers)
    return storage.RegionStore(
        onehot=random_onehot(np.random.default_rng(seed), n, width),
        ids=np.array([f"region_{k:06d}" for k in numbers]),
        chroms=np.array(["chr1"] * n),
        starts=np.arange(n, dtype=np.int64) * 100,
        ends=np.arange(n, dtype=np.int64) * 100 + width,
        numbers=np.asarray(numbers, dtype=np.int64),
    )


def write_attributions_store(
    path: Path,
    onehot: np.ndarray,
    hypothetical: dict[str, np.ndarray],
    regions: list[tuple[str, str, int, int]],
    deltas: dict[str, np.ndarray] | None = None,
    example_predictions: dict[str, np.ndarray] | None = None,
    reference_means: dict[str, np.ndarray] | None = None,
    n_references: int = 2,
) -> Path:
    """Write ``attributions.zarr`` in the layout of :mod:`seqlift.pipeline.storage` by hand.

    ``onehot`` is ``(n, 4, length)``; ``hypothetical`` maps target name to ``(n, 4, length)``;
    ``regions`` is ``[(id, chrom, start, end)]``, numbered 0, 1, ... Missing deltas and
    predictions are zeros; ``predictions/<target>/reference`` is left out (QC then uses the
    mean-reference basis).
    """
    n_regions = onehot.shape[0]
    group = zarr.open_group(str(path), mode="w")
    onehot = np.asarray(onehot, dtype=np.uint8)
    group.create_array("onehot", data=onehot, chunks=(3, 4, onehot.shape[2]))
    for name, values in hypothetical.items():
        group.create_array(f"hypothetical/{name}", data=np.asarray(values, dtype=np.float32))
        delta = (deltas or {}).get(name, np.zeros((n_regions, n_references)))
        group.create_array(f"deltas/{name}", data=np.asarray(delta, dtype=np.float32))
        example = (example_predictions or {}).get(name, np.zeros(n_regions))
        reference = (reference_means or {}).get(name, np.zeros(n_regions))
        group.create_array(
            f"predictions/{name}/example", data=np.asarray(example, dtype=np.float32)
        )
        group.create_array(
            f"predictions/{name}/reference_mean", data=np.asarray(reference, dtype=np.float32)
        )
    for field, column in (("id", 0), ("chrom", 1)):
        array = group.create_array(f"regions/{field}", shape=(n_regions,), dtype=str)
        array[:] = np.array([region[column] for region in regions], dtype=object)
    group.create_array("regions/start", data=np.array([r[2] for r in regions], dtype=np.int64))
    group.create_array("regions/end", data=np.array([r[3] for r in regions], dtype=np.int64))
    group.create_array("regions/number", data=np.arange(n_regions, dtype=np.int64))
    group.attrs.update(
        {
            "config": {"name": "test"},
            "seqlift_version": "0.1.0",
            "model_checksum": "sha256:0",
            "targets": [{"index": index, "name": name} for index, name in enumerate(hypothetical)],
            "n_references": n_references,
        }
    )
    return path


def open_attributions(folder: Path, name: str = "tiny") -> zarr.Group:
    """A run's ``attributions.zarr``, read-only."""
    return zarr.open_group(str(results_of(folder, name) / "attributions.zarr"), mode="r")


def stacked(group: zarr.Group, name: str, targets=TARGETS) -> np.ndarray:
    """``group[name/<target>]`` of every target, stacked on a new first axis."""
    return np.stack([np.asarray(group[f"{name}/{target}"][:]) for target in targets])


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a zarr store by its path inside the store."""
    group = zarr.open_group(str(path), mode="r")
    with warnings.catch_warnings():
        # Snakemake marks a directory() output with a .snakemake_timestamp file, which zarr
        # names when it lists the store; it is not part of the store.
        warnings.filterwarnings(
            "ignore", "Object at .snakemake_timestamp is not recognized", ZarrUserWarning
        )
        members = list(group.members(max_depth=None))
    return {name: np.asarray(node[...]) for name, node in members if isinstance(node, zarr.Array)}


def assert_bit_identical(first: Path, second: Path) -> None:
    """Two zarr stores hold the same arrays (same dtypes, shapes and bits) and attributes."""
    a, b = store_arrays(first), store_arrays(second)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        if a[name].dtype.kind in "fiu":
            assert a[name].tobytes() == b[name].tobytes(), name
        else:
            assert np.array_equal(a[name], b[name]), name
    attrs = [dict(zarr.open_group(str(path), mode="r").attrs) for path in (first, second)]
    assert attrs[0] == attrs[1]

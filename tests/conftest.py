"""Shared fixtures; the builders behind them are in ``helpers.py`` (the engine's tiny models are
in ``zoo/``, their builders in ``engine_helpers.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import (
    N_REFERENCES,
    region_store,
    results_of,
    run_snakemake,
    write_demo_project,
    write_tiny_project,
)

from seqlift.pipeline import storage
from seqlift.pipeline.motifs import start_numba
from seqlift.pipeline.references import make_references

# Before any test starts numba's thread pool, as a motifs job does: modisco-lite's kernels then
# compile once per installation, into numba's cache, instead of once in every test process that
# runs TF-MoDISco (about 30 s on 2 cores). numba's own default thread count is kept.
start_numba(os.cpu_count() or 1)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    """``regions.zarr`` (7 random 32-bp regions numbered 5, 7, ..., 17) and ``references.zarr``
    (6 dinucleotide shuffles of each, seed 3), as the regions and references stages write them."""
    regions, references = tmp_path / "regions.zarr", tmp_path / "references.zarr"
    storage.write_region_store(regions, region_store())
    make_references(regions, references, "dinucleotide_shuffle", N_REFERENCES, seed=3)
    return regions, references


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """The tiny project of ``helpers.write_tiny_project`` in a fresh folder."""
    return write_tiny_project(tmp_path / "project")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The demo (config/demo.yaml: AP1, CTCF and GATA, motifs on) run end to end with its
    report, in a fresh folder (``helpers.write_demo_project``); shared by test_demo.py and
    test_report_browser.py, slow (about 4 minutes on 2 cores)."""
    folder = write_demo_project(tmp_path_factory.mktemp("demo_run"))
    run_snakemake(folder)
    run_snakemake(folder, "--report", str(results_of(folder, "demo") / "report.html"))
    return folder

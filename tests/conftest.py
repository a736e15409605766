"""Shared fixtures; the builders behind them are in ``helpers.py`` (the engine's tiny models are
in ``zoo/``, their builders in ``engine_helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import N_REFERENCES, region_store, write_tiny_project

from seqlift.pipeline import storage
from seqlift.pipeline.references import make_references


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

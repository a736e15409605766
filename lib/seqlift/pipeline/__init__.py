"""The workflow's stages as library functions, one module per Snakemake rule.

Rule ``workflow/rules/<stage>.smk``, script ``workflow/scripts/<stage>.py`` and module
``seqlift.pipeline.<stage>`` share one name; each script unpacks its job and calls one function
of its module, so that everything the workflow computes can be reached and tested from Python:

- :mod:`.config` -- no rule: read when the Snakefile is parsed (targets, the config keys that
  make shards, their hash, the default shard count).
- :mod:`.regions` -- :func:`~.regions.extract_regions_to_store`: ``regions.bed``,
  ``dropped_regions.tsv``, ``regions.zarr``.
- :mod:`.references` -- :func:`~.references.make_references`: ``references.zarr``.
- :mod:`.attribution` -- :func:`~.attribution.run_attribution_shard`: one shard group
  ``shards/<i>-of-<n>/block_<j>-of-<m>.zarr``.
- :mod:`.aggregate` -- :func:`~.aggregate.aggregate_shards`: ``attributions.zarr``.
- :mod:`.qc` -- :func:`~.qc.run_qc`: ``qc/``.
- :mod:`.plots` -- :func:`~.plots.draw_figures`: ``plots/``.
- :mod:`.exports` -- :func:`~.exports.write_exports`: ``exports/<target>/``.
- :mod:`.motifs` -- :func:`~.motifs.write_motif_database` (rule ``motif_database``:
  ``motifs/jaspar.meme``) and :func:`~.motifs.run_motifs` (rule ``motifs``, one job per target:
  TF-MoDISco, TOMTOM matches, ``motifs/<target>/``).

A new stage adds ``workflow/rules/<stage>.smk``, ``workflow/scripts/<stage>.py`` and
``seqlift/pipeline/<stage>.py`` in the same pattern. :mod:`~seqlift.pipeline.storage` is not
a stage: it is the one description of every store's layout (regions.zarr, references.zarr,
shard groups, attributions.zarr), with their writers and readers.

Importing this package, :mod:`.config` or :mod:`.storage` is cheap (no torch): the workflow
imports :mod:`.config` when Snakemake parses the Snakefile, so torch is imported inside the
functions that run models.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import IO

__all__ = ["log_to_file"]


def log_to_file(path: str | os.PathLike) -> IO[str]:
    """Send this process's logging, warnings and stderr (progress bars, tracebacks) to ``path``.

    Snakemake job scripts call this first, so that everything a job says ends up in its
    ``log:`` file.

    Parameters
    ----------
    path : path
        The job's log file; its folder is created.

    Returns
    -------
    text stream
        The open log, line-buffered; it lives as long as the job.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    return stream

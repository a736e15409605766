"""Snakemake adapter of rule `qc_convergence`: per-region delta tables and summary.json."""

from pathlib import Path

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.qc import convergence_qc

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
convergence_qc(
    attributions_zarr=job.input.zarr,
    out_dir=Path(job.output.summary).parent,
    threshold=job.params.threshold,
    relative_threshold=job.params.relative_threshold,
    on_failure=job.params.on_failure,
)

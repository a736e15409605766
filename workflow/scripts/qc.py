"""Snakemake adapter of rule `qc`: convergence tables, summary.json and motif recovery."""

from pathlib import Path

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.qc import run_qc

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
run_qc(
    attributions_zarr=job.input.zarr,
    out_dir=Path(job.output.summary).parent,
    threshold=job.params.threshold,
    relative_threshold=job.params.relative_threshold,
    on_failure=job.params.on_failure,
    truth_bed=job.input.truth[0] if job.input.truth else None,
    motif_recovery_json=job.output.motif_recovery[0] if job.output.motif_recovery else None,
    motif_results=job.input.motifs,
)

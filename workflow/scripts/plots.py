"""Snakemake adapter of rule `plots`: every figure of the run, for all targets."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.plots import draw_figures

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
motifs = job.output.motif_recovery
draw_figures(
    attributions_zarr=job.input.zarr,
    logos=dict(zip(job.params.targets, job.output.logos, strict=True)),
    delta_histogram=job.output.delta_histogram,
    mean_profile=job.output.mean_profile,
    threshold=job.params.threshold,
    n_top=job.params.n_top,
    flank=job.params.flank,
    motif_recovery_json=job.input.motif_recovery[0] if motifs else None,
    motif_recovery=motifs[0] if motifs else None,
)

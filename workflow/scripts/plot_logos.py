"""Snakemake adapter of rule `plot_logos`: logos of one target's top regions."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.figures import plot_top_logos
from seqlift.pipeline import log_to_file

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
plot_top_logos(
    attributions_zarr=job.input.zarr,
    target=job.wildcards.target,
    out_png=job.output.png,
    n_top=job.params.n_top,
    flank=job.params.flank,
)

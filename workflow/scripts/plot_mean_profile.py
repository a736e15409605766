"""Snakemake adapter of rule `plot_mean_profile`: mean |projected score| around the centre."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.figures import plot_mean_profile
from seqlift.pipeline import log_to_file

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
plot_mean_profile(attributions_zarr=job.input.zarr, out_png=job.output.png)

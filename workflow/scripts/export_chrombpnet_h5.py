"""Snakemake adapter of rule `export_chrombpnet_h5`: ChromBPNet-style h5 of one target."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.exports import export_chrombpnet_h5
from seqlift.pipeline import log_to_file

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
export_chrombpnet_h5(
    attributions_zarr=job.input.zarr, target=job.wildcards.target, path=job.output.h5
)

"""Snakemake adapter of rule `export_tfmodisco`: ohe.npz and attr.npz of one target."""

from pathlib import Path

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.exports import export_tfmodisco
from seqlift.pipeline import log_to_file

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
export_tfmodisco(
    attributions_zarr=job.input.zarr,
    target=job.wildcards.target,
    out_dir=Path(job.output.attr).parent,
)

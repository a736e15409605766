"""Snakemake adapter of rule `references`: every region's references, as base codes."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.references import make_references

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
make_references(
    regions_zarr=job.input.regions,
    references_zarr=job.output.zarr,
    method=job.params.method,
    n=job.params.n,
    seed=job.params.seed,
    file=job.params.file,
)

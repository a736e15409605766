"""Snakemake adapter of rule `aggregate`: shard groups -> attributions.zarr."""

import os

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.aggregate import aggregate_shards

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
aggregate_shards(
    shard_paths=job.input.shards,
    regions_zarr=job.input.regions,
    references_zarr=job.input.references,
    output=job.output.zarr,
    config=job.params.config,
    base_dir=os.getcwd(),
)

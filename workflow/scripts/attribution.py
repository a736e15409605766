"""Snakemake adapter of rule `attribution`: one region shard x one reference block."""

import os

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.attribution import run_attribution_shard

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log = log_to_file(job.log[0])
run_attribution_shard(
    config=job.params.config,
    regions_zarr=job.input.regions,
    references_zarr=job.input.references,
    shard=job.wildcards.scatteritem,
    block=job.wildcards.block,
    output=job.output.shard,
    base_dir=os.getcwd(),
    batch_size=job.params.batch_size,
    threads=job.threads,
    progress_file=log,
)

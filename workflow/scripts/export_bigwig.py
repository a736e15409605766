"""Snakemake adapter of rule `export_bigwig`: per-base projected scores of one target."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.exports import export_bigwig
from seqlift.pipeline import log_to_file

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
# The regions stage created or refreshed the FASTA's .fai, whose first columns are chrom sizes.
export_bigwig(
    attributions_zarr=job.input.zarr,
    target=job.wildcards.target,
    path=job.output.bigwig,
    chrom_sizes=f"{job.input.genome}.fai",
)

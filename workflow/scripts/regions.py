"""Snakemake adapter of rule `regions`: cut the windows and write the region outputs."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.regions import extract_regions_to_store

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
extract_regions_to_store(
    bed_path=job.input.bed,
    fasta_path=job.input.genome,
    width=job.params.width,
    regions_bed=job.output.bed,
    dropped_tsv=job.output.dropped,
    regions_zarr=job.output.zarr,
    max_n_fraction=job.params.max_n_fraction,
    missing_chromosomes=job.params.missing_chromosomes,
)

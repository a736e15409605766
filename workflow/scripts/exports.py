"""Snakemake adapter of rule `exports`: the switched-on exports of every target."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.exports import write_exports

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
switches = job.params.switches
write_exports(
    attributions_zarr=job.input.zarr,
    out_dir=job.params.out_dir,
    targets=job.params.targets,
    tfmodisco=switches["tfmodisco"],
    chrombpnet_h5=switches["chrombpnet_h5"],
    bigwig=switches["bigwig"],
    # The regions stage created or refreshed the FASTA's .fai, whose first columns are chrom sizes.
    chrom_sizes=f"{job.input.genome}.fai",
)

"""Snakemake adapter of rule `qc_motif_recovery`: auROC of planted motifs vs the rest."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.qc import motif_recovery

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
motif_recovery(
    attributions_zarr=job.input.zarr, motifs_bed=job.input.truth, out_json=job.output.json
)

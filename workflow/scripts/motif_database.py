"""Snakemake adapter of rule `motif_database`: the JASPAR selection as a MEME file."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.motifs import write_motif_database

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
jaspar = job.params.jaspar
write_motif_database(
    meme_path=job.output.meme,
    info_path=job.output.info,
    release=jaspar["release"],
    collection=jaspar["collection"],
    taxon=jaspar["taxon"],
)

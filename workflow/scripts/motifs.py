"""Snakemake adapter of rule `motifs`: TF-MoDISco, TOMTOM matches and figures of one target."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.pipeline import log_to_file
from seqlift.pipeline.motifs import run_motifs

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
database = job.input.database
report = job.output.modisco_report
run_motifs(
    attributions_zarr=job.input.zarr,
    target=job.wildcards.target,
    modisco_h5=job.output.modisco_h5,
    matches_json=job.output.matches_json,
    matches_tsv=job.output.matches_tsv,
    table_html=job.output.table,
    logos=job.output.logos,
    # The user's MEME file alone, or the JASPAR MEME file and its provenance.
    database_meme=database[0],
    database_info=database[1] if len(database) > 1 else None,
    settings=job.params.settings,
    modisco_report=report[0] if report else None,
    n_threads=job.threads,
)

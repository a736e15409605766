"""Snakemake adapter of rule `plot_motif_recovery`: auROC heatmap, targets x motifs."""

import _seqlift_path  # noqa: F401 - seqlift's source when the job env lacks it

from seqlift.figures import plot_motif_recovery
from seqlift.pipeline import log_to_file

job = snakemake  # noqa: F821 - injected by Snakemake's script directive
log_to_file(job.log[0])
plot_motif_recovery(motif_recovery_json=job.input.json, out_png=job.output.png)

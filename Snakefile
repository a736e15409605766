# seqlift: DeepLIFT/SHAP attribution of a PyTorch genomics model over the regions of a BED file.
#
#   snakemake --cores 4 --configfile config/config.yaml
#   snakemake --cores 4 --configfile config/demo.yaml --set-scatter shards=8
#   snakemake --report results/<name>/report.html --configfile ...
#
# Stages, each one rule file (workflow/rules/<stage>.smk), one script (workflow/scripts/<stage>.py)
# and one module (seqlift.pipeline.<stage>): regions -> references -> attribution (scattered over
# region shards x reference blocks) -> aggregate -> motifs (TF-MoDISco + JASPAR) -> qc -> plots,
# exports.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/regions.smk"
include: "workflow/rules/references.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/exports.smk"
include: "workflow/rules/motifs.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),

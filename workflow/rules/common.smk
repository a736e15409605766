# Python helpers of the workflow: config validation, scatter counts, input functions, resources.
# Rule files hold rules only; the logic they run lives in seqlift.pipeline.
import re
from pathlib import Path

from snakemake.utils import validate

from seqlift.pipeline import attribution_config, default_shard_count, normalize_targets

validate(config, schema="../schemas/config.schema.yaml")

TARGETS = normalize_targets(config["targets"])
TARGET_NAMES = [target["name"] for target in TARGETS]


# Both counts are fixed when the workflow is parsed; override them with
# --set-scatter shards=N reference_blocks=M. Results do not depend on them.
scattergather:
    shards=default_shard_count(
        config["regions"], config["sharding"]["regions_per_shard"]
    ),
    reference_blocks=config["sharding"]["reference_blocks"],


wildcard_constraints:
    name=re.escape(config["name"]),
    block=r"\d+-of-\d+",
    target="|".join(re.escape(name) for name in TARGET_NAMES),


# Short steps run on the submitting node instead of queueing on a cluster.
localrules:
    aggregate,
    qc_convergence,
    qc_motif_recovery,
    export_tfmodisco,
    export_chrombpnet_h5,
    export_bigwig,
    plot_logos,
    plot_delta_histogram,
    plot_mean_profile,
    plot_motif_recovery,


def results_path(*parts):
    """Path under results/<name>/ of this run."""
    return str(Path("results", config["name"], *parts))


def get_final_outputs():
    """Every file `rule all` asks for, following the config's qc and exports switches."""
    outputs = [
        results_path("attributions.zarr"),
        results_path("qc", "summary.json"),
        results_path("plots", "delta_histogram.png"),
        results_path("plots", "mean_profile.png"),
    ]
    if config["qc"]["truth_bed"]:
        outputs.append(results_path("plots", "motif_recovery.png"))
    for target in TARGET_NAMES:
        outputs.append(results_path("plots", f"logos_{target}.png"))
        if config["exports"]["tfmodisco"]:
            outputs.append(results_path("exports", target, "attr.npz"))
        if config["exports"]["chrombpnet_h5"]:
            outputs.append(results_path("exports", target, "shap.h5"))
        if config["exports"]["bigwig"]:
            outputs.append(results_path("exports", target, "projected.bw"))
    return outputs


def get_reference_inputs(wildcards):
    """The user's reference file when references.method is 'file'."""
    if config["references"]["method"] == "file":
        return [config["references"]["file"]]
    return []


def get_truth_bed(wildcards):
    """The planted-motif BED that motif recovery is scored against."""
    return config["qc"]["truth_bed"] or []


def get_model_inputs(wildcards):
    """Model files whose change must recompute the shards."""
    return [
        path
        for path in (config["model"].get("file"), config["model"].get("weights"))
        if path
    ]


def get_shard_outputs(wildcards):
    """Every region shard x reference block file of the run, in shard then block order."""
    return gather.shards(
        "results/{name}/shards/{scatteritem}/block_{block}.npz",
        name=wildcards.name,
        block=gather.reference_blocks("{scatteritem}"),
    )


def get_attribution_config(wildcards):
    """Config keys that change shard numbers (others must not trigger recomputation)."""
    return attribution_config(config)


def attribution_gpus(wildcards):
    """One GPU per shard job when the config asks for CUDA."""
    return 1 if config["device"].startswith("cuda") else 0


def attribution_mem_mb(wildcards, attempt):
    """Memory grows with each retry (--retries)."""
    return 4000 * attempt


def attribution_runtime(wildcards, attempt):
    """Minutes; grows with each retry (--retries)."""
    return 120 * attempt

# Python helpers of the workflow: config validation, scatter counts, input functions, resources.
# Rule files hold rules only; the logic they run lives in seqlift.pipeline.<rule>.
import os
import re
from pathlib import Path

from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from seqlift.models import model_files
from seqlift.pipeline.config import (
    attribution_config,
    default_shard_count,
    motif_window_problem,
    normalize_targets,
)


def validation_message(error):
    """The schema error in one short paragraph: the reason and the key, not the whole schema."""
    problem = error.__context__
    if not isinstance(problem, ValidationError):
        return None
    where = "".join(f"[{part!r}]" for part in problem.absolute_path)
    key = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}"
        for part in problem.absolute_path
    ).lstrip(".")
    return (
        f"Error validating config file.\nValidationError: {problem.message}\n"
        f"On instance{where}: fix {f'the config key {key}' if key else 'the config'} "
        "(workflow/schemas/config.schema.yaml says what each key accepts)"
    )


def results_folder_problem(name):
    """Why results/<name> cannot hold this run's results (a file, not writable), or None."""
    folder = Path("results", name)
    for path in (Path("results"), folder):
        if path.exists() and not path.is_dir():
            return (
                f"{path} is a file, but the results of this run go into a folder of that name: "
                "move or remove the file, or run in another folder with --directory"
            )
    existing = (
        [folder, *(p for p in folder.glob("*") if p.is_dir())]
        if folder.is_dir()
        else []
    )
    existing = existing or [next(p for p in folder.parents if p.exists())]
    for path in existing:
        if not os.access(path, os.W_OK):
            return (
                f"{path} is not writable (permissions or a read-only mount): fix it, or write "
                "the results elsewhere with --directory"
            )
    return None


try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as error:
    message = validation_message(error)
    if message is None:
        raise
    raise WorkflowError(message) from None

# Snakemake would otherwise stop with its own traceback when it first touches the outputs.
if results_folder_problem(config["name"]):
    raise WorkflowError(results_folder_problem(config["name"]))

# Targets as every stage (and the report) sees them: [{index, name}], names filled in.
config["targets"] = normalize_targets(config["targets"])
TARGET_NAMES = [target["name"] for target in config["targets"]]
MOTIFS = config["motifs"]

# A motif window that does not fit would only fail once attribution has run.
if motif_window_problem(config):
    raise WorkflowError(motif_window_problem(config))


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
    qc,
    plots,
    exports,
    motif_database,


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
        if MOTIFS["enabled"]:
            outputs.append(results_path("motifs", target, "matches.json"))
        if config["exports"]["tfmodisco"]:
            outputs.append(results_path("exports", target, "attr.npz"))
        if config["exports"]["chrombpnet_h5"]:
            outputs.append(results_path("exports", target, "shap.h5"))
        if config["exports"]["bigwig"]:
            outputs.append(results_path("exports", target, "projected.bw"))
    return outputs


def if_truth(path):
    """``[path]`` when the config gives a truth BED (motif recovery), else no file."""
    return [path] if config["qc"]["truth_bed"] else []


# Report category and labels of each figure; captions are workflow/report/<figure>.rst.
FIGURES = {
    "logos": ("Attributions", {"figure": "top regions"}),
    "delta_histogram": ("Quality control", {"figure": "convergence deltas"}),
    "mean_profile": ("Attributions", {"target": "all", "figure": "mean profile"}),
    "motif_recovery": ("Quality control", {"figure": "motif recovery"}),
}


def figure(kind, target=None):
    """``results/{name}/plots/<kind>[_<target>].png``, wrapped for the report."""
    category, labels = FIGURES[kind]
    stem = kind if target is None else f"{kind}_{target}"
    return report(
        f"results/{{name}}/plots/{stem}.png",
        caption=f"../report/{kind}.rst",
        category=category,
        labels=labels if target is None else {"target": target} | labels,
    )


def logo_figures():
    """One logos figure per target, in target order."""
    return [figure("logos", target) for target in TARGET_NAMES]


def export_files(switch, *names):
    """``results/{name}/exports/<target>/<file>`` of every target, if exports.<switch> is on."""
    if not config["exports"][switch]:
        return []
    return [
        f"results/{{name}}/exports/{target}/{name}"
        for target in TARGET_NAMES
        for name in names
    ]


def get_reference_inputs(wildcards):
    """The user's reference file when references.method is 'file'."""
    if config["references"]["method"] == "file":
        return [config["references"]["file"]]
    return []


def get_truth_bed(wildcards):
    """The planted-motif BED that motif recovery is scored against."""
    return if_truth(config["qc"]["truth_bed"])


def get_model_inputs(wildcards):
    """Model files whose change must recompute the shards, resolved as the jobs load them."""
    return model_files(config["model"])


SHARD = "results/{name}/shards/{scatteritem}/block_{block}.zarr"


def shard_output():
    """A shard group; temporary (deleted once aggregated) unless sharding.keep_shards."""
    if config["sharding"]["keep_shards"]:
        return directory(SHARD)
    return temp(directory(SHARD))


def get_shard_outputs(wildcards):
    """Every region shard x reference block group of the run, in shard then block order."""
    return gather.shards(
        SHARD, name=wildcards.name, block=gather.reference_blocks("{scatteritem}")
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


# Motifs (workflow/rules/motifs.smk)

# The modisco-lite knobs and table settings the motif jobs get; the switch and the database are
# left out (the database is an input file), so that only a change here reruns them.
MOTIF_SETTINGS = (
    "window",
    "max_seqlets",
    "n_leiden",
    "sliding_window_size",
    "flank_size",
    "trim_to_window_size",
    "initial_flank_to_add",
    "final_flank_to_add",
    "target_seqlet_fdr",
    "final_min_cluster_size",
    "min_regions",
    "n_matches",
    "trim_threshold",
)


def get_motif_settings(wildcards):
    """The config's motifs keys that change a target's motif results."""
    return {key: MOTIFS[key] for key in MOTIF_SETTINGS}


def get_motif_database(wildcards):
    """The user's MEME file, or the JASPAR MEME file and its provenance (rule motif_database)."""
    if MOTIFS["meme_file"]:
        return [MOTIFS["meme_file"]]
    return [
        f"results/{wildcards.name}/motifs/jaspar.meme",
        f"results/{wildcards.name}/motifs/jaspar.json",
    ]


def get_motif_results(wildcards):
    """Every target's matches.json when motifs are on (the QC summary records them), else none."""
    if not MOTIFS["enabled"]:
        return []
    return [
        f"results/{wildcards.name}/motifs/{target}/matches.json"
        for target in TARGET_NAMES
    ]


def motif_table():
    """A target's patterns and JASPAR matches (HTML), in the report's Motifs category."""
    return report(
        "results/{name}/motifs/{target}/motifs.html",
        caption="../report/motifs.rst",
        category="Motifs",
        subcategory="{target}",
        labels={"target": "{target}", "figure": "patterns and JASPAR matches"},
    )


def motif_logos():
    """A target's CWM logos, one PNG per pattern, in the report's Motifs category."""
    return report(
        directory("results/{name}/motifs/{target}/logos"),
        patterns=["{pattern}.png"],
        caption="../report/motif_logos.rst",
        category="Motifs",
        subcategory="{target}",
        labels={"target": "{target}", "figure": "CWM logo {pattern}"},
    )


def if_modisco_report():
    """modisco-lite's own report folder, when motifs.modisco_report is on."""
    if MOTIFS["modisco_report"]:
        return [directory("results/{name}/motifs/{target}/modisco_report")]
    return []


def motifs_mem_mb(wildcards, attempt):
    """Memory grows with each retry (--retries); see benchmarks/README.md for measurements."""
    return 4000 * attempt


def motifs_runtime(wildcards, attempt):
    """Minutes; grows with each retry (--retries)."""
    return 60 * attempt

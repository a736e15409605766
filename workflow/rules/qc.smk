# Convergence tables of every target and, with a truth BED, motif recovery: one job.
rule qc:
    input:
        zarr="results/{name}/attributions.zarr",
        truth=get_truth_bed,
        motifs=get_motif_results,
    output:
        tables=expand(
            "results/{{name}}/qc/convergence_{target}.tsv", target=TARGET_NAMES
        ),
        summary="results/{name}/qc/summary.json",
        motif_recovery=if_truth("results/{name}/qc/motif_recovery.json"),
    log:
        "results/{name}/logs/qc.log",
    benchmark:
        "results/{name}/benchmarks/qc.tsv"
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        threshold=config["qc"]["delta_threshold"],
        relative_threshold=config["qc"]["relative_threshold"],
        on_failure=config["qc"]["on_failure"],
    script:
        "../scripts/qc.py"

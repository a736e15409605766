rule qc_convergence:
    input:
        zarr="results/{name}/attributions.zarr",
    output:
        tables=expand(
            "results/{{name}}/qc/convergence_{target}.tsv", target=TARGET_NAMES
        ),
        summary="results/{name}/qc/summary.json",
    log:
        "results/{name}/logs/qc_convergence.log",
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
        "../scripts/qc_convergence.py"


rule qc_motif_recovery:
    input:
        zarr="results/{name}/attributions.zarr",
        truth=get_truth_bed,
    output:
        json="results/{name}/qc/motif_recovery.json",
    log:
        "results/{name}/logs/qc_motif_recovery.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/qc_motif_recovery.py"

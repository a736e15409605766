# Every figure of the report (logos per target, deltas, mean profile, motif recovery): one job.
rule plots:
    input:
        zarr="results/{name}/attributions.zarr",
        motif_recovery=if_truth("results/{name}/qc/motif_recovery.json"),
    output:
        logos=logo_figures(),
        delta_histogram=figure("delta_histogram"),
        mean_profile=figure("mean_profile"),
        motif_recovery=if_truth(figure("motif_recovery")),
    log:
        "results/{name}/logs/plots.log",
    benchmark:
        "results/{name}/benchmarks/plots.tsv"
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        targets=TARGET_NAMES,
        n_top=config["plots"]["top_regions"],
        flank=config["plots"]["logo_flank"],
        threshold=config["qc"]["delta_threshold"],
    script:
        "../scripts/plots.py"

rule plot_logos:
    input:
        zarr="results/{name}/attributions.zarr",
    output:
        png=report(
            "results/{name}/plots/logos_{target}.png",
            caption="../report/logos.rst",
            category="Attributions",
            labels={"target": "{target}", "figure": "top regions"},
        ),
    log:
        "results/{name}/logs/plots/logos_{target}.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        n_top=config["plots"]["top_regions"],
        flank=config["plots"]["logo_flank"],
    script:
        "../scripts/plot_logos.py"


rule plot_delta_histogram:
    input:
        zarr="results/{name}/attributions.zarr",
    output:
        png=report(
            "results/{name}/plots/delta_histogram.png",
            caption="../report/delta_histogram.rst",
            category="Quality control",
            labels={"figure": "convergence deltas"},
        ),
    log:
        "results/{name}/logs/plots/delta_histogram.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        threshold=config["qc"]["delta_threshold"],
    script:
        "../scripts/plot_delta_histogram.py"


rule plot_mean_profile:
    input:
        zarr="results/{name}/attributions.zarr",
    output:
        png=report(
            "results/{name}/plots/mean_profile.png",
            caption="../report/mean_profile.rst",
            category="Attributions",
            labels={"target": "all", "figure": "mean profile"},
        ),
    log:
        "results/{name}/logs/plots/mean_profile.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/plot_mean_profile.py"


rule plot_motif_recovery:
    input:
        json="results/{name}/qc/motif_recovery.json",
    output:
        png=report(
            "results/{name}/plots/motif_recovery.png",
            caption="../report/motif_recovery.rst",
            category="Quality control",
            labels={"figure": "motif recovery"},
        ),
    log:
        "results/{name}/logs/plots/motif_recovery.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_motif_recovery.py"

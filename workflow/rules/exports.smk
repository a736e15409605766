# tfmodisco-lite inputs, ChromBPNet-style h5 and bigWig of every target, as switched on: one job.
rule exports:
    input:
        zarr="results/{name}/attributions.zarr",
        genome=config["genome"],
    output:
        tfmodisco=export_files("tfmodisco", "ohe.npz", "attr.npz"),
        chrombpnet_h5=export_files("chrombpnet_h5", "shap.h5"),
        bigwig=export_files("bigwig", "projected.bw"),
    log:
        "results/{name}/logs/exports.log",
    benchmark:
        "results/{name}/benchmarks/exports.tsv"
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        out_dir="results/{name}/exports",
        targets=TARGET_NAMES,
        switches=config["exports"],
    script:
        "../scripts/exports.py"

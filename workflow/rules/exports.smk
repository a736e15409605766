rule export_tfmodisco:
    input:
        zarr="results/{name}/attributions.zarr",
    output:
        ohe="results/{name}/exports/{target}/ohe.npz",
        attr="results/{name}/exports/{target}/attr.npz",
    log:
        "results/{name}/logs/exports/{target}_tfmodisco.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/export_tfmodisco.py"


rule export_chrombpnet_h5:
    input:
        zarr="results/{name}/attributions.zarr",
    output:
        h5="results/{name}/exports/{target}/shap.h5",
    log:
        "results/{name}/logs/exports/{target}_chrombpnet_h5.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/export_chrombpnet_h5.py"


rule export_bigwig:
    input:
        zarr="results/{name}/attributions.zarr",
        genome=config["genome"],
    output:
        bigwig="results/{name}/exports/{target}/projected.bw",
    log:
        "results/{name}/logs/exports/{target}_bigwig.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/export_bigwig.py"

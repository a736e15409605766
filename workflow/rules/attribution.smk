# One job per region shard x reference block; each writes float64 sums over its references
# to a zarr group (temporary with sharding.keep_shards: false).
rule attribution:
    input:
        regions="results/{name}/regions.zarr",
        references="results/{name}/references.zarr",
        model=get_model_inputs,
    output:
        shard=shard_output(),
    log:
        "results/{name}/logs/attribution/{scatteritem}/block_{block}.log",
    benchmark:
        "results/{name}/benchmarks/attribution/{scatteritem}/block_{block}.tsv"
    conda:
        "../../envs/seqlift.yaml"
    threads: 1
    resources:
        mem_mb=attribution_mem_mb,
        runtime=attribution_runtime,
        gpu=attribution_gpus,
    params:
        config=get_attribution_config,
        batch_size=config["batch_size"],
    script:
        "../scripts/attribution.py"

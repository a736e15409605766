# Motif discovery: the JASPAR selection as a MEME file (once), then per target TF-MoDISco,
# TOMTOM matches, CWM logos and tables in one process (numba compiles once per job).
rule motif_database:
    output:
        meme="results/{name}/motifs/jaspar.meme",
        info="results/{name}/motifs/jaspar.json",
    log:
        "results/{name}/logs/motif_database.log",
    conda:
        "../../envs/seqlift.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        jaspar=config["motifs"]["jaspar"],
    script:
        "../scripts/motif_database.py"


rule motifs:
    input:
        zarr="results/{name}/attributions.zarr",
        database=get_motif_database,
    output:
        modisco_h5="results/{name}/motifs/{target}/modisco.h5",
        matches_json="results/{name}/motifs/{target}/matches.json",
        matches_tsv="results/{name}/motifs/{target}/matches.tsv",
        table=motif_table(),
        logos=motif_logos(),
        modisco_report=if_modisco_report(),
    log:
        "results/{name}/logs/motifs/{target}.log",
    benchmark:
        "results/{name}/benchmarks/motifs/{target}.tsv"
    conda:
        "../../envs/seqlift.yaml"
    threads: 2
    resources:
        mem_mb=motifs_mem_mb,
        runtime=motifs_runtime,
    params:
        settings=get_motif_settings,
    script:
        "../scripts/motifs.py"

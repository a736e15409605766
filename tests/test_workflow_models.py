"""Models people use now, through the whole workflow: a transformer, and BPNet with its heads.

- a ``seqlift.zoo.ConvTransformer`` (convolutional stem and a transformer encoder) named by a
  factory in the config;
- a bpnet-lite ``BPNet`` saved the way bpnet-lite saves it (``torch.save(model)``), with targets
  that name its heads (``profile``: the BPNet profile contribution; ``counts``).

Each run's aggregated store equals one direct ``deep_lift_shap`` call on the same regions and
references, and its QC finds every delta at rounding level.

The motifs stage runs on both heads of a BPNet twice: on the tiny project (8 regions: both heads
are skipped, the reason recorded, nothing else lost), and on a genome with a GATA site planted at
the centre of 120 regions, where the seeded BPNet's first filter is set to read the site and
both heads must find it and match it to a JASPAR GATA motif.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from helpers import (
    N_REFERENCES,
    SEED,
    WIDTH,
    open_attributions,
    results_of,
    run_snakemake,
    stacked,
    write_bed,
    write_config,
    write_genome,
    write_tiny_project,
)

from seqlift import deep_lift_shap, heads
from seqlift.motifs import leading_pattern, read_patterns
from seqlift.references import dinucleotide_shuffle, region_seed
from seqlift.zoo import ConvTransformer, seeded_init

pytestmark = pytest.mark.slow

bpnet = pytest.importorskip("bpnetlite.bpnet")


def _direct(folder, model, targets):
    """``deep_lift_shap`` on the run's regions with its references, and the run's store."""
    group = open_attributions(folder)
    X = torch.as_tensor(np.asarray(group["onehot"][:]), dtype=torch.float64)
    seeds = [region_seed(SEED, int(k)) for k in np.asarray(group["regions/number"][:])]
    references = dinucleotide_shuffle(X, n=N_REFERENCES, random_state=seeds)
    hypothetical = deep_lift_shap(model.double(), X, target=targets, references=references,
                                  hypothetical=True, dtype=torch.float64)
    return group, hypothetical.numpy()


def _assert_store_equals(group, expected, names):
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(stacked(group, "hypothetical", names), expected, rtol=1e-6,
                               atol=1e-9 * scale)


def _qc_max_delta(folder) -> float:
    summary = json.loads((results_of(folder) / "qc" / "summary.json").read_text())
    return max(target["max_abs_delta"] for target in summary["targets"].values())


def test_a_transformer_runs_through_the_workflow_exactly(tmp_path):
    model_config = {"factory": "seqlift.zoo:ConvTransformer",
                    "kwargs": {"n_outputs": 2, "sequence_length": WIDTH, "dim": 16,
                               "n_heads": 2, "n_layers": 1, "seed": 1}}
    folder = write_tiny_project(tmp_path / "transformer", model=model_config,
                                targets=[0, {"index": 1, "name": "second"}])
    run_snakemake(folder, "results/tiny/attributions.zarr", "results/tiny/qc/summary.json")
    model = ConvTransformer(n_outputs=2, sequence_length=WIDTH, dim=16, n_heads=2, n_layers=1,
                            seed=1).eval()
    group, expected = _direct(folder, model, [0, 1])
    _assert_store_equals(group, expected, ("target_0", "second"))
    assert _qc_max_delta(folder) < 1e-9


def test_a_saved_bpnet_lite_model_runs_with_targets_that_name_its_heads(tmp_path):
    folder = tmp_path / "bpnet"
    folder.mkdir()
    torch.manual_seed(0)
    model = seeded_init(bpnet.BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                                    trimming=4, verbose=False), 0).eval()
    torch.save(model, folder / "bpnet.torch")  # as bpnet-lite's fit() saves its models
    targets = [{"name": "profile", "head": "profile"}, {"name": "counts", "head": "counts"}]
    write_tiny_project(folder, model={"weights": "bpnet.torch"}, targets=targets,
                       motifs={"enabled": True, "modisco_report": False})
    run_snakemake(folder, "results/tiny/attributions.zarr", "results/tiny/qc/summary.json")
    group, expected = _direct(folder, heads.TargetHeads(model, targets), [0, 1])
    _assert_store_equals(group, expected, ("profile", "counts"))
    assert [entry["name"] for entry in group.attrs["targets"]] == ["profile", "counts"]
    assert _qc_max_delta(folder) < 1e-9
    # Eight regions are too few for TF-MoDISco: each head is skipped with the reason, and the
    # QC summary says so next to its convergence figures.
    summary = json.loads((results_of(folder) / "qc" / "summary.json").read_text())
    for head in ("profile", "counts"):
        reason = (f"target {head}: only 8 regions, fewer than motifs.min_regions (50); give "
                  "more regions, or lower motifs.min_regions")
        assert summary["motifs"][head]["status"] == "skipped"
        assert summary["motifs"][head]["reason"] == reason
        assert summary["targets"][head]["n_regions"] == 8
        assert read_patterns(results_of(folder) / "motifs" / head / "modisco.h5") == []


GATA_SITE = "AGATAAGA"
PLANTED_WIDTH = 100
N_PLANTED = 120


def _planted_bpnet_project(folder):
    """120 regions of 100 bp on a random genome, each with a GATA site at its centre, and a
    seeded BPNet whose first filter reads the site: it feeds the count head (linear weight 20)
    and, at the site, the profile logits (the centre tap of the profile convolution, 2)."""
    folder.mkdir()
    sequences = write_genome(folder / "genome.fa", {"chr1": 60_000}, seed=4)
    genome = list(sequences["chr1"])
    rows = []
    for number in range(N_PLANTED):
        start = 200 + 450 * number
        site_start = start + PLANTED_WIDTH // 2 - len(GATA_SITE) // 2
        genome[site_start : site_start + len(GATA_SITE)] = GATA_SITE
        rows.append(("chr1", start, start + PLANTED_WIDTH))
    sequence = "".join(genome)
    (folder / "genome.fa").write_text(
        ">chr1\n" + "\n".join(sequence[i : i + 60] for i in range(0, len(sequence), 60)) + "\n"
    )
    write_bed(folder / "peaks.bed", rows)
    model = seeded_init(bpnet.BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                                    trimming=4, verbose=False), 2).eval()
    with torch.no_grad():
        # Filter 0 fires (4.5) on the whole site only; the other filters are damped tenfold so
        # that the site, not the random filters, drives both heads.
        model.iconv.weight[1:] *= 0.1
        model.iconv.bias[1:] *= 0.1
        reader = torch.zeros(4, 21)
        for offset, base in enumerate(GATA_SITE):
            reader[:, 6 + offset] = -3.0
            reader["ACGT".index(base), 6 + offset] = 3.0
        model.iconv.weight[0] = reader
        model.iconv.bias[0] = -3.0 * (len(GATA_SITE) - 1.5)
        model.linear.weight[0, 1:] *= 0.1
        model.linear.weight[0, 0] = 20.0
        model.fconv.weight[:, 1:] *= 0.1
        model.fconv.weight[:, 0] = 0.0
        model.fconv.weight[:, 0, 37] = 2.0
    torch.save(model, folder / "bpnet.torch")
    targets = [{"name": "profile", "head": "profile"}, {"name": "counts", "head": "counts"}]
    write_config(folder, {
        "name": "tiny", "regions": "peaks.bed", "genome": "genome.fa", "width": PLANTED_WIDTH,
        "model": {"weights": "bpnet.torch"}, "targets": targets,
        "references": {"n": N_REFERENCES, "seed": SEED}, "dtype": "float64",
        "motifs": {"enabled": True, "modisco_report": False},
    })
    return folder


def test_the_motifs_stage_finds_a_planted_site_in_both_heads_of_a_bpnet(tmp_path):
    folder = _planted_bpnet_project(tmp_path / "planted")
    run_snakemake(folder, "results/tiny/qc/summary.json")
    summary = json.loads((results_of(folder) / "qc" / "summary.json").read_text())
    for head in ("profile", "counts"):
        outcome = json.loads((results_of(folder) / "motifs" / head / "matches.json").read_text())
        patterns = read_patterns(results_of(folder) / "motifs" / head / "modisco.h5")
        leading = leading_pattern(patterns)
        assert outcome["status"] == "ok" and outcome["leading_pattern"] == leading.name, head
        assert GATA_SITE in leading.consensus or "TCTTATCT" in leading.consensus, head
        # Every region holds the site once, and nearly every site is a seqlet of a pattern that
        # spells it (modisco-lite split them in two such patterns: 60 + 55 of the 120 sites for
        # the profile head, 85 + 35 for the counts head).
        spelled = [pattern for pattern in patterns
                   if GATA_SITE in pattern.consensus or "TCTTATCT" in pattern.consensus]
        assert 0.9 * N_PLANTED <= sum(p.n_seqlets for p in spelled) <= N_PLANTED, head
        top = summary["motifs"][head]["top_match"]
        assert re.match(r"GATA\d", top["name"].upper()), (head, top)
        table = next(p for p in outcome["patterns"] if p["name"] == leading.name)
        assert table["matches"][0] | {"rank": 1} == table["matches"][0]
        assert top == {key: table["matches"][0][key] for key in ("id", "name", "q_value")}

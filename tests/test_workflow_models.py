"""Models people use now, through the whole workflow: a transformer, and BPNet with its heads.

- a ``seqlift.zoo.ConvTransformer`` (convolutional stem and a transformer encoder) named by a
  factory in the config;
- a bpnet-lite ``BPNet`` saved the way bpnet-lite saves it (``torch.save(model)``), with targets
  that name its heads (``profile``: the BPNet profile contribution; ``counts``).

Each run's aggregated store equals one direct ``deep_lift_shap`` call on the same regions and
references, and its QC finds every delta at rounding level.
"""

from __future__ import annotations

import json

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
    write_tiny_project,
)

from seqlift import deep_lift_shap, heads
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
    write_tiny_project(folder, model={"weights": "bpnet.torch"}, targets=targets)
    run_snakemake(folder, "results/tiny/attributions.zarr", "results/tiny/qc/summary.json")
    group, expected = _direct(folder, heads.TargetHeads(model, targets), [0, 1])
    _assert_store_equals(group, expected, ("profile", "counts"))
    assert [entry["name"] for entry in group.attrs["targets"]] == ["profile", "counts"]
    assert _qc_max_delta(folder) < 1e-9

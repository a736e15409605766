"""``seqlift.deep_lift_shap`` where it goes beyond tangermeme: seeds that follow the region, the
checks of what a reference function returns, and the messages of its errors.

What it shares with tangermeme 1.6.0 is checked against tangermeme itself in
``test_tangermeme_compat.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import seqlift
from seqlift import deep_lift_shap
from seqlift.engine.api import ReferencesError, SeedError
from seqlift.references import dinucleotide_shuffle_codes, region_seed, uniform
from seqlift.sequence import codes_to_onehot, onehot_to_codes, random_one_hot
from seqlift.zoo import SmallCNN

LENGTH = 101
X = random_one_hot((4, 4, LENGTH), random_state=2).float()


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return SmallCNN(n_outputs=2, sequence_length=LENGTH, seed=1).eval()


def test_per_region_seeds_give_the_references_the_workflow_stores(model):
    # The workflow seeds region i with region_seed(seed, i) and stores shuffles as codes.
    seeds = [region_seed(42, number) for number in range(len(X))]
    stored = codes_to_onehot(dinucleotide_shuffle_codes(onehot_to_codes(X), n=3,
                                                        random_state=seeds))
    result = deep_lift_shap(model, X, n_shuffles=3, random_state=seeds, device="cpu",
                            return_references=True)
    assert torch.equal(result.references, stored)


def test_per_region_seeds_make_results_independent_of_the_shard_layout(model):
    seeds = [region_seed(42, number) for number in range(len(X))]
    whole = deep_lift_shap(model, X, n_shuffles=3, random_state=seeds, device="cpu",
                           return_deltas=True, dtype=torch.float64)
    shards = [deep_lift_shap(model, X[part], n_shuffles=3, random_state=seeds[part],
                             device="cpu", return_deltas=True, dtype=torch.float64)
              for part in (slice(0, 1), slice(1, 4))]
    for field in ("attributions", "deltas"):
        joined = torch.cat([getattr(shard, field) for shard in shards])
        assert torch.allclose(joined, getattr(whole, field), rtol=0, atol=1e-12)


def test_a_seed_per_example_must_be_one_int_per_example(model):
    with pytest.raises(SeedError, match="holds 2 seeds for 4 examples"):
        deep_lift_shap(model, X, random_state=[1, 2], device="cpu")
    with pytest.raises(SeedError, match=r"random_state\[1\] is 2.5"):
        deep_lift_shap(model, X, random_state=[1, 2.5, 3, 4], device="cpu")
    assert issubclass(SeedError, ValueError) and issubclass(SeedError, TypeError)


def test_a_references_tensor_that_is_not_one_hot_points_to_the_uniform_function(model):
    with pytest.raises(ValueError, match=r"references=seqlift.references.uniform") as raised:
        deep_lift_shap(model, X, references=torch.full((4, 2, 4, LENGTH), 0.25), device="cpu")
    assert "references[0, 0, :, 0] = [0.25, 0.25, 0.25, 0.25]" in str(raised.value)
    # seqlift's own uniform baseline is one of its functions, so it is accepted.
    attributions, deltas = deep_lift_shap(model, X, references=uniform, n_shuffles=1,
                                          device="cpu", return_deltas=True, dtype=torch.float64)
    assert deltas.abs().max() < 1e-10 and attributions.abs().max() > 0


def test_what_a_reference_function_returns_wrongly_is_named_with_where_and_what(model):
    def shifted(X, n, random_state):
        references = codes_to_onehot(dinucleotide_shuffle_codes(
            onehot_to_codes(X), n=n, random_state=random_state))
        references[:, :, :, 7] = torch.tensor([0.5, 0.5, 0.5, 0.0])
        return references

    with pytest.raises(ValueError) as raised:
        deep_lift_shap(model, X[2:], references=shifted, n_shuffles=2, random_state=0,
                       device="cpu")
    message = str(raised.value)
    assert "reference 0 of example 0 at position 7 is [0.5, 0.5, 0.5, 0.0]" in message
    assert "(4 such position(s))" in message and "sum to at most 1" in message

    def unbatched(X, n, random_state):
        return codes_to_onehot(onehot_to_codes(X))

    with pytest.raises(ReferencesError, match=r"returned shape \(1, 4, 101\) for X of shape "
                                              r"\(1, 4, 101\); expected \(1, 1, 4, 101\)"):
        deep_lift_shap(model, X, references=unbatched, random_state=0, device="cpu")


def test_what_a_tangermeme_user_imports_is_at_the_top_level_and_importing_stays_cheap():
    from seqlift import heads, references, sequence

    assert seqlift.heads is heads
    assert seqlift.check_one_hot is sequence.check_one_hot
    assert seqlift.sequence_to_codes is sequence.sequence_to_codes
    assert seqlift.example_seeds is references.example_seeds
    assert {"heads", "check_one_hot", "sequence_to_codes", "example_seeds"} <= set(
        seqlift.__all__)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, seqlift; print('torch' in sys.modules)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert loaded == "False"

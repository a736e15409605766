"""Results must not depend on how the work is cut up: batch size, slicing, target lists."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import make_references, random_onehot
from zoo.models import ZOO_BY_NAME

from seqlift.engine import deep_lift_shap, explain
from seqlift.zoo import SmallCNN

N_EXAMPLES, N_REFERENCES, LENGTH = 5, 3, 101


@pytest.fixture(scope="module")
def setting():
    model = SmallCNN(n_outputs=3, sequence_length=LENGTH, seed=2).double().eval()
    X = random_onehot(N_EXAMPLES, LENGTH, seed=21).double()
    references = make_references(X, N_REFERENCES, seed=22).double()
    return model, X, references


def _run(model, X, references, target=0, **kwargs):
    return deep_lift_shap(model, X, references=references, target=target, hypothetical=True,
                          device="cpu", return_deltas=True, **kwargs)


@pytest.mark.parametrize("batch_size", [1, 7, N_EXAMPLES * N_REFERENCES])
def test_batch_size_does_not_change_results(setting, batch_size):
    model, X, references = setting
    expected, expected_deltas = _run(model, X, references, batch_size=2)
    attributions, deltas = _run(model, X, references, batch_size=batch_size)
    assert torch.allclose(attributions, expected, rtol=0, atol=1e-13)
    assert torch.allclose(deltas, expected_deltas, rtol=0, atol=1e-13)


def test_batch_size_does_not_change_results_in_float32(setting):
    model, X, references = setting
    model = SmallCNN(n_outputs=3, sequence_length=LENGTH, seed=2).eval()
    X, references = X.float(), references.float()
    results = [_run(model, X, references, batch_size=b)[0] for b in (1, 7, 15)]
    scale = results[0].abs().max()
    for result in results[1:]:
        assert (result - results[0]).abs().max() <= 1e-5 * scale


def test_slice_gives_the_same_rows(setting):
    model, X, references = setting
    whole, whole_deltas = _run(model, X, references, batch_size=4)
    part, part_deltas = _run(model, X[2:4], references[2:4], batch_size=4)
    assert torch.allclose(part, whole[2:4], rtol=0, atol=1e-13)
    assert torch.allclose(part_deltas, whole_deltas[2:4], rtol=0, atol=1e-13)


def test_target_list_equals_targets_one_at_a_time(setting):
    model, X, references = setting
    together, together_deltas = _run(model, X, references, target=[2, 0, 1], batch_size=4)
    assert together.shape == (3, N_EXAMPLES, 4, LENGTH)
    for index, target in enumerate([2, 0, 1]):
        alone, alone_deltas = _run(model, X, references, target=target, batch_size=4)
        assert torch.allclose(together[index], alone, rtol=0, atol=1e-13)
        assert torch.allclose(together_deltas[index], alone_deltas, rtol=0, atol=1e-13)


def test_deep_lift_shap_is_the_mean_of_explain(setting):
    model, X, references = setting
    explanation = explain(model, X, references, [1], batch_size=4, device="cpu")
    hypothetical, deltas = _run(model, X, references, target=1, batch_size=4)
    mean = explanation.hypothetical_sum[0] / N_REFERENCES
    assert torch.allclose(hypothetical, mean.to(hypothetical.dtype), rtol=0, atol=1e-13)
    assert torch.allclose(deltas, explanation.deltas[0].to(deltas.dtype), rtol=0, atol=1e-13)
    projected = deep_lift_shap(model, X, references=references, target=1, device="cpu")
    assert torch.allclose(projected, hypothetical * X, rtol=0, atol=1e-13)


def test_an_example_does_not_depend_on_its_neighbours(setting):
    model, X, references = setting
    alone, _ = _run(model, X[:1], references[:1], batch_size=32)
    mixed_X = torch.cat([X[:1], X[3:]])
    mixed_references = torch.cat([references[:1], references[3:]])
    mixed, _ = _run(model, mixed_X, mixed_references, batch_size=32)
    assert torch.allclose(mixed[:1], alone, rtol=0, atol=1e-13)


def test_softmax_rows_do_not_mix():
    # A softmax over the output axis must be explained per row: one example's result is the same
    # whatever else shares its batch.
    entry = ZOO_BY_NAME["softmax_rows"]
    model = entry.build().double()
    X = random_onehot(4, 24, seed=5).double()
    references = make_references(X, 2, seed=6).double()
    whole, _ = _run(model, X, references, target=2, batch_size=8)
    single, _ = _run(model, X[3:], references[3:], target=2, batch_size=1)
    assert torch.allclose(whole[3:], single, rtol=0, atol=1e-13)

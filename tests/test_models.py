"""seqlift.models: building the configured model, loading its weights, fingerprinting it."""

import hashlib
import textwrap

import pytest
import torch
from torch import nn

from seqlift.errors import InputError
from seqlift.models import load_model, model_checksum, state_dict_checksum, weights_checksum
from seqlift.zoo import SmallCNN

MODEL_SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn


    class TwoLayer(nn.Module):
        def __init__(self, hidden=3, n_outputs=2):
            super().__init__()
            self.conv = nn.Conv1d(4, hidden, kernel_size=1)
            self.linear = nn.Linear(hidden, n_outputs)

        def forward(self, x):
            return self.linear(torch.relu(self.conv(x)).sum(dim=-1))
    """
)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(MODEL_SOURCE)
    return path


def _set_weights(model: nn.Module) -> nn.Module:
    """Hand-set weights: every parameter counts up from 0.1 in steps of 0.1."""
    with torch.no_grad():
        start = 0.1
        for parameter in model.parameters():
            values = start + 0.1 * torch.arange(parameter.numel(), dtype=parameter.dtype)
            parameter.copy_(values.reshape(parameter.shape))
            start = float(values[-1]) + 0.1
    return model


def test_factory_builds_the_model_with_kwargs_in_eval_mode():
    model = load_model({"factory": "torch.nn:Linear", "kwargs": {"in_features": 3, "out_features": 2}})
    assert isinstance(model, nn.Linear)
    assert model.weight.shape == (2, 3)
    assert not model.training


def test_factory_may_name_a_nested_attribute():
    model = load_model({"factory": "torch.nn.modules.linear:Linear", "kwargs": {"in_features": 1, "out_features": 1}})
    assert isinstance(model, nn.Linear)


def test_file_and_class_with_a_state_dict_loads_the_exact_weights(model_file, tmp_path):
    reference = _set_weights(load_model({"file": str(model_file), "class": "TwoLayer"}))
    torch.save(reference.state_dict(), tmp_path / "weights.pt")
    loaded = load_model(
        {"file": "my_model.py", "class": "TwoLayer", "weights": "weights.pt"}, base_dir=tmp_path
    )
    assert torch.equal(loaded.conv.weight, reference.conv.weight)
    assert torch.equal(loaded.linear.bias, torch.tensor([2.2, 2.3]))
    x = torch.zeros(1, 4, 5)
    x[0, 0, 0] = 1
    # Channel c: 5 * bias_c + weight_c,A = (6.6, 7.5, 8.4); then the linear layer.
    expected = torch.tensor([[1.6 * 6.6 + 1.7 * 7.5 + 1.8 * 8.4 + 2.2, 1.9 * 6.6 + 2.0 * 7.5 + 2.1 * 8.4 + 2.3]])
    assert torch.allclose(loaded(x), expected, rtol=1e-6)


def test_a_training_checkpoint_holding_a_state_dict_is_accepted(model_file, tmp_path):
    reference = _set_weights(load_model({"file": str(model_file), "class": "TwoLayer"}))
    torch.save({"epoch": 3, "state_dict": reference.state_dict()}, tmp_path / "checkpoint.pt")
    loaded = load_model({"file": str(model_file), "class": "TwoLayer", "weights": str(tmp_path / "checkpoint.pt")})
    assert torch.equal(loaded.linear.weight, reference.linear.weight)


def test_a_whole_saved_model_loads_without_a_factory(tmp_path):
    reference = _set_weights(nn.Linear(3, 2))
    torch.save(reference, tmp_path / "whole.pt")
    loaded = load_model({"weights": str(tmp_path / "whole.pt")})
    assert isinstance(loaded, nn.Linear)
    assert torch.equal(loaded.weight, reference.weight)


def test_a_whole_saved_model_of_a_file_class_loads_with_the_file(model_file, tmp_path):
    reference = _set_weights(load_model({"file": str(model_file), "class": "TwoLayer"}))
    torch.save(reference, tmp_path / "whole.pt")
    loaded = load_model({"file": str(model_file), "class": "TwoLayer", "weights": str(tmp_path / "whole.pt")})
    assert torch.equal(loaded.conv.bias, reference.conv.bias)


def test_weights_that_do_not_fit_list_missing_and_unexpected_keys(model_file, tmp_path):
    state = load_model({"file": str(model_file), "class": "TwoLayer"}).state_dict()
    state["extra.weight"] = state.pop("linear.weight")
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InputError) as error:
        load_model({"file": str(model_file), "class": "TwoLayer", "weights": str(tmp_path / "bad.pt")})
    message = str(error.value)
    assert "bad.pt" in message
    assert "missing keys linear.weight;" in message
    assert "unexpected keys extra.weight." in message


def test_weights_of_another_size_name_the_differing_shapes(model_file, tmp_path):
    small = load_model({"file": str(model_file), "class": "TwoLayer", "kwargs": {"hidden": 3}})
    torch.save(small.state_dict(), tmp_path / "small.pt")
    with pytest.raises(InputError, match=r"conv.weight: file \(3, 4, 1\) vs model \(5, 4, 1\)"):
        load_model(
            {"file": str(model_file), "class": "TwoLayer", "kwargs": {"hidden": 5}, "weights": str(tmp_path / "small.pt")}
        )


@pytest.mark.parametrize(
    "config, message",
    [
        ({"factory": "no_such_package.models:Net"}, "cannot be imported"),
        ({"factory": "torch.nn:NoSuchLayer"}, "has no attribute 'NoSuchLayer'"),
        ({"factory": "torch.nn.Linear"}, "package.module:callable"),
        ({"file": "missing_model.py", "class": "Net"}, "missing_model.py' does not exist"),
        ({}, "names no model"),
        ({"factory": "torch.nn:Linear", "file": "x.py"}, "both set"),
        ({"factory": "torch.nn:Linear", "kwargs": {"bogus": 1}}, "check model.kwargs"),
        ({"factory": "math:pi"}, "not a callable"),
        ({"factory": "torch.nn:Linear", "kwargs": {"in_features": 1, "out_features": 1}, "weights": "nope.pt"}, "nope.pt' does not exist"),
    ],
)
def test_unusable_model_configs_raise_input_errors(config, message, tmp_path):
    with pytest.raises(InputError, match=message):
        load_model(config, base_dir=tmp_path)


def test_a_class_missing_from_the_file_lists_what_the_file_defines(model_file):
    with pytest.raises(InputError, match="defines no 'Other'.*TwoLayer"):
        load_model({"file": str(model_file), "class": "Other"})


def test_a_state_dict_without_an_architecture_says_what_to_add(tmp_path):
    torch.save(nn.Linear(2, 2).state_dict(), tmp_path / "sd.pt")
    with pytest.raises(InputError, match="add model.factory or model.file"):
        load_model({"weights": str(tmp_path / "sd.pt")})


def test_weights_checksum_is_the_sha256_of_the_file(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"abc")
    assert weights_checksum(tmp_path / "w.bin") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    big = bytes(range(256)) * 10_000
    (tmp_path / "big.bin").write_bytes(big)
    assert weights_checksum(tmp_path / "big.bin") == hashlib.sha256(big).hexdigest()


def test_state_dict_checksum_changes_with_any_weight(model_file):
    first = _set_weights(load_model({"file": str(model_file), "class": "TwoLayer"}))
    second = _set_weights(load_model({"file": str(model_file), "class": "TwoLayer"}))
    assert state_dict_checksum(first) == state_dict_checksum(second)
    with torch.no_grad():
        second.linear.bias[1] += 1e-6
    assert state_dict_checksum(first) != state_dict_checksum(second)


def test_model_checksum_hashes_the_weights_file_or_the_built_model(tmp_path):
    config = {"factory": "seqlift.zoo:SmallCNN", "kwargs": {"n_outputs": 2, "seed": 4}}
    built = SmallCNN(n_outputs=2, seed=4)
    assert model_checksum(config) == "state_dict-sha256:" + state_dict_checksum(built)
    torch.save(built.state_dict(), tmp_path / "w.pt")
    with_weights = config | {"weights": str(tmp_path / "w.pt")}
    assert model_checksum(with_weights) == "sha256:" + weights_checksum(tmp_path / "w.pt")

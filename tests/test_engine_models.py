"""Models from their own packages and the heads that explain them: exact, and as their users know.

- bpnet-lite 1.1's ``BPNet`` and ``ChromBPNet`` through bpnet-lite's own ``ProfileWrapper`` and
  ``CountWrapper``, with no extra argument: equal to ``bpnetlite.attribute.deep_lift_shap`` on
  identical references (bpnet-lite's numbers are tangermeme 1.6.0's with the element-wise rule
  for its ``_ProfileLogitScaling``, ``_Log`` and ``_Exp`` layers).
- ``seqlift.heads``: the published BPNet profile contribution and counts heads, explained
  exactly (the product of the logits with their softmax gets the midpoint and softmax rules).
- enformer-pytorch 0.8.12's ``Enformer`` (``from_hparams(dim=96, depth=2, heads=4,
  num_downsamples=5)``, 512 bp), and the zoo's
  ``ConvTransformer`` and ``DanQ``: attributions sum to delta (≤ 1e-9 relative in float64,
  ≤ 1e-4 in float32, relative to the largest ``|f(x) - f(r)|`` of the call, against ``f``
  evaluated without seqlift), no rule warning, and the same result for every batch size.

Weights are seeded and He-scaled (:func:`seqlift.zoo.seeded_init`): with PyTorch's default
initialisation a random Enformer barely depends on its input (``|f(x) - f(r)|`` is 2e-4 of
``|f(x)|``), so its float32 forward pass alone is off by 7e-4 relative in ``f(x) - f(r)``, and
no attribution method could be checked to 1e-4 on it.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from seqlift import deep_lift_shap, explain, heads
from seqlift.references import dinucleotide_shuffle
from seqlift.sequence import random_one_hot
from seqlift.zoo import ConvTransformer, DanQ, seeded_init

bpnet = pytest.importorskip("bpnetlite.bpnet")
chrombpnet = pytest.importorskip("bpnetlite.chrombpnet")
bpnet_attribute = pytest.importorskip("bpnetlite.attribute")
enformer_pytorch = pytest.importorskip("enformer_pytorch")

BPNET_LENGTH = 300


def _inputs(n: int, length: int, k: int, dtype=torch.float32):
    X = random_one_hot((n, 4, length), random_state=3).to(dtype)
    references = dinucleotide_shuffle(X, n=k, random_state=list(range(n)))
    return X, references.to(dtype)


def _bpnet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = bpnet.BPNet(n_filters=16, n_layers=3, n_outputs=2, n_control_tracks=0,
                        trimming=(BPNET_LENGTH - 100) // 2, verbose=False)
    return seeded_init(model, seed).eval()


def _chrombpnet() -> nn.Module:
    return chrombpnet.ChromBPNet(_bpnet(1), _bpnet(2)).eval()


def _relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


@pytest.mark.parametrize("wrapper", ["ProfileWrapper", "CountWrapper"])
@pytest.mark.parametrize("build", [_bpnet, lambda seed: _chrombpnet()], ids=["BPNet", "ChromBPNet"])
def test_bpnet_lites_wrapped_models_get_bpnet_lites_numbers_with_no_extra_argument(build, wrapper):
    model = getattr(bpnet, wrapper)(build(0))
    X, references = _inputs(3, BPNET_LENGTH, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = deep_lift_shap(model, X, references=references, device="cpu")
    theirs = bpnet_attribute.deep_lift_shap(model, X, references=references, device="cpu",
                                            warning_threshold=float("inf"))
    assert _relative(ours, theirs) <= 1e-5


def test_profile_contribution_has_bpnet_lites_value():
    model = _bpnet(0)
    X, _ = _inputs(4, BPNET_LENGTH, 1)
    with torch.no_grad():
        assert torch.allclose(heads.ProfileContribution(model)(X),
                              bpnet.ProfileWrapper(model)(X), rtol=1e-6, atol=0)
        assert torch.equal(heads.Counts(model)(X), bpnet.CountWrapper(model)(X))


def test_heads_pass_extra_arguments_on_to_the_model():
    torch.manual_seed(0)
    model = bpnet.BPNet(n_filters=8, n_layers=2, n_control_tracks=2,
                        trimming=(BPNET_LENGTH - 100) // 2, verbose=False).eval()
    X, _ = _inputs(2, BPNET_LENGTH, 1)
    control = torch.rand(2, 2, BPNET_LENGTH)
    with torch.no_grad():
        assert torch.equal(heads.Counts(model)(X, control), model(X, control)[1])


def test_select_output_names_the_outputs_when_the_index_is_wrong():
    with pytest.raises(IndexError, match=r"no output 2 \(its outputs: 0\.\.1\)"):
        heads.SelectOutput(_bpnet(0), 2)(_inputs(1, BPNET_LENGTH, 1)[0])


def _enformer() -> nn.Module:
    class EnformerHead(nn.Module):
        """The human head's mean over target bins, ``(batch, 8)``, of ``(batch, 4, L)``."""

        def __init__(self):
            super().__init__()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                self.enformer = enformer_pytorch.Enformer.from_hparams(
                    dim=96, depth=2, heads=4, dim_divisible_by=16, num_downsamples=5,
                    target_length=4, output_heads={"human": 8})
            seeded_init(self.enformer, 0)

        def forward(self, X):
            return self.enformer(X.transpose(1, 2), head="human").mean(dim=1)

    return EnformerHead().eval()


# (name, builder, input length, targets)
MODELS = [
    ("enformer", _enformer, 512, [0, 5]),
    ("conv_transformer", lambda: ConvTransformer(seed=0).eval(), 200, [0, 2]),
    ("danq", lambda: DanQ(seed=0).eval(), 200, [0, 1]),
    ("bpnet_profile_contribution", lambda: heads.ProfileContribution(_bpnet(0)), BPNET_LENGTH,
     [0]),
    ("chrombpnet_profile_contribution", lambda: heads.ProfileContribution(_chrombpnet()),
     BPNET_LENGTH, [0]),
    ("chrombpnet_counts", lambda: heads.Counts(_chrombpnet()), BPNET_LENGTH, [0]),
]
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4}


def _summation_error(model, X, references, targets, explanation) -> float:
    """``max |f(x) - f(r) - sum (x - r) m| / max |f(x) - f(r)|``, with ``f`` run plainly."""
    with torch.no_grad():
        fx = model(X).double()[:, targets]
        fr = model(references.flatten(0, 1)).double()[:, targets]
    change = fx.T[:, :, None] - fr.T.reshape(len(targets), *references.shape[:2])
    difference = (X[:, None] - references).double()
    explained = (explanation.multipliers * difference).sum(dim=(-2, -1))
    return float((change - explained).abs().max() / change.abs().max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "build", "length", "targets"), MODELS,
                         ids=[m[0] for m in MODELS])
def test_attributions_sum_to_delta_with_no_rule_warning(name, build, length, targets, dtype):
    model = build().to(dtype)
    X, references = _inputs(2, length, 3, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = explain(model, X, references, targets, batch_size=4, device="cpu",
                              keep_multipliers=True)
    assert _summation_error(model, X, references, targets, explanation) <= TOLERANCE[dtype]


@pytest.mark.parametrize(("name", "build", "length", "targets"), MODELS[1:],
                         ids=[m[0] for m in MODELS[1:]])
def test_batch_size_does_not_change_attributions(name, build, length, targets):
    model = build().double()
    X, references = _inputs(2, length, 3, torch.float64)
    one, many = (explain(model, X, references, targets, batch_size=size, device="cpu")
                 for size in (1, 6))
    assert torch.allclose(one.hypothetical_sum, many.hypothetical_sum, rtol=1e-10, atol=1e-12)
    assert torch.allclose(one.deltas, many.deltas, rtol=0, atol=1e-12)


def test_target_heads_give_every_head_from_one_forward_pass():
    model = _bpnet(0)
    X, _ = _inputs(3, BPNET_LENGTH, 1)
    combined = heads.TargetHeads(model, [{"head": "profile"}, {"head": "counts"},
                                         {"head": "output", "output": 0, "index": 7}])
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        columns = combined(X)
        assert len(calls) == 1
        assert torch.equal(columns[:, 0], heads.ProfileContribution(model)(X)[:, 0])
        assert torch.equal(columns[:, 1], heads.Counts(model)(X)[:, 0])
        assert torch.equal(columns[:, 2], model(X)[0].flatten(1)[:, 7])


def test_target_heads_explain_exactly_as_the_single_heads():
    model = _bpnet(0).double()
    X, references = _inputs(2, BPNET_LENGTH, 3, torch.float64)
    combined = explain(heads.TargetHeads(model, [{"head": "profile"}, {"head": "counts"}]), X,
                       references, [0, 1], device="cpu")
    for column, head in enumerate((heads.ProfileContribution(model), heads.Counts(model))):
        alone = explain(head, X, references, [0], device="cpu")
        assert torch.allclose(combined.hypothetical_sum[column], alone.hypothetical_sum[0],
                              rtol=1e-12, atol=1e-15)


def test_an_unknown_head_is_refused_naming_the_heads():
    with pytest.raises(ValueError, match=r"unknown head\(s\) \['profiles'\].*'counts'"):
        heads.TargetHeads(_bpnet(0), [{"head": "profiles"}])


@pytest.mark.slow
def test_borzoi_attributions_sum_to_delta_with_no_rule_warning():
    # borzoi-pytorch casts to float32 before its heads whatever the model's dtype, so only
    # float32 is checked; its whole tower (separable convolutions, attention with relative
    # positions, the U-net's upsampling) is explained as it is written.
    borzoi = pytest.importorskip("borzoi_pytorch")
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    class BorzoiTracks(nn.Module):
        """The first four human tracks' mean over bins, ``(batch, 4)``."""

        def __init__(self):
            super().__init__()
            config = BorzoiConfig(dim=64, depth=1, heads=2, attn_dim_key=16, attn_dim_value=32,
                                  return_center_bins_only=True, bins_to_return=64,
                                  dropout_rate=0.0, attn_dropout=0.0, pos_dropout=0.0)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                self.borzoi = seeded_init(borzoi.Borzoi(config), 0)

        def forward(self, X):
            return self.borzoi(X)[:, :4].mean(dim=-1)

    model = BorzoiTracks().eval()
    X, references = _inputs(2, 8192, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = explain(model, X, references, [0, 3], batch_size=4, device="cpu",
                              keep_multipliers=True)
    assert _summation_error(model, X, references, [0, 3], explanation) <= 1e-4

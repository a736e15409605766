"""Memory: the engine keeps nothing of a batch once the batch is done."""

import gc

import torch

from seqlift import engine
from seqlift.sequence import random_one_hot
from seqlift.zoo import SmallCNN


def _live_pending() -> int:
    gc.collect()
    # type(), not isinstance(): the latter reads __class__, which some torch objects warn on.
    return sum(issubclass(type(obj), engine.nodes.Record) for obj in gc.get_objects())


def test_no_rule_node_state_outlives_the_call():
    # An activation stored on an autograd ctx forms a cycle through the C++ graph that Python's
    # garbage collector cannot see; every batch's activations then leaked (peak memory grew
    # with the number of regions). After a call, no per-operation state may be left.
    model = SmallCNN(seed=0)
    X = random_one_hot((6, 4, 101), random_state=0).float()
    references = torch.stack([X.roll(shift, dims=-1) for shift in (1, 2, 3)], dim=1)
    before = _live_pending()
    result = engine.explain(model, X, references, [0, 1], batch_size=6)
    assert result.deltas.abs().max() < 1e-5
    assert _live_pending() == before

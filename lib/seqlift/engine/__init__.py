"""The DeepLIFT/SHAP engine.

- :mod:`~seqlift.engine.api`: ``deep_lift_shap``, tangermeme's functional API;
- :mod:`~seqlift.engine.explain`: ``explain``, the batch loop and its per-example sums;
- :mod:`~seqlift.engine.pairing`: batches, the joint layout of examples and references;
- :mod:`~seqlift.engine.session`: the state of a call, its module hooks and warnings;
- :mod:`~seqlift.engine.operations`: connecting each operation to its rule;
- :mod:`~seqlift.engine.interception`: which torch functions are linear, ruled or decomposed;
- :mod:`~seqlift.engine.decompositions`: composite operations as steps the rules know;
- :mod:`~seqlift.engine.nodes`: the autograd nodes whose backward applies a rule;
- :mod:`~seqlift.engine.guard`: the model-state guard.

The rules themselves are in :mod:`seqlift.rules`.
"""

from .api import deep_lift_shap
from .errors import ExplanationError
from .explain import Explanation, NonFiniteOutputError, explain

__all__ = ["Explanation", "ExplanationError", "NonFiniteOutputError", "deep_lift_shap", "explain"]

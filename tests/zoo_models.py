"""Kept only for ``tests/conftest.py``, which imports ``standard_inputs`` from here for its
``zoo_inputs`` fixture (no test uses that fixture any more).

Delete this file together with conftest's line ``from zoo_models import standard_inputs`` and
its ``zoo_inputs`` fixture. The zoo lives in ``tests/zoo/`` (models and oracles), the engine
tests' builders in ``tests/engine_helpers.py``, the accuracy table in
``benchmarks/zoo_accuracy.py``.
"""

from engine_helpers import standard_inputs

__all__ = ["standard_inputs"]

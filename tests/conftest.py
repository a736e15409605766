"""Shared fixtures for the engine tests (the models themselves live in ``zoo_models.py``)."""

from __future__ import annotations

import pytest
import torch
from zoo_models import standard_inputs


@pytest.fixture
def zoo_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """``X (3, 4, 24)`` one-hot examples and references ``(3, 4, 4, 24)`` for the tiny models."""
    return standard_inputs()

"""The engine's own error: an operation of the model that seqlift cannot explain."""

from __future__ import annotations

__all__ = ["ExplanationError"]


class ExplanationError(RuntimeError):
    """seqlift cannot explain an operation of the model (not a problem of the user's input).

    The message names the operation and the module that runs it.
    """

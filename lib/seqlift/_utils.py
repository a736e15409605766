"""Shared internals: the one home of small pieces of logic that several stages need.

Nothing here imports torch at module level, so that the workflow can import it when Snakemake
parses the Snakefile; the functions that need torch import it themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "LENGTH_ATTRIBUTES",
    "LISTED",
    "expected_length",
    "length_hint",
    "listing",
    "model_dtype",
    "nonfinite_rows",
    "resolve_device",
    "torch_dtype",
]

#: How many items an error or warning names before it counts the rest.
LISTED = 10


def listing(items: Iterable[Any], limit: int = LISTED, separator: str = ", ") -> str:
    """The first ``limit`` items joined by ``separator``, then ``and N more`` for the rest.

    Parameters
    ----------
    items : iterable
        What to name; each item is written with ``str``.
    limit : int
        How many to name.
    separator : str
        Between two named items (``"\\n  "`` for one per line).

    Returns
    -------
    str
        ``"a, b, c"`` or ``"a, b, c and 7 more"``.
    """
    items = [str(item) for item in items]
    shown = separator.join(items[:limit])
    rest = len(items) - limit
    if rest <= 0:
        return shown
    return f"{shown} and {rest} more"


def nonfinite_rows(values: np.ndarray | torch.Tensor, axis: int = 0) -> list[int]:
    """Indices along ``axis`` of the slices that hold a NaN or an Inf.

    Parameters
    ----------
    values : numpy.ndarray or torch.Tensor
        Any shape; ``axis`` is the one whose entries are reported.
    axis : int
        The axis of the rows (examples, regions).

    Returns
    -------
    list of int
        In increasing order; empty when everything is finite.
    """
    import numpy as np

    if hasattr(values, "detach"):
        import torch

        values = values.detach().cpu()
        if values.dtype == torch.bfloat16:  # numpy has no bfloat16
            values = values.float()
        values = values.numpy()
    values = np.moveaxis(np.asarray(values), axis, 0)
    finite = np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    return [int(i) for i in np.flatnonzero(~finite)]


_DTYPE_NAMES = ("float16", "bfloat16", "float32", "float64")


def torch_dtype(dtype: str | torch.dtype | Any) -> torch.dtype:
    """A floating-point torch dtype from a torch dtype, a numpy dtype or a name.

    Parameters
    ----------
    dtype : str, torch.dtype or numpy dtype
        ``"float32"``, ``"torch.float64"``, ``torch.float16``, ``np.float32``, ...

    Returns
    -------
    torch.dtype

    Raises
    ------
    ValueError
        For a name that is not a floating-point type.
    """
    import torch

    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        name = str(getattr(dtype, "__name__", dtype)).removeprefix("torch.")
        try:
            import numpy as np

            name = np.dtype(name).name if name != "bfloat16" else name
        except TypeError:
            pass
        resolved = getattr(torch, name, None) if name in _DTYPE_NAMES else None
        if resolved is None:
            raise ValueError(
                f"dtype must be a floating point type ({', '.join(_DTYPE_NAMES)}), got {dtype!r}"
            )
    if not resolved.is_floating_point:
        raise ValueError(f"dtype must be a floating point type, got {resolved}")
    return resolved


def model_dtype(model: torch.nn.Module, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """``dtype`` resolved, or the dtype of the model's first floating-point parameter.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    dtype : str or torch.dtype, optional
        An explicit choice, which wins.

    Returns
    -------
    torch.dtype
        float32 for a model without floating-point parameters.
    """
    import torch

    if dtype is not None:
        return torch_dtype(dtype)
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    return first.dtype if first is not None else torch.float32


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A torch device; ``None`` and ``"auto"`` mean CUDA when it is available, else the CPU.

    Parameters
    ----------
    device : str, torch.device or None

    Returns
    -------
    torch.device
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


#: Attributes in which models commonly declare the input length they were trained on.
LENGTH_ATTRIBUTES = ("sequence_length", "input_length", "seq_len", "in_window", "length")


def expected_length(model: Any) -> int | None:
    """The input length a model declares in one of :data:`LENGTH_ATTRIBUTES`, if any.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    int or None
    """
    for name in LENGTH_ATTRIBUTES:
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def length_hint(model: Any, length: int) -> str:
    """One sentence for an error about input length: what the model declares, if it differs.

    Parameters
    ----------
    model : torch.nn.Module
    length : int
        The input length that was given.

    Returns
    -------
    str
        ``" The model expects length 2114."`` when the model declares another length, else
        ``""``.
    """
    expected = expected_length(model)
    if expected is None or expected == length:
        return ""
    return f" The model expects length {expected}."

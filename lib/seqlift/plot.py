"""Sequence logos of attributions, drawn with logomaker."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.axes
import numpy as np
import pandas as pd
import torch

__all__ = ["plot_logo"]

# The usual nucleotide colours (as in tangermeme and most attribution plots).
DEFAULT_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


def plot_logo(
    attributions: torch.Tensor | np.ndarray,
    ax: matplotlib.axes.Axes | None = None,
    start: int | None = None,
    end: int | None = None,
    alphabet: str | Sequence[str] = "ACGT",
    color: str | dict[str, str] | None = None,
    ylim: tuple[float, float] | None = None,
    flip_below: bool = False,
) -> matplotlib.axes.Axes:
    """Draw a sequence logo of per-base scores.

    Each letter's height is its score: positive scores stack above zero,
    negative ones below. Projected attributions (one non-zero base per
    column) show the sequence; hypothetical attributions show every base.

    Parameters
    ----------
    attributions : torch.Tensor or numpy.ndarray, shape (len(alphabet), length)
        The scores.
    ax : matplotlib.axes.Axes or None, optional
        The axes to draw on. None uses ``plt.gca()``.
    start, end : int or None, optional
        The positions ``[start, end)`` to draw. The x axis keeps the original
        coordinates, so position ``start`` is drawn at ``x = start``.
    alphabet : str or sequence of str, optional
        The letters of the rows. Default ``"ACGT"``.
    color : str, dict or None, optional
        One colour for all letters, a letter -> colour mapping, or None for
        the usual A/C/G/T colours.
    ylim : (float, float) or None, optional
        The y range. None fits the data.
    flip_below : bool, optional
        Whether letters below zero are drawn upside down. Default False, so
        they stay readable.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    import logomaker
    import matplotlib.pyplot as plt

    if isinstance(attributions, torch.Tensor):
        values = attributions.detach().cpu().double().numpy()
    else:
        values = np.asarray(attributions, dtype=np.float64)
    alphabet = list(alphabet)
    if values.ndim != 2 or values.shape[0] != len(alphabet):
        raise ValueError(
            f"attributions must have shape ({len(alphabet)}, length), got {values.shape}"
        )
    length = values.shape[1]
    first = 0 if start is None else int(start)
    stop = length if end is None else int(end)
    if not 0 <= first < stop <= length:
        raise ValueError(f"start={start}, end={end} is not a non-empty span of length {length}")

    if ax is None:
        ax = plt.gca()
    if color is None:
        color = {letter: DEFAULT_COLORS.get(letter, "gray") for letter in alphabet}

    frame = pd.DataFrame(values[:, first:stop].T, columns=alphabet, index=np.arange(first, stop))
    logomaker.Logo(frame, ax=ax, color_scheme=color, flip_below=flip_below)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlim(first - 0.5, stop - 0.5)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("position")
    ax.set_ylabel("attribution")
    return ax

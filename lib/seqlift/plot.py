"""Sequence logos of attributions, drawn with logomaker, with tangermeme's ``plot_logo`` arguments."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.axes
import numpy as np
import pandas as pd
import torch

from .errors import InputError

__all__ = ["DEFAULT_COLORS", "plot_logo"]

# tangermeme's nucleotide colours (RGB); any other character is gray.
DEFAULT_COLORS = {"A": (0.0, 0.5, 0.0), "C": (0.0, 0.0, 1.0), "G": (1.0, 0.65, 0.0),
                  "T": (1.0, 0.0, 0.0)}
_OTHER_COLOR = (0.5, 0.5, 0.5)


def _position_colors(colors, length: int, window: slice, cmap: str, vmin, vmax):
    """One RGBA row per position of ``window``, from a numeric vector (through ``cmap``, between
    ``vmin`` and ``vmax`` or the window's own range, as in tangermeme) or from colour specs; None
    (with a warning, as tangermeme) if ``colors`` does not have one entry per position."""
    import matplotlib
    import matplotlib.pyplot as plt

    if len(colors) != length:
        warnings.warn(
            f"`color` is an array-like of length {len(colors)} but the attributions have "
            f"length {length}; using the default colour per character. Pass a dict to colour "
            "by character, or one colour per position",
            UserWarning,
            stacklevel=3,
        )
        return None
    array = np.asarray(colors)[window]
    if array.ndim == 1 and array.dtype.kind in "fiu":
        low = array.min() if vmin is None else vmin
        high = array.max() if vmax is None else vmax
        return plt.get_cmap(cmap)(matplotlib.colors.Normalize(vmin=low, vmax=high)(array))
    return matplotlib.colors.to_rgba_array(array)


def _draw_annotations(ax, annotations, first, stop, n_tracks, score_key, show_extra,
                      show_score, annot_cmap) -> None:
    """Bars and labels of the hits that lie in ``[first, stop)``, below the letters, one track
    per row of hits that do not overlap (the first ``n_tracks`` with bars)."""
    import matplotlib
    import matplotlib.pyplot as plt

    if isinstance(annot_cmap, str):
        cmap = plt.get_cmap(annot_cmap)
    elif isinstance(annot_cmap, matplotlib.colors.Colormap):
        cmap = annot_cmap
    else:
        cmap = matplotlib.colors.ListedColormap(annot_cmap)
    missing = [name for name in ("start", "end", score_key) if name not in annotations.columns]
    if missing:
        raise InputError(
            f"annotations lack the column(s) {missing}; they need the motif name first, then "
            f"'start', 'end' and '{score_key}' (score_key)"
        )
    hits = annotations[(annotations["start"] >= first) & (annotations["end"] <= stop)]
    hits = hits.sort_values("start", kind="stable")
    if hits.empty:
        return
    low, high = ax.get_ylim()
    step = (high - low) / 12
    track_ends: list[float] = []
    placed = []
    for _, hit in hits.iterrows():
        hit_start, hit_end = int(hit["start"]), int(hit["end"])
        track = next((i for i, end in enumerate(track_ends) if end <= hit_start), len(track_ends))
        if track == len(track_ends):
            track_ends.append(hit_end)
        track_ends[track] = hit_end
        placed.append((hit, hit_start, hit_end, track))
    several = len(track_ends) > 1
    for hit, hit_start, hit_end, track in placed:
        text = str(hit.iloc[0]) + (f" ({hit[score_key]:.3g})" if show_score else "")
        y = low - step * (track + 1)
        if track < n_tracks:
            color = cmap(track) if several else (0.0, 0.0, 0.0)
            ax.plot([hit_start - 0.4, hit_end - 0.6], [y, y], color=color, linewidth=2)
            ax.text(hit_start - 0.4, y - step * 0.15, text, color=color, fontsize=7, va="top")
        elif show_extra:
            ax.text(hit_start - 0.4, y, text, color=(0.7, 0.7, 0.7), fontsize=5, va="top")
    ax.set_ylim(low - step * (min(len(track_ends), n_tracks + show_extra) + 1.5), high)


def plot_logo(
    X_attr: torch.Tensor | np.ndarray,
    ax: matplotlib.axes.Axes | None = None,
    color: str | dict | np.ndarray | Sequence | None = None,
    color_cmap: str = "viridis",
    color_vmin: float | None = None,
    color_vmax: float | None = None,
    annotations: pd.DataFrame | None = None,
    start: int | None = None,
    end: int | None = None,
    ylim: float | tuple[float, float] | None = None,
    spacing: float = 4,
    n_tracks: int = 4,
    alphabet: str | Sequence[str] = "ACGT",
    min_height_pct: float | None = 0.02,
    score_key: str = "score",
    show_extra: bool = True,
    show_score: bool = True,
    annot_cmap: str | Sequence = "Set1",
    *,
    flip_below: bool = False,
) -> matplotlib.axes.Axes:
    """Draw a sequence logo of per-base scores, taking tangermeme 1.6.0's arguments.

    Each letter's height is its score: positive scores stack above zero,
    negative ones below. Projected attributions (one non-zero base per
    column) show the sequence; hypothetical attributions show every base.
    Unlike tangermeme, the x axis keeps the original positions (position
    ``start`` is drawn at ``x = start``), and ``start`` or ``end`` alone
    also cut the window.

    Parameters
    ----------
    X_attr : torch.Tensor or numpy.ndarray, shape (len(alphabet), length)
        The scores.
    ax : matplotlib.axes.Axes or None, optional
        The axes to draw on. None uses ``plt.gca()``.
    color : str, dict, array-like or None, optional
        None: tangermeme's colours (A green, C blue, G orange, T red, others
        gray). A colour name: every letter. A dict: letter -> colour (letters
        it lacks get their default). An array-like of one entry per position
        of ``X_attr`` (before ``start``/``end``): numbers, mapped through
        ``color_cmap`` between ``color_vmin`` and ``color_vmax``, or colour
        specifications (names, hex strings, an ``(length, 3)`` or
        ``(length, 4)`` RGB(A) array), used as given; every letter of a
        position shares its colour. Another length warns and falls back to
        the default colours, as in tangermeme.
    color_cmap : str, optional
        The colormap of a numeric ``color``. Default ``"viridis"``.
    color_vmin, color_vmax : float or None, optional
        The range mapped onto the colormap; None takes the minimum and
        maximum of ``color`` within the drawn window.
    annotations : pandas.DataFrame or None, optional
        Hits to mark below the letters: the motif name in the first column,
        then ``start``, ``end`` (in the positions of ``X_attr``) and the
        score in column ``score_key``. Those inside the window are drawn as
        bars with their labels, in tracks of hits that do not overlap.
    start, end : int or None, optional
        The positions ``[start, end)`` to draw. Default: all.
    ylim : float, (float, float) or None, optional
        The y range; a number ``y`` means ``(-y, y)``. None: from the lowest
        to the highest stack (symmetric when annotations are drawn).
    spacing : float, optional
        Accepted for tangermeme's signature, which does not use it either.
    n_tracks : int, optional
        Tracks of annotations drawn with bars; later ones get a small gray
        label only (``show_extra``). Default 4.
    alphabet : str or sequence of str, optional
        The letters of the rows. Default ``"ACGT"``.
    min_height_pct : float or None, optional
        Letters smaller than this fraction of the largest absolute score in
        the window are not drawn (as in tangermeme). None draws every
        non-zero letter. Default 0.02.
    score_key : str, optional
        The column of the annotations' scores. Default ``"score"``.
    show_extra : bool, optional
        Whether to label the annotations beyond ``n_tracks``. Default True.
    show_score : bool, optional
        Whether labels show the score after the name. Default True.
    annot_cmap : str, list of colours or matplotlib Colormap, optional
        The colours of the annotation tracks (black when there is one).
        Default ``"Set1"``.
    flip_below : bool, optional (keyword only)
        Whether letters below zero are drawn upside down. Default False, so
        they stay readable.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValueError
        If ``X_attr`` does not have shape ``(len(alphabet), length)``, the
        window is empty or outside it, or the annotations lack a column.
    """
    import logomaker
    import matplotlib.pyplot as plt

    if isinstance(X_attr, torch.Tensor):
        values = X_attr.detach().cpu().double().numpy()
    else:
        values = np.asarray(X_attr, dtype=np.float64)
    alphabet = list(alphabet)
    if values.ndim != 2 or values.shape[0] != len(alphabet):
        raise InputError(
            f"X_attr must have shape ({len(alphabet)}, length), got {values.shape}; pass one "
            "sequence's attributions"
        )
    length = values.shape[1]
    first = 0 if start is None else int(start)
    stop = length if end is None else int(end)
    if not 0 <= first < stop <= length:
        raise InputError(
            f"start={start}, end={end} is not a non-empty span of length {length}; use "
            f"0 <= start < end <= {length}"
        )

    letter_colors = {letter: DEFAULT_COLORS.get(letter, _OTHER_COLOR) for letter in alphabet}
    position_colors = None
    if isinstance(color, str):
        letter_colors = dict.fromkeys(alphabet, color)
    elif isinstance(color, dict):
        letter_colors.update(color)
    elif color is not None:
        position_colors = _position_colors(
            color, length, slice(first, stop), color_cmap, color_vmin, color_vmax
        )

    window = values[:, first:stop].copy()
    if min_height_pct is not None:
        window[np.abs(window) < np.abs(window).max() * min_height_pct] = 0.0

    if ax is None:
        ax = plt.gca()
    frame = pd.DataFrame(window.T, columns=alphabet, index=np.arange(first, stop))
    logo = logomaker.Logo(frame, ax=ax, color_scheme=letter_colors, flip_below=flip_below)
    if position_colors is not None:
        for offset, position in enumerate(range(first, stop)):
            rgba = position_colors[offset]
            for row, letter in enumerate(alphabet):
                if window[row, offset] != 0:
                    logo.style_single_glyph(
                        position, letter, color=tuple(rgba[:3]), alpha=float(rgba[3])
                    )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlim(first - 0.5, stop - 0.5)

    if ylim is not None:
        ylim = (-ylim, ylim) if np.isscalar(ylim) else tuple(ylim)
    elif annotations is not None:
        top = float(np.abs(window).max()) or 1.0
        ylim = (-top, top)
    else:
        low = float(np.where(window < 0, window, 0).sum(axis=0).min())
        high = float(np.where(window > 0, window, 0).sum(axis=0).max())
        ylim = (low, high) if high > low else None
    if ylim is not None:
        ax.set_ylim(*ylim)
    if annotations is not None:
        _draw_annotations(ax, annotations, first, stop, n_tracks, score_key, show_extra,
                          show_score, annot_cmap)
    ax.set_xlabel("position")
    ax.set_ylabel("attribution")
    return ax

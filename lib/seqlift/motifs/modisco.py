"""TF-MoDISco with modisco-lite 3.0: windows, its run, and the patterns of a ``modisco.h5``.

modisco-lite is imported inside the functions, so that importing this module stays cheap.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqlift.errors import InputError

PathLike = str | os.PathLike

__all__ = [
    "BASES",
    "DEFAULT_WINDOW",
    "MODISCO_DEFAULTS",
    "Pattern",
    "central_window",
    "discover_patterns",
    "leading_pattern",
    "read_patterns",
    "save_patterns",
    "trim_bounds",
]

BASES = "ACGT"
"""The alphabet of every pattern and MEME motif, in this order."""

DEFAULT_WINDOW = 400
"""Bases around the centre that modisco-lite looks at when ``window`` is null (its CLI's
default), or the whole region when regions are shorter."""

MODISCO_DEFAULTS = {
    "max_seqlets": 2000,
    "n_leiden": 2,
    "sliding_window_size": 20,
    "flank_size": 5,
    "trim_to_window_size": 30,
    "initial_flank_to_add": 10,
    "final_flank_to_add": 0,
    "target_seqlet_fdr": 0.05,
    "final_min_cluster_size": 20,
}
"""modisco-lite's knobs and seqlift's defaults for them: the defaults of ``modisco motifs``
where its CLI has one, ``TFMoDISco``'s for ``final_min_cluster_size``, and 2,000 for
``max_seqlets`` (``-n``, which the CLI requires). The config's ``motifs`` keys of these names
override them."""


def central_window(length: int, window: int | None) -> tuple[int, int]:
    """``(start, stop)`` of the ``window`` central bases of a ``length``-bp region.

    The window is placed as modisco-lite places it, ``centre - window // 2`` to ``centre +
    window // 2`` with ``centre = length // 2`` (an odd window loses its last base there; here
    it keeps it). ``None`` means :data:`DEFAULT_WINDOW`, or the whole region when it is shorter.

    Raises
    ------
    InputError
        When ``window`` is larger than the region or smaller than 1.
    """
    if window is None:
        window = min(DEFAULT_WINDOW, length)
    if not 1 <= window <= length:
        raise InputError(
            f"motifs.window is {window} but the regions are {length} bp wide (width): set "
            f"motifs.window to at most {length}, or null for the central "
            f"{min(DEFAULT_WINDOW, length)} bp"
        )
    start = length // 2 - window // 2
    return start, start + window


def discover_patterns(
    one_hot: np.ndarray, hypothetical: np.ndarray, settings: Mapping[str, Any] | None = None
) -> tuple[list | None, list | None]:
    """Run modisco-lite's ``TFMoDISco`` in this process.

    Parameters
    ----------
    one_hot, hypothetical : np.ndarray
        ``(n, window, 4)`` float32 (:func:`read_windows`).
    settings : mapping, optional
        Values for the keys of :data:`MODISCO_DEFAULTS`; others are ignored.

    Returns
    -------
    pos_patterns, neg_patterns : list of modiscolite SeqletSet, or None
        As ``TFMoDISco`` returns them (None where a metacluster has no pattern). Its Leiden
        seeds are fixed (1 to ``n_leiden``), so the same input gives the same patterns.

    Raises
    ------
    InputError
        When the windows are narrower than ``sliding_window_size`` (modisco-lite would fail
        with an IndexError).
    """
    knobs = MODISCO_DEFAULTS | {
        key: value for key, value in (settings or {}).items() if key in MODISCO_DEFAULTS
    }
    if one_hot.shape[1] < int(knobs["sliding_window_size"]):
        raise InputError(
            f"the windows are {one_hot.shape[1]} bp, narrower than one TF-MoDISco seqlet core "
            f"(sliding_window_size {knobs['sliding_window_size']}); widen the window (motifs."
            "window) or lower sliding_window_size"
        )
    import modiscolite

    _check_modisco_lite(modiscolite)
    return modiscolite.tfmodisco.TFMoDISco(
        one_hot=one_hot,
        hypothetical_contribs=hypothetical,
        max_seqlets_per_metacluster=int(knobs["max_seqlets"]),
        n_leiden_runs=int(knobs["n_leiden"]),
        sliding_window_size=int(knobs["sliding_window_size"]),
        flank_size=int(knobs["flank_size"]),
        trim_to_window_size=int(knobs["trim_to_window_size"]),
        initial_flank_to_add=int(knobs["initial_flank_to_add"]),
        final_flank_to_add=int(knobs["final_flank_to_add"]),
        target_seqlet_fdr=float(knobs["target_seqlet_fdr"]),
        final_min_cluster_size=int(knobs["final_min_cluster_size"]),
        verbose=False,
    )


def _check_modisco_lite(modiscolite) -> None:
    """Warn when the ``modiscolite`` imported is not the installed modisco-lite's own files.

    The package ``modisco`` (2.5.2, a dependency of bpnet-lite) writes the same ``modiscolite/``
    folder as modisco-lite 3.0, so whichever pip installed last wins, file by file.
    """
    from importlib import metadata

    try:
        installed = metadata.version("modisco-lite")
    except metadata.PackageNotFoundError:
        return
    if getattr(modiscolite, "__version__", installed) != installed:
        warnings.warn(
            f"the modiscolite module imported is version {modiscolite.__version__}, not the "
            f"installed modisco-lite {installed}: another package (`modisco`, which bpnet-lite "
            "depends on) has overwritten its files. Run `pip install --force-reinstall --no-deps "
            f"modisco-lite=={installed}`", stacklevel=3,
        )


def save_patterns(path: PathLike, pos_patterns, neg_patterns, window: int) -> None:
    """modisco-lite's own ``save_hdf5``: the layout ``modisco report`` reads."""
    import modiscolite

    modiscolite.io.save_hdf5(str(path), pos_patterns, neg_patterns, window)


@dataclass
class Pattern:
    """One modisco-lite pattern as ``modisco.h5`` stores it.

    Attributes
    ----------
    name : str
        ``<metacluster>.<pattern>``, e.g. ``pos_patterns.pattern_0``.
    n_seqlets : int
    ppm, cwm, hcwm : np.ndarray
        ``(length, 4)`` float64: base frequencies, contribution and hypothetical contribution
        weight matrices.
    """

    name: str
    n_seqlets: int
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray

    @property
    def metacluster(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def consensus(self) -> str:
        """Most frequent base of each position where the CWM is strong (:func:`trim_bounds`)."""
        start, stop = trim_bounds(self.cwm)
        return "".join(BASES[i] for i in self.ppm[start:stop].argmax(axis=1))


def read_patterns(modisco_h5: PathLike) -> list[Pattern]:
    """Every pattern of a ``modisco.h5``: positive then negative, each in modisco's order
    (``pattern_0`` has the most seqlets)."""
    import h5py

    patterns = []
    with h5py.File(modisco_h5, "r") as results:
        for metacluster in ("pos_patterns", "neg_patterns"):
            if metacluster not in results:
                continue
            group = results[metacluster]
            for key in sorted(group, key=lambda name: int(name.rsplit("_", 1)[-1])):
                entry = group[key]
                patterns.append(
                    Pattern(
                        name=f"{metacluster}.{key}",
                        n_seqlets=int(entry["seqlets"]["n_seqlets"][0]),
                        ppm=np.asarray(entry["sequence"][:], dtype=np.float64),
                        cwm=np.asarray(entry["contrib_scores"][:], dtype=np.float64),
                        hcwm=np.asarray(entry["hypothetical_contribs"][:], dtype=np.float64),
                    )
                )
    return patterns


def leading_pattern(patterns: Sequence[Pattern]) -> Pattern | None:
    """The pattern with the most seqlets (the first of them in :func:`read_patterns` order)."""
    if not patterns:
        return None
    return max(patterns, key=lambda pattern: pattern.n_seqlets)


def trim_bounds(cwm: np.ndarray, threshold: float = 0.3) -> tuple[int, int]:
    """``(start, stop)`` of the positions from the first to the last whose total ``|CWM|`` is at
    least ``threshold`` times the largest (``modisco report``'s trimming); the whole pattern when
    its CWM is all zero."""
    score = np.abs(np.asarray(cwm, dtype=np.float64)).sum(axis=1)
    if not score.size or score.max() <= 0:
        return 0, int(score.size)
    passing = np.flatnonzero(score >= threshold * score.max())
    return int(passing[0]), int(passing[-1]) + 1


"""Matching patterns to a motif database with memelite's TOMTOM, with Benjamini-Hochberg q-values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from seqlift.motifs.meme import MemeMotif
from seqlift.motifs.modisco import Pattern, trim_bounds

__all__ = ["benjamini_hochberg", "match_patterns"]


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the last axis: ``q_(i) = min_{j >= i} p_(j) m / j``.

    Parameters
    ----------
    p_values : np.ndarray
        ``(..., m)``; each row is one family of tests.

    Returns
    -------
    np.ndarray
        Same shape, float64, capped at 1.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    m = p_values.shape[-1]
    if m == 0:
        return p_values.copy()
    order = np.argsort(p_values, axis=-1, kind="stable")
    ranked = np.take_along_axis(p_values, order, axis=-1) * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q_values = np.empty_like(ranked)
    np.put_along_axis(q_values, order, np.minimum(ranked, 1.0), axis=-1)
    return q_values


def match_patterns(
    patterns: Sequence[Pattern],
    database: Sequence[MemeMotif],
    n_matches: int = 3,
    trim_threshold: float = 0.3,
    n_threads: int = 1,
) -> list[list[dict[str, Any]]]:
    """memelite's TOMTOM of each pattern against every database motif.

    The query is the pattern's PPM over the positions where its CWM is strong
    (:func:`trim_bounds` with ``trim_threshold``), as ``modisco report`` queries TOMTOM; both
    strands of each target are tried. The q-value of a match is the Benjamini-Hochberg q-value
    of its p-value among the pattern's p-values against the N database motifs (memelite gives
    p-values only; MEME's own ``tomtom`` program estimates q-values its own way, so its figures
    can differ), and the E-value is ``p x N``.

    Returns
    -------
    list of list of dict
        Per pattern, its ``n_matches`` best matches by p-value (ties in database order), each
        ``rank``, ``id``, ``name``, ``p_value``, ``e_value``, ``q_value``, ``offset``,
        ``overlap`` and ``strand`` (``+`` or ``-``).
    """
    if not patterns:
        return []
    import numba
    from memelite import tomtom

    queries = []
    for pattern in patterns:
        start, stop = trim_bounds(pattern.cwm, trim_threshold)
        queries.append(np.ascontiguousarray(pattern.ppm[start:stop].T))
    targets = [np.ascontiguousarray(motif.ppm.T) for motif in database]
    # numba takes no more threads than its pool was started with.
    n_jobs = max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS))
    p_values, _, offsets, overlaps, strands = tomtom(queries, targets, n_jobs=n_jobs)
    p_values = np.asarray(p_values, dtype=np.float64)
    q_values = benjamini_hochberg(p_values)
    matches = []
    for row in range(len(patterns)):
        best = np.argsort(p_values[row], kind="stable")[:n_matches]
        matches.append([
            {
                "rank": rank + 1,
                "id": database[index].id,
                "name": database[index].name,
                "p_value": float(p_values[row, index]),
                "e_value": float(p_values[row, index] * len(database)),
                "q_value": float(q_values[row, index]),
                "offset": int(offsets[row, index]),
                "overlap": int(overlaps[row, index]),
                "strand": "-" if int(strands[row, index]) else "+",
            }
            for rank, index in enumerate(best)
        ])
    return matches


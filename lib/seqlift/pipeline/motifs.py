"""Stage ``motifs``: TF-MoDISco patterns of each target, matched against JASPAR with TOMTOM.

Two rules share this module:

- ``motif_database`` (:func:`write_motif_database`, once per run): the JASPAR motifs that
  pyjaspar ships (a release, a collection, a taxon), written as a MEME file
  ``motifs/jaspar.meme`` with its provenance in ``motifs/jaspar.json``. Names that pyjaspar does
  not offer are recorded there as an error (the valid names listed), not raised: the patterns
  are still found, and each target's outcome says why they were not matched.
- ``motifs`` (:func:`run_motifs`, one job per target): in one process, so that numba compiles
  modisco-lite's and memelite's kernels once per job,

  1. the central ``window`` bases of every region, read from ``attributions.zarr``
     (:func:`read_windows`; one-hot and hypothetical scores, ``(n, window, 4)``);
  2. modisco-lite 3.0's ``TFMoDISco`` on them (:func:`discover_patterns`), written as
     ``modisco.h5`` in modisco-lite's own layout (what ``modisco motifs`` writes);
  3. memelite's TOMTOM of every pattern against the MEME database (:func:`match_patterns`):
     the pattern's PPM, trimmed where its CWM is weak as ``modisco report`` trims it, against
     every database motif; q-values by Benjamini-Hochberg over the database, per pattern;
  4. the match table ``matches.json`` / ``matches.tsv``, a CWM logo per pattern
     (``logos/<pattern>.png``), the report's table ``motifs.html``, and (``modisco_report``)
     modisco-lite's own annotated HTML report (``modisco report -l``: memelite's TOMTOM).

A target whose motifs cannot be found (too few regions, no attribution signal, no pattern) is
*skipped*: its ``modisco.h5`` holds no pattern and ``matches.json`` says why and what to change.
A database that cannot be used (a malformed ``meme_file``, a JASPAR name pyjaspar lacks) skips
the *matching* only: the patterns are kept. :func:`summarize_outcomes` is what the QC summary
records of each target.

Heavy imports (modiscolite, memelite, pyjaspar, matplotlib) happen inside the functions, so the
QC stage can import :func:`summarize_outcomes` cheaply.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqlift._utils import listing
from seqlift.errors import InputError
from seqlift.pipeline.storage import (
    atomic_file,
    iter_target_blocks,
    open_store,
    resolve_target,
    write_json,
)

PathLike = str | os.PathLike

__all__ = [
    "DEFAULT_WINDOW",
    "MODISCO_DEFAULTS",
    "MemeFileError",
    "MemeMotif",
    "MotifDatabaseError",
    "Pattern",
    "benjamini_hochberg",
    "build_jaspar_database",
    "central_window",
    "discover_patterns",
    "jaspar_choices",
    "leading_pattern",
    "match_patterns",
    "read_meme_file",
    "read_patterns",
    "read_windows",
    "run_motifs",
    "summarize_outcomes",
    "trim_bounds",
    "write_meme_file",
    "write_motif_database",
]

logger = logging.getLogger(__name__)

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
"""modisco-lite's knobs and the values ``modisco motifs`` gives them (its CLI's defaults;
``final_min_cluster_size`` is ``TFMoDISco``'s). The config's ``motifs`` keys of these names
override them."""

_REPORT_DEFAULTS = {"n_matches": 3, "trim_threshold": 0.3, "min_regions": 50}

# The alphabet of every pattern and MEME motif, in this order.
_BASES = "ACGT"


class MotifDatabaseError(InputError):
    """The JASPAR selection (release, collection, taxon) is not one that pyjaspar offers."""


class MemeFileError(InputError):
    """A MEME motif file that cannot be read; the message names the file and line."""


# ---------------------------------------------------------------------------------------------
# Windows and modisco-lite


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
            f"motifs.window is {window} but the regions are {length} bp wide; set motifs.window "
            f"to at most {length} (the config's width), or null for the central "
            f"{min(DEFAULT_WINDOW, length)} bp"
        )
    start = length // 2 - window // 2
    return start, start + window


def read_windows(
    attributions_zarr: PathLike, target: str | int, window: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The central window of every region, as modisco-lite takes it.

    Returns
    -------
    one_hot, hypothetical : np.ndarray
        ``(n, window, 4)`` float32 each (positions before bases), in region order; read a block
        of regions at a time from ``attributions.zarr``.
    """
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    n_regions, _, length = group["onehot"].shape
    start, stop = central_window(int(length), window)
    one_hot = np.empty((n_regions, stop - start, 4), dtype=np.float32)
    hypothetical = np.empty((n_regions, stop - start, 4), dtype=np.float32)
    for first, onehot_block, hypothetical_block in iter_target_blocks(group, name):
        rows = slice(first, first + onehot_block.shape[0])
        one_hot[rows] = onehot_block[:, :, start:stop].transpose(0, 2, 1)
        hypothetical[rows] = hypothetical_block[:, :, start:stop].transpose(0, 2, 1)
    return one_hot, hypothetical


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
    """
    import modiscolite

    knobs = MODISCO_DEFAULTS | {
        key: value for key, value in (settings or {}).items() if key in MODISCO_DEFAULTS
    }
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


def _write_modisco_h5(path: Path, pos_patterns, neg_patterns, window: int) -> None:
    """modisco-lite's own ``save_hdf5`` (the layout ``modisco report`` reads), atomically."""
    import modiscolite

    with atomic_file(path, suffix=".h5") as temporary:
        modiscolite.io.save_hdf5(str(temporary), pos_patterns, neg_patterns, window)


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
        return "".join(_BASES[i] for i in self.ppm[start:stop].argmax(axis=1))


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


# ---------------------------------------------------------------------------------------------
# MEME files and JASPAR


@dataclass
class MemeMotif:
    """A motif of a MEME file: ``id`` and ``name`` from its ``MOTIF`` line, ``ppm`` ``(length,
    4)`` letter probabilities (rows sum to 1)."""

    id: str
    name: str
    ppm: np.ndarray
    n_sites: int | None = None

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}".strip()


def write_meme_file(path: PathLike, motifs: Sequence[MemeMotif], source: str) -> Path:
    """Write ``motifs`` as a MEME (version 4) file, atomically; ``source`` goes into the
    background line, ``Background letter frequencies (from <source>):``."""
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        f"Background letter frequencies (from {source}):",
        "A 0.25 C 0.25 G 0.25 T 0.25",
        "",
    ]
    for motif in motifs:
        lines.append(f"MOTIF {motif.id} {motif.name}".rstrip())
        sites = f" nsites= {motif.n_sites}" if motif.n_sites else ""
        lines.append(f"letter-probability matrix: alength= 4 w= {len(motif.ppm)}{sites} E= 0")
        lines.extend(" ".join(f"{value:.6f}" for value in row) for row in motif.ppm)
        lines.append("")
    path = Path(path)
    with atomic_file(path) as temporary:
        temporary.write_text("\n".join(lines) + "\n")
    return path


_WIDTH = re.compile(r"\bw=\s*(\d+)")
_ALPHABET_LENGTH = re.compile(r"\balength=\s*(\d+)")


def read_meme_file(path: PathLike) -> list[MemeMotif]:
    """Read a MEME motif file strictly, so that a broken one is named by its line.

    Accepted: the MEME format's text version (``MEME version ...``, optional ``ALPHABET= ACGT``,
    strands and background lines), each motif a ``MOTIF <id> [name]`` line, a
    ``letter-probability matrix: ... w= <length>`` line and ``length`` rows of 4 probabilities
    that sum to 1 (within 0.02); blank lines and ``URL`` lines between motifs.

    Raises
    ------
    MemeFileError
        Naming the file, the line and the problem: a missing ``MEME version`` line, another
        alphabet, a ``MOTIF`` line without an id or a repeated id, a matrix header without
        ``w=``, a row that is not 4 non-negative numbers summing to 1, a motif with fewer rows
        than ``w``, or no motif at all.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise MemeFileError(f"{path}: the MEME file does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MemeFileError(f"{path}: cannot be read as a MEME text file ({error})") from None

    def fail(number: int, problem: str) -> MemeFileError:
        return MemeFileError(f"{path}, line {number}: {problem}")

    motifs: list[MemeMotif] = []
    seen: dict[str, int] = {}
    lines = text.splitlines()
    if not any(line.startswith("MEME version") for line in lines):
        raise fail(1, "no 'MEME version' line; this is not a MEME motif file")
    current: dict[str, Any] | None = None

    def finish(number: int) -> None:
        if current is None:
            return
        if current["width"] is None:
            raise fail(current["line"], f"motif {current['id']} has no 'letter-probability "
                       "matrix: ... w= <length>' line")
        if len(current["rows"]) < current["width"]:
            raise fail(number, f"motif {current['id']} has {len(current['rows'])} matrix rows "
                       f"but its header says w= {current['width']}")
        motifs.append(MemeMotif(current["id"], current["name"], np.array(current["rows"]),
                                current["sites"]))

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("ALPHABET"):
            letters = line.split("=", 1)[-1].strip()
            if letters != _BASES:
                raise fail(number, f"alphabet {letters!r}; only DNA motifs ({_BASES}) can be "
                           "matched to patterns")
        elif line.startswith("MOTIF"):
            finish(number)
            fields = line.split()
            if len(fields) < 2:
                raise fail(number, "a MOTIF line needs the motif's id ('MOTIF MA0139.2 CTCF')")
            if fields[1] in seen:
                raise fail(number, f"motif id {fields[1]} was already used on line "
                           f"{seen[fields[1]]}; ids must be unique")
            seen[fields[1]] = number
            current = {"id": fields[1], "name": " ".join(fields[2:]), "width": None,
                       "rows": [], "line": number, "sites": None}
        elif current is None or not line or line.startswith("URL"):
            continue
        elif line.startswith("letter-probability matrix"):
            width = _WIDTH.search(line)
            if width is None or int(width.group(1)) < 1:
                raise fail(number, "the letter-probability matrix line needs 'w= <length>'")
            alphabet_length = _ALPHABET_LENGTH.search(line)
            if alphabet_length and int(alphabet_length.group(1)) != 4:
                raise fail(number, f"alength= {alphabet_length.group(1)}; DNA motifs have 4 "
                           "letters")
            sites = re.search(r"\bnsites=\s*(\d+)", line)
            current |= {"width": int(width.group(1)), "sites": int(sites.group(1)) if sites
                        else None}
        elif current["width"] is not None and len(current["rows"]) < current["width"]:
            try:
                row = [float(value) for value in line.split()]
            except ValueError:
                raise fail(number, f"matrix row {line!r} of motif {current['id']} is not "
                           "numbers") from None
            if len(row) != 4 or min(row) < 0 or not math.isclose(sum(row), 1, abs_tol=0.02):
                raise fail(number, f"matrix row {line!r} of motif {current['id']} must be 4 "
                           "probabilities (A C G T) that sum to 1")
            current["rows"].append(row)
        elif current["width"] is None:
            raise fail(number, f"expected the 'letter-probability matrix' line of motif "
                       f"{current['id']}, got {line!r}")
    finish(len(lines))
    if not motifs:
        raise fail(len(lines), "no motif (no 'MOTIF <id>' line followed by its matrix)")
    return motifs


def jaspar_choices(release: str | None = None) -> dict[str, Any]:
    """What pyjaspar offers: its releases (newest first), and the collections and taxa of
    ``release`` (default: the newest).

    Returns
    -------
    dict
        ``releases``, ``newest``, ``release``, ``collections`` and ``taxa`` (sorted lists).

    Raises
    ------
    MotifDatabaseError
        When ``release`` is not one of pyjaspar's.
    """
    import pyjaspar

    releases = sorted(pyjaspar.jaspar_releases, reverse=True)
    newest = pyjaspar.JASPAR_LATEST_RELEASE
    release = release or newest
    if release not in pyjaspar.jaspar_releases:
        raise MotifDatabaseError(
            f"motifs.jaspar.release {release!r} is not a JASPAR release that pyjaspar "
            f"{pyjaspar.__version__} ships; use one of {listing(releases)} (or null for the "
            f"newest, {newest})"
        )
    database = pyjaspar.jaspardb(release=release)
    try:
        cursor = database.conn.cursor()
        collections = sorted(row[0] for row in cursor.execute(
            "SELECT DISTINCT COLLECTION FROM MATRIX"))
        taxa = sorted(row[0] for row in cursor.execute(
            "SELECT DISTINCT VAL FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group'"))
    finally:
        database.conn.close()
    return {"releases": releases, "newest": newest, "release": release,
            "collections": collections, "taxa": taxa}


def build_jaspar_database(
    release: str | None = None, collection: str = "CORE", taxon: str | None = "vertebrates"
) -> tuple[list[MemeMotif], dict[str, Any]]:
    """The latest version of every JASPAR matrix of ``collection`` and ``taxon`` in ``release``.

    Parameters
    ----------
    release : str, optional
        A JASPAR release pyjaspar ships (``JASPAR2024``); None is its newest.
    collection : str
        A JASPAR collection (``CORE``, ``UNVALIDATED``, ...).
    taxon : str, optional
        A JASPAR taxonomic group (``vertebrates``, ``plants``, ...); None takes every taxon.

    Returns
    -------
    motifs : list of MemeMotif
        Letter probabilities from JASPAR's counts, in pyjaspar's order.
    provenance : dict
        ``source`` (``"jaspar"``), ``release``, ``collection``, ``taxon``, ``n_motifs`` and the
        pyjaspar version.

    Raises
    ------
    MotifDatabaseError
        For a release, collection or taxon pyjaspar does not offer (the valid ones are named),
        or a selection without a motif.
    """
    import pyjaspar

    choices = jaspar_choices(release)
    release = choices["release"]
    if collection not in choices["collections"]:
        raise MotifDatabaseError(
            f"motifs.jaspar.collection {collection!r} is not a collection of {release}; use one "
            f"of {listing(choices['collections'])}"
        )
    if taxon is not None and taxon not in choices["taxa"]:
        raise MotifDatabaseError(
            f"motifs.jaspar.taxon {taxon!r} is not a taxonomic group of {release}; use one of "
            f"{listing(choices['taxa'], limit=20)}, or null for all of them"
        )
    database = pyjaspar.jaspardb(release=release)
    try:
        records = database.fetch_motifs(
            collection=collection, tax_group=None if taxon is None else [taxon]
        )
    finally:
        database.conn.close()
    motifs = []
    for record in records:
        counts = np.array([record.counts[base] for base in _BASES], dtype=np.float64).T
        totals = counts.sum(axis=1, keepdims=True)
        motifs.append(MemeMotif(str(record.matrix_id), str(record.name),
                                counts / np.where(totals > 0, totals, 1.0),
                                int(round(float(totals.max()))) or None))
    if not motifs:
        raise MotifDatabaseError(
            f"{release} has no {collection} motif of taxon {taxon!r}; choose another "
            "motifs.jaspar.collection or motifs.jaspar.taxon"
        )
    provenance = {"source": "jaspar", "release": release, "collection": collection,
                  "taxon": taxon, "n_motifs": len(motifs),
                  "pyjaspar_version": pyjaspar.__version__}
    return motifs, provenance


def write_motif_database(
    meme_path: PathLike,
    info_path: PathLike,
    release: str | None = None,
    collection: str = "CORE",
    taxon: str | None = "vertebrates",
) -> dict[str, Any]:
    """Rule ``motif_database``: the JASPAR selection as ``meme_path``, provenance in ``info_path``.

    A selection pyjaspar does not offer is not raised: ``info_path`` records ``status: error``
    and the reason (the valid names), ``meme_path`` holds no motif, and every target's motif
    job keeps its patterns and says why they were not matched.

    Returns
    -------
    dict
        The content of ``info_path``: ``status`` (``ok`` or ``error``), ``reason``, ``path``
        and the provenance of :func:`build_jaspar_database`.
    """
    try:
        motifs, provenance = build_jaspar_database(release, collection, taxon)
        info = {"status": "ok", "reason": None} | provenance
    except MotifDatabaseError as error:
        logger.error("%s", error)
        motifs = []
        info = {"status": "error", "reason": str(error), "source": "jaspar", "release": release,
                "collection": collection, "taxon": taxon, "n_motifs": 0}
    source = (f"{info['release']} {info['collection']} {info['taxon'] or 'all taxa'}, "
              f"{info['n_motifs']} motifs")
    write_meme_file(meme_path, motifs, source)
    info["path"] = str(meme_path)
    write_json(info_path, info)
    logger.info("motif database: %s -> %s", source, meme_path)
    return info


def _load_database(
    database_meme: PathLike, database_info: Mapping[str, Any] | None
) -> tuple[list[MemeMotif], dict[str, Any]]:
    """The motifs to match and their provenance; a JASPAR error or a broken file raises."""
    if database_info is not None and database_info.get("status") == "error":
        raise MotifDatabaseError(str(database_info["reason"]))
    motifs = read_meme_file(database_meme)
    if database_info is not None:
        return motifs, dict(database_info)
    return motifs, {"source": "meme_file", "path": str(database_meme), "n_motifs": len(motifs)}


# ---------------------------------------------------------------------------------------------
# TOMTOM


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
    of its p-value among the pattern's p-values against the whole database (TOMTOM's own
    definition), and the E-value is ``p x number of database motifs``.

    Returns
    -------
    list of list of dict
        Per pattern, its ``n_matches`` best matches by p-value (ties in database order), each
        ``rank``, ``id``, ``name``, ``p_value``, ``e_value``, ``q_value``, ``offset``,
        ``overlap`` and ``strand`` (``+`` or ``-``).
    """
    if not patterns:
        return []
    from memelite import tomtom

    queries = []
    for pattern in patterns:
        start, stop = trim_bounds(pattern.cwm, trim_threshold)
        queries.append(np.ascontiguousarray(pattern.ppm[start:stop].T))
    targets = [np.ascontiguousarray(motif.ppm.T) for motif in database]
    p_values, _, offsets, overlaps, strands = tomtom(queries, targets, n_jobs=n_threads)
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


# ---------------------------------------------------------------------------------------------
# Figures and tables


def _plot_cwm(pattern: Pattern, target: str, out_png: Path, trim_threshold: float) -> None:
    """The pattern's CWM, trimmed with two bases either side, as a logo (seqlift.plot)."""
    from matplotlib.figure import Figure

    from seqlift.plot import plot_logo

    start, stop = trim_bounds(pattern.cwm, trim_threshold)
    start, stop = max(start - 2, 0), min(stop + 2, len(pattern.cwm))
    figure = Figure(figsize=(max(3.0, 0.32 * (stop - start) + 1.2), 2.0))
    axis = figure.add_subplot()
    plot_logo(pattern.cwm[start:stop].T, ax=axis)
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.spines[["top", "right"]].set_visible(False)
    axis.set_xticks([])
    axis.set_title(f"{target} {pattern.name}: {pattern.n_seqlets} seqlets", fontsize=9)
    figure.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out_png, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110, format="png")


_TSV_COLUMNS = ("target", "pattern", "n_seqlets", "rank", "id", "name", "p_value", "e_value",
                "q_value", "strand")


def _write_tsv(path: Path, outcome: Mapping[str, Any]) -> None:
    rows = ["\t".join(_TSV_COLUMNS)]
    for pattern in outcome["patterns"]:
        for match in pattern["matches"] or [{}]:
            values = [outcome["target"], pattern["name"], pattern["n_seqlets"]] + [
                match.get(column, "") for column in _TSV_COLUMNS[3:]
            ]
            rows.append("\t".join(f"{value:.4g}" if isinstance(value, float) else str(value)
                                  for value in values))
    with atomic_file(path) as temporary:
        temporary.write_text("\n".join(rows) + "\n")


_HTML_STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: middle; text-align: left; }
th { background: #f3f3f3; }
.skipped { color: #8a3b00; font-weight: bold; }
.q { color: #555; font-size: 12px; }
"""


def _write_html(path: Path, outcome: Mapping[str, Any], logos: Mapping[str, Path]) -> None:
    """The report's table of one target: status, database, then one row per pattern."""
    target = html.escape(outcome["target"])
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Motifs of {target}"
             f"</title><style>{_HTML_STYLE}</style></head><body>",
             f"<h2>TF-MoDISco patterns of {target}</h2>",
             f"<p>{outcome['n_regions']} regions, central {outcome['window']} bp; "
             f"{len(outcome['patterns'])} pattern{'' if len(outcome['patterns']) == 1 else 's'}.</p>"]
    if outcome["status"] == "skipped":
        parts.append(f"<p class='skipped'>Skipped: {html.escape(outcome['reason'])}</p>")
    database = outcome["database"]
    if outcome["matching"]["status"] == "skipped":
        parts.append("<p class='skipped'>JASPAR matching skipped: "
                     f"{html.escape(outcome['matching']['reason'])}</p>")
    elif database:
        described = (f"{database['release']} {database['collection']}, "
                     f"{database['taxon'] or 'all taxa'}" if database["source"] == "jaspar"
                     else database["path"])
        parts.append(f"<p>Matched with TOMTOM (memelite) against {database['n_motifs']} motifs "
                     f"of {html.escape(described)}; q-values by Benjamini-Hochberg over the "
                     "database.</p>")
    if outcome["patterns"]:
        n_matches = outcome["n_matches"]
        header = "".join(f"<th>match {rank}</th>" for rank in range(1, n_matches + 1))
        parts.append(f"<table><tr><th>pattern</th><th>seqlets</th><th>CWM</th>{header}</tr>")
        for pattern in outcome["patterns"]:
            encoded = base64.b64encode(logos[pattern["name"]].read_bytes()).decode("ascii")
            cells = []
            for rank in range(n_matches):
                if rank < len(pattern["matches"]):
                    match = pattern["matches"][rank]
                    cells.append(f"<td>{html.escape(match['id'])} <b>"
                                 f"{html.escape(match['name'])}</b><br><span class='q'>q = "
                                 f"{match['q_value']:.2e}</span></td>")
                else:
                    cells.append("<td>&ndash;</td>")
            parts.append(
                f"<tr><td>{html.escape(pattern['name'])}<br><span class='q'>"
                f"{html.escape(pattern['consensus'])}</span></td><td>{pattern['n_seqlets']}"
                f"</td><td><img alt='CWM of {html.escape(pattern['name'])}' height='90' "
                f"src='data:image/png;base64,{encoded}'></td>{''.join(cells)}</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    with atomic_file(path) as temporary:
        temporary.write_text("\n".join(parts) + "\n")


def _write_modisco_report(
    modisco_h5: Path, out_dir: Path, database_meme: PathLike | None, n_matches: int,
    trim_threshold: float,
) -> None:
    """modisco-lite's own annotated report (``modisco report -l``: TOMTOM by memelite)."""
    from modiscolite import descriptive_report

    out_dir.mkdir(parents=True, exist_ok=True)
    descriptive_report.generate_descriptive_report(
        str(modisco_h5), str(out_dir), meme_motif_db=None if database_meme is None
        else str(database_meme), top_n_matches=n_matches, ttl=True,
        trim_threshold=trim_threshold,
    )


# ---------------------------------------------------------------------------------------------
# The rule


@dataclass
class _Outputs:
    modisco_h5: Path
    matches_json: Path
    matches_tsv: Path
    table_html: Path
    logos: Path
    modisco_report: Path | None = None
    written: list[Path] = field(default_factory=list)


def run_motifs(
    attributions_zarr: PathLike,
    target: str,
    modisco_h5: PathLike,
    matches_json: PathLike,
    matches_tsv: PathLike,
    table_html: PathLike,
    logos: PathLike,
    database_meme: PathLike,
    database_info: PathLike | None = None,
    settings: Mapping[str, Any] | None = None,
    modisco_report: PathLike | None = None,
    n_threads: int = 1,
) -> dict[str, Any]:
    """Rule ``motifs``: patterns of one target, matched, tabled and drawn (module docstring).

    Parameters
    ----------
    attributions_zarr : path
        The aggregated store.
    target : str
        The target's name.
    modisco_h5, matches_json, matches_tsv, table_html : path
        The outputs (``matches_json`` is the outcome returned here).
    logos : path
        A folder, created, receiving ``<pattern>.png`` CWM logos.
    database_meme : path
        The MEME file to match against (``motifs/jaspar.meme`` or the user's ``meme_file``).
    database_info : path, optional
        ``motifs/jaspar.json`` of rule ``motif_database``; None for the user's own file.
    settings : mapping, optional
        The config's ``motifs`` block: the keys of :data:`MODISCO_DEFAULTS`, ``window``,
        ``min_regions``, ``n_matches``, ``trim_threshold``.
    modisco_report : path, optional
        A folder for modisco-lite's own report; None writes none.
    n_threads : int
        numba threads for modisco-lite and TOMTOM.

    Returns
    -------
    dict
        The outcome: ``target``, ``status`` (``ok`` or ``skipped``), ``reason`` (what was
        missing and what to change), ``n_regions``, ``window``, ``settings``, ``database``,
        ``matching`` (``status``, ``reason``), ``leading_pattern``, ``n_matches`` and
        ``patterns`` (``name``, ``metacluster``, ``n_seqlets``, ``consensus``, ``logo``,
        ``matches`` of :func:`match_patterns`).
    """
    import numba

    settings = dict(settings or {})
    knobs = MODISCO_DEFAULTS | {key: settings[key] for key in MODISCO_DEFAULTS if
                                settings.get(key) is not None}
    options = _REPORT_DEFAULTS | {key: settings[key] for key in _REPORT_DEFAULTS if
                                  settings.get(key) is not None}
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    outputs = _Outputs(Path(modisco_h5), Path(matches_json), Path(matches_tsv), Path(table_html),
                       Path(logos), None if modisco_report is None else Path(modisco_report))

    group = open_store(attributions_zarr)
    n_regions, _, length = group["onehot"].shape
    start, stop = central_window(int(length), settings.get("window"))
    outcome: dict[str, Any] = {
        "target": target, "status": "ok", "reason": None, "n_regions": int(n_regions),
        "window": stop - start, "settings": knobs | options, "database": None,
        "matching": {"status": "ok", "reason": None}, "leading_pattern": None,
        "n_matches": int(options["n_matches"]), "patterns": [],
    }

    pos_patterns = neg_patterns = None
    if n_regions < options["min_regions"]:
        outcome |= {"status": "skipped", "reason": (
            f"target {target}: only {n_regions} regions, fewer than motifs.min_regions "
            f"({options['min_regions']}); give more regions, or lower motifs.min_regions")}
    else:
        one_hot, hypothetical = read_windows(group, target, stop - start)
        if not np.any(one_hot * hypothetical):
            outcome |= {"status": "skipped", "reason": (
                f"target {target}: every attribution in the central {stop - start} bp is zero, "
                "so there is nothing for TF-MoDISco to find; check the target's model output "
                "(a constant output has zero attributions)")}
        else:
            logger.info("TF-MoDISco on %s: %d regions, central %d bp, %s", target, n_regions,
                        stop - start, knobs)
            pos_patterns, neg_patterns = discover_patterns(one_hot, hypothetical, knobs)
            logger.info("TF-MoDISco found %d positive and %d negative patterns",
                        len(pos_patterns or ()), len(neg_patterns or ()))
            if not pos_patterns and not neg_patterns:
                outcome |= {"status": "skipped", "reason": (
                    f"target {target}: TF-MoDISco found no pattern in {n_regions} regions "
                    f"(central {stop - start} bp): no group of at least "
                    f"{knobs['final_min_cluster_size']} similar seqlets passed seqlet FDR "
                    f"{knobs['target_seqlet_fdr']}; give more regions, widen motifs.window, or "
                    "raise motifs.target_seqlet_fdr")}
        del one_hot, hypothetical
    _write_modisco_h5(outputs.modisco_h5, pos_patterns, neg_patterns, stop - start)
    patterns = read_patterns(outputs.modisco_h5)

    database: list[MemeMotif] = []
    info = None if database_info is None else json.loads(Path(database_info).read_text())
    try:
        database, outcome["database"] = _load_database(database_meme, info)
    except (MotifDatabaseError, MemeFileError) as error:
        what = ("fix the file, or set motifs.meme_file to null to match against JASPAR"
                if isinstance(error, MemeFileError) else "fix motifs.jaspar")
        outcome["matching"] = {"status": "skipped", "reason": (
            f"target {target}: {error}. Its patterns are kept in {outputs.modisco_h5.name} but "
            f"were not matched; {what}")}
        outcome["database"] = info or {"source": "meme_file", "path": str(database_meme)}
        logger.error("%s", outcome["matching"]["reason"])
    if not patterns and outcome["matching"]["status"] == "ok":
        outcome["matching"] = {"status": "skipped", "reason": f"target {target}: no pattern "
                               "to match"}

    matches = (match_patterns(patterns, database, options["n_matches"],
                              options["trim_threshold"], n_threads)
               if database and patterns else [[] for _ in patterns])
    outputs.logos.mkdir(parents=True, exist_ok=True)
    logo_paths = {}
    for pattern, pattern_matches in zip(patterns, matches, strict=True):
        logo_paths[pattern.name] = outputs.logos / f"{pattern.name}.png"
        _plot_cwm(pattern, target, logo_paths[pattern.name], options["trim_threshold"])
        outcome["patterns"].append({
            "name": pattern.name, "metacluster": pattern.metacluster,
            "n_seqlets": pattern.n_seqlets, "consensus": pattern.consensus,
            "logo": str(logo_paths[pattern.name].relative_to(outputs.logos.parent)),
            "matches": pattern_matches,
        })
    leading = leading_pattern(patterns)
    outcome["leading_pattern"] = None if leading is None else leading.name

    if outputs.modisco_report is not None:
        usable = database_meme if database else None
        _write_modisco_report(outputs.modisco_h5, outputs.modisco_report, usable,
                              options["n_matches"], options["trim_threshold"])
    _write_tsv(outputs.matches_tsv, outcome)
    _write_html(outputs.table_html, outcome, logo_paths)
    write_json(outputs.matches_json, outcome)
    if outcome["status"] == "skipped":
        logger.warning("%s", outcome["reason"])
    for pattern in outcome["patterns"][:5]:
        top = pattern["matches"][0] if pattern["matches"] else None
        logger.info("%s %s: %d seqlets, %s, top match %s", target, pattern["name"],
                    pattern["n_seqlets"], pattern["consensus"],
                    "none" if top is None else f"{top['id']} {top['name']} q={top['q_value']:.2g}")
    return outcome


def summarize_outcomes(matches_jsons: Iterable[PathLike]) -> dict[str, dict[str, Any]]:
    """What the QC summary records of each target's motifs (its ``matches.json``).

    Returns
    -------
    dict
        Target -> ``status``, ``reason``, ``n_patterns``, ``leading_pattern``, ``n_seqlets``
        (of the leading pattern), ``top_match`` (``id``, ``name``, ``q_value``, or None),
        ``matching`` (``status``, ``reason``) and ``table`` (the JSON's path).
    """
    summary = {}
    for path in matches_jsons:
        outcome = json.loads(Path(path).read_text())
        leading = next((pattern for pattern in outcome["patterns"]
                        if pattern["name"] == outcome["leading_pattern"]), None)
        top = leading["matches"][0] if leading and leading["matches"] else None
        summary[outcome["target"]] = {
            "status": outcome["status"],
            "reason": outcome["reason"],
            "n_patterns": len(outcome["patterns"]),
            "leading_pattern": outcome["leading_pattern"],
            "n_seqlets": None if leading is None else leading["n_seqlets"],
            "top_match": None if top is None else {key: top[key] for key in
                                                   ("id", "name", "q_value")},
            "matching": outcome["matching"],
            "table": str(path),
        }
    return summary

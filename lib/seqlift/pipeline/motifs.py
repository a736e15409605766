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

The field's tools are called through :mod:`seqlift.motifs` (modisco-lite, memelite, pyjaspar,
MEME files), which a notebook can use on its own; this module adds the store, the outcome of each
target, its figures and tables. Heavy imports (modiscolite, memelite, pyjaspar, matplotlib)
happen inside the functions, so the QC stage can import :func:`summarize_outcomes` cheaply.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlift.motifs import (
    MODISCO_DEFAULTS,
    MemeFileError,
    MemeMotif,
    MotifDatabaseError,
    Pattern,
    build_jaspar_database,
    central_window,
    discover_patterns,
    format_meme,
    leading_pattern,
    match_patterns,
    read_meme_file,
    read_patterns,
    save_patterns,
    trim_bounds,
)
from seqlift.pipeline.storage import (
    atomic_file,
    iter_target_blocks,
    open_store,
    resolve_target,
    write_json,
)

PathLike = str | os.PathLike

__all__ = [
    "read_windows",
    "run_motifs",
    "start_numba",
    "summarize_outcomes",
    "write_motif_database",
]

logger = logging.getLogger(__name__)

_REPORT_DEFAULTS = {"n_matches": 3, "trim_threshold": 0.3, "min_regions": 50}


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


def _write_modisco_h5(path: Path, pos_patterns, neg_patterns, window: int) -> None:
    """modisco-lite's own ``save_hdf5`` (the layout ``modisco report`` reads), atomically."""
    with atomic_file(path, suffix=".h5") as temporary:
        save_patterns(temporary, pos_patterns, neg_patterns, window)



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
    with atomic_file(Path(meme_path)) as temporary:
        temporary.write_text(format_meme(motifs, source))
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
    modisco_h5: Path, out_dir: Path, database: Sequence[MemeMotif], n_matches: int,
    trim_threshold: float,
) -> None:
    """modisco-lite's own annotated report (``modisco report -l``: TOMTOM by memelite).

    It gets the database as ``database.meme`` in ``out_dir``, rewritten by :func:`format_meme`
    (memelite's reader takes less than :func:`read_meme_file` accepts), none when there is no
    motif or no pattern to match (its TOMTOM table fails on either), and at most as many
    matches per pattern as the database has motifs.
    """
    from modiscolite import descriptive_report

    out_dir.mkdir(parents=True, exist_ok=True)
    meme = None
    if database:
        meme = out_dir / "database.meme"
        with atomic_file(meme) as temporary:
            temporary.write_text(format_meme(database, "the motifs matched by seqlift"))
    descriptive_report.generate_descriptive_report(
        str(modisco_h5), str(out_dir), meme_motif_db=None if meme is None else str(meme),
        top_n_matches=min(n_matches, len(database)) if database else n_matches, ttl=True,
        trim_threshold=trim_threshold,
    )


# ---------------------------------------------------------------------------------------------
# The rule


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
    settings = dict(settings or {})
    knobs, options = _motif_settings(settings)
    start_numba(n_threads)
    modisco_h5, logos = Path(modisco_h5), Path(logos)

    group = open_store(attributions_zarr)
    n_regions, _, length = group["onehot"].shape
    start, stop = central_window(int(length), settings.get("window"))
    outcome: dict[str, Any] = {
        "target": target, "status": "ok", "reason": None, "n_regions": int(n_regions),
        "window": stop - start, "settings": knobs | options, "database": None,
        "matching": {"status": "ok", "reason": None}, "leading_pattern": None,
        "n_matches": int(options["n_matches"]), "patterns": [],
    }
    pos_patterns, neg_patterns, skipped = _find_patterns(group, target, stop - start, knobs,
                                                         options["min_regions"])
    if skipped is not None:
        outcome |= {"status": "skipped", "reason": skipped}
    _write_modisco_h5(modisco_h5, pos_patterns, neg_patterns, stop - start)
    patterns = read_patterns(modisco_h5)

    database, outcome["database"], outcome["matching"] = _open_database(
        target, database_meme, database_info, modisco_h5.name, bool(patterns))
    matches = (match_patterns(patterns, database, options["n_matches"],
                              options["trim_threshold"], n_threads)
               if database and patterns else [[] for _ in patterns])
    logo_paths = _describe_patterns(outcome, patterns, matches, logos, options["trim_threshold"])
    leading = leading_pattern(patterns)
    outcome["leading_pattern"] = None if leading is None else leading.name

    _write_tsv(Path(matches_tsv), outcome)
    _write_html(Path(table_html), outcome, logo_paths)
    write_json(matches_json, outcome)
    _log_outcome(outcome)
    if modisco_report is not None:
        _write_modisco_report(modisco_h5, Path(modisco_report), database if patterns else [],
                              options["n_matches"], options["trim_threshold"])
    return outcome


_NUMBA_STARTED = False


def start_numba(n_threads: int) -> None:
    """numba for this job: ``n_threads`` threads, and modisco-lite's kernels compiled once per
    installation.

    modisco-lite caches its kernels on disk only through ``modiscolite.precompile.start()``
    (which ``modisco motifs`` calls first), and only while numba's thread pool has not started
    yet: it forks children that compile them into numba's cache while this process reads its
    inputs. So it is called here, before anything else touches numba; later jobs load the
    kernels from the cache. Where numba is already running (a notebook that used it), the
    kernels are compiled in this process, once. Only the first call of a process does anything;
    call it first in a process that will run TF-MoDISco later (the test suite's ``conftest.py``
    does, with numba's default thread count).

    Parameters
    ----------
    n_threads : int
        numba threads of this process (the rule's ``threads``).
    """
    global _NUMBA_STARTED
    if _NUMBA_STARTED:
        return
    _NUMBA_STARTED = True
    n_threads = max(1, int(n_threads))
    if "numba" not in sys.modules:
        # The pool's size is fixed when numba is imported (and a job must not fork a compiler per
        # core of its node): n_threads, or fewer where NUMBA_NUM_THREADS already asks for fewer.
        exported = os.environ.get("NUMBA_NUM_THREADS", "")
        if exported.isdigit() and int(exported) >= 1:
            n_threads = min(n_threads, int(exported))
        os.environ["NUMBA_NUM_THREADS"] = str(n_threads)
        from modiscolite import precompile

        precompile.start()
        return
    import numba
    from modiscolite import precompile

    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    precompile.start()


def _motif_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """modisco-lite's knobs and the stage's own options: the defaults, then the config's."""
    knobs = MODISCO_DEFAULTS | {key: settings[key] for key in MODISCO_DEFAULTS
                                if settings.get(key) is not None}
    options = _REPORT_DEFAULTS | {key: settings[key] for key in _REPORT_DEFAULTS
                                  if settings.get(key) is not None}
    return knobs, options


def _find_patterns(
    group, target: str, window: int, knobs: Mapping[str, Any], min_regions: int
) -> tuple[list | None, list | None, str | None]:
    """TF-MoDISco on the target's windows: ``(pos, neg, None)``, or ``(None, None, reason)``
    when the target is skipped (the reason names the target and what to change)."""
    n_regions = int(group["onehot"].shape[0])
    if n_regions < min_regions:
        return None, None, (
            f"target {target}: only {n_regions} regions, fewer than motifs.min_regions "
            f"({min_regions}); give more regions, or lower motifs.min_regions")
    one_hot, hypothetical = read_windows(group, target, window)
    if not np.any(one_hot * hypothetical):
        return None, None, (
            f"target {target}: every attribution in the central {window} bp is zero, so there "
            "is nothing for TF-MoDISco to find; check the target's model output (a constant "
            "output has zero attributions)")
    logger.info("TF-MoDISco on %s: %d regions, central %d bp, %s", target, n_regions, window,
                knobs)
    pos_patterns, neg_patterns = discover_patterns(one_hot, hypothetical, knobs)
    logger.info("TF-MoDISco found %d positive and %d negative patterns",
                len(pos_patterns or ()), len(neg_patterns or ()))
    if not pos_patterns and not neg_patterns:
        return None, None, (
            f"target {target}: TF-MoDISco found no pattern in {n_regions} regions (central "
            f"{window} bp): no group of at least {knobs['final_min_cluster_size']} similar "
            f"seqlets passed seqlet FDR {knobs['target_seqlet_fdr']}; give more regions, widen "
            "motifs.window, or raise motifs.target_seqlet_fdr")
    return pos_patterns, neg_patterns, None


def _open_database(
    target: str, database_meme: PathLike, database_info: PathLike | None, kept_in: str,
    any_pattern: bool,
) -> tuple[list[MemeMotif], dict[str, Any], dict[str, Any]]:
    """The motifs to match, their provenance and the matching's status; a database that cannot
    be used gives no motif and a reason naming the target, the problem and what to change."""
    info = None if database_info is None else json.loads(Path(database_info).read_text())
    try:
        database, provenance = _load_database(database_meme, info)
    except MemeFileError as error:
        if info is not None:  # seqlift wrote this file from JASPAR: not the user's to fix
            raise RuntimeError(
                f"seqlift cannot read back the JASPAR motif file it wrote ({error}); this is a "
                "bug in seqlift, not in your input: please report it with this message"
            ) from error
        return _unusable_database(target, error, kept_in, info, database_meme)
    except MotifDatabaseError as error:
        return _unusable_database(target, error, kept_in, info, database_meme)
    if not any_pattern:
        return database, provenance, {"status": "skipped",
                                      "reason": f"target {target}: no pattern to match"}
    return database, provenance, {"status": "ok", "reason": None}


def _unusable_database(
    target: str, error: Exception, kept_in: str, info: Mapping[str, Any] | None,
    database_meme: PathLike,
) -> tuple[list[MemeMotif], dict[str, Any], dict[str, Any]]:
    """No motif, the provenance, and the skipped matching's reason (target, problem, the key)."""
    what = ("fix the file, or set motifs.meme_file to null to match against JASPAR"
            if isinstance(error, MemeFileError) else "fix motifs.jaspar")
    reason = (f"target {target}: {error}. Its patterns are kept in {kept_in} but were not "
              f"matched; {what}")
    logger.error("%s", reason)
    provenance = dict(info) if info else {"source": "meme_file", "path": str(database_meme)}
    return [], provenance, {"status": "skipped", "reason": reason}


def _describe_patterns(
    outcome: dict[str, Any], patterns: list[Pattern], matches: list[list[dict[str, Any]]],
    logos: Path, trim_threshold: float,
) -> dict[str, Path]:
    """A CWM logo per pattern under ``logos``, and the pattern's entry in ``outcome``."""
    logos.mkdir(parents=True, exist_ok=True)
    logo_paths = {}
    for pattern, pattern_matches in zip(patterns, matches, strict=True):
        logo_paths[pattern.name] = logos / f"{pattern.name}.png"
        _plot_cwm(pattern, outcome["target"], logo_paths[pattern.name], trim_threshold)
        outcome["patterns"].append({
            "name": pattern.name, "metacluster": pattern.metacluster,
            "n_seqlets": pattern.n_seqlets, "consensus": pattern.consensus,
            "logo": str(logo_paths[pattern.name].relative_to(logos.parent)),
            "matches": pattern_matches,
        })
    return logo_paths


def _log_outcome(outcome: Mapping[str, Any]) -> None:
    if outcome["status"] == "skipped":
        logger.warning("%s", outcome["reason"])
    for pattern in outcome["patterns"][:5]:
        top = pattern["matches"][0] if pattern["matches"] else None
        logger.info("%s %s: %d seqlets, %s, top match %s", outcome["target"], pattern["name"],
                    pattern["n_seqlets"], pattern["consensus"],
                    "none" if top is None else f"{top['id']} {top['name']} q={top['q_value']:.2g}")


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

"""The workflow config as the stages read it: targets, the keys that make shards, provenance.

``workflow/rules/common.smk`` imports this module when Snakemake parses the Snakefile, so it
imports neither torch nor zarr.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from seqlift._utils import listing
from seqlift._version import __version__
from seqlift.errors import InputError

__all__ = [
    "ATTRIBUTION_KEYS",
    "attribution_config",
    "config_hash",
    "default_shard_count",
    "normalize_targets",
    "uses_heads",
    "provenance",
]

ATTRIBUTION_KEYS = (
    "regions",
    "genome",
    "width",
    "max_n_fraction",
    "missing_chromosomes",
    "model",
    "targets",
    "references",
    "dtype",
    "device",
)
"""Config keys whose values can change a shard's numbers; :func:`config_hash` covers these.

``batch_size`` is left out on purpose: results do not depend on it, so a rerun with another
batch size may reuse finished shards. So are ``sharding``, ``qc``, ``plots`` and ``exports``.
"""

_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


_HEADS = ("output", "counts", "profile")


def _normalize_target(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        entry = {"index": entry}
    head = entry.get("head") or "output"
    if head not in _HEADS:
        raise InputError(f"targets: head {head!r} is not one of {listing(_HEADS)}")
    index, output = entry.get("index"), entry.get("output")
    if index is None and head == "output":
        raise InputError("targets: a target needs its output column as 'index' (or a 'head': "
                         "counts or profile)")
    index = 0 if index is None else index
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InputError(f"targets: index {index!r} is not a non-negative integer")
    if output is not None and (isinstance(output, bool) or not isinstance(output, int)
                               or output < 0):
        raise InputError(f"targets: output {output!r} is not a non-negative integer")
    name = entry.get("name")
    if name in (None, ""):
        name = f"target_{index}" if head == "output" else head
    name = str(name)
    if not _TARGET_NAME.match(name):
        raise InputError(
            f"targets: name {name!r} cannot be used as a folder name; use letters, digits "
            "and _ . + - only"
        )
    target = {"index": index, "name": name}
    if head != "output" or output is not None:
        target |= {"head": head, "output": output}
    return target


def normalize_targets(targets: Sequence[Any]) -> list[dict[str, Any]]:
    """Turn the config's ``targets`` into ``[{"index": int, "name": str, ...}, ...]``.

    An entry is an output index or a mapping with ``index``, an optional ``name`` (default
    ``target_<index>``, or the head's name), and for models that return several outputs
    (BPNet's ``(profile, counts)``) an optional ``head`` (``output``, ``counts`` or ``profile``,
    see :class:`seqlift.heads.TargetHeads`) and ``output`` (which of the model's outputs). Names
    become zarr groups and folder names, so they must be unique and made of letters, digits and
    ``_ . + -``. Entries that name a head or an output keep ``head`` and ``output``.

    Parameters
    ----------
    targets : sequence
        The config's ``targets``.

    Returns
    -------
    list of dict
        In config order.

    Raises
    ------
    InputError
        For an empty list, an index or output that is not a non-negative integer, an unknown
        head, a name that cannot be a folder name, or a name used twice.
    """
    if not targets:
        raise InputError("config key 'targets' is empty; list at least one model output index")
    normalized = [_normalize_target(entry) for entry in targets]
    names = [target["name"] for target in normalized]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"targets: names {listing(repeated)} are used more than once; make them unique"
        )
    return normalized


def uses_heads(targets: Sequence[Mapping[str, Any]]) -> bool:
    """Whether normalised targets name heads or outputs (the model returns several outputs)."""
    return any("head" in target for target in targets)


def attribution_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a config that shards depend on: the keys in :data:`ATTRIBUTION_KEYS`.

    The workflow passes only this to the attribution and aggregate jobs, so that changing a QC
    threshold, the plots or the exports does not make Snakemake recompute attributions.
    """
    return {key: config.get(key) for key in ATTRIBUTION_KEYS}


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of :func:`attribution_config` (full config or subset)."""
    text = json.dumps(
        attribution_config(config), sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def provenance(config: Mapping[str, Any], model_checksum: str) -> dict[str, str]:
    """What every shard records and aggregation checks: config hash, model, seqlift version.

    Parameters
    ----------
    config : mapping
        The run's config (or its :func:`attribution_config`).
    model_checksum : str
        :func:`seqlift.models.model_checksum` of the run's model.
    """
    return {
        "config_hash": config_hash(config),
        "model_checksum": model_checksum,
        "seqlift_version": __version__,
    }


def default_shard_count(bed_path: str | os.PathLike, regions_per_shard: int) -> int:
    """Shards needed to hold about ``regions_per_shard`` regions each (at least one).

    Returns 1 when the BED file does not exist yet, so that the workflow can still be parsed
    (the regions stage then reports the missing file).
    """
    from seqlift.pipeline.regions import count_bed_rows

    if regions_per_shard < 1:
        raise InputError(
            f"sharding.regions_per_shard must be at least 1, got {regions_per_shard}"
        )
    try:
        n_rows = count_bed_rows(bed_path)
    except OSError:
        return 1
    return max(1, math.ceil(n_rows / regions_per_shard))


def motif_window_problem(config: Mapping[str, Any]) -> str | None:
    """What makes the motifs stage's window unusable for these regions, or None.

    Checked when the workflow is parsed, so that the problem is named before attribution runs:
    ``motifs.window`` (null: the central 400 bp, or the whole region) must fit in ``width`` and
    hold at least one seqlet core (``motifs.sliding_window_size``).
    """
    from seqlift.motifs.modisco import central_window

    motifs = config["motifs"]
    if not motifs["enabled"]:
        return None
    try:
        start, stop = central_window(config["width"], motifs["window"])
    except InputError as error:
        return str(error)
    window = stop - start
    core = motifs["sliding_window_size"]
    if window < core:
        return (f"the motifs window is {window} bp, narrower than one TF-MoDISco seqlet core "
                f"(motifs.sliding_window_size: {core}); widen motifs.window (or width), or lower "
                "motifs.sliding_window_size")
    return None

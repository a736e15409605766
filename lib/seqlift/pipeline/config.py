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


def normalize_targets(targets: Sequence[Any]) -> list[dict[str, Any]]:
    """Turn the config's ``targets`` into ``[{"index": int, "name": str}, ...]``.

    An entry is an output index or a mapping with ``index`` and an optional ``name`` (default
    ``target_<index>``). Names become zarr groups and folder names, so they must be unique and
    made of letters, digits and ``_ . + -``.

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
        For an empty list, an index that is not a non-negative integer, a name that cannot be a
        folder name, or a name used twice.
    """
    if not targets:
        raise InputError("config key 'targets' is empty; list at least one model output index")
    normalized = []
    for entry in targets:
        if isinstance(entry, Mapping):
            index, name = entry.get("index"), entry.get("name")
        else:
            index, name = entry, None
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InputError(f"targets: index {index!r} is not a non-negative integer")
        name = f"target_{index}" if name in (None, "") else str(name)
        if not _TARGET_NAME.match(name):
            raise InputError(
                f"targets: name {name!r} cannot be used as a folder name; use letters, digits "
                "and _ . + - only"
            )
        normalized.append({"index": index, "name": name})
    names = [target["name"] for target in normalized]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"targets: names {listing(repeated)} are used more than once; make them unique"
        )
    return normalized


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

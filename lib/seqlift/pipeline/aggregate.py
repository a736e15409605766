"""Stage ``aggregate``: shard groups -> ``attributions.zarr``, refusing shards of another run.

The rule's function is :func:`aggregate_shards`. Before anything is read, every shard's header
is checked against the current run (config hash, model checksum, seqlift version: see
:func:`seqlift.pipeline.config.provenance`) and the shards must tile regions x references
exactly once. Importing this module does not import torch: checking a weights file's checksum
needs none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from seqlift._utils import listing
from seqlift.errors import SeqliftError
from seqlift.pipeline import storage
from seqlift.pipeline.config import attribution_config, normalize_targets, provenance

PathLike = str | os.PathLike

__all__ = ["ShardMismatchError", "aggregate_shards"]


class ShardMismatchError(SeqliftError):
    """Shards were made with another config, model or seqlift version than the current run, or
    they do not tile the regions x references exactly once."""


def _check_provenance(headers: Sequence[tuple[str, dict]], expected: Mapping[str, str]) -> None:
    problems = []
    unseeded_model = False
    for path, header in headers:
        differing = [
            f"{key} {header.get(key)!r} (this run: {value!r})"
            for key, value in expected.items()
            if header.get(key) != value
        ]
        if differing:
            problems.append(f"{path}: " + "; ".join(differing))
            unseeded_model |= header.get("model_checksum") != expected.get(
                "model_checksum"
            ) and str(expected.get("model_checksum")).startswith("state_dict")
    if problems:
        hint = (
            "(A model without model.weights must build the same weights every time: seed its "
            "initialisation, or save the weights and set model.weights.)\n"
            if unseeded_model
            else ""
        )
        raise ShardMismatchError(
            f"{len(problems)} shard file(s) were made with another config, model or seqlift "
            "version than this run, and will not be mixed:\n  "
            + listing(problems, separator="\n  ")
            + "\n"
            + hint
            + "Delete these shard files (or run snakemake with --forcerun attribution) to "
            "recompute them with the current settings."
        )


def _check_coverage(headers: Sequence[tuple[str, dict]], n_regions: int, n_references: int) -> None:
    """Shards must tile regions x references exactly once, as the current stores define them."""
    for path, header in headers:
        if header["n_regions"] != n_regions or header["n_references"] != n_references:
            raise ShardMismatchError(
                f"{path} was computed for {header['n_regions']} regions x "
                f"{header['n_references']} references, the current stores hold {n_regions} x "
                f"{n_references}; delete it and rerun"
            )
    by_shard: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _, header in headers:
        key = (header["region_start"], header["region_stop"])
        by_shard.setdefault(key, []).append((header["reference_start"], header["reference_stop"]))
    region_cursor = 0
    for region_start, region_stop in sorted(by_shard):
        if region_start != region_cursor:
            raise ShardMismatchError(
                f"shards leave regions {region_cursor}..{region_start} uncovered or doubled"
            )
        reference_cursor = 0
        for reference_start, reference_stop in sorted(by_shard[(region_start, region_stop)]):
            if reference_start != reference_cursor:
                raise ShardMismatchError(
                    f"regions {region_start}..{region_stop}: reference blocks leave "
                    f"{reference_cursor}..{reference_start} uncovered or doubled"
                )
            reference_cursor = reference_stop
        if reference_cursor != n_references:
            raise ShardMismatchError(
                f"regions {region_start}..{region_stop}: reference blocks stop at "
                f"{reference_cursor} of {n_references}"
            )
        region_cursor = region_stop
    if region_cursor != n_regions:
        raise ShardMismatchError(f"shards stop at region {region_cursor} of {n_regions}")


def _along_references(blocks: Sequence[Any], name: str, piece: slice) -> np.ndarray:
    """Array ``name`` of regions ``piece`` of every block, joined along the reference axis."""
    return np.concatenate([np.asarray(block[name][:, piece]) for block in blocks], axis=-1)


def _parts(
    by_shard: Mapping[tuple[int, int], list[tuple[int, str]]], n_references: int
) -> Iterator[storage.AttributionPart]:
    """One region shard at a time, read in pieces that end on the result store's chunk
    boundaries, so that memory holds one piece of every reference block of one shard."""
    step = storage.REGIONS_PER_CHUNK
    for region_start, region_stop in sorted(by_shard):
        in_reference_order = sorted(by_shard[(region_start, region_stop)])
        blocks = [storage.open_shard(path) for _, path in in_reference_order]
        first_cut = (region_start // step + 1) * step
        cuts = sorted({region_start, region_stop, *range(first_cut, region_stop, step)})
        for first, last in zip(cuts[:-1], cuts[1:], strict=True):
            piece = slice(first - region_start, last - region_start)

            # float64 sums of the blocks in reference order, one block's piece at a time.
            total = np.asarray(blocks[0]["hypothetical_sum"][:, piece])
            for block in blocks[1:]:
                total += block["hypothetical_sum"][:, piece]
            yield storage.AttributionPart(
                start=first,
                stop=last,
                hypothetical=total / n_references,
                deltas=_along_references(blocks, "deltas", piece),
                example_predictions=np.asarray(blocks[0]["example_predictions"][:, piece]),
                reference_predictions=_along_references(blocks, "reference_predictions", piece),
            )


def aggregate_shards(
    shard_paths: Sequence[PathLike],
    regions_zarr: PathLike,
    references_zarr: PathLike,
    output: PathLike,
    config: Mapping[str, Any],
    base_dir: PathLike = ".",
) -> None:
    """Combine shard groups into ``attributions.zarr`` (layouts in :mod:`.storage`).

    Blocks of one region shard are added in float64 in reference order, divided by the total
    number of references and stored as float32; deltas and ``f(r)`` are concatenated along the
    reference axis. Regions are processed one shard at a time, so memory stays at one shard.

    Parameters
    ----------
    shard_paths : sequence of path
        Every shard group of the run, in any order.
    regions_zarr, references_zarr : path
        The stores the shards were computed from.
    output : path
        ``attributions.zarr``.
    config : mapping
        The run's config or its :func:`~seqlift.pipeline.config.attribution_config`: shards are
        checked against it, and its attribution keys are recorded in the store's ``config``
        attribute.
    base_dir : path
        What a relative ``model.weights`` is relative to.

    Raises
    ------
    ShardMismatchError
        A shard was made with another config hash, model checksum or seqlift version than the
        current run (each offending file and field is listed), or the shards do not tile the
        regions x references exactly once.
    """
    from seqlift.models import model_checksum

    targets = normalize_targets(config["targets"])
    expected = provenance(config, model_checksum(config["model"], base_dir))
    headers = [(str(path), storage.read_shard_header(path)) for path in shard_paths]
    _check_provenance(headers, expected)
    n_regions = storage.count_regions(regions_zarr)
    n_references = storage.reference_count(references_zarr)
    _check_coverage(headers, n_regions, n_references)

    by_shard: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for path, header in headers:
        key = (header["region_start"], header["region_stop"])
        by_shard.setdefault(key, []).append((header["reference_start"], path))
    attrs = {
        # As JSON reads it back (tuples as lists, anything else as its text).
        "config": json.loads(json.dumps(attribution_config(config), default=str)),
        "config_hash": expected["config_hash"],
        "seqlift_version": expected["seqlift_version"],
        "model_checksum": expected["model_checksum"],
        "targets": targets,
        "n_references": int(n_references),
    }
    storage.write_attribution_store(
        output,
        regions_zarr,
        [target["name"] for target in targets],
        n_references,
        _parts(by_shard, n_references),
        attrs,
    )

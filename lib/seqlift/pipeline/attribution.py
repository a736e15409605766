"""Stage ``attribution``: one region shard x one reference block, as float64 sums.

Regions are split into ``n_shards`` contiguous shards and references into ``n_blocks``
contiguous blocks (:func:`split_range`); a job (:func:`run_attribution_shard`) computes one
shard x one block and writes float64 sums over its references to a shard group (layout in
:mod:`seqlift.pipeline.storage`). Every region's references were generated up front by the
references stage, seeded by ``region_seed(seed, region_number)``, so that neither the shard nor
the block layout changes them, and the aggregate stage adds the blocks in float64 before
dividing by the number of references. The aggregated result is therefore the same as one direct
``deep_lift_shap`` call over the same regions and references, whatever the shard and block
counts, up to float64 rounding of the sums. (The convergence deltas are the model's round-off
by nature; in float32 they agree between layouts only to float32 precision.)

Every shard records the provenance of :func:`seqlift.pipeline.config.provenance` (config hash,
model checksum, seqlift version), which aggregation checks.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from seqlift._utils import (
    expected_length,
    length_hint,
    listing,
    nonfinite_rows,
    resolve_device,
    torch_dtype,
)
from seqlift.errors import InputError, SeqliftError
from seqlift.pipeline import storage
from seqlift.pipeline.config import normalize_targets, provenance, uses_heads
from seqlift.pipeline.references import load_references

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

__all__ = [
    "CHUNK_BYTES",
    "parse_scatteritem",
    "run_attribution_shard",
    "shard_chunk_size",
    "split_range",
]

_SCATTERITEM = re.compile(r"^(\d+)-of-(\d+)$")

CHUNK_BYTES = 8 * 2**20
"""Memory that one chunk of a shard job's references and results may take (see
:func:`shard_chunk_size`); a shard job's peak memory does not grow beyond it with the shard."""


def split_range(n: int, n_parts: int, part: int) -> tuple[int, int]:
    """Return ``(start, stop)`` of part ``part`` (0-based) when ``range(n)`` is cut in ``n_parts``.

    Parts are contiguous, cover ``range(n)`` exactly once and differ in size by at most one;
    when ``n < n_parts`` some parts are empty.
    """
    if n_parts < 1 or not 0 <= part < n_parts:
        raise ValueError(f"part {part} of {n_parts} is out of range")
    return part * n // n_parts, (part + 1) * n // n_parts


def parse_scatteritem(item: str) -> tuple[int, int]:
    """Parse Snakemake's ``"i-of-n"`` (1-based) into ``(i - 1, n)``."""
    match = _SCATTERITEM.match(str(item))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"not a scatter item of the form 'i-of-n' with 1 <= i <= n: {item!r}")
    return int(match.group(1)) - 1, int(match.group(2))


def shard_chunk_size(n_references: int, width: int, n_targets: int, batch_size: int) -> int:
    """Regions per chunk of a shard job: about :data:`CHUNK_BYTES` of references and results.

    A chunk holds its regions' float32 one-hot references ``(m, k, 4, width)`` and float64 sums
    ``(n_targets, m, 4, width)``. The count is a multiple of the examples that share one
    ``explain`` batch (``batch_size // k``), so that chunking never changes a batch.
    """
    per_batch = max(1, batch_size // max(1, n_references))
    per_region = 4 * width * (4 * max(1, n_references) + 8 * n_targets)
    return max(per_batch, CHUNK_BYTES // per_region // per_batch * per_batch)


def _with_heads(model: torch.nn.Module, targets: Sequence[dict]
                ) -> tuple[torch.nn.Module, list[int]]:
    """The model to explain and its target columns: heads wrap a model of several outputs."""
    if not uses_heads(targets):
        return model, [target["index"] for target in targets]
    from seqlift.heads import TargetHeads

    return TargetHeads(model, targets).eval(), list(range(len(targets)))


def _check_model(
    model: torch.nn.Module,
    width: int,
    targets: Sequence[dict],
    device: torch.device,
    dtype: torch.dtype,
) -> None:
    """One forward pass on zeros: the output must be ``(batch, n_outputs)`` with every target."""
    import torch

    from seqlift.heads import TargetHeads

    heads = isinstance(model, TargetHeads)
    probe = torch.zeros(2, 4, width, dtype=dtype, device=device)
    try:
        with torch.no_grad():
            output = model(probe)
    except IndexError as error:
        if not heads:
            raise
        raise InputError(
            f"the config's targets do not fit the model's outputs: {error}; fix their head, "
            "output or index"
        ) from error
    except Exception as error:
        model = model.model if heads else model
        hint = length_hint(model, width)
        advice = (
            f" Set width: {expected_length(model)} in the config"
            if hint
            else " Check that `width` is the input length the model was built for"
        )
        raise InputError(
            f"the model fails on input of shape (batch, 4, {width}) (config width {width}): "
            f"{type(error).__name__}: {error}.{hint}{advice}"
        ) from error
    if not torch.is_tensor(output) or output.ndim != 2 or output.shape[0] != 2:
        shape = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
        raise InputError(
            f"the model returns {shape} for a batch of 2; seqlift needs (batch, n_outputs). "
            "Wrap the model so that it returns one tensor of that shape"
        )
    n_outputs = output.shape[1]
    bad = [] if heads else [target["index"] for target in targets if target["index"] >= n_outputs]
    if bad:
        raise InputError(
            f"targets {listing(bad)} are out of range: the model has {n_outputs} "
            f"outputs (indices 0..{n_outputs - 1}); fix the config's targets"
        )


def _check_finite(
    values: np.ndarray, what: str, region_ids: Sequence[str], targets: Sequence[dict]
) -> None:
    """Stop on NaN/Inf model outputs, naming the regions (values: ``(n_targets, n, ...)``)."""
    bad = [region_ids[i] for i in nonfinite_rows(values, axis=1)]
    if bad:
        raise SeqliftError(
            f"the model returned NaN or Inf {what} for {len(bad)} region(s): {listing(bad)} "
            f"(targets {listing(t['name'] for t in targets)}); check the model and these "
            "sequences"
        )


def _non_finite_regions(
    model: torch.nn.Module,
    regions_zarr: PathLike,
    references_zarr: PathLike,
    region_range: tuple[int, int],
    reference_range: tuple[int, int],
    target_indices: Sequence[int],
    regions_per_chunk: int,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> list[str]:
    """Ids of the regions in ``region_range`` whose f(x) or any f(r) is NaN or Inf for a target.

    Forward passes only, without gradients, in batches of about ``batch_size`` sequences: a few
    percent of the shard's attribution time.
    """
    import torch

    bad: list[str] = []
    k = reference_range[1] - reference_range[0]
    per_batch = max(1, batch_size // (k + 1))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for first in range(region_range[0], region_range[1], regions_per_chunk):
                last = min(first + regions_per_chunk, region_range[1])
                regions = storage.read_region_store(regions_zarr, first, last)
                references = load_references(
                    references_zarr, slice(first, last), slice(*reference_range), last - first
                )
                examples = torch.as_tensor(regions.onehot, dtype=torch.float32)
                for start in range(0, last - first, per_batch):
                    stop = min(start + per_batch, last - first)
                    pairs = references[start:stop].reshape(-1, *examples.shape[1:])
                    joint = torch.cat([examples[start:stop], pairs])
                    outputs = model(joint.to(device=device, dtype=dtype))[:, list(target_indices)]
                    n = stop - start
                    # Row i of the joint batch is example i (i < n) or one of its references.
                    owners = np.concatenate([np.arange(n), np.repeat(np.arange(n), k)])
                    bad_rows = nonfinite_rows(outputs, axis=0)
                    bad_regions = sorted({int(owners[row]) for row in bad_rows})
                    bad.extend(str(regions.ids[start + i]) for i in bad_regions)
    finally:
        model.train(was_training)
    return bad


def _shard_dtype(config: Mapping[str, Any]) -> torch.dtype:
    try:
        return torch_dtype(config.get("dtype", "float32"))
    except ValueError as error:
        raise InputError(f"config key dtype: {error}") from error


def run_attribution_shard(
    config: Mapping[str, Any],
    regions_zarr: PathLike,
    references_zarr: PathLike,
    shard: str,
    block: str,
    output: PathLike,
    base_dir: PathLike = ".",
    batch_size: int = 32,
    threads: int | None = None,
    progress_file: IO[str] | None = None,
    regions_per_chunk: int | None = None,
) -> None:
    """Compute one region shard x one reference block and write its partial sums atomically.

    The shard is computed in chunks of whole regions, each read from the stores, explained and
    appended to the shard group before the next is read (:func:`seqlift.pipeline.storage.
    write_shard`), so that memory does not grow with the number of regions in the shard.
    Results do not depend on the chunk size: an example's results do not depend on the other
    examples of the call.

    Parameters
    ----------
    config : mapping
        The validated workflow config, or its :func:`~seqlift.pipeline.config.
        attribution_config` (``model``, ``targets``, ``dtype``, ``device`` are used).
    regions_zarr, references_zarr : path
        The stores of the regions and references stages.
    shard, block : str
        Snakemake scatter items ``"i-of-n"`` for the region shard and the reference block.
    output : path
        The shard group ``block_<j>-of-<m>.zarr`` (see :mod:`seqlift.pipeline.storage`).
    base_dir : path
        What relative model paths are relative to (the workflow's working directory).
    batch_size : int
        Example-reference pairs per engine pass; does not change the results.
    threads : int, optional
        CPU threads for torch.
    progress_file : text stream, optional
        Where the progress bar (pairs/s) goes; ``sys.stderr`` when None.
    regions_per_chunk : int, optional
        Regions per chunk; :func:`shard_chunk_size` when None.

    Raises
    ------
    InputError
        The model cannot take the config's width, returns another shape than
        ``(batch, n_outputs)``, lacks a target, or CUDA was asked for but is not there.
    SeqliftError
        The model returned NaN or Inf (every such region of the shard is counted).
    """
    import torch
    from tqdm import tqdm

    from seqlift.engine import NonFiniteOutputError, explain
    from seqlift.models import load_model, model_checksum

    if threads:
        torch.set_num_threads(int(threads))
    shard_index, n_shards = parse_scatteritem(shard)
    block_index, n_blocks = parse_scatteritem(block)
    n_regions = storage.count_regions(regions_zarr)
    region_start, region_stop = split_range(n_regions, n_shards, shard_index)
    n_references = storage.reference_count(references_zarr)
    reference_start, reference_stop = split_range(n_references, n_blocks, block_index)
    targets = normalize_targets(config["targets"])
    dtype = _shard_dtype(config)
    device = resolve_device(config.get("device", "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "config device is 'cuda' but this job sees no CUDA GPU; run it on a GPU node or set "
            "device: cpu"
        )

    model = load_model(config["model"], base_dir)
    checksum = model_checksum(config["model"], base_dir, model=model)
    model, target_indices = _with_heads(model, targets)
    n, k = region_stop - region_start, reference_stop - reference_start
    width = storage.region_width(regions_zarr)
    logger.info(
        "shard %s: regions %d..%d of %d; block %s: references %d..%d of %d; device %s",
        shard, region_start, region_stop, n_regions, block, reference_start, reference_stop,
        n_references, device,
    )
    header = provenance(config, checksum) | {
        "shard": shard,
        "block": block,
        "region_start": region_start,
        "region_stop": region_stop,
        "reference_start": reference_start,
        "reference_stop": reference_stop,
        "n_regions": n_regions,
        "n_references": n_references,
        "targets": targets,
    }
    n_targets = len(targets)
    chunk = regions_per_chunk or shard_chunk_size(k, width, n_targets, batch_size)
    if chunk < 1:
        raise ValueError(f"regions_per_chunk must be at least 1, got {chunk}")
    with storage.write_shard(output, header, n_targets, n, k, width, chunk) as writer:
        if n == 0 or k == 0:
            writer.append(
                np.zeros((n_targets, n, 4, width)), np.zeros((n_targets, n, k)),
                np.zeros((n_targets, n)), np.zeros((n_targets, n, k)),
            )
            return
        model = model.to(device=device, dtype=dtype)
        _check_model(model, width, targets, device, dtype)
        with tqdm(
            total=n * k, unit="pair", desc=f"shard {shard} block {block}",
            file=progress_file or sys.stderr, mininterval=2.0, ascii=True, dynamic_ncols=False,
        ) as bar:
            began = time.time()
            for first in range(region_start, region_stop, chunk):
                last = min(first + chunk, region_stop)
                regions = storage.read_region_store(regions_zarr, first, last)
                references = load_references(
                    references_zarr, slice(first, last), slice(reference_start, reference_stop),
                    last - first,
                )
                try:
                    explanation = explain(
                        model, torch.as_tensor(regions.onehot, dtype=torch.float32), references,
                        target_indices, batch_size=batch_size, device=device, dtype=dtype,
                        progress=bar.update,
                    )
                except NonFiniteOutputError as error:
                    # The engine stops at the first batch with a NaN; name every bad region of
                    # the shard, so that one rerun after the fix is enough.
                    bad = _non_finite_regions(
                        model, regions_zarr, references_zarr, (first, region_stop),
                        (reference_start, reference_stop), target_indices, chunk, batch_size,
                        device, dtype,
                    ) or [str(regions.ids[i]) for i in error.examples]
                    raise SeqliftError(
                        f"the model returned NaN or Inf for {len(bad)} region(s) of shard "
                        f"{shard}: {listing(bad)}; check the model and these sequences (e.g. a "
                        "window of only N)"
                    ) from error
                arrays = (
                    explanation.hypothetical_sum.numpy(), explanation.deltas.numpy(),
                    explanation.example_predictions.numpy(),
                    explanation.reference_predictions.numpy(),
                )
                _check_finite(arrays[2], "predictions f(x)", regions.ids, targets)
                _check_finite(arrays[3], "predictions f(r)", regions.ids, targets)
                _check_finite(arrays[0], "attributions", regions.ids, targets)
                writer.append(*arrays)
                del explanation, arrays, references
                # Whatever reference cycles a model's hooks leave go with each chunk, not the shard.
                gc.collect()
            # Wall-clock bounds of the engine work, read by benchmarks/workflow.py.
            ended = time.time()
            logger.info(
                "engine: %d pairs in %d chunk(s) of up to %d regions, from %.3f to %.3f (%.2f s)",
                n * k, math.ceil(n / chunk), chunk, began, ended, ended - began,
            )

"""The workflow's stages as library functions: regions, references, shards, aggregation.

Each Snakemake script in ``workflow/scripts`` unpacks its job and calls one function here, so that
everything the workflow computes can be reached and tested from Python. QC, figures and exports
are one job each for all targets (:func:`run_qc`, :func:`draw_figures`, :func:`write_exports`):
their work takes less time than starting a Python job for it.

Sharding. Regions are split into ``n_shards`` contiguous shards and references into
``n_blocks`` contiguous blocks (:func:`split_range`); a job computes one shard x one block and
writes float64 sums over its references (:func:`run_attribution_shard`). Every region's
references are generated up front, seeded by ``region_seed(seed, region_number)``, so that
neither the shard nor the block layout changes them, and :func:`aggregate_shards` adds the
blocks in float64 before dividing by the number of references. The aggregated result is
therefore the same as one direct ``deep_lift_shap`` call over the same regions and references,
whatever the shard and block counts, up to float64 rounding of the sums. (The convergence
deltas are the model's round-off by nature; in float32 they agree between layouts only to
float32 precision.)

Provenance. Every shard records the hash of the config keys that change its numbers
(:func:`config_hash`), the model checksum and the seqlift version; aggregation refuses to mix
shards that disagree with the current run.

Importing this module is cheap (no torch): the workflow imports it when Snakemake parses the
Snakefile, so torch is imported inside the functions that run models.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

import seqlift
from seqlift import storage
from seqlift.errors import InputError, SeqliftError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

__all__ = [
    "ATTRIBUTION_KEYS",
    "ShardMismatchError",
    "aggregate_shards",
    "attribution_config",
    "config_hash",
    "count_bed_rows",
    "default_shard_count",
    "draw_figures",
    "extract_regions_to_store",
    "log_to_file",
    "load_references",
    "make_references",
    "normalize_targets",
    "parse_scatteritem",
    "run_attribution_shard",
    "run_qc",
    "shard_chunk_size",
    "split_range",
    "write_exports",
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
batch size may reuse finished shards.
"""

_REGION_NUMBER = re.compile(r"(\d+)$")
_SCATTERITEM = re.compile(r"^(\d+)-of-(\d+)$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# Regions per batch when generating references, to bound memory on genome-wide runs.
_REFERENCE_CHUNK = 512
# Regions named in a message about NaN/Inf outputs; the rest are counted.
_NAMED_REGIONS = 20
CHUNK_BYTES = 8 * 2**20
"""Memory that one chunk of a shard job's references and results may take (see
:func:`shard_chunk_size`); a shard job's peak memory does not grow beyond it with the shard."""


class ShardMismatchError(SeqliftError):
    """Shards were made with another config, model or seqlift version than the current run."""


# ---------------------------------------------------------------------------------------------
# Small helpers shared with workflow/rules/common.smk and workflow/scripts


def log_to_file(path: PathLike) -> IO[str]:
    """Send this process's logging, warnings and stderr (progress bars, tracebacks) to ``path``.

    Snakemake job scripts call this first, so that everything a job says ends up in its
    ``log:`` file. Returns the open stream.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        stream=stream, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    return stream



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


def count_bed_rows(path: PathLike) -> int:
    """Count the data rows of a BED file (plain or gzip), skipping header, track and comments.

    Used when the workflow is parsed, to size the default shard count; malformed rows are still
    counted here and reported by the regions stage.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    count = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "track", "browser")):
                continue
            count += 1
    return count


def default_shard_count(bed_path: PathLike, regions_per_shard: int) -> int:
    """Shards needed to hold about ``regions_per_shard`` regions each (at least one).

    Returns 1 when the BED file does not exist yet, so that the workflow can still be parsed
    (the regions stage then reports the missing file).
    """
    if regions_per_shard < 1:
        raise InputError(f"sharding.regions_per_shard must be at least 1, got {regions_per_shard}")
    try:
        n_rows = count_bed_rows(bed_path)
    except OSError:
        return 1
    return max(1, math.ceil(n_rows / regions_per_shard))


def normalize_targets(targets: Sequence[Any]) -> list[dict[str, Any]]:
    """Turn the config's ``targets`` into ``[{"index": int, "name": str}, ...]``.

    An entry is an output index or a mapping with ``index`` and an optional ``name`` (default
    ``target_<index>``). Names become zarr groups and folder names, so they must be unique and
    made of letters, digits and ``_ . + -``.
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
    names = [t["name"] for t in normalized]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"targets: names {duplicates} are used more than once; make them unique")
    return normalized


def attribution_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a config that shards depend on: the keys in :data:`ATTRIBUTION_KEYS`.

    The workflow passes only this to shard jobs, so that changing a QC threshold or the plots
    does not make Snakemake recompute attributions.
    """
    return {key: config.get(key) for key in ATTRIBUTION_KEYS}


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of :func:`attribution_config` (full config or subset)."""
    text = json.dumps(attribution_config(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _region_numbers(ids: Sequence[str]) -> np.ndarray:
    numbers = []
    for region_id in ids:
        match = _REGION_NUMBER.search(region_id)
        if not match:
            raise SeqliftError(f"region id {region_id!r} does not end in its region number")
        numbers.append(int(match.group(1)))
    return np.asarray(numbers, dtype=np.int64)


def _torch_dtype(name: str) -> torch.dtype:
    import torch

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if name not in dtypes:
        raise InputError(f"dtype must be one of {sorted(dtypes)}, got {name!r}")
    return dtypes[name]


# ---------------------------------------------------------------------------------------------
# Stage 1: regions


def extract_regions_to_store(
    bed_path: PathLike,
    fasta_path: PathLike,
    width: int,
    regions_bed: PathLike,
    dropped_tsv: PathLike,
    regions_zarr: PathLike,
    max_n_fraction: float = 0.5,
    missing_chromosomes: str = "error",
) -> storage.RegionStore:
    """Cut the windows (``seqlift.regions.extract_regions``) and write the three region outputs.

    Writes ``regions_bed`` (kept windows, stable ids), ``dropped_tsv`` (every dropped input row
    with its reason) and ``regions_zarr`` (one-hot ``(n, 4, width)`` uint8 and the region
    table), each atomically.
    """
    from seqlift.regions import extract_regions, write_dropped_tsv, write_regions_bed

    regionset = extract_regions(
        bed_path, fasta_path, width, max_n_fraction=max_n_fraction, missing_chromosomes=missing_chromosomes
    )
    ids = [region.id for region in regionset.regions]
    store = storage.RegionStore(
        onehot=np.asarray(regionset.onehot, dtype=np.uint8).reshape(len(ids), 4, int(width)),
        ids=np.asarray(ids, dtype=str),
        chroms=np.asarray([region.chrom for region in regionset.regions], dtype=str),
        starts=np.asarray([region.start for region in regionset.regions], dtype=np.int64),
        ends=np.asarray([region.end for region in regionset.regions], dtype=np.int64),
        numbers=_region_numbers(ids),
    )
    with storage.atomic_file(regions_bed) as temporary:
        write_regions_bed(regionset, temporary)
    with storage.atomic_file(dropped_tsv) as temporary:
        write_dropped_tsv(regionset, temporary)
    storage.write_region_store(
        regions_zarr, store, attrs={"width": int(width), "n_dropped": len(regionset.dropped)}
    )
    logger.info("kept %d regions, dropped %d", len(ids), len(regionset.dropped))
    return store


# ---------------------------------------------------------------------------------------------
# Stage 2: references


def _onehot_to_codes(onehot: torch.Tensor) -> np.ndarray:
    from seqlift.sequence import onehot_to_codes

    return np.asarray(onehot_to_codes(onehot), dtype=np.uint8)


def _codes_to_onehot(codes: np.ndarray) -> torch.Tensor:
    """Base codes ``(..., length)`` -> float32 one-hot ``(..., 4, length)``."""
    import torch

    from seqlift.sequence import codes_to_onehot

    return codes_to_onehot(torch.from_numpy(np.ascontiguousarray(codes)), dtype=torch.float32)


def _is_codable(references: torch.Tensor) -> bool:
    """True when every column is one-hot or all zero, so one byte per base can store it."""
    values_ok = bool(((references == 0) | (references == 1)).all())
    return values_ok and bool((references.sum(dim=-2) <= 1).all())


def _references_from_file(path: Path, n_regions: int, width: int, n: int) -> dict[str, np.ndarray]:
    """Load user references for :func:`make_references`.

    Accepted: ``.npy`` (or ``.npz`` with ``arr_0``) one-hot ``(n_regions, k, 4, width)`` (one set
    per kept region, in regions.bed order), or ``(k, 4, width)`` shared by every region (any
    values, e.g. a GC profile).
    """
    if not path.is_file():
        raise InputError(f"references.file {str(path)!r} does not exist; fix the path in the config")
    import torch

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(f"references.file {str(path)!r} is not a .npy/.npz array file ({error})") from error
    array = loaded["arr_0"] if isinstance(loaded, np.lib.npyio.NpzFile) else loaded
    where = f"references.file {str(path)!r} (shape {array.shape}, {array.dtype})"
    if array.ndim == 3 and array.shape[1:] == (4, width):
        result = {"shared": np.asarray(array, dtype=np.float32)}
        k = array.shape[0]
    elif array.ndim == 4 and array.shape[2:] == (4, width):
        tensor = torch.as_tensor(np.asarray(array, dtype=np.float32))
        if not _is_codable(tensor):
            raise InputError(
                f"{where}: per-region references must be one-hot (one base or all zeros per "
                "position); only references shared by all regions, (k, 4, width), may hold "
                "other values"
            )
        result = {"codes": _onehot_to_codes(tensor)}
        k = array.shape[1]
    else:
        raise InputError(
            f"{where}: expected one-hot references (n_regions, k, 4, {width}) or references "
            f"shared by every region (k, 4, {width})"
        )
    if "codes" in result and result["codes"].shape[0] != n_regions:
        raise InputError(
            f"{where}: holds references for {result['codes'].shape[0]} regions, the regions "
            f"stage kept {n_regions}; give one set per kept region or one shared set"
        )
    if k != n:
        raise InputError(f"{where}: holds {k} references per region but references.n is {n}; make them agree")
    return result


def make_references(
    regions_zarr: PathLike,
    references_zarr: PathLike,
    method: str = "dinucleotide_shuffle",
    n: int = 20,
    seed: int = 0,
    file: PathLike | None = None,
) -> None:
    """Generate every region's references and store them compactly (see :mod:`seqlift.storage`).

    Region ``i`` is seeded with ``region_seed(seed, region_number_i)``, so its references do not
    depend on which other regions exist or how they are sharded. Shuffles are stored as base
    codes ``(n, k, length)`` uint8; ``zeros`` and ``uniform`` (0.25 everywhere), the same for
    every region, as one shared ``(k, 4, length)`` array.

    Parameters
    ----------
    method : {"dinucleotide_shuffle", "zeros", "uniform", "file"}
        ``file`` loads ``file`` (see :func:`_references_from_file`).
    n : int
        References per region (``k``).
    seed : int
        Base seed of the run.
    """
    import torch

    from seqlift import references as reference_methods

    regions = storage.read_region_store(regions_zarr)
    width = regions.onehot.shape[-1]
    attrs = {"method": method, "n": int(n), "seed": int(seed)}
    if n < 1:
        raise InputError(f"references.n must be at least 1, got {n}")
    if method == "file":
        if not file:
            raise InputError("references.method is 'file' but references.file is not set")
        storage.write_reference_store(
            references_zarr, **_references_from_file(Path(file), len(regions), width, n), attrs=attrs
        )
    elif method in ("zeros", "uniform"):
        generate = getattr(reference_methods, method)
        shared = generate(torch.zeros(1, 4, width), n=n)[0]
        storage.write_reference_store(references_zarr, shared=shared.numpy(), attrs=attrs)
    elif method == "dinucleotide_shuffle":
        codes = np.zeros((len(regions), n, width), dtype=np.uint8)
        for start in range(0, len(regions), _REFERENCE_CHUNK):
            stop = min(start + _REFERENCE_CHUNK, len(regions))
            onehot = regions.onehot[start:stop]
            # Base codes A=0 C=1 G=2 T=3, N (an all-zero column) = 4, shuffled as codes: the same
            # shuffles as dinucleotide_shuffle, without a float one-hot of every reference.
            region_codes = np.where(onehot.any(axis=1), onehot.argmax(axis=1), 4).astype(np.uint8)
            seeds = [reference_methods.region_seed(seed, int(num)) for num in regions.numbers[start:stop]]
            codes[start:stop] = reference_methods.dinucleotide_shuffle_codes(region_codes, n=n, random_state=seeds)
        storage.write_reference_store(references_zarr, codes=codes, attrs=attrs)
    else:
        raise InputError(
            "references.method must be one of dinucleotide_shuffle, zeros, uniform, file; "
            f"got {method!r}"
        )


def load_references(
    references_zarr: PathLike, regions: slice, references: slice, n_regions: int
) -> torch.Tensor:
    """References of regions ``regions`` and references ``references`` as float32 one-hot.

    Returns
    -------
    torch.Tensor
        ``(n_regions, k_slice, 4, length)``; shared references are expanded (no copy).
    """
    import torch

    kind, array = storage.read_reference_store(references_zarr, regions, references)
    if kind == "codes":
        return _codes_to_onehot(array)
    return torch.from_numpy(array).unsqueeze(0).expand(n_regions, *array.shape)


# ---------------------------------------------------------------------------------------------
# Stage 3: one attribution shard


def _expected_length(model: torch.nn.Module) -> int | None:
    """The input length a model declares in one of the engine's length attributes, if any."""
    from seqlift.engine import _LENGTH_ATTRIBUTES

    for name in _LENGTH_ATTRIBUTES:
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _check_model(model: torch.nn.Module, width: int, targets: Sequence[dict], device: torch.device,
                 dtype: torch.dtype) -> None:
    """One forward pass on zeros: the output must be ``(batch, n_outputs)`` with every target."""
    import torch

    probe = torch.zeros(2, 4, width, dtype=dtype, device=device)
    try:
        with torch.no_grad():
            output = model(probe)
    except Exception as error:
        expected = _expected_length(model)
        if expected is not None and expected != width:
            hint = f"The model expects length {expected}: set width: {expected} in the config"
        else:
            hint = "Check that `width` is the input length the model was built for"
        raise InputError(
            f"the model fails on input of shape (batch, 4, {width}) (config width {width}): "
            f"{type(error).__name__}: {error}. {hint}"
        ) from error
    if not torch.is_tensor(output) or output.ndim != 2 or output.shape[0] != 2:
        shape = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
        raise InputError(
            f"the model returns {shape} for a batch of 2; seqlift needs (batch, n_outputs). "
            "Wrap the model so that it returns one tensor of that shape"
        )
    n_outputs = output.shape[1]
    bad = [t for t in targets if t["index"] >= n_outputs]
    if bad:
        raise InputError(
            f"targets {[t['index'] for t in bad]} are out of range: the model has {n_outputs} "
            f"outputs (indices 0..{n_outputs - 1})"
        )


def _check_finite(values: np.ndarray, what: str, region_ids: Sequence[str], targets: Sequence[dict]) -> None:
    """Stop on NaN/Inf model outputs, naming the regions (values: (n_targets, n, ...))."""
    finite = np.isfinite(values).reshape(values.shape[0], values.shape[1], -1).all(axis=(0, 2))
    if not finite.all():
        bad = [region_ids[i] for i in np.flatnonzero(~finite)]
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise SeqliftError(
            f"the model returned NaN or Inf {what} for {len(bad)} region(s): {shown} "
            f"(targets {[t['name'] for t in targets]}); check the model and these sequences"
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
                references = load_references(references_zarr, slice(first, last), slice(*reference_range), last - first)
                examples = torch.as_tensor(regions.onehot, dtype=torch.float32)
                for start in range(0, last - first, per_batch):
                    stop = min(start + per_batch, last - first)
                    joint = torch.cat([examples[start:stop], references[start:stop].reshape(-1, *examples.shape[1:])])
                    outputs = model(joint.to(device=device, dtype=dtype))[:, list(target_indices)]
                    finite = torch.isfinite(outputs).all(dim=1).cpu()
                    n = stop - start
                    region_finite = finite[:n] & finite[n:].reshape(n, k).all(dim=1)
                    bad.extend(str(regions.ids[start + int(i)]) for i in torch.nonzero(~region_finite).flatten())
    finally:
        model.train(was_training)
    return bad


def shard_header(config: Mapping[str, Any], checksum: str) -> dict[str, Any]:
    """Provenance every shard records, and aggregation checks."""
    return {
        "config_hash": config_hash(config),
        "model_checksum": checksum,
        "seqlift_version": seqlift.__version__,
    }


def shard_chunk_size(n_references: int, width: int, n_targets: int, batch_size: int) -> int:
    """Regions per chunk of a shard job: about :data:`CHUNK_BYTES` of references and results.

    A chunk holds its regions' float32 one-hot references ``(m, k, 4, width)`` and float64 sums
    ``(n_targets, m, 4, width)``. The count is a multiple of the examples that share one
    ``explain`` batch (``batch_size // k``), so that chunking never changes a batch.
    """
    per_batch = max(1, batch_size // max(1, n_references))
    per_region = 4 * width * (4 * max(1, n_references) + 8 * n_targets)
    return max(per_batch, CHUNK_BYTES // per_region // per_batch * per_batch)


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
    appended to the shard file before the next is read (:func:`seqlift.storage.write_shard_chunks`),
    so that memory does not grow with the number of regions in the shard. Results do not depend
    on the chunk size: an example's results do not depend on the other examples of the call.

    Parameters
    ----------
    config : mapping
        The validated workflow config (``model``, ``targets``, ``dtype``, ``device`` are used).
    shard, block : str
        Snakemake scatter items ``"i-of-n"`` for the region shard and the reference block.
    output : path
        The shard ``.npz`` (see :mod:`seqlift.storage`).
    threads : int, optional
        CPU threads for torch.
    progress_file : text stream, optional
        Where the progress bar (pairs/s) goes; ``sys.stderr`` when None.
    regions_per_chunk : int, optional
        Regions per chunk; :func:`shard_chunk_size` when None.
    """
    import torch
    from tqdm import tqdm

    from seqlift.engine import NonFiniteOutputError, explain
    from seqlift.models import load_model, state_dict_checksum, weights_checksum

    if threads:
        torch.set_num_threads(int(threads))
    shard_index, n_shards = parse_scatteritem(shard)
    block_index, n_blocks = parse_scatteritem(block)
    n_regions = storage.count_regions(regions_zarr)
    region_start, region_stop = split_range(n_regions, n_shards, shard_index)
    n_references = storage.reference_count(references_zarr)
    reference_start, reference_stop = split_range(n_references, n_blocks, block_index)
    targets = normalize_targets(config["targets"])
    dtype = _torch_dtype(config.get("dtype", "float32"))
    device_name = config.get("device", "cpu")
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "config device is 'cuda' but this job sees no CUDA GPU; run it on a GPU node or set "
            "device: cpu"
        )

    model = load_model(config["model"], base_dir)
    weights = config["model"].get("weights")
    checksum = (
        "sha256:" + weights_checksum(Path(base_dir) / weights)
        if weights
        else "state_dict-sha256:" + state_dict_checksum(model)
    )
    n, k = region_stop - region_start, reference_stop - reference_start
    width = storage.region_width(regions_zarr)
    logger.info(
        "shard %s: regions %d..%d of %d; block %s: references %d..%d of %d; device %s",
        shard, region_start, region_stop, n_regions, block, reference_start, reference_stop,
        n_references, device,
    )
    header = shard_header(config, checksum) | {
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
    T = len(targets)
    chunk = regions_per_chunk or shard_chunk_size(k, width, T, batch_size)
    if chunk < 1:
        raise ValueError(f"regions_per_chunk must be at least 1, got {chunk}")
    with storage.write_shard_chunks(output, header) as writer:
        if n == 0 or k == 0:
            writer.append(np.zeros((T, n, 4, width)), np.zeros((T, n, k)), np.zeros((T, n)),
                          np.zeros((T, n, k)))
            return
        model = model.to(device=device, dtype=dtype)
        _check_model(model, width, targets, device, dtype)
        with tqdm(
            total=n * k, unit="pair", desc=f"shard {shard} block {block}", file=progress_file or sys.stderr,
            mininterval=2.0, ascii=True, dynamic_ncols=False,
        ) as bar:
            began = time.time()
            for first in range(region_start, region_stop, chunk):
                last = min(first + chunk, region_stop)
                regions = storage.read_region_store(regions_zarr, first, last)
                references = load_references(
                    references_zarr, slice(first, last), slice(reference_start, reference_stop), last - first
                )
                try:
                    explanation = explain(
                        model, torch.as_tensor(regions.onehot, dtype=torch.float32), references,
                        [t["index"] for t in targets], batch_size=batch_size, device=device, dtype=dtype,
                        progress=bar.update,
                    )
                except NonFiniteOutputError as error:
                    # The engine stops at the first batch with a NaN; name every bad region of
                    # the shard, so that one rerun after the fix is enough.
                    bad = _non_finite_regions(
                        model, regions_zarr, references_zarr, (first, region_stop),
                        (reference_start, reference_stop), [t["index"] for t in targets], chunk,
                        batch_size, device, dtype,
                    ) or [str(regions.ids[i]) for i in error.examples]
                    shown = ", ".join(bad[:_NAMED_REGIONS]) + (
                        f" and {len(bad) - _NAMED_REGIONS} more" if len(bad) > _NAMED_REGIONS else ""
                    )
                    raise SeqliftError(
                        f"the model returned NaN or Inf for {len(bad)} region(s) of shard {shard}: "
                        f"{shown}; check the model and these sequences (e.g. a window of only N)"
                    ) from error
                arrays = (explanation.hypothetical_sum.numpy(), explanation.deltas.numpy(),
                          explanation.example_predictions.numpy(), explanation.reference_predictions.numpy())
                _check_finite(arrays[2], "predictions f(x)", regions.ids, targets)
                _check_finite(arrays[3], "predictions f(r)", regions.ids, targets)
                _check_finite(arrays[0], "attributions", regions.ids, targets)
                writer.append(*arrays)
                del explanation, arrays, references
                # Whatever reference cycles a model's hooks leave go with each chunk, not the shard.
                gc.collect()
            # Wall-clock bounds of the engine work, read by benchmarks/workflow.py.
            ended = time.time()
            logger.info("engine: %d pairs in %d chunk(s) of up to %d regions, from %.3f to %.3f (%.2f s)",
                        n * k, math.ceil(n / chunk), chunk, began, ended, ended - began)


# ---------------------------------------------------------------------------------------------
# Stage 4: aggregation


def _model_checksum(model_config: Mapping[str, Any], base_dir: PathLike) -> str:
    """:func:`seqlift.models.model_checksum`, without importing torch when a weights file is set.

    Aggregation only checks the checksum, and importing torch takes seconds of the job's time.
    """
    weights = model_config.get("weights")
    path = Path(str(weights)).expanduser() if weights else None
    if path is None or not (path if path.is_absolute() else Path(base_dir) / path).is_file():
        from seqlift.models import model_checksum

        return model_checksum(model_config, base_dir)  # also raises for a missing weights file
    path = path if path.is_absolute() else Path(base_dir) / path
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


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
            problems.append(f"  {path}: " + "; ".join(differing))
            unseeded_model |= header.get("model_checksum") != expected.get("model_checksum") and str(
                expected.get("model_checksum")
            ).startswith("state_dict")
    if problems:
        hint = (
            "(A model without model.weights must build the same weights every time: seed its "
            "initialisation, or save the weights and set model.weights.)\n"
            if unseeded_model
            else ""
        )
        raise ShardMismatchError(
            f"{len(problems)} shard file(s) were made with another config, model or seqlift "
            "version than this run, and will not be mixed:\n" + "\n".join(problems) + "\n" + hint
            + "Delete these shard files (or run snakemake with --forcerun attribution) to recompute "
            "them with the current settings."
        )


def _check_coverage(headers: Sequence[tuple[str, dict]], n_regions: int, n_references: int) -> None:
    """Shards must tile regions x references exactly once, as the current stores define them."""
    for path, header in headers:
        if header["n_regions"] != n_regions or header["n_references"] != n_references:
            raise ShardMismatchError(
                f"{path} was computed for {header['n_regions']} regions x {header['n_references']} "
                f"references, the current stores hold {n_regions} x {n_references}; delete it and rerun"
            )
    by_shard: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _, header in headers:
        key = (header["region_start"], header["region_stop"])
        by_shard.setdefault(key, []).append((header["reference_start"], header["reference_stop"]))
    region_cursor = 0
    for region_start, region_stop in sorted(by_shard):
        if region_start != region_cursor:
            raise ShardMismatchError(f"shards leave regions {region_cursor}..{region_start} uncovered or doubled")
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
                f"regions {region_start}..{region_stop}: reference blocks stop at {reference_cursor} "
                f"of {n_references}"
            )
        region_cursor = region_stop
    if region_cursor != n_regions:
        raise ShardMismatchError(f"shards stop at region {region_cursor} of {n_regions}")


def aggregate_shards(
    shard_paths: Sequence[PathLike],
    regions_zarr: PathLike,
    references_zarr: PathLike,
    output: PathLike,
    config: Mapping[str, Any],
    base_dir: PathLike = ".",
    full_config: Mapping[str, Any] | None = None,
) -> None:
    """Combine shard files into ``attributions.zarr`` (layout in :mod:`seqlift.storage`).

    Blocks of one region shard are added in float64 in reference order, divided by the total
    number of references and stored as float32; deltas and ``f(r)`` are concatenated along the
    reference axis. Regions are processed one shard at a time, so memory stays at one shard.

    Parameters
    ----------
    config : mapping
        The run's config (or its :func:`attribution_config`), to check shards against.
    full_config : mapping, optional
        The config recorded in the store's ``config`` attribute; ``config`` when None.

    Raises
    ------
    ShardMismatchError
        A shard was made with another config hash, model checksum or seqlift version than the
        current run (each offending file and field is listed), or the shards do not tile the
        regions x references exactly once.
    """
    targets = normalize_targets(config["targets"])
    expected = shard_header(config, _model_checksum(config["model"], base_dir))
    headers = [(str(path), storage.read_shard_header(path)) for path in shard_paths]
    _check_provenance(headers, expected)
    n_regions = storage.count_regions(regions_zarr)
    n_references = storage.reference_count(references_zarr)
    _check_coverage(headers, n_regions, n_references)

    by_shard: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for path, header in headers:
        key = (header["region_start"], header["region_stop"])
        by_shard.setdefault(key, []).append((header["reference_start"], path))

    def parts():
        # One region shard at a time, read in pieces that end on the store's chunk boundaries,
        # so that memory holds one piece of every reference block of one shard.
        step = storage.REGIONS_PER_CHUNK
        for region_start, region_stop in sorted(by_shard):
            blocks = [storage.ShardFile(path) for _, path in sorted(by_shard[(region_start, region_stop)])]
            try:
                cuts = sorted({region_start, region_stop, *range((region_start // step + 1) * step, region_stop, step)})
                for first, last in zip(cuts[:-1], cuts[1:], strict=True):
                    a, b = first - region_start, last - region_start
                    total = blocks[0].read("hypothetical_sum", a, b).copy()
                    for block in blocks[1:]:
                        total += block.read("hypothetical_sum", a, b)
                    yield storage.AttributionPart(
                        start=first,
                        stop=last,
                        hypothetical=total / n_references,
                        deltas=np.concatenate([block.read("deltas", a, b) for block in blocks], axis=-1),
                        example_predictions=blocks[0].read("example_predictions", a, b),
                        reference_predictions=np.concatenate(
                            [block.read("reference_predictions", a, b) for block in blocks], axis=-1
                        ),
                    )
            finally:
                for block in blocks:
                    block.close()

    attrs = {
        "config": json.loads(json.dumps(dict(full_config or config), default=str)),
        "config_hash": expected["config_hash"],
        "seqlift_version": expected["seqlift_version"],
        "model_checksum": expected["model_checksum"],
        "targets": targets,
        "n_references": int(n_references),
    }
    storage.write_attribution_store(
        output, regions_zarr, [t["name"] for t in targets], n_references, parts(), attrs
    )


# ---------------------------------------------------------------------------------------------
# Stages 5 to 7: QC, figures and exports, each one job for all targets
#
# Each of these steps takes well under a second per target once Python has started and imported
# numpy, zarr and matplotlib (about 1 to 2 s on a loaded machine); one job per figure or export
# paid that start-up 17 times in the demo. These functions do all targets in one process.


def run_qc(
    attributions_zarr: PathLike,
    out_dir: PathLike,
    threshold: float,
    relative_threshold: float | None = None,
    on_failure: str = "warn",
    truth_bed: PathLike | None = None,
    motif_recovery_json: PathLike | None = None,
) -> dict[str, Any]:
    """Convergence QC of every target (``seqlift.qc.convergence_qc``), then motif recovery.

    Writes ``out_dir/convergence_<target>.tsv`` and ``out_dir/summary.json``; with ``truth_bed``
    also ``motif_recovery_json`` (``seqlift.qc.motif_recovery``). Returns the summary.
    """
    from seqlift.qc import convergence_qc, motif_recovery

    if (truth_bed is None) != (motif_recovery_json is None):
        raise ValueError("give both truth_bed and motif_recovery_json, or neither")
    summary = convergence_qc(
        attributions_zarr=attributions_zarr, out_dir=out_dir, threshold=threshold,
        relative_threshold=relative_threshold, on_failure=on_failure,
    )
    if truth_bed is not None:
        motif_recovery(attributions_zarr=attributions_zarr, motifs_bed=truth_bed, out_json=motif_recovery_json)
    return summary


def draw_figures(
    attributions_zarr: PathLike,
    logos: Mapping[str, PathLike],
    delta_histogram: PathLike,
    mean_profile: PathLike,
    threshold: float,
    n_top: int = 5,
    flank: int = 20,
    motif_recovery_json: PathLike | None = None,
    motif_recovery: PathLike | None = None,
) -> None:
    """Draw every figure of the run (``seqlift.figures``) in one process.

    Parameters
    ----------
    logos : mapping
        Target name -> PNG of its top regions' logos (``plot_top_logos``).
    delta_histogram, mean_profile : path
        PNGs of ``plot_delta_histogram`` (with the QC ``threshold``) and ``plot_mean_profile``.
    motif_recovery_json, motif_recovery : path, optional
        The motif-recovery QC result and the PNG of its heatmap; both or neither.
    """
    from seqlift import figures

    if (motif_recovery_json is None) != (motif_recovery is None):
        raise ValueError("give both motif_recovery_json and motif_recovery, or neither")
    for target, out_png in logos.items():
        figures.plot_top_logos(attributions_zarr, target, out_png, n_top=n_top, flank=flank)
    figures.plot_delta_histogram(attributions_zarr, delta_histogram, threshold=threshold)
    figures.plot_mean_profile(attributions_zarr, mean_profile)
    if motif_recovery is not None:
        figures.plot_motif_recovery(motif_recovery_json, motif_recovery)


def write_exports(
    attributions_zarr: PathLike,
    out_dir: PathLike,
    targets: Sequence[str],
    tfmodisco: bool = True,
    chrombpnet_h5: bool = True,
    bigwig: bool = True,
    chrom_sizes: PathLike | Mapping[str, int] | None = None,
) -> list[Path]:
    """Write the switched-on exports of every target under ``out_dir/<target>/``.

    ``ohe.npz`` and ``attr.npz`` (tfmodisco-lite), ``shap.h5`` (ChromBPNet layout) and
    ``projected.bw`` (needs ``chrom_sizes``: a ``.fai`` or a mapping); see :mod:`seqlift.exports`.
    Returns the paths written.
    """
    from seqlift import exports

    if bigwig and chrom_sizes is None:
        raise ValueError("the bigWig export needs chrom_sizes")
    written: list[Path] = []
    for target in targets:
        folder = Path(out_dir) / target
        if tfmodisco:
            written.extend(exports.export_tfmodisco(attributions_zarr, target, folder))
        if chrombpnet_h5:
            written.append(exports.export_chrombpnet_h5(attributions_zarr, target, folder / "shap.h5"))
        if bigwig:
            written.append(exports.export_bigwig(attributions_zarr, target, folder / "projected.bw", chrom_sizes))
    return written

"""Every store of the workflow in one place: layouts, writers and readers.

Layouts (all zarr v3 groups under ``results/<name>/``; ``n`` regions of ``length`` bp,
``T`` targets, ``k`` references per region)::

    regions.zarr                           rule regions
        onehot                             (n, 4, length) uint8, an all-zero column is an N
        regions/{id, chrom}                (n,) str
        regions/{start, end}               (n,) int64, 0-based half-open window
        regions/number                     (n,) int64, the region's number (seeds references)
        attrs: width, n_dropped

    references.zarr                        rule references; exactly one of
        codes                              (n, k, length) uint8, A=0 C=1 G=2 T=3 N=4
        shared                             (k, 4, length) float32, the same for every region
        attrs: method, n, seed

    shards/<i>-of-<s>/block_<j>-of-<b>.zarr   rule attribution: region shard i x reference block j
        hypothetical_sum                   (T, m, 4, length) float64, sum over the block's
                                           k_block references of the hypothetical contributions
        deltas                             (T, m, k_block) float64, f(x) - f(r) - sum((x - r) m)
        example_predictions                (T, m) float64, f(x)
        reference_predictions              (T, m, k_block) float64, f(r)
        attrs: the header: config_hash, model_checksum, seqlift_version, shard, block,
               region_start, region_stop, reference_start, reference_stop, n_regions,
               n_references, targets [{index, name}]

    attributions.zarr                      rule aggregate
        onehot                             (n, 4, length) uint8
        hypothetical/<target>              (n, 4, length) float32, mean over all references
        deltas/<target>                    (n, k) float32, signed
        predictions/<target>/example       (n,) float32, f(x)
        predictions/<target>/reference     (n, k) float32, f(r)
        predictions/<target>/reference_mean  (n,) float32, mean over references of f(r)
        regions/*                          the region table of regions.zarr
        attrs: config (the keys that made the numbers), config_hash, seqlift_version,
               model_checksum, targets [{index, name}], n_references

Region axes are chunked by whole regions: :data:`REGIONS_PER_CHUNK` regions in the region,
reference and result stores; in a shard, the regions its job computed at a time, so that the
job appends each chunk to disk as it is computed (:func:`write_shard`) and neither it nor
aggregation ever holds more than one chunk of a shard. Shard arrays are compressed with
:data:`SHARD_COMPRESSOR`; the other stores use zarr's default (zstd).

Everything is written atomically: into a temporary path in the destination's own folder, then
moved into place with :func:`os.replace`, so that a job killed mid-write (even by SIGKILL) leaves
only a ``.tmp-*`` leftover, never a store that Snakemake or seqlift would take as finished; the
next write of the same path (the rerun of that job) removes the leftover.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from seqlift._utils import listing
from seqlift.errors import SeqliftError

PathLike = str | os.PathLike

__all__ = [
    "BLOCK_SIZE",
    "REGIONS_PER_CHUNK",
    "SHARD_ARRAYS",
    "SHARD_COMPRESSOR",
    "AttributionPart",
    "RegionStore",
    "ShardChunks",
    "StorageError",
    "atomic_directory",
    "atomic_file",
    "count_regions",
    "iter_target_blocks",
    "open_shard",
    "open_store",
    "projected_scores",
    "read_reference_store",
    "read_region_store",
    "read_region_table",
    "read_shard_header",
    "read_target_block",
    "reference_count",
    "region_width",
    "resolve_target",
    "target_names",
    "write_attribution_store",
    "write_json",
    "write_reference_store",
    "write_region_store",
    "write_shard",
]

REGIONS_PER_CHUNK = 256
"""Regions per chunk of the region, reference and result stores: a chunk of
``(256, 4, 2114)`` float32 is about 8 MB."""

BLOCK_SIZE = 1024
"""Regions read at a time by the readers of ``attributions.zarr`` (:func:`iter_target_blocks`):
1024 x 4 x 2114 float32 is about 35 MB."""

SHARD_COMPRESSOR = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")
"""Compression of shard arrays. float64 sums barely compress as bytes (zstd alone leaves 63 %
of a demo shard); blosc's byte shuffle first groups the bytes of equal significance, which
leaves 55 % at about the same speed (benchmarks/README.md has the measurements)."""

SHARD_ARRAYS = ("hypothetical_sum", "deltas", "example_predictions", "reference_predictions")
"""The arrays of a shard group, in the order :meth:`ShardChunks.append` takes them."""


# ---------------------------------------------------------------------------------------------
# Atomic writes


class StorageError(SeqliftError, OSError):
    """A result could not be written: full disk, quota, or a folder that is not writable."""


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextlib.contextmanager
def _clear_write_errors(path: Path) -> Iterator[None]:
    """Turn a full disk or an unwritable folder into a StorageError naming ``path``."""
    try:
        yield
    except StorageError:
        raise
    except OSError as error:
        if error.errno in _DISK_FULL:
            hint = "the disk (or your quota) is full: free space, or write the results elsewhere with snakemake --directory"
        elif error.errno in _NOT_WRITABLE:
            hint = f"{path.parent} is not writable: fix its permissions, or write the results elsewhere with snakemake --directory"
        else:
            raise
        raise StorageError(error.errno, f"cannot write {path}: {error.strerror}; {hint}") from error


def _remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete what a killed earlier write of ``path`` left: its ``.<name>.tmp-*``/``.old-*`` siblings.

    Only temporaries of this very path are touched (tempfile's 8 random characters, then at most
    an extension), and one path is written by one job at a time (Snakemake never runs a job
    twice at once), so no live writer loses its file. Returns the paths removed.
    """
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(tmp|old)-[A-Za-z0-9_]{{8}}(\.[A-Za-z0-9]+)?$")
    removed = []
    try:
        siblings = list(os.scandir(path.parent))
    except FileNotFoundError:
        return removed
    for entry in siblings:
        if not pattern.match(entry.name):
            continue
        stale = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        removed.append(stale)
    return removed


@contextlib.contextmanager
def atomic_file(path: PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The temporary name keeps ``suffix`` (e.g. ``".npz"``) so that writers which append an
    extension do not rename it. On error the temporary file is removed and nothing is moved; a
    full disk or an unwritable folder raises :class:`StorageError` naming ``path``. Temporaries
    that a killed earlier write of ``path`` left behind are removed first.
    """
    path = Path(path)
    with _clear_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=suffix, dir=path.parent)
        os.close(handle)
        temporary = Path(temporary)
        try:
            yield temporary
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary, path)
        finally:
            if temporary.exists():
                temporary.unlink()


def _fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` to disk before the folder is renamed into place."""
    for parent, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(parent, name), "rb") as written:
                os.fsync(written.fileno())


@contextlib.contextmanager
def atomic_directory(path: PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``path``; rename it to ``path`` on success.

    An existing ``path`` is replaced only after the new folder is complete. Temporaries that a
    killed earlier write of ``path`` left behind are removed first. With ``durable``, every file
    is flushed to disk before the rename, as :func:`atomic_file` does (shards: a few dozen files
    that stand for minutes to hours of compute), so that a machine crash cannot leave a renamed
    folder with lost contents.
    """
    path = Path(path)
    with _clear_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            yield temporary
            if durable:
                _fsync_tree(temporary)
            if path.exists():
                # os.replace cannot overwrite a non-empty folder: move the old one aside first.
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                os.replace(path, old / "store")
                os.replace(temporary, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(temporary, path)
        finally:
            if temporary.exists():
                shutil.rmtree(temporary, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Regions and references


def _chunks(shape: Sequence[int]) -> tuple[int, ...]:
    return (max(1, min(int(shape[0]), REGIONS_PER_CHUNK)), *(max(1, int(s)) for s in shape[1:]))


def _write_array(group: zarr.Group, name: str, data: np.ndarray) -> None:
    data = np.asarray(data)
    if data.dtype.kind == "U":
        # Variable-length strings read back as str objects whatever the longest id is.
        group.create_array(name, shape=data.shape, dtype=str, chunks=_chunks(data.shape))
        if data.size:
            group[name][...] = data.astype(object)
        return
    group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=_chunks(data.shape))
    if data.size:
        group[name][...] = data


@dataclass
class RegionStore:
    """Regions kept by the regions stage, in output order.

    Attributes
    ----------
    onehot : np.ndarray
        ``(n, 4, width)`` uint8 one-hot sequence (an all-zero column is an N).
    ids, chroms : np.ndarray
        ``(n,)`` str.
    starts, ends : np.ndarray
        ``(n,)`` int64, 0-based half-open genome coordinates of the windows.
    numbers : np.ndarray
        ``(n,)`` int64, the region's number (its row among the input BED's data rows, see
        :mod:`seqlift.pipeline.regions`), which seeds its references independently of sharding.

    A region table read alone (:func:`read_region_table`) has ``onehot`` ``(0, 4, width)``.
    """

    onehot: np.ndarray
    ids: np.ndarray
    chroms: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    numbers: np.ndarray

    def __len__(self) -> int:
        return int(len(self.ids))


def _write_region_table(group: zarr.Group, regions: RegionStore) -> None:
    table = group.create_group("regions")
    _write_array(table, "id", np.asarray(regions.ids, dtype=str))
    _write_array(table, "chrom", np.asarray(regions.chroms, dtype=str))
    _write_array(table, "start", np.asarray(regions.starts, dtype=np.int64))
    _write_array(table, "end", np.asarray(regions.ends, dtype=np.int64))
    _write_array(table, "number", np.asarray(regions.numbers, dtype=np.int64))


def write_region_store(
    path: PathLike, regions: RegionStore, attrs: Mapping[str, Any] | None = None
) -> None:
    """Write ``regions.zarr`` (one-hot and region table) atomically."""
    with atomic_directory(path) as temporary:
        root = zarr.open_group(str(temporary), mode="w")
        _write_array(root, "onehot", np.asarray(regions.onehot, dtype=np.uint8))
        _write_region_table(root, regions)
        root.attrs.update(dict(attrs or {}))


def _read_strings(array: zarr.Array, selection: slice = slice(None)) -> np.ndarray:
    if array.shape[0] == 0 or len(range(*selection.indices(array.shape[0]))) == 0:
        return np.zeros(0, dtype=str)
    return np.array(np.asarray(array[selection]).tolist(), dtype=str)


def _read_numbers(array: zarr.Array, selection: slice) -> np.ndarray:
    if len(range(*selection.indices(array.shape[0]))) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(array[selection], dtype=np.int64)


def read_region_store(path: PathLike, start: int = 0, stop: int | None = None) -> RegionStore:
    """Read regions ``start:stop`` of a ``regions.zarr`` store (only those are loaded)."""
    root = zarr.open_group(str(path), mode="r")
    n = root["onehot"].shape[0]
    stop = n if stop is None else min(stop, n)
    start = min(start, stop)
    selection = slice(start, stop)
    table = root["regions"]
    empty = stop <= start
    return RegionStore(
        onehot=np.asarray(root["onehot"][selection]) if not empty else np.zeros((0, *root["onehot"].shape[1:]), np.uint8),
        ids=_read_strings(table["id"], selection),
        chroms=_read_strings(table["chrom"], selection),
        starts=_read_numbers(table["start"], selection),
        ends=_read_numbers(table["end"], selection),
        numbers=_read_numbers(table["number"], selection),
    )


def read_region_table(store: PathLike | zarr.Group) -> RegionStore:
    """The region table of ``regions.zarr`` or ``attributions.zarr``, without its one-hot.

    Parameters
    ----------
    store : path or zarr.Group
        Either store, or an open group of it.

    Returns
    -------
    RegionStore
        ``ids``, ``chroms``, ``starts``, ``ends``, ``numbers`` ``(n,)``; ``onehot`` is
        ``(0, 4, length)``.
    """
    root = store if isinstance(store, zarr.Group) else zarr.open_group(str(store), mode="r")
    table, every = root["regions"], slice(None)
    return RegionStore(
        onehot=np.zeros((0, *root["onehot"].shape[1:]), dtype=np.uint8),
        ids=_read_strings(table["id"], every),
        chroms=_read_strings(table["chrom"], every),
        starts=_read_numbers(table["start"], every),
        ends=_read_numbers(table["end"], every),
        numbers=_read_numbers(table["number"], every),
    )


def region_width(path: PathLike) -> int:
    """Window length of the regions in a ``regions.zarr`` store."""
    return int(zarr.open_group(str(path), mode="r")["onehot"].shape[-1])


def count_regions(path: PathLike) -> int:
    """Number of regions in a ``regions.zarr`` store."""
    return int(zarr.open_group(str(path), mode="r")["onehot"].shape[0])


def write_reference_store(
    path: PathLike,
    codes: np.ndarray | None = None,
    shared: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write ``references.zarr`` atomically, holding exactly one of two arrays.

    Parameters
    ----------
    codes : np.ndarray, optional
        ``(n, k, length)`` uint8 base codes (A=0 C=1 G=2 T=3, 4 = all-zero column): each region's
        own one-hot references, one byte per base.
    shared : np.ndarray, optional
        ``(k, 4, length)`` float32 references used by every region (``uniform``'s 0.25 profile,
        ``zeros``), which are not one-hot or need not be stored per region.
    """
    if (codes is None) == (shared is None):
        raise ValueError("give exactly one of codes and shared")
    if codes is not None:
        codes = np.asarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 3:
            raise ValueError(f"reference codes must be uint8 (n, k, length), got {codes.dtype} {codes.shape}")
    if shared is not None:
        shared = np.asarray(shared, dtype=np.float32)
        if shared.ndim != 3 or shared.shape[1] != 4:
            raise ValueError(f"shared references must be (k, 4, length), got {shared.shape}")
    with atomic_directory(path) as temporary:
        root = zarr.open_group(str(temporary), mode="w")
        if codes is not None:
            _write_array(root, "codes", codes)
        else:
            _write_array(root, "shared", shared)
        root.attrs.update(dict(attrs or {}))


def reference_count(path: PathLike) -> int:
    """Number of references per region ``k`` in a ``references.zarr`` store."""
    root = zarr.open_group(str(path), mode="r")
    return int(root["codes"].shape[1] if "codes" in root else root["shared"].shape[0])


def read_reference_store(
    path: PathLike, regions: slice = slice(None), references: slice = slice(None)
) -> tuple[str, np.ndarray]:
    """Read a slice of references.

    Returns
    -------
    kind : {"codes", "shared"}
    array : np.ndarray
        ``codes``: ``(m, k_slice, length)`` uint8 for the selected regions; ``shared``:
        ``(k_slice, 4, length)`` float32, the same for every region.
    """
    root = zarr.open_group(str(path), mode="r")
    if "codes" in root:
        array = root["codes"]
        if 0 in array.shape:
            return "codes", np.zeros(array.shape, dtype=np.uint8)[regions, references]
        return "codes", np.asarray(array[regions, references])
    array = root["shared"]
    if 0 in array.shape:
        return "shared", np.zeros(array.shape, dtype=np.float32)[references]
    return "shared", np.asarray(array[references], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Shards


class ShardChunks:
    """Appends chunks of whole regions to a shard group being written (see :func:`write_shard`).

    Attributes
    ----------
    n_written : int
        Regions appended so far.
    """

    def __init__(self, arrays: Mapping[str, zarr.Array], n_regions: int):
        self._arrays = arrays
        self._n_regions = n_regions
        self.n_written = 0

    def append(
        self,
        hypothetical_sum: np.ndarray,
        deltas: np.ndarray,
        example_predictions: np.ndarray,
        reference_predictions: np.ndarray,
    ) -> None:
        """Write the next ``m`` regions' results; they go to disk at once as float64.

        Parameters
        ----------
        hypothetical_sum : np.ndarray
            ``(T, m, 4, length)``, summed over the block's references.
        deltas, reference_predictions : np.ndarray
            ``(T, m, k_block)``.
        example_predictions : np.ndarray
            ``(T, m)``.
        """
        values = (hypothetical_sum, deltas, example_predictions, reference_predictions)
        m = int(np.shape(hypothetical_sum)[1])
        if any(np.shape(array)[1] != m for array in values):
            pairs = zip(SHARD_ARRAYS, values, strict=True)
            shapes = listing(f"{name} {np.shape(array)}" for name, array in pairs)
            raise ValueError(f"chunk arrays disagree on the number of regions: {shapes}")
        if self.n_written + m > self._n_regions:
            raise ValueError(
                f"{self.n_written} + {m} regions appended to a shard of {self._n_regions}"
            )
        selection = slice(self.n_written, self.n_written + m)
        if m:
            for name, array in zip(SHARD_ARRAYS, values, strict=True):
                self._arrays[name][:, selection] = np.asarray(array, dtype=np.float64)
        self.n_written += m


@contextlib.contextmanager
def write_shard(
    path: PathLike,
    header: Mapping[str, Any],
    n_targets: int,
    n_regions: int,
    n_references: int,
    width: int,
    regions_per_chunk: int,
) -> Iterator[ShardChunks]:
    """Stream a shard group chunk by chunk; it appears at ``path`` only when the block succeeds.

    The arrays (layout in the module docstring) are created in a temporary folder next to
    ``path``, chunked by ``regions_per_chunk`` whole regions and compressed with
    :data:`SHARD_COMPRESSOR`; each appended chunk is written as it comes. The header goes into
    the group's attributes last, and the folder is then flushed to disk and renamed into place
    (:func:`atomic_directory`): a job killed at any point leaves only a ``.tmp-`` folder.

    Parameters
    ----------
    header : mapping
        JSON-serialisable provenance (see the module docstring).
    n_targets, n_regions, n_references, width : int
        ``T``, ``m``, ``k_block`` and ``length``; every one of the ``n_regions`` must be
        appended before the block ends.
    regions_per_chunk : int
        Regions per chunk, the number the caller appends at a time.

    Examples
    --------
    >>> with write_shard("block_1-of-1.zarr", header, 3, 100, 20, 250, 40) as shard:  # doctest: +SKIP
    ...     for chunk in chunks:
    ...         shard.append(chunk.hypothetical_sum, chunk.deltas, chunk.fx, chunk.fr)
    """
    shapes = {
        "hypothetical_sum": (n_targets, n_regions, 4, width),
        "deltas": (n_targets, n_regions, n_references),
        "example_predictions": (n_targets, n_regions),
        "reference_predictions": (n_targets, n_regions, n_references),
    }
    chunk = max(1, min(int(regions_per_chunk), n_regions))
    with atomic_directory(path, durable=True) as temporary:
        root = zarr.open_group(str(temporary), mode="w")
        arrays = {
            name: root.create_array(
                name,
                shape=shape,
                dtype=np.float64,
                chunks=(max(1, shape[0]), chunk, *(max(1, size) for size in shape[2:])),
                compressors=SHARD_COMPRESSOR,
                fill_value=np.nan,
            )
            for name, shape in shapes.items()
        }
        writer = ShardChunks(arrays, n_regions)
        yield writer
        if writer.n_written != n_regions:
            raise ValueError(
                f"{path}: {writer.n_written} of the shard's {n_regions} regions were appended"
            )
        root.attrs.update(dict(header))


def open_shard(path: PathLike) -> zarr.Group:
    """A shard group opened read-only; an array's regions ``a:b`` are ``group[name][:, a:b]``."""
    return zarr.open_group(str(path), mode="r")


def read_shard_header(path: PathLike) -> dict[str, Any]:
    """A shard's header (its group's attributes); no array is read."""
    return dict(open_shard(path).attrs)


# ---------------------------------------------------------------------------------------------
# attributions.zarr


@dataclass
class AttributionPart:
    """Aggregated results of regions ``start:stop`` (one region shard, all references).

    ``hypothetical`` ``(n_targets, m, 4, length)`` is the mean over all references;
    ``deltas`` and ``reference_predictions`` are ``(n_targets, m, n_references)``;
    ``example_predictions`` is ``(n_targets, m)``.
    """

    start: int
    stop: int
    hypothetical: np.ndarray
    deltas: np.ndarray
    example_predictions: np.ndarray
    reference_predictions: np.ndarray


def write_attribution_store(
    path: PathLike,
    regions_zarr: PathLike,
    target_names: Sequence[str],
    n_references: int,
    parts: Iterable[AttributionPart],
    attrs: Mapping[str, Any],
) -> None:
    """Write ``attributions.zarr`` (layout in the module docstring), atomically.

    Parameters
    ----------
    regions_zarr : path
        The regions store; its one-hot and region table are copied.
    target_names : sequence of str
        Group names, one per target, in target order.
    parts : iterable of AttributionPart
        Must cover ``range(n)`` exactly once; written as they come, so memory holds one part.
    attrs : mapping
        Root attributes: config, seqlift_version, model_checksum, targets, n_references.
    """
    source = zarr.open_group(str(regions_zarr), mode="r")
    n, width = source["onehot"].shape[0], source["onehot"].shape[-1]
    with atomic_directory(path) as temporary:
        root = zarr.open_group(str(temporary), mode="w")
        # The one-hot is copied a chunk at a time, and the region table (a few numbers per
        # region) whole, so that memory does not hold all sequences.
        onehot = root.create_array("onehot", shape=source["onehot"].shape, dtype=np.uint8,
                                   chunks=_chunks(source["onehot"].shape))
        for start in range(0, n, REGIONS_PER_CHUNK):
            onehot[start : start + REGIONS_PER_CHUNK] = source["onehot"][start : start + REGIONS_PER_CHUNK]
        _write_region_table(root, read_region_table(regions_zarr))
        arrays: dict[tuple[str, str], zarr.Array] = {}
        for group_name in ("hypothetical", "deltas", "predictions"):
            root.create_group(group_name)
        for name in target_names:
            predictions = root["predictions"].create_group(name)
            for key, group, array_name, shape in (
                ("hypothetical", root["hypothetical"], name, (n, 4, width)),
                ("deltas", root["deltas"], name, (n, n_references)),
                ("example", predictions, "example", (n,)),
                ("reference_mean", predictions, "reference_mean", (n,)),
                ("reference", predictions, "reference", (n, n_references)),
            ):
                arrays[(key, name)] = group.create_array(
                    array_name, shape=shape, dtype=np.float32, chunks=_chunks(shape), fill_value=np.nan
                )
        covered = 0
        for part in parts:
            selection = slice(part.start, part.stop)
            covered += part.stop - part.start
            if part.stop == part.start:
                continue
            for index, name in enumerate(target_names):
                arrays[("hypothetical", name)][selection] = part.hypothetical[index].astype(np.float32)
                arrays[("deltas", name)][selection] = part.deltas[index].astype(np.float32)
                arrays[("example", name)][selection] = part.example_predictions[index].astype(np.float32)
                arrays[("reference_mean", name)][selection] = _mean_last(
                    part.reference_predictions[index]
                ).astype(np.float32)
                arrays[("reference", name)][selection] = part.reference_predictions[index].astype(np.float32)
        if covered != n:
            raise ValueError(f"attribution parts cover {covered} regions, the store has {n}")
        root.attrs.update(dict(attrs))


def _mean_last(values: np.ndarray) -> np.ndarray:
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], np.nan)
    return values.mean(axis=-1)


def write_json(path: PathLike, payload: Any) -> None:
    """Write ``payload`` as indented JSON (keys in their order), atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Readers of attributions.zarr (used by the qc, plots and exports stages)


def open_store(attributions_zarr: PathLike | zarr.Group) -> zarr.Group:
    """Open an ``attributions.zarr`` store read-only (an open group is returned as is)."""
    if isinstance(attributions_zarr, zarr.Group):
        return attributions_zarr
    path = Path(attributions_zarr)
    if not path.exists():
        raise FileNotFoundError(f"attributions store not found: {path}")
    return zarr.open_group(str(path), mode="r")


def target_names(attributions_zarr: PathLike | zarr.Group) -> list[str]:
    """Target names in the order of the store's ``targets`` attribute.

    Falls back to the (sorted) members of the ``hypothetical`` group when the attribute is absent.
    """
    group = open_store(attributions_zarr)
    targets = group.attrs.get("targets")
    if targets:
        return [str(target["name"]) for target in targets]
    return sorted(group["hypothetical"].keys())


def resolve_target(attributions_zarr: PathLike | zarr.Group, target: str | int) -> str:
    """The stored name of ``target``, given as a name or as the model output index."""
    group = open_store(attributions_zarr)
    names = target_names(group)
    if isinstance(target, str) and target in names:
        return target
    if isinstance(target, int | np.integer):
        for entry in group.attrs.get("targets") or []:
            if int(entry["index"]) == int(target):
                return str(entry["name"])
    raise KeyError(
        f"target {target!r} is not in the attributions store; available: {listing(names)}"
    )


def projected_scores(hypothetical: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Per-base projected scores: hypothetical scores of the observed base.

    Parameters
    ----------
    hypothetical : np.ndarray
        ``(..., 4, length)`` hypothetical contributions.
    onehot : np.ndarray
        ``(..., 4, length)`` one-hot sequence; an all-zero column (N) projects to 0.

    Returns
    -------
    np.ndarray
        ``(..., length)`` float32, ``sum over bases of hypothetical * onehot``.
    """
    product = np.asarray(hypothetical, dtype=np.float32) * np.asarray(onehot, dtype=np.float32)
    return product.sum(axis=-2, dtype=np.float32)


def read_target_block(
    attributions_zarr: PathLike | zarr.Group, target: str | int, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot ``(m, 4, length)`` uint8 and hypothetical ``(m, 4, length)`` float32 of regions
    ``start:stop``."""
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    onehot = np.asarray(group["onehot"][start:stop], dtype=np.uint8)
    hypothetical = np.asarray(group[f"hypothetical/{name}"][start:stop], dtype=np.float32)
    return onehot, hypothetical


def iter_target_blocks(
    attributions_zarr: PathLike | zarr.Group, target: str | int, block_size: int | None = None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(first_region_index, onehot, hypothetical)`` blocks of at most ``block_size``
    regions (:data:`BLOCK_SIZE` when None), so that a genome-wide store never has to fit in
    memory at once."""
    group = open_store(attributions_zarr)
    step = block_size or BLOCK_SIZE
    for first in range(0, group["onehot"].shape[0], step):
        onehot, hypothetical = read_target_block(group, target, first, first + step)
        yield first, onehot, hypothetical

"""On-disk formats of the workflow: region and reference stores, shard files, the results store.

Everything is written atomically: into a temporary path in the destination's own folder, then
moved into place with :func:`os.replace`, so that a job killed mid-write (even by SIGKILL) leaves
only a ``.tmp-*`` leftover, never a file that Snakemake or seqlift would take as finished; the
next write of the same path (the rerun of that job) removes the leftover.

Stores (zarr v3 directories)::

    regions.zarr      onehot (n, 4, length) uint8; regions/{id, chrom, start, end, number}
    references.zarr   codes (n, k, length) uint8, A=0 C=1 G=2 T=3 N=4 (one byte per base),
                      or shared (k, 4, length) float32 when every region uses the same ones
    attributions.zarr onehot, hypothetical/<target>, deltas/<target>,
                      predictions/<target>/{example, reference_mean}, regions/* (see below)

A shard file (``.npz``) holds one region shard x one reference block: float64 sums over the
block's references of the hypothetical contributions ``(n_targets, n, 4, length)``, the signed
deltas ``(n_targets, n, k_block)``, ``f(x)`` ``(n_targets, n)`` and ``f(r)`` ``(n_targets, n,
k_block)``, plus a JSON header recording what made it (config hash, model checksum, seqlift
version, region and reference ranges). The arrays are stored in chunks of whole regions, as
``chunk_<i>/<array>`` members of an uncompressed zip, with ``chunks`` ``(c, 2)`` int64 giving each
chunk's ``[start, stop)`` inside the shard: :func:`write_shard_chunks` streams the chunks to disk
as they are computed, so that neither the writer nor a reader (:class:`ShardFile`) ever holds more
than one chunk of a shard in memory. Shards written before chunking (one member per array) are
read as one chunk.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from seqlift.errors import SeqliftError

PathLike = str | os.PathLike

__all__ = [
    "StorageError",
    "atomic_directory",
    "atomic_file",
    "RegionStore",
    "write_region_store",
    "read_region_store",
    "write_reference_store",
    "read_reference_store",
    "reference_count",
    "ShardResult",
    "ShardFile",
    "ShardWriter",
    "write_shard",
    "write_shard_chunks",
    "read_shard",
    "read_shard_header",
    "AttributionPart",
    "write_attribution_store",
    "write_json",
]

# Chunks of about this many regions keep a chunk of (n, 4, 2114) float32 near 8 MB.
REGIONS_PER_CHUNK = 256


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


@contextlib.contextmanager
def atomic_directory(path: PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``path``; rename it to ``path`` on success.

    An existing ``path`` is replaced only after the new folder is complete. Temporaries that a
    killed earlier write of ``path`` left behind are removed first.
    """
    path = Path(path)
    with _clear_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            yield temporary
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
        ``(n,)`` int64, the region number inside the id (``region_000042`` -> 42), which seeds the
        region's references independently of sharding.
    """

    onehot: np.ndarray
    ids: np.ndarray
    chroms: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    numbers: np.ndarray

    def __len__(self) -> int:
        return int(self.onehot.shape[0])


def _write_region_table(group: zarr.Group, regions: RegionStore) -> None:
    table = group.create_group("regions")
    _write_array(table, "id", np.asarray(regions.ids, dtype=str))
    _write_array(table, "chrom", np.asarray(regions.chroms, dtype=str))
    _write_array(table, "start", np.asarray(regions.starts, dtype=np.int64))
    _write_array(table, "end", np.asarray(regions.ends, dtype=np.int64))
    _write_array(table, "number", np.asarray(regions.numbers, dtype=np.int64))


def write_region_store(path: PathLike, regions: RegionStore, attrs: Mapping[str, Any] | None = None) -> None:
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


def _region_table(path: PathLike) -> RegionStore:
    """The region table of a ``regions.zarr`` store, without its one-hot (left empty)."""
    root = zarr.open_group(str(path), mode="r")
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


@dataclass
class ShardResult:
    """Partial results of one region shard x one reference block (float64 sums, see module doc).

    Attributes
    ----------
    hypothetical_sum : np.ndarray
        ``(n_targets, n, 4, length)`` float64, sum over the block's references.
    deltas : np.ndarray
        ``(n_targets, n, k_block)`` float64, signed ``f(x) - f(r) - sum((x - r) * m)``.
    example_predictions : np.ndarray
        ``(n_targets, n)`` float64, ``f(x)``.
    reference_predictions : np.ndarray
        ``(n_targets, n, k_block)`` float64, ``f(r)``.
    header : dict
        JSON-serialisable provenance: config_hash, model_checksum, seqlift_version,
        region_start/region_stop, reference_start/reference_stop, shard, block.
    """

    hypothetical_sum: np.ndarray
    deltas: np.ndarray
    example_predictions: np.ndarray
    reference_predictions: np.ndarray
    header: dict


_SHARD_ARRAYS = ("hypothetical_sum", "deltas", "example_predictions", "reference_predictions")


class ShardWriter:
    """Appends chunks of whole regions to an open shard archive (see :func:`write_shard_chunks`)."""

    def __init__(self, archive: zipfile.ZipFile):
        self._archive = archive
        self._bounds: list[tuple[int, int]] = []

    @property
    def n_regions(self) -> int:
        """Regions written so far."""
        return self._bounds[-1][1] if self._bounds else 0

    def append(
        self,
        hypothetical_sum: np.ndarray,
        deltas: np.ndarray,
        example_predictions: np.ndarray,
        reference_predictions: np.ndarray,
    ) -> None:
        """Write the next ``m`` regions' results (shapes as in :class:`ShardResult`, ``n`` -> ``m``).

        Each array goes to disk at once as float64; nothing is kept in memory.
        """
        arrays = dict(zip(_SHARD_ARRAYS, (hypothetical_sum, deltas, example_predictions, reference_predictions), strict=True))
        m = int(np.shape(hypothetical_sum)[1])
        if any(np.shape(array)[1] != m for array in arrays.values()):
            raise ValueError(f"chunk arrays disagree on the number of regions: { {k: np.shape(v) for k, v in arrays.items()} }")
        index = len(self._bounds)
        for name, array in arrays.items():
            self._write(f"chunk_{index:06d}/{name}", np.asarray(array, dtype=np.float64))
        self._bounds.append((self.n_regions, self.n_regions + m))

    def _write(self, name: str, array: np.ndarray) -> None:
        with self._archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)

    def _finish(self, header: Mapping[str, Any]) -> None:
        self._write("chunks", np.asarray(self._bounds, dtype=np.int64).reshape(-1, 2))
        self._write("header", np.frombuffer(json.dumps(dict(header), sort_keys=True).encode(), dtype=np.uint8))


@contextlib.contextmanager
def write_shard_chunks(path: PathLike, header: Mapping[str, Any]) -> Iterator[ShardWriter]:
    """Stream a shard file chunk by chunk; it appears at ``path`` only when the block succeeds.

    The chunks go into a temporary ``.npz`` next to ``path`` (an uncompressed zip: float64 sums
    barely compress), written as they are appended; the header and the chunk table are added
    last and the file is then moved into place (:func:`atomic_file`). A job killed at any point
    leaves only a ``.tmp-`` file. Append at least one chunk (it may hold zero regions).

    Examples
    --------
    >>> with write_shard_chunks("shard.npz", header) as writer:  # doctest: +SKIP
    ...     for chunk in chunks:
    ...         writer.append(chunk.hypothetical_sum, chunk.deltas, chunk.fx, chunk.fr)
    """
    with atomic_file(path, suffix=".npz") as temporary:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            writer = ShardWriter(archive)
            yield writer
            if not writer._bounds:
                raise ValueError(f"{path}: a shard needs at least one chunk (it may be empty)")
            writer._finish(header)


def write_shard(path: PathLike, result: ShardResult) -> None:
    """Write a whole shard ``.npz`` atomically, as one chunk."""
    with write_shard_chunks(path, result.header) as writer:
        writer.append(result.hypothetical_sum, result.deltas, result.example_predictions,
                      result.reference_predictions)


class ShardFile:
    """A shard ``.npz`` opened for reading; arrays are read one chunk at a time.

    Attributes
    ----------
    header : dict
        The provenance header (see :class:`ShardResult`).
    bounds : list of (int, int)
        ``[start, stop)`` of each chunk inside the shard.
    """

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self._npz = np.load(self.path, allow_pickle=False)
        try:
            self.header = json.loads(bytes(self._npz["header"]).decode())
            if "chunks" in self._npz.files:
                self.bounds = [(int(a), int(b)) for a, b in self._npz["chunks"]]
                self._names = [f"chunk_{i:06d}/{{}}" for i in range(len(self.bounds))]
            else:  # one member per array
                n = int(self._npz["example_predictions"].shape[1])
                self.bounds, self._names = [(0, n)], ["{}"]
        except Exception:
            self._npz.close()
            raise

    @property
    def n_regions(self) -> int:
        """Regions in the shard."""
        return self.bounds[-1][1] if self.bounds else 0

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Array ``name`` for the shard's regions ``start:stop`` (region axis 1), float64.

        Only the chunks that overlap ``start:stop`` are read.
        """
        if name not in _SHARD_ARRAYS:
            raise KeyError(f"{name!r} is not a shard array; one of {_SHARD_ARRAYS}")
        stop = self.n_regions if stop is None else stop
        pieces = [
            self._npz[member.format(name)][:, max(start, first) - first : min(stop, last) - first]
            for (first, last), member in zip(self.bounds, self._names, strict=True)
            if first < stop and last > start
        ]
        if not pieces:
            # An empty range: the first chunk's shape with zero regions.
            pieces = [self._npz[self._names[0].format(name)][:, 0:0]]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)

    def close(self) -> None:
        self._npz.close()

    def __enter__(self) -> ShardFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_shard(path: PathLike) -> ShardResult:
    """Read a whole shard ``.npz`` written by :func:`write_shard` or :func:`write_shard_chunks`."""
    with ShardFile(path) as shard:
        arrays = {name: shard.read(name) for name in _SHARD_ARRAYS}
        return ShardResult(header=shard.header, **arrays)


def read_shard_header(path: PathLike) -> dict:
    """A shard's header alone (its arrays are not read)."""
    with ShardFile(path) as shard:
        return shard.header


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
    """Write ``attributions.zarr`` in the layout shared with :mod:`seqlift.exports`, atomically.

    Layout::

        onehot                              (n, 4, length) uint8
        hypothetical/<target>               (n, 4, length) float32, mean over all references
        deltas/<target>                     (n, n_references) float32, signed
        predictions/<target>/example        (n,) float32, f(x)
        predictions/<target>/reference_mean (n,) float32, mean over references of f(r)
        predictions/<target>/reference      (n, n_references) float32, f(r)
        regions/{id, chrom}                 (n,) str
        regions/{start, end, number}        (n,) int64

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
        _write_region_table(root, _region_table(regions_zarr))
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
    """Write JSON atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")

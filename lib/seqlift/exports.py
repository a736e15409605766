"""Read an aggregated ``attributions.zarr`` store and export it for downstream tools.

The store is the one the workflow's aggregate step writes (``results/<name>/attributions.zarr``)::

    onehot                              (n, 4, length) uint8
    hypothetical/<target>               (n, 4, length) float32, mean over all references
    deltas/<target>                     (n, n_references) float32, signed
    predictions/<target>/example        (n,) float32, f(x)
    predictions/<target>/reference_mean (n,) float32, mean over references of f(r)
    regions/id, regions/chrom           (n,) str
    regions/start, regions/end          (n,) int64, 0-based half-open genome coordinates
    attrs: config, seqlift_version, model_checksum, targets [{index, name}], n_references

Exports, one entry function each:

- :func:`export_tfmodisco` -- ``ohe.npz`` and ``attr.npz`` for ``modisco motifs -s ohe.npz -a
  attr.npz``. tfmodisco-lite loads ``np.load(path)["arr_0"]``, slices the central ``--window``
  along the LAST axis and then transposes ``(0, 2, 1)``, so it needs ``(n, 4, length)``; an
  ``(n, length, 4)`` array would be sliced along the wrong axis. We write ``(n, 4, length)``.
- :func:`export_chrombpnet_h5` -- the ChromBPNet ``interpret`` layout: ``raw/seq`` (int8 one-hot),
  ``shap/seq`` (hypothetical) and ``projected_shap/seq`` (hypothetical x one-hot), all
  ``(n, 4, length)``. ChromBPNet stores the scores as float16; we keep float32 so nothing is lost
  (tfmodisco-lite's ``modisco motifs -i`` reader casts to float32 either way).
- :func:`export_bigwig` -- per-base projected scores on the genome, overlapping regions resolved
  by the nearest-centre rule (see the function).

The readers here (:func:`target_names`, :func:`read_regions`, :func:`read_target_block`,
:func:`projected_scores`) are shared with :mod:`seqlift.qc` and :mod:`seqlift.figures`. Arrays are
streamed in blocks of regions so that genome-wide stores never have to fit in memory at once.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pyBigWig
import zarr

from seqlift.storage import atomic_file

PathLike = str | os.PathLike

__all__ = [
    "RegionTable",
    "open_store",
    "target_names",
    "resolve_target",
    "read_regions",
    "projected_scores",
    "read_target_block",
    "iter_target_blocks",
    "export_tfmodisco",
    "export_chrombpnet_h5",
    "read_chrom_sizes",
    "export_bigwig",
]

logger = logging.getLogger(__name__)

# Regions read per block when streaming; 1024 x 4 x 2114 float32 is about 35 MB.
BLOCK_SIZE = 1024


@dataclass(frozen=True)
class RegionTable:
    """The region table of a store: ids, chromosomes and 0-based half-open coordinates, ``(n,)``."""

    ids: list[str]
    chroms: list[str]
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


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
    raise KeyError(f"target {target!r} is not in the attributions store; available: {names}")


def read_regions(attributions_zarr: PathLike | zarr.Group) -> RegionTable:
    """Read ``regions/{id,chrom,start,end}`` from the store."""
    group = open_store(attributions_zarr)
    return RegionTable(
        ids=[str(value) for value in group["regions/id"][:]],
        chroms=[str(value) for value in group["regions/chrom"][:]],
        starts=np.asarray(group["regions/start"][:], dtype=np.int64),
        ends=np.asarray(group["regions/end"][:], dtype=np.int64),
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
    attributions_zarr: PathLike | zarr.Group, target: str | int, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(first_region_index, onehot, hypothetical)`` blocks of at most ``block_size`` regions."""
    group = open_store(attributions_zarr)
    n_regions = group["onehot"].shape[0]
    for first in range(0, n_regions, block_size):
        onehot, hypothetical = read_target_block(group, target, first, first + block_size)
        yield first, onehot, hypothetical


def export_tfmodisco(
    attributions_zarr: PathLike, target: str | int, out_dir: PathLike
) -> tuple[Path, Path]:
    """Write tfmodisco-lite inputs ``out_dir/ohe.npz`` and ``out_dir/attr.npz``.

    Both hold a single array ``arr_0`` of shape ``(n, 4, length)`` float32: the one-hot sequences
    and the hypothetical scores of ``target``, in region order. Run motif discovery with
    ``modisco motifs -s ohe.npz -a attr.npz -n <max_seqlets> -w <window>`` (the window must not
    exceed ``length``).

    Returns
    -------
    tuple[Path, Path]
        The paths of ``ohe.npz`` and ``attr.npz``.
    """
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shape = tuple(group["onehot"].shape)
    ohe_path, attr_path = out_dir / "ohe.npz", out_dir / "attr.npz"
    _write_npz_blockwise(
        ohe_path,
        shape,
        np.float32,
        (onehot.astype(np.float32) for _, onehot, _ in iter_target_blocks(group, name)),
    )
    _write_npz_blockwise(
        attr_path,
        shape,
        np.float32,
        (hypothetical for _, _, hypothetical in iter_target_blocks(group, name)),
    )
    logger.info("tfmodisco-lite inputs of %s, %s regions: %s, %s", name, shape[0], ohe_path, attr_path)
    return ohe_path, attr_path


def export_chrombpnet_h5(attributions_zarr: PathLike, target: str | int, path: PathLike) -> Path:
    """Write a ChromBPNet-style interpretation h5 for ``target``.

    Datasets, all ``(n, 4, length)`` in region order: ``raw/seq`` int8 one-hot, ``shap/seq``
    float32 hypothetical scores, ``projected_shap/seq`` float32 hypothetical x one-hot. This is the
    layout ``chrombpnet interpret`` writes and ``modisco motifs -i`` reads.
    """
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    shape = tuple(group["onehot"].shape)
    path = Path(path)
    with atomic_file(path) as temporary, h5py.File(temporary, "w") as h5:
        raw = h5.create_dataset("raw/seq", shape=shape, dtype=np.int8)
        shap = h5.create_dataset("shap/seq", shape=shape, dtype=np.float32)
        projected = h5.create_dataset("projected_shap/seq", shape=shape, dtype=np.float32)
        for first, onehot, hypothetical in iter_target_blocks(group, name):
            stop = first + onehot.shape[0]
            raw[first:stop] = onehot.astype(np.int8)
            shap[first:stop] = hypothetical
            projected[first:stop] = hypothetical * onehot.astype(np.float32)
    logger.info("ChromBPNet-style h5 of %s, %s regions: %s", name, shape[0], path)
    return path


def read_chrom_sizes(chrom_sizes: PathLike | Mapping[str, int]) -> dict[str, int]:
    """Chromosome sizes, in order, from a dict, a FASTA ``.fai`` or a two-column ``chrom.sizes``.

    Both file formats start each line with ``name<TAB>length``; later columns are ignored.
    """
    if isinstance(chrom_sizes, Mapping):
        return {str(chrom): int(size) for chrom, size in chrom_sizes.items()}
    sizes: dict[str, int] = {}
    with open(chrom_sizes) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if not fields[0] or fields[0].startswith("#"):
                continue
            if len(fields) < 2 or not fields[1].isdigit():
                raise ValueError(
                    f"{chrom_sizes}, line {line_number}: expected 'name<TAB>length', got {line!r}"
                )
            sizes[fields[0]] = int(fields[1])
    return sizes


def export_bigwig(
    attributions_zarr: PathLike,
    target: str | int,
    path: PathLike,
    chrom_sizes: PathLike | Mapping[str, int],
) -> Path:
    """Write a bigWig of per-base projected scores of ``target``.

    Every base covered by at least one region gets the projected score (hypothetical x one-hot
    summed over bases) from one region; uncovered bases have no entry. Where regions overlap, a
    base takes its value from the covering region whose centre ``(start + end) / 2`` is nearest to
    the base's midpoint, ties going to the region with the smaller centre, then to the earlier
    region in the store. For summit-centred windows this keeps each window's core and splits an
    overlap halfway between the two summits.

    Parameters
    ----------
    chrom_sizes : path or mapping
        A FASTA ``.fai``, a ``chrom.sizes`` file or ``{chrom: size}``. The bigWig header lists the
        chromosomes in this order, and entries are written in it.
    """
    group = open_store(attributions_zarr)
    name = resolve_target(group, target)
    regions = read_regions(group)
    sizes = read_chrom_sizes(chrom_sizes)
    _check_regions_fit(regions, sizes, length=group["onehot"].shape[2])

    chrom_rank = {chrom: rank for rank, chrom in enumerate(sizes)}
    # bigWig entries must follow the header's chromosome order and ascend within a chromosome.
    order = sorted(
        range(len(regions)),
        key=lambda index: (chrom_rank[regions.chroms[index]], regions.starts[index], index),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=path.parent) as scratch,
        atomic_file(path) as temporary,
    ):
        # Regions are visited in genome order but stored in input order, so the projected scores
        # go to a disk-backed array once instead of re-reading zarr chunks per region.
        scores = _projected_memmap(group, name, Path(scratch) / "projected.f32")
        bigwig = pyBigWig.open(str(temporary), "w")
        try:
            bigwig.addHeader(list(sizes.items()))
            for chrom, members in _overlap_clusters(order, regions):
                span_start, values = _resolve_cluster(scores, regions, members)
                bigwig.addEntries(chrom, span_start, values=values, span=1, step=1)
        finally:
            bigwig.close()
    logger.info("bigWig of %s projected scores, %d regions: %s", name, len(regions), path)
    return path


def _projected_memmap(group: zarr.Group, target: str, scratch_path: Path) -> np.ndarray:
    n_regions, _, length = group["onehot"].shape
    if n_regions == 0:
        return np.zeros((0, length), dtype=np.float32)
    scores = np.lib.format.open_memmap(
        scratch_path, mode="w+", dtype=np.float32, shape=(n_regions, length)
    )
    for first, onehot, hypothetical in iter_target_blocks(group, target):
        scores[first : first + onehot.shape[0]] = projected_scores(hypothetical, onehot)
    return scores


def _check_regions_fit(regions: RegionTable, sizes: dict[str, int], length: int) -> None:
    for index in range(len(regions)):
        chrom = regions.chroms[index]
        width = int(regions.ends[index] - regions.starts[index])
        if width != length:
            raise ValueError(
                f"region {regions.ids[index]} ({chrom}:{regions.starts[index]}-"
                f"{regions.ends[index]}) is {width} bp but the stored sequences are {length} bp"
            )
        if chrom not in sizes:
            raise ValueError(
                f"region {regions.ids[index]} is on {chrom!r}, which is not in the chromosome "
                f"sizes ({len(sizes)} chromosomes); pass the .fai of the genome the regions came from"
            )
        if regions.starts[index] < 0 or regions.ends[index] > sizes[chrom]:
            raise ValueError(
                f"region {regions.ids[index]} ({chrom}:{regions.starts[index]}-"
                f"{regions.ends[index]}) extends past the end of {chrom} (size {sizes[chrom]})"
            )


def _overlap_clusters(order: list[int], regions: RegionTable) -> Iterator[tuple[str, list[int]]]:
    """Split regions sorted by (chromosome, start) into runs whose union is one interval."""
    cluster: list[int] = []
    cluster_chrom, cluster_end = "", -1
    for index in order:
        chrom = regions.chroms[index]
        if cluster and (chrom != cluster_chrom or regions.starts[index] >= cluster_end):
            yield cluster_chrom, cluster
            cluster = []
        if not cluster:
            cluster_chrom, cluster_end = chrom, -1
        cluster.append(index)
        cluster_end = max(cluster_end, int(regions.ends[index]))
    if cluster:
        yield cluster_chrom, cluster


def _resolve_cluster(
    scores: np.ndarray, regions: RegionTable, members: list[int]
) -> tuple[int, np.ndarray]:
    """Per-base values over a cluster's span by the nearest-centre rule."""
    span_start = int(min(regions.starts[index] for index in members))
    span_end = int(max(regions.ends[index] for index in members))
    values = np.zeros(span_end - span_start, dtype=np.float32)
    best_distance = np.full(span_end - span_start, np.iinfo(np.int64).max, dtype=np.int64)
    # Visit in tie-break order and only replace on a strictly smaller distance.
    for index in sorted(
        members, key=lambda index: (regions.starts[index] + regions.ends[index], index)
    ):
        start, end = int(regions.starts[index]), int(regions.ends[index])
        region_scores = np.asarray(scores[index])
        # Twice the distance from base midpoint (b + 0.5) to centre (start + end) / 2, in integers.
        distance = np.abs(2 * np.arange(start, end, dtype=np.int64) + 1 - (start + end))
        offset = slice(start - span_start, end - span_start)
        closer = distance < best_distance[offset]
        values[offset][closer] = region_scores[closer]
        best_distance[offset][closer] = distance[closer]
    return span_start, values


def _write_npz_blockwise(
    path: Path, shape: tuple[int, ...], dtype: type, blocks: Iterator[np.ndarray]
) -> None:
    """Write an ``.npz`` holding one array ``arr_0`` from row blocks, as ``np.savez`` would."""
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    n_rows = 0
    with (
        atomic_file(path) as temporary,
        zipfile.ZipFile(temporary, mode="w", compression=zipfile.ZIP_STORED) as archive,
        archive.open("arr_0.npy", mode="w", force_zip64=True) as member,
    ):
        np.lib.format.write_array_header_2_0(member, header)
        for block in blocks:
            member.write(np.ascontiguousarray(block, dtype=dtype).tobytes())
            n_rows += block.shape[0]
        if n_rows != shape[0]:
            raise RuntimeError(f"wrote {n_rows} rows to {path}, expected {shape[0]}")

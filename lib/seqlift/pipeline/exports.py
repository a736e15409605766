"""Stage ``exports``: an ``attributions.zarr`` store written out for downstream tools.

The rule's function is :func:`write_exports` (the switched-on exports of every target, in one
job). The store's layout and its readers are in :mod:`seqlift.pipeline.storage`.

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

Arrays are streamed in blocks of regions so that genome-wide stores never have to fit in memory
at once.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pyBigWig
import zarr

from seqlift.pipeline import storage

PathLike = str | os.PathLike

__all__ = [
    "export_bigwig",
    "export_chrombpnet_h5",
    "export_tfmodisco",
    "read_chrom_sizes",
    "write_exports",
]

logger = logging.getLogger(__name__)


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
    group = storage.open_store(attributions_zarr)
    name = storage.resolve_target(group, target)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shape = tuple(group["onehot"].shape)
    ohe_path, attr_path = out_dir / "ohe.npz", out_dir / "attr.npz"
    _write_npz_blockwise(
        ohe_path,
        shape,
        np.float32,
        (onehot.astype(np.float32) for _, onehot, _ in storage.iter_target_blocks(group, name)),
    )
    _write_npz_blockwise(
        attr_path,
        shape,
        np.float32,
        (hypothetical for _, _, hypothetical in storage.iter_target_blocks(group, name)),
    )
    logger.info("tfmodisco-lite inputs of %s, %s regions: %s, %s", name, shape[0], ohe_path, attr_path)
    return ohe_path, attr_path


def export_chrombpnet_h5(attributions_zarr: PathLike, target: str | int, path: PathLike) -> Path:
    """Write a ChromBPNet-style interpretation h5 for ``target``.

    Datasets, all ``(n, 4, length)`` in region order: ``raw/seq`` int8 one-hot, ``shap/seq``
    float32 hypothetical scores, ``projected_shap/seq`` float32 hypothetical x one-hot. This is the
    layout ``chrombpnet interpret`` writes and ``modisco motifs -i`` reads.
    """
    group = storage.open_store(attributions_zarr)
    name = storage.resolve_target(group, target)
    shape = tuple(group["onehot"].shape)
    path = Path(path)
    with storage.atomic_file(path) as temporary, h5py.File(temporary, "w") as h5:
        raw = h5.create_dataset("raw/seq", shape=shape, dtype=np.int8)
        shap = h5.create_dataset("shap/seq", shape=shape, dtype=np.float32)
        projected = h5.create_dataset("projected_shap/seq", shape=shape, dtype=np.float32)
        for first, onehot, hypothetical in storage.iter_target_blocks(group, name):
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
    group = storage.open_store(attributions_zarr)
    name = storage.resolve_target(group, target)
    regions = storage.read_region_table(group)
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
        storage.atomic_file(path) as temporary,
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
    for first, onehot, hypothetical in storage.iter_target_blocks(group, target):
        scores[first : first + onehot.shape[0]] = storage.projected_scores(hypothetical, onehot)
    return scores


def _check_regions_fit(regions: storage.RegionStore, sizes: dict[str, int], length: int) -> None:
    for index in range(len(regions)):
        chrom = str(regions.chroms[index])
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


def _overlap_clusters(order: list[int], regions: storage.RegionStore) -> Iterator[tuple[str, list[int]]]:
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
    scores: np.ndarray, regions: storage.RegionStore, members: list[int]
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
        storage.atomic_file(path) as temporary,
        zipfile.ZipFile(temporary, mode="w", compression=zipfile.ZIP_STORED) as archive,
        archive.open("arr_0.npy", mode="w", force_zip64=True) as member,
    ):
        np.lib.format.write_array_header_2_0(member, header)
        for block in blocks:
            member.write(np.ascontiguousarray(block, dtype=dtype).tobytes())
            n_rows += block.shape[0]
        if n_rows != shape[0]:
            raise RuntimeError(f"wrote {n_rows} rows to {path}, expected {shape[0]}")


def write_exports(
    attributions_zarr: PathLike,
    out_dir: PathLike,
    targets: Sequence[str],
    tfmodisco: bool = True,
    chrombpnet_h5: bool = True,
    bigwig: bool = True,
    chrom_sizes: PathLike | Mapping[str, int] | None = None,
) -> list[Path]:
    """Rule ``exports``: the switched-on exports of every target under ``out_dir/<target>/``.

    ``ohe.npz`` and ``attr.npz`` (:func:`export_tfmodisco`), ``shap.h5``
    (:func:`export_chrombpnet_h5`) and ``projected.bw`` (:func:`export_bigwig`, which needs
    ``chrom_sizes``: a ``.fai`` or a mapping).

    Returns
    -------
    list of Path
        The files written.
    """
    if bigwig and chrom_sizes is None:
        raise ValueError("the bigWig export needs chrom_sizes")
    written: list[Path] = []
    for target in targets:
        folder = Path(out_dir) / target
        if tfmodisco:
            written.extend(export_tfmodisco(attributions_zarr, target, folder))
        if chrombpnet_h5:
            written.append(export_chrombpnet_h5(attributions_zarr, target, folder / "shap.h5"))
        if bigwig:
            written.append(
                export_bigwig(attributions_zarr, target, folder / "projected.bw", chrom_sizes)
            )
    return written

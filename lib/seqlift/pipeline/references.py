"""Stage ``references``: every region's references, generated once and stored compactly.

The rule's function is :func:`make_references`; the attribution stage reads slices of the store
back as float32 one-hot with :func:`load_references`. (The reference methods themselves, the
shuffles and ``region_seed``, are the library's :mod:`seqlift.references`.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqlift.errors import InputError
from seqlift.pipeline import storage

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike

__all__ = ["load_references", "make_references"]

# Regions per batch when generating references, to bound memory on genome-wide runs.
_REFERENCE_CHUNK = 512
METHODS = ("dinucleotide_shuffle", "zeros", "uniform", "file")
"""The values of the config's ``references.method``."""


def _references_from_file(
    path: Path, n_regions: int, width: int, n: int
) -> dict[str, np.ndarray]:
    """Load user references for :func:`make_references`.

    Accepted: ``.npy`` (or ``.npz`` with ``arr_0``) one-hot ``(n_regions, k, 4, width)`` (one set
    per kept region, in regions.bed order), or ``(k, 4, width)`` shared by every region (any
    values, e.g. a GC profile).

    Returns
    -------
    dict
        ``{"codes": (n_regions, k, width) uint8}`` or ``{"shared": (k, 4, width) float32}``,
        the keyword arguments of :func:`seqlift.pipeline.storage.write_reference_store`.
    """
    if not path.is_file():
        raise InputError(
            f"references.file {str(path)!r} does not exist; fix the path in the config"
        )
    from seqlift.sequence import onehot_to_codes

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(
            f"references.file {str(path)!r} is not a .npy/.npz array file ({error})"
        ) from error
    array = loaded["arr_0"] if isinstance(loaded, np.lib.npyio.NpzFile) else loaded
    where = f"references.file {str(path)!r} (shape {array.shape}, {array.dtype})"
    if array.ndim == 3 and array.shape[1:] == (4, width):
        result = {"shared": np.asarray(array, dtype=np.float32)}
        k = array.shape[0]
    elif array.ndim == 4 and array.shape[2:] == (4, width):
        try:
            codes = onehot_to_codes(np.asarray(array, dtype=np.float32))
        except ValueError as error:
            raise InputError(
                f"{where}: per-region references must be one-hot (one base or all zeros per "
                "position); only references shared by all regions, (k, 4, width), may hold "
                "other values"
            ) from error
        result = {"codes": np.asarray(codes, dtype=np.uint8)}
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
        raise InputError(
            f"{where}: holds {k} references per region but references.n is {n}; make them agree"
        )
    return result


def make_references(
    regions_zarr: PathLike,
    references_zarr: PathLike,
    method: str = "dinucleotide_shuffle",
    n: int = 20,
    seed: int = 0,
    file: PathLike | None = None,
) -> None:
    """Generate every region's references and store them (layout in :mod:`.storage`).

    Region ``i`` is seeded with ``region_seed(seed, number_i)``, its number from the region
    table, so its references do not depend on which other regions exist or how they are
    sharded. Shuffles are stored as base codes ``(n_regions, n, length)`` uint8; ``zeros`` and
    ``uniform`` (0.25 everywhere), the same for every region, as one shared ``(n, 4, length)``
    array.

    Parameters
    ----------
    regions_zarr, references_zarr : path
        The regions stage's store; the store to write.
    method : {"dinucleotide_shuffle", "zeros", "uniform", "file"}
        ``file`` loads ``file`` (see :func:`_references_from_file`).
    n : int
        References per region (``k``).
    seed : int
        Base seed of the run.
    file : path, optional
        With ``method="file"``.
    """
    import torch

    from seqlift import references as reference_methods
    from seqlift.sequence import onehot_to_codes

    regions = storage.read_region_store(regions_zarr)
    width = regions.onehot.shape[-1]
    attrs = {"method": method, "n": int(n), "seed": int(seed)}
    if n < 1:
        raise InputError(f"references.n must be at least 1, got {n}")
    if method == "file":
        if not file:
            raise InputError("references.method is 'file' but references.file is not set")
        stored = _references_from_file(Path(file), len(regions), width, n)
        storage.write_reference_store(references_zarr, **stored, attrs=attrs)
    elif method in ("zeros", "uniform"):
        generate = getattr(reference_methods, method)
        shared = generate(torch.zeros(1, 4, width), n=n)[0]
        storage.write_reference_store(references_zarr, shared=shared.numpy(), attrs=attrs)
    elif method == "dinucleotide_shuffle":
        codes = np.zeros((len(regions), n, width), dtype=np.uint8)
        for start in range(0, len(regions), _REFERENCE_CHUNK):
            stop = min(start + _REFERENCE_CHUNK, len(regions))
            # Shuffled as base codes: the same shuffles as dinucleotide_shuffle, without a float
            # one-hot of every reference.
            region_codes = onehot_to_codes(regions.onehot[start:stop])
            seeds = [
                reference_methods.region_seed(seed, int(number))
                for number in regions.numbers[start:stop]
            ]
            codes[start:stop] = reference_methods.dinucleotide_shuffle_codes(
                region_codes, n=n, random_state=seeds
            )
        storage.write_reference_store(references_zarr, codes=codes, attrs=attrs)
    else:
        raise InputError(
            f"references.method must be one of {', '.join(METHODS)}; got {method!r}"
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

    from seqlift.sequence import codes_to_onehot

    kind, array = storage.read_reference_store(references_zarr, regions, references)
    if kind == "codes":
        return codes_to_onehot(torch.from_numpy(np.ascontiguousarray(array)), dtype=torch.float32)
    return torch.from_numpy(array).unsqueeze(0).expand(n_regions, *array.shape)

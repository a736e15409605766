"""Stage ``regions``: read a BED / narrowPeak file and cut fixed-width one-hot windows from a FASTA.

The rule's function is :func:`extract_regions_to_store`, which writes ``regions.bed``,
``dropped_regions.tsv`` and ``regions.zarr``. Every data row of the input BED is accounted for:
it either becomes a kept :class:`Region` (in input order, with one-hot sequence in
``RegionSet.onehot``) or a :class:`DroppedRegion` carrying the reason it was dropped.

A region's number is the 0-based index of its row among the data rows of the BED (header,
``track``, ``browser``, comment and blank lines are not counted), so it never changes when other
rows are dropped. It is carried as data (:attr:`Region.number`, the ``number`` column of
``regions.bed`` and of the stores' region tables) and seeds the region's references; the id
``region_{number:06d}`` is only its name.

Windows
-------
A window of ``width`` bp is centred on ``centre = start + summit`` when the row has a summit
(narrowPeak column 10, an offset from ``start``; ``-1`` means absent), else on the midpoint
``centre = (start + end) // 2`` (rounded down). The window is
``[centre - width // 2, centre - width // 2 + width)``, in 0-based half-open coordinates, so
the centre base sits at index ``width // 2`` of the window: the exact middle for an odd width,
the right-hand one of the two middle bases for an even width.

Bases
-----
``A``, ``C``, ``G``, ``T`` (upper or lower case) become one-hot columns in that order; ``N``, the
other IUPAC codes and any other character become an all-zero column and count as ``N`` for
``max_n_fraction``.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqlift._codes import CODE_TO_ONEHOT, N_CODE, sequence_to_codes
from seqlift._utils import listing
from seqlift.errors import InputError

if TYPE_CHECKING:
    from seqlift.pipeline.storage import RegionStore

__all__ = [
    "BedRecord",
    "Region",
    "DroppedRegion",
    "RegionSet",
    "read_bed",
    "count_bed_rows",
    "extract_regions",
    "extract_regions_to_store",
    "write_regions_bed",
    "write_dropped_tsv",
    "read_regions_bed",
]

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
# Separator of messages that list one problem per line.
_ONE_PER_LINE = "\n  "
_HEADER_START_NAMES = {"start", "chromstart", "chrom_start", "begin"}
_MISSING_CHROMOSOME_MODES = ("error", "drop")


REGIONS_BED_COLUMNS = (
    "chrom",
    "start",
    "end",
    "id",
    "score",
    "strand",
    "name",
    "source_line",
    "peak_start",
    "peak_end",
    "summit",
    "number",
)
"""Columns of the table written by :func:`write_regions_bed` (tab-separated, ``#`` header).

``start``/``end`` are the window; ``name`` is the input BED's column 4 (``.`` when absent);
``peak_start``/``peak_end`` are the input row's coordinates; ``summit`` its summit offset from
``peak_start`` (``-1`` when absent); ``number`` the region's number (see the module docstring).
"""

DROPPED_TSV_COLUMNS = ("source_line", "chrom", "start", "end", "reason")
"""Columns of the table written by :func:`write_dropped_tsv`; start/end are the input row's."""


@dataclass(frozen=True)
class BedRecord:
    """One data row of a BED file.

    Attributes
    ----------
    row : int
        0-based index among the data rows of the file: the region's number.
    source_line : int
        1-based line number in the file, counting every line.
    chrom, start, end :
        Coordinates as written (0-based, half-open).
    name : str or None
        Column 4, or None when absent or ``.``.
    summit : int or None
        narrowPeak column 10 (offset from ``start``), or None when absent or ``-1``.
    """

    row: int
    source_line: int
    chrom: str
    start: int
    end: int
    name: str | None = None
    summit: int | None = None


@dataclass(frozen=True)
class Region:
    """A kept window of ``end - start`` bp.

    Attributes
    ----------
    id : str
        ``region_{number:06d}``.
    number : int
        The region's number: its row among the BED's data rows (:attr:`BedRecord.row`). It seeds
        the region's references.
    chrom, start, end :
        The window (0-based, half-open), ``end - start == width``.
    source_line : int
        1-based line of the input BED this window came from.
    name : str or None
        The input BED's column 4, or None.
    summit : int or None
        The input summit offset from ``peak_start``, or None.
    peak_start, peak_end : int or None
        The input row's own coordinates.
    """

    id: str
    number: int
    chrom: str
    start: int
    end: int
    source_line: int
    name: str | None = None
    summit: int | None = None
    peak_start: int | None = None
    peak_end: int | None = None


@dataclass(frozen=True)
class DroppedRegion:
    """An input row that gave no window; ``start``/``end`` are the input row's coordinates.

    ``reason`` starts with a short code (``missing_chromosome``, ``off_chromosome_end``,
    ``too_many_n``), then ``: `` and a sentence for people.
    """

    source_line: int
    chrom: str
    start: int
    end: int
    reason: str


@dataclass
class RegionSet:
    """The windows cut from one BED and one FASTA.

    Attributes
    ----------
    regions : list of Region
        Kept windows, in input order.
    onehot : np.ndarray
        ``(n, 4, width)`` uint8, row ``i`` belongs to ``regions[i]``.
    dropped : list of DroppedRegion
        Rows that gave no window, in input order.
    width : int
        Window width in bp.
    """

    regions: list[Region]
    onehot: np.ndarray
    dropped: list[DroppedRegion] = field(default_factory=list)
    width: int = 0

    def __len__(self) -> int:
        return len(self.regions)


def _open_text(path: Path, errors: str = "strict") -> io.TextIOBase:
    """Open a plain or gzip-compressed text file (detected by its magic bytes)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == _GZIP_MAGIC:
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8", errors=errors, newline=None
        )
    return open(path, encoding="utf-8", errors=errors, newline=None)


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line without line ending)`` for a plain or gzip file."""
    try:
        with _open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):
                yield line_number, line.rstrip("\r\n")
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as error:
        raise InputError(
            f"{path}: cannot be read as a text BED file ({error}). "
            "Check that it is a plain or gzip-compressed tab-separated BED file."
        ) from error


def _split_fields(line: str) -> list[str]:
    # BED is tab-separated, but space-separated files are common enough to accept.
    if "\t" in line:
        return [value.strip() for value in line.split("\t")]
    return line.split()


def _is_skipped_line(line: str) -> bool:
    stripped = line.strip()
    return (
        not stripped
        or stripped.startswith("#")
        or stripped.split()[0] in ("track", "browser")
    )


def _parse_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def read_bed(path: str | os.PathLike) -> list[BedRecord]:
    """Read a BED3+ or narrowPeak file.

    Lines that are blank, start with ``#``, ``track`` or ``browser``, and a column-name header
    line before the first data row (second column ``start``/``chromStart``) are skipped.
    Gzip input is detected from its magic bytes, whatever the file name; CRLF line endings are
    accepted. A row with exactly 10 columns is read as narrowPeak: column 10 is the summit
    offset from ``start`` (``-1`` = no summit). Duplicate rows are kept (each gets its own id).

    Parameters
    ----------
    path : str or path-like
        The BED file.

    Returns
    -------
    list of BedRecord
        One per data row, in file order.

    Raises
    ------
    InputError
        If the file is missing or empty, or any row has fewer than 3 columns, a non-integer or
        negative coordinate, ``start >= end``, or a summit outside ``[0, end - start)``. All
        bad rows (up to 10 shown) are reported in one error, each as ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: BED file not found. Check the path to the regions file.")
    records: list[BedRecord] = []
    problems: list[str] = []
    for line_number, line in _iter_lines(path):
        if _is_skipped_line(line):
            continue
        fields = _split_fields(line)
        if not records and not problems and len(fields) >= 3 and (
            fields[1].lower() in _HEADER_START_NAMES
        ):
            continue
        where = f"{path}:{line_number}"
        if len(fields) < 3:
            problems.append(
                f"{where}: has {len(fields)} column(s), a BED row needs at least 3 "
                "(chrom, start, end) separated by tabs"
            )
            continue
        chrom = fields[0]
        start, end = _parse_int(fields[1]), _parse_int(fields[2])
        if start is None or end is None:
            problems.append(
                f"{where}: start {fields[1]!r} and end {fields[2]!r} must be whole numbers "
                "(0-based BED coordinates, no commas or decimals)"
            )
            continue
        if start < 0 or end < 0:
            problems.append(
                f"{where}: negative coordinate (start {start}, end {end}); BED coordinates "
                "are 0-based and must be >= 0"
            )
            continue
        if start >= end:
            problems.append(
                f"{where}: start {start} >= end {end}; BED rows need start < end "
                "(0-based, half-open; are the columns swapped?)"
            )
            continue
        name = fields[3] if len(fields) >= 4 and fields[3] not in ("", ".") else None
        summit = None
        if len(fields) == 10:
            summit = _parse_int(fields[9])
            if summit is None:
                problems.append(
                    f"{where}: narrowPeak summit (column 10) {fields[9]!r} is not a whole "
                    "number; use the offset from start, or -1 for no summit"
                )
                continue
            if summit == -1:
                summit = None
            elif not 0 <= summit < end - start:
                problems.append(
                    f"{where}: narrowPeak summit (column 10) {summit} is outside the region "
                    f"{chrom}:{start}-{end} (it must be an offset from start in "
                    f"[0, {end - start}), or -1 for no summit)"
                )
                continue
        records.append(
            BedRecord(
                row=len(records) + len(problems),
                source_line=line_number,
                chrom=chrom,
                start=start,
                end=end,
                name=name,
                summit=summit,
            )
        )
    if problems:
        raise InputError(
            f"{path}: {len(problems)} malformed BED row(s):\n  "
            f"{listing(problems, separator=_ONE_PER_LINE)}\n"
            "Fix or remove these rows; BED rows are 'chrom<TAB>start<TAB>end[<TAB>...]' with "
            "0-based, half-open integer coordinates."
        )
    if not records:
        raise InputError(
            f"{path}: contains no regions (no data rows after skipping blank, '#', 'track' and "
            "'browser' lines). Check that the right BED file is configured and is not empty."
        )
    return records


def count_bed_rows(path: str | os.PathLike) -> int:
    """Count the data rows of a BED file (plain or gzip): the lines :func:`read_bed` reads.

    Used when the workflow is parsed, to size the default shard count: blank, ``#``, ``track``
    and ``browser`` lines are skipped as :func:`read_bed` skips them, while a column-name header
    and malformed rows are still counted (the regions stage reports the malformed ones).
    """
    with _open_text(Path(path), errors="replace") as handle:
        return sum(1 for line in handle if not _is_skipped_line(line))


# ---------------------------------------------------------------------------------------------
# FASTA access


def _fai_problem(fasta_path: Path, fai_path: Path) -> str | None:
    """Return why ``fai_path`` does not describe ``fasta_path``, or None when it looks right.

    Besides the modification times, each entry is checked against the FASTA bytes: its offset
    must follow a ``>name`` line, and its sequence must end where the next record (or the file)
    starts. This catches an index copied from another genome or a FASTA edited in place.
    """
    if fai_path.stat().st_mtime < fasta_path.stat().st_mtime:
        return "it is older than the FASTA"
    entries = []
    with open(fai_path, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 5 or not all(value.isdigit() for value in fields[1:5]):
                return f"line {line_number} is not a valid .fai entry"
            name = fields[0]
            length, offset, line_bases, line_bytes = (int(value) for value in fields[1:5])
            if line_bases == 0 or line_bytes < line_bases:
                return f"line {line_number} has impossible line lengths"
            entries.append((offset, name, length, line_bases, line_bytes))
    if not entries:
        return "it is empty"
    file_size = fasta_path.stat().st_size
    entries.sort()
    with open(fasta_path, "rb") as fasta:
        for index, (offset, name, length, line_bases, line_bytes) in enumerate(entries):
            if offset > file_size:
                return f"the offset of {name} is past the end of the FASTA"
            fasta.seek(max(0, offset - 4096))
            before = fasta.read(offset - max(0, offset - 4096))
            if not before.endswith(b"\n"):
                return f"the sequence {name} does not start where the index says"
            header = before.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
            header_name = header[1:].split(maxsplit=1)[0] if len(header) > 1 else b""
            if not header.startswith(b">") or header_name.decode("utf-8", "replace") != name:
                return f"the sequence {name} does not start where the index says"
            sequence_end = offset + (length // line_bases) * line_bytes + length % line_bases
            if sequence_end > file_size:
                return f"the sequence {name} is longer in the index than in the FASTA"
            fasta.seek(sequence_end)
            after = fasta.read(64).lstrip(b"\r\n")
            is_last = index == len(entries) - 1
            if is_last and after.strip():
                return f"the FASTA has more sequence after {name} than the index lists"
            if not is_last and not after.startswith(b">"):
                return f"the sequence {name} does not end where the index says"
    return None


def _open_fasta(fasta_path: Path):
    """Open a FASTA with pyfaidx, creating its .fai if missing and rebuilding it if stale."""
    import pyfaidx

    if not fasta_path.is_file():
        raise InputError(
            f"{fasta_path}: FASTA file not found. Check the genome FASTA path in the config."
        )
    with open(fasta_path, "rb") as handle:
        compressed = handle.read(2) == _GZIP_MAGIC
    fai_path = Path(str(fasta_path) + ".fai")
    if fai_path.exists() and not compressed:
        problem = _fai_problem(fasta_path, fai_path)
        if problem is not None:
            logger.warning("Rebuilding stale FASTA index %s: %s.", fai_path, problem)
            try:
                fai_path.unlink()
            except OSError as error:
                raise InputError(
                    f"{fai_path}: this FASTA index does not match {fasta_path} ({problem}) and "
                    f"cannot be removed ({error}). Delete it, or rebuild it with "
                    f"'samtools faidx {fasta_path}'."
                ) from error
    try:
        return pyfaidx.Fasta(str(fasta_path), as_raw=True, rebuild=True, build_index=True)
    except pyfaidx.UnsupportedCompressionFormat as error:
        raise InputError(
            f"{fasta_path}: compressed with plain gzip, which cannot be indexed for random "
            "access. Decompress it (gunzip) or recompress it with 'bgzip'."
        ) from error
    except pyfaidx.FastaIndexingError as error:
        raise InputError(
            f"{fasta_path}: cannot be indexed: {error} Every sequence line of a record must "
            "have the same length (except the last); reformat it, e.g. with 'seqkit seq -w 60'."
        ) from error
    except OSError as error:
        raise InputError(
            f"{fasta_path}: cannot create the index {fai_path} ({error}). Make the folder "
            f"writable, or create the index elsewhere with 'samtools faidx {fasta_path}' and "
            "copy it next to the FASTA."
        ) from error
    except ValueError as error:
        # pyfaidx reports duplicate sequence names as a ValueError.
        raise InputError(
            f"{fasta_path}: {error}. Sequence names (the first word after '>') must be unique."
        ) from error


def _missing_chromosome_hint(chrom: str, fasta_names: set[str]) -> str:
    if chrom.startswith("chr") and chrom[3:] in fasta_names:
        return f" (the FASTA has {chrom[3:]!r})"
    if "chr" + chrom in fasta_names:
        return f" (the FASTA has {'chr' + chrom!r})"
    return ""


def extract_regions(
    bed_path: str | os.PathLike,
    fasta_path: str | os.PathLike,
    width: int,
    max_n_fraction: float = 0.5,
    missing_chromosomes: str = "error",
) -> RegionSet:
    """Cut a fixed-width one-hot window around every row of a BED file.

    Windows are centred as described in the module docstring. A row is dropped (with a reason)
    when its window runs off either end of its chromosome, when more than ``max_n_fraction``
    of the window's bases are not ``ACGT``, or when its chromosome is missing from the FASTA and
    ``missing_chromosomes="drop"``.

    Parameters
    ----------
    bed_path : str or path-like
        BED3+ or narrowPeak, plain or gzip (see :func:`read_bed`).
    fasta_path : str or path-like
        Genome FASTA, plain or bgzip. Its ``.fai`` index is created when missing, and rebuilt
        when older than the FASTA or not matching it.
    width : int
        Window width in bp.
    max_n_fraction : float, default 0.5
        Largest accepted fraction of non-ACGT bases in a window.
    missing_chromosomes : {"error", "drop"}, default "error"
        What to do with rows on chromosomes the FASTA lacks.

    Returns
    -------
    RegionSet
        ``.regions`` and ``.onehot`` ``(n_kept, 4, width)`` uint8 in input order, ``.dropped``.

    Raises
    ------
    InputError
        For a bad BED or FASTA, or (with ``missing_chromosomes="error"``) one error listing
        every chromosome the FASTA lacks with the BED lines that use it.
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width <= 0:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if not 0.0 <= max_n_fraction <= 1.0:
        raise ValueError(f"max_n_fraction must be between 0 and 1, got {max_n_fraction!r}")
    if missing_chromosomes not in _MISSING_CHROMOSOME_MODES:
        raise ValueError(
            f"missing_chromosomes must be one of {_MISSING_CHROMOSOME_MODES}, "
            f"got {missing_chromosomes!r}"
        )
    width = int(width)
    bed_path, fasta_path = Path(bed_path), Path(fasta_path)
    records = read_bed(bed_path)
    fasta = _open_fasta(fasta_path)
    try:
        chrom_lengths = {name: entry.rlen for name, entry in fasta.faidx.index.items()}
        missing: dict[str, list[BedRecord]] = {}
        for record in records:
            if record.chrom not in chrom_lengths:
                missing.setdefault(record.chrom, []).append(record)
        if missing and missing_chromosomes == "error":
            raise InputError(_missing_chromosomes_message(bed_path, fasta_path, missing,
                                                          set(chrom_lengths)))

        half = width // 2
        codes = np.empty((len(records), width), dtype=np.uint8)
        regions: list[Region] = []
        dropped: list[DroppedRegion] = []
        for record in records:
            if record.chrom not in chrom_lengths:
                dropped.append(_dropped(
                    record, f"missing_chromosome: {record.chrom} is not in {fasta_path.name}"
                ))
                continue
            centre = (record.start + record.summit if record.summit is not None
                      else (record.start + record.end) // 2)
            window_start = centre - half
            window_end = window_start + width
            chrom_length = chrom_lengths[record.chrom]
            if window_start < 0 or window_end > chrom_length:
                dropped.append(_dropped(
                    record,
                    f"off_chromosome_end: window {record.chrom}:{window_start}-{window_end} "
                    f"runs past the {'start' if window_start < 0 else 'end'} of "
                    f"{record.chrom} (length {chrom_length})",
                ))
                continue
            sequence = fasta[record.chrom][window_start:window_end]
            region_codes = sequence_to_codes(sequence)
            n_fraction = float(np.count_nonzero(region_codes == N_CODE)) / width
            if n_fraction > max_n_fraction:
                dropped.append(_dropped(
                    record,
                    f"too_many_n: {n_fraction:.1%} of window {record.chrom}:{window_start}-"
                    f"{window_end} is N or another non-ACGT base (max_n_fraction "
                    f"{max_n_fraction:.1%})",
                ))
                continue
            codes[len(regions)] = region_codes
            regions.append(
                Region(
                    id=f"region_{record.row:06d}",
                    number=record.row,
                    chrom=record.chrom,
                    start=window_start,
                    end=window_end,
                    source_line=record.source_line,
                    name=record.name,
                    summit=record.summit,
                    peak_start=record.start,
                    peak_end=record.end,
                )
            )
    finally:
        fasta.close()
    onehot = np.ascontiguousarray(CODE_TO_ONEHOT[codes[: len(regions)]].transpose(0, 2, 1))
    return RegionSet(regions=regions, onehot=onehot, dropped=dropped, width=width)


def _dropped(record: BedRecord, reason: str) -> DroppedRegion:
    return DroppedRegion(record.source_line, record.chrom, record.start, record.end, reason)


def _missing_chromosomes_message(
    bed_path: Path,
    fasta_path: Path,
    missing: dict[str, list[BedRecord]],
    fasta_names: set[str],
) -> str:
    lines = [
        f"  {chrom}{_missing_chromosome_hint(chrom, fasta_names)}: "
        f"{bed_path}:{listing(record.source_line for record in chrom_records)}"
        for chrom, chrom_records in missing.items()
    ]
    return (
        f"{bed_path}: {len(missing)} chromosome(s) used in the BED are not in the FASTA "
        f"{fasta_path} (which has {listing(sorted(fasta_names))}):\n"
        + "\n".join(lines)
        + "\nUse the FASTA of the genome build the BED was made on (check 'chr' prefixes), or "
        "set 'missing_chromosomes: drop' in the config (missing_chromosomes=\"drop\" in "
        "extract_regions) to drop these rows; they are then listed in the dropped-regions table."
    )


# ---------------------------------------------------------------------------------------------
# Tables


def write_regions_bed(regionset: RegionSet, path: str | os.PathLike) -> None:
    """Write the kept windows as a tab-separated BED6+ table.

    Columns are :data:`REGIONS_BED_COLUMNS`, after a ``#``-prefixed header line: window
    ``chrom``, ``start``, ``end``, ``id``, score ``0``, strand ``.``, then the input ``name``
    (``.`` when absent), ``source_line``, ``peak_start``, ``peak_end`` and ``summit`` (``-1``
    when absent). Read it back with :func:`read_regions_bed`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("#" + "\t".join(REGIONS_BED_COLUMNS) + "\n")
        for region in regionset.regions:
            values = (
                region.chrom,
                region.start,
                region.end,
                region.id,
                0,
                ".",
                region.name if region.name is not None else ".",
                region.source_line,
                region.peak_start if region.peak_start is not None else region.start,
                region.peak_end if region.peak_end is not None else region.end,
                region.summit if region.summit is not None else -1,
                region.number,
            )
            handle.write("\t".join(str(value) for value in values) + "\n")


def read_regions_bed(path: str | os.PathLike) -> list[Region]:
    """Read a table written by :func:`write_regions_bed`.

    Returns
    -------
    list of Region
        In file order, equal to the ``regions`` that were written.
    """
    path = Path(path)
    regions = []
    for line_number, line in _iter_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != len(REGIONS_BED_COLUMNS):
            raise InputError(
                f"{path}:{line_number}: has {len(fields)} columns, a seqlift regions table has "
                f"{len(REGIONS_BED_COLUMNS)} ({', '.join(REGIONS_BED_COLUMNS)}). Regenerate it "
                "with write_regions_bed."
            )
        values = dict(zip(REGIONS_BED_COLUMNS, fields, strict=True))
        try:
            summit = int(values["summit"])
            regions.append(
                Region(
                    id=values["id"],
                    number=int(values["number"]),
                    chrom=values["chrom"],
                    start=int(values["start"]),
                    end=int(values["end"]),
                    source_line=int(values["source_line"]),
                    name=None if values["name"] == "." else values["name"],
                    summit=None if summit == -1 else summit,
                    peak_start=int(values["peak_start"]),
                    peak_end=int(values["peak_end"]),
                )
            )
        except ValueError as error:
            raise InputError(
                f"{path}:{line_number}: {error}. Regenerate the table with write_regions_bed."
            ) from error
    return regions


def write_dropped_tsv(regionset: RegionSet, path: str | os.PathLike) -> None:
    """Write the dropped rows as a TSV with header :data:`DROPPED_TSV_COLUMNS`.

    The header is written even when nothing was dropped, so the file always parses.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(DROPPED_TSV_COLUMNS) + "\n")
        for item in regionset.dropped:
            reason = item.reason.replace("\t", " ").replace("\n", " ")
            handle.write(f"{item.source_line}\t{item.chrom}\t{item.start}\t{item.end}\t{reason}\n")


# ---------------------------------------------------------------------------------------------
# The rule


def extract_regions_to_store(
    bed_path: str | os.PathLike,
    fasta_path: str | os.PathLike,
    width: int,
    regions_bed: str | os.PathLike,
    dropped_tsv: str | os.PathLike,
    regions_zarr: str | os.PathLike,
    max_n_fraction: float = 0.5,
    missing_chromosomes: str = "error",
) -> RegionStore:
    """Cut the windows (:func:`extract_regions`) and write the three outputs of rule ``regions``.

    Writes ``regions_bed`` (kept windows, :func:`write_regions_bed`), ``dropped_tsv`` (every
    dropped input row with its reason, :func:`write_dropped_tsv`) and ``regions_zarr`` (one-hot
    ``(n, 4, width)`` uint8 and the region table, see :mod:`seqlift.pipeline.storage`), each
    atomically.

    Returns
    -------
    RegionStore
        What ``regions_zarr`` holds.
    """
    from seqlift.pipeline import storage

    regionset = extract_regions(
        bed_path,
        fasta_path,
        width,
        max_n_fraction=max_n_fraction,
        missing_chromosomes=missing_chromosomes,
    )
    kept = regionset.regions
    store = storage.RegionStore(
        onehot=np.asarray(regionset.onehot, dtype=np.uint8).reshape(len(kept), 4, int(width)),
        ids=np.asarray([region.id for region in kept], dtype=str),
        chroms=np.asarray([region.chrom for region in kept], dtype=str),
        starts=np.asarray([region.start for region in kept], dtype=np.int64),
        ends=np.asarray([region.end for region in kept], dtype=np.int64),
        numbers=np.asarray([region.number for region in kept], dtype=np.int64),
    )
    with storage.atomic_file(regions_bed) as temporary:
        write_regions_bed(regionset, temporary)
    with storage.atomic_file(dropped_tsv) as temporary:
        write_dropped_tsv(regionset, temporary)
    storage.write_region_store(
        regions_zarr, store, attrs={"width": int(width), "n_dropped": len(regionset.dropped)}
    )
    logger.info("kept %d regions, dropped %d", len(kept), len(regionset.dropped))
    return store

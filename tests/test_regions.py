"""Stage regions (seqlift.pipeline.regions): BED parsing, window extraction, every bad-input case.

Each file in tests/data/bad_inputs/ (listed in its README.md) is copied into a temporary folder
before use, so the .fai index pyfaidx writes never lands in the repository.
"""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqlift._codes import CODE_TO_ONEHOT, sequence_to_codes
from seqlift.errors import InputError, SeqliftError
from seqlift.pipeline.regions import (
    DROPPED_TSV_COLUMNS,
    REGIONS_BED_COLUMNS,
    extract_regions,
    read_bed,
    read_regions_bed,
    write_dropped_tsv,
    write_regions_bed,
)

BAD_INPUTS = Path(__file__).parent / "data" / "bad_inputs"

CHR1 = (
    "GCTAAAGACAATTACATAACATACACGTCAGCACGAAACTTGTTGGCCCAGTGTGAATCG"
    "CTTAAGGGTTAAGTAAGTGTGATGCATACGCCTTTACTTG"
)
CHR2 = "CTGTGTCCACCCCATCGGACTGGCATTTTTATTACACTCAGAAACAGAACTCGGGTAATT"


@pytest.fixture
def bad_input(tmp_path):
    """Return a function that copies a bad-input file into tmp_path and gives its path."""

    def copy(name: str, as_name: str | None = None) -> Path:
        destination = tmp_path / (as_name or name)
        shutil.copyfile(BAD_INPUTS / name, destination)
        return destination

    return copy


@pytest.fixture
def genome(bad_input):
    return bad_input("genome.fa")


def expected_onehot(sequence: str) -> np.ndarray:
    """Slow, obviously-correct reference encoding: (4, L) uint8 in ACGT order."""
    onehot = np.zeros((4, len(sequence)), dtype=np.uint8)
    for position, base in enumerate(sequence.upper()):
        if base in "ACGT":
            onehot["ACGT".index(base), position] = 1
    return onehot


# ---------------------------------------------------------------------------------------------
# errors


def test_input_error_is_a_value_error_and_a_seqlift_error():
    error = InputError("peaks.bed:3: bad")
    assert isinstance(error, ValueError)
    assert isinstance(error, SeqliftError)
    assert str(error) == "peaks.bed:3: bad"


# ---------------------------------------------------------------------------------------------
# encoding


def test_genome_text_maps_acgt_in_either_case_and_zeroes_everything_else():
    # The regions stage encodes windows through seqlift._codes, the one home of text -> codes.
    onehot = CODE_TO_ONEHOT[sequence_to_codes("ACGTacgtNnRY-")].T
    assert onehot.dtype == np.uint8
    np.testing.assert_array_equal(onehot[:, :8], np.tile(np.eye(4, dtype=np.uint8), 2))
    np.testing.assert_array_equal(onehot[:, 8:], np.zeros((4, 5), dtype=np.uint8))


def test_the_regions_stage_imports_no_torch():
    code = "import sys, seqlift.pipeline.regions; print('torch' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                               text=True)
    assert completed.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# read_bed: malformed rows


def test_two_columns_names_file_line_and_fix(bad_input):
    path = bad_input("bed_two_columns.bed")
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert f"{path}:2:" in message
    assert "bed_two_columns.bed:1" not in message and "bed_two_columns.bed:3" not in message
    assert "has 2 column(s)" in message and "at least 3" in message
    assert "Fix or remove these rows" in message


def test_non_integer_coordinates_are_all_reported_in_one_error(bad_input):
    path = bad_input("bed_non_integer.bed")
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert "2 malformed BED row(s)" in message
    assert f"{path}:2:" in message and "'10.5'" in message
    assert f"{path}:3:" in message and "'1,000'" in message
    assert "whole numbers" in message


def test_negative_coordinate_names_line_and_rule(bad_input):
    path = bad_input("bed_negative.bed")
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert f"{path}:2:" in message
    assert "start -5" in message and "must be >= 0" in message


def test_start_not_below_end_reports_equal_and_swapped_rows(bad_input):
    path = bad_input("bed_start_ge_end.bed")
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert f"{path}:2: start 50 >= end 50" in message
    assert f"{path}:3: start 60 >= end 40" in message
    assert "start < end" in message and "swapped" in message


def test_summit_outside_region_names_line_and_allowed_range(bad_input):
    path = bad_input("bed_summit_outside.bed")
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert f"{path}:2:" in message
    assert "summit (column 10) 20 is outside the region chr1:40-60" in message
    assert "[0, 20)" in message and "-1 for no summit" in message
    assert f"{path}:1:" not in message and f"{path}:3:" not in message


def test_empty_file_says_no_regions(bad_input):
    path = bad_input("bed_empty.bed")
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert str(path) in message and "contains no regions" in message
    assert "Check that the right BED file is configured" in message


def test_comment_only_file_counts_as_empty(tmp_path):
    path = tmp_path / "only_comments.bed"
    path.write_text("track name=x\n# nothing here\n\n")
    with pytest.raises(InputError, match="contains no regions"):
        read_bed(path)


def test_missing_bed_file_is_named(tmp_path):
    path = tmp_path / "no_such_peaks.bed"
    with pytest.raises(InputError) as info:
        read_bed(path)
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_more_than_ten_bad_rows_are_summarised(tmp_path):
    path = tmp_path / "many_bad.bed"
    path.write_text("".join(f"chr1\t{i}\n" for i in range(13)))
    with pytest.raises(InputError) as info:
        read_bed(path)
    message = str(info.value)
    assert "13 malformed BED row(s)" in message
    assert f"{path}:10:" in message and f"{path}:11:" not in message
    assert "(chrom, start, end) separated by tabs and 3 more\nFix or remove these rows" in message


# ---------------------------------------------------------------------------------------------
# read_bed: accepted variants


def test_header_track_and_browser_lines_are_skipped(bad_input):
    records = read_bed(bad_input("bed_with_header_track_browser.bed"))
    assert [(r.row, r.source_line, r.chrom, r.start, r.end, r.name) for r in records] == [
        (0, 4, "chr1", 10, 30, "peak_a"),
        (1, 5, "chr1", 40, 60, "peak_b"),
        (2, 6, "chr2", 20, 40, "peak_c"),
    ]


def test_comments_and_blank_lines_are_skipped_keeping_true_line_numbers(bad_input):
    records = read_bed(bad_input("bed_comments.bed"))
    assert [(r.row, r.source_line, r.name) for r in records] == [
        (0, 2, "peak_a"),
        (1, 5, "peak_b"),
        (2, 7, "peak_c"),
    ]


def test_crlf_line_endings_leave_no_carriage_return(bad_input):
    records = read_bed(bad_input("bed_crlf.bed"))
    assert [(r.chrom, r.start, r.end, r.name) for r in records] == [
        ("chr1", 10, 30, "peak_a"),
        ("chr1", 40, 60, "peak_b"),
    ]


def test_gzip_is_detected_by_magic_bytes_not_name(bad_input):
    gz_records = read_bed(bad_input("bed_gzip.bed.gz"))
    renamed_records = read_bed(bad_input("bed_gzip.bed.gz", as_name="not_obviously_gzip.bed"))
    with gzip.open(BAD_INPUTS / "bed_gzip.bed.gz", "rt") as handle:
        plain = handle.read()
    assert plain.count("\n") == 3
    assert gz_records == renamed_records
    assert [(r.chrom, r.start, r.end, r.name) for r in gz_records] == [
        ("chr1", 10, 30, "peak_a"),
        ("chr1", 40, 60, "peak_b"),
        ("chr2", 20, 40, "peak_c"),
    ]


def test_narrowpeak_summit_is_read_and_minus_one_means_absent(tmp_path):
    path = tmp_path / "peaks.narrowPeak"
    path.write_text(
        "chr1\t10\t50\tp1\t0\t.\t5.0\t-1\t-1\t12\n"
        "chr1\t40\t60\tp2\t0\t.\t5.0\t-1\t-1\t-1\n"
        "chr1\t40\t60\tp3\t0\t.\t5.0\t-1\t-1\t0\n"
    )
    assert [r.summit for r in read_bed(path)] == [12, None, 0]


def test_bed12_column_ten_is_not_a_summit(tmp_path):
    path = tmp_path / "genes.bed"
    path.write_text("chr1\t10\t50\tg\t0\t+\t10\t50\t0\t2\t5,5,\t0,35,\n")
    assert read_bed(path)[0].summit is None


# ---------------------------------------------------------------------------------------------
# extract_regions: windows


def test_windows_are_centred_on_the_floor_midpoint(genome, tmp_path):
    bed = tmp_path / "mid.bed"
    # midpoints: (10+30)//2 = 20, (40+61)//2 = 50
    bed.write_text("chr1\t10\t30\nchr1\t40\t61\n")
    even = extract_regions(bed, genome, width=10)
    assert [(r.start, r.end) for r in even.regions] == [(15, 25), (45, 55)]
    odd = extract_regions(bed, genome, width=11)
    assert [(r.start, r.end) for r in odd.regions] == [(15, 26), (45, 56)]
    np.testing.assert_array_equal(even.onehot[0], expected_onehot(CHR1[15:25]))
    np.testing.assert_array_equal(odd.onehot[1], expected_onehot(CHR1[45:56]))


def test_windows_are_centred_on_the_summit_when_present(genome, tmp_path):
    bed = tmp_path / "summits.narrowPeak"
    bed.write_text(
        "chr1\t10\t80\tp1\t0\t.\t5.0\t-1\t-1\t7\n"  # centre 17
        "chr2\t0\t60\tp2\t0\t.\t5.0\t-1\t-1\t-1\n"  # no summit: centre 30
    )
    regions = extract_regions(bed, genome, width=10)
    assert [(r.chrom, r.start, r.end, r.summit) for r in regions.regions] == [
        ("chr1", 12, 22, 7),
        ("chr2", 25, 35, None),
    ]
    np.testing.assert_array_equal(regions.onehot[0], expected_onehot(CHR1[12:22]))
    np.testing.assert_array_equal(regions.onehot[1], expected_onehot(CHR2[25:35]))
    # the centre base sits at index width // 2
    assert regions.onehot[0][:, 5].argmax() == "ACGT".index(CHR1[17])


def test_onehot_is_uint8_and_matches_the_reference_genome(genome, bad_input):
    regions = extract_regions(bad_input("bed_with_header_track_browser.bed"), genome, width=16)
    assert regions.onehot.dtype == np.uint8
    assert regions.onehot.shape == (3, 4, 16)
    assert regions.width == 16 and len(regions) == 3
    sequences = {"chr1": CHR1, "chr2": CHR2}
    for region, onehot in zip(regions.regions, regions.onehot, strict=True):
        np.testing.assert_array_equal(
            onehot, expected_onehot(sequences[region.chrom][region.start:region.end])
        )
    assert regions.onehot.sum() == 3 * 16


def test_duplicate_rows_are_kept_with_distinct_ids(genome, bad_input):
    regions = extract_regions(bad_input("bed_duplicates.bed"), genome, width=10)
    assert [r.id for r in regions.regions] == ["region_000000", "region_000001", "region_000002"]
    assert [r.source_line for r in regions.regions] == [1, 2, 3]
    assert (regions.regions[0].chrom, regions.regions[0].start) == (
        regions.regions[1].chrom,
        regions.regions[1].start,
    )
    np.testing.assert_array_equal(regions.onehot[0], regions.onehot[1])
    assert regions.dropped == []


def test_windows_off_either_chromosome_end_are_dropped_flush_ones_kept(genome, bad_input):
    regions = extract_regions(bad_input("bed_off_chrom_end.bed"), genome, width=10)
    # A kept region's number is its data row, whatever was dropped before it; the id names it.
    assert all(r.id == f"region_{r.number:06d}" for r in regions.regions)
    assert [r.number for r in regions.regions][0] == 1
    assert [(r.id, r.name, r.start, r.end) for r in regions.regions] == [
        ("region_000001", "flush_start", 0, 10),
        ("region_000002", "middle", 45, 55),
        ("region_000003", "flush_end", 90, 100),
        ("region_000005", "whole_chr2", 25, 35),
    ]
    assert [(d.source_line, d.chrom, d.start, d.end) for d in regions.dropped] == [
        (1, "chr1", 0, 4),
        (5, "chr1", 95, 100),
    ]
    assert regions.dropped[0].reason == (
        "off_chromosome_end: window chr1:-3-7 runs past the start of chr1 (length 100)"
    )
    assert regions.dropped[1].reason == (
        "off_chromosome_end: window chr1:92-102 runs past the end of chr1 (length 100)"
    )


def test_every_input_row_is_either_kept_or_dropped_in_input_order(genome, bad_input):
    bed = bad_input("bed_off_chrom_end.bed")
    regions = extract_regions(bed, genome, width=10)
    kept_lines = [r.source_line for r in regions.regions]
    dropped_lines = [d.source_line for d in regions.dropped]
    assert sorted(kept_lines + dropped_lines) == [r.source_line for r in read_bed(bed)]
    assert kept_lines == sorted(kept_lines)


def test_unknown_chromosomes_raise_one_error_listing_all_with_hints(genome, bad_input):
    bed = bad_input("bed_unknown_chrom.bed")
    with pytest.raises(InputError) as info:
        extract_regions(bed, genome, width=10)
    message = str(info.value)
    assert "2 chromosome(s) used in the BED are not in the FASTA" in message
    assert f"chrUn_test: {bed}:2, 4" in message
    assert f"2 (the FASTA has 'chr2'): {bed}:3" in message
    assert str(genome) in message and "chr1, chr2" in message
    assert "missing_chromosomes: drop" in message


def test_unknown_chromosomes_are_dropped_with_reason_when_asked(genome, bad_input):
    regions = extract_regions(
        bad_input("bed_unknown_chrom.bed"), genome, width=10, missing_chromosomes="drop"
    )
    assert [(r.id, r.chrom) for r in regions.regions] == [("region_000000", "chr1")]
    assert [(d.source_line, d.chrom, d.reason) for d in regions.dropped] == [
        (2, "chrUn_test", "missing_chromosome: chrUn_test is not in genome.fa"),
        (3, "2", "missing_chromosome: 2 is not in genome.fa"),
        (4, "chrUn_test", "missing_chromosome: chrUn_test is not in genome.fa"),
    ]


# ---------------------------------------------------------------------------------------------
# extract_regions: FASTA content


def test_lowercase_fasta_encodes_like_uppercase(genome, bad_input):
    bed = bad_input("bed_off_chrom_end.bed")
    upper = extract_regions(bed, genome, width=10)
    lower = extract_regions(bed, bad_input("fasta_lowercase.fa"), width=10)
    assert lower.regions == upper.regions
    np.testing.assert_array_equal(lower.onehot, upper.onehot)
    assert lower.onehot.sum() == 4 * 10


def test_n_runs_drop_windows_above_max_n_fraction(bad_input, tmp_path):
    fasta = bad_input("fasta_n_runs.fa")
    bed = tmp_path / "n.bed"
    # chr1 has N at [20, 36) and [60, 65); windows of 10 centred on the midpoints
    bed.write_text(
        "chr1\t20\t30\n"  # window 20-30: 10 N
        "chr1\t31\t41\n"  # window 31-41: 5 N (31..35) -> exactly 50 %, kept
        "chr1\t30\t40\n"  # window 30-40: 6 N -> dropped
        "chr1\t55\t65\n"  # window 55-65: 5 N (60..64) -> kept
        "chr1\t0\t10\n"  # no N
    )
    regions = extract_regions(bed, fasta, width=10, max_n_fraction=0.5)
    assert [(r.start, r.end) for r in regions.regions] == [(31, 41), (55, 65), (0, 10)]
    assert [d.source_line for d in regions.dropped] == [1, 3]
    assert regions.dropped[0].reason == (
        "too_many_n: 100.0% of window chr1:20-30 is N or another non-ACGT base "
        "(max_n_fraction 50.0%)"
    )
    assert regions.dropped[1].reason.startswith("too_many_n: 60.0% of window chr1:30-40")
    # N columns are all zero, the others one-hot
    np.testing.assert_array_equal(regions.onehot[0].sum(axis=0), [0] * 5 + [1] * 5)
    np.testing.assert_array_equal(regions.onehot[1].sum(axis=0), [1] * 5 + [0] * 5)
    strict = extract_regions(bed, fasta, width=10, max_n_fraction=0.0)
    assert [(r.start, r.end) for r in strict.regions] == [(0, 10)]


def test_iupac_codes_become_all_zero_columns(bad_input, tmp_path):
    bed = tmp_path / "iupac.bed"
    bed.write_text("chr1\t0\t20\n")
    regions = extract_regions(bed, bad_input("fasta_iupac.fa"), width=20, max_n_fraction=0.75)
    onehot = regions.onehot[0]
    np.testing.assert_array_equal(onehot[:, :12], np.zeros((4, 12), dtype=np.uint8))
    np.testing.assert_array_equal(onehot[:, 12:], np.tile(np.eye(4, dtype=np.uint8), 2))
    with_default = extract_regions(bed, bad_input("fasta_iupac.fa"), width=20)
    assert with_default.regions == []
    assert with_default.dropped[0].reason.startswith("too_many_n: 60.0%")


def test_ragged_fasta_lines_name_the_file_and_how_to_reformat(bad_input, tmp_path):
    bed = tmp_path / "one.bed"
    bed.write_text("chr1\t40\t60\n")
    fasta = bad_input("fasta_ragged_lines.fa")
    with pytest.raises(InputError) as info:
        extract_regions(bed, fasta, width=10)
    message = str(info.value)
    assert str(fasta) in message and "same length" in message and "seqkit seq -w 60" in message


def test_missing_fasta_is_named(bad_input, tmp_path):
    fasta = tmp_path / "hg38_missing.fa"
    with pytest.raises(InputError) as info:
        extract_regions(bad_input("bed_duplicates.bed"), fasta, width=10)
    assert str(fasta) in str(info.value) and "FASTA file not found" in str(info.value)


# ---------------------------------------------------------------------------------------------
# extract_regions: FASTA index


def test_missing_fai_is_created(genome, bad_input):
    fai = Path(str(genome) + ".fai")
    assert not fai.exists()
    extract_regions(bad_input("bed_duplicates.bed"), genome, width=10)
    assert fai.read_text().splitlines() == ["chr1\t100\t27\t20\t21", "chr2\t60\t138\t20\t21"]


def test_fai_older_than_fasta_is_rebuilt(genome, bad_input):
    bed = bad_input("bed_duplicates.bed")
    fai = Path(str(genome) + ".fai")
    extract_regions(bed, genome, width=10)
    # Edit chr1 in place (same layout), leaving the index older than the FASTA.
    genome.write_text(genome.read_text().replace(">chr1 tiny test chromosome", ">chr1 edited"))
    old = genome.stat().st_mtime - 100
    os.utime(fai, (old, old))
    regions = extract_regions(bed, genome, width=10)
    assert fai.read_text().splitlines()[0] == "chr1\t100\t13\t20\t21"
    np.testing.assert_array_equal(regions.onehot[0], expected_onehot(CHR1[45:55]))


def test_fai_of_another_genome_is_detected_even_when_newer(genome, bad_input):
    bed = bad_input("bed_duplicates.bed")
    fai = Path(str(genome) + ".fai")
    # An index for a FASTA with 10-bp lines: offsets and lengths do not fit this file.
    fai.write_text("chr1\t100\t6\t10\t11\nchr2\t60\t123\t10\t11\n")
    newer = genome.stat().st_mtime + 100
    os.utime(fai, (newer, newer))
    regions = extract_regions(bed, genome, width=10)
    assert fai.read_text().splitlines() == ["chr1\t100\t27\t20\t21", "chr2\t60\t138\t20\t21"]
    np.testing.assert_array_equal(regions.onehot[0], expected_onehot(CHR1[45:55]))
    np.testing.assert_array_equal(regions.onehot[2], expected_onehot(CHR2[25:35]))


def test_fai_missing_a_chromosome_appended_to_the_fasta_is_rebuilt(genome, bad_input, tmp_path):
    fai = Path(str(genome) + ".fai")
    extract_regions(bad_input("bed_duplicates.bed"), genome, width=10)
    with open(genome, "a") as handle:
        handle.write(">chr3\nACGTACGTACGTACGTACGT\n")
    newer = genome.stat().st_mtime + 100
    os.utime(fai, (newer, newer))
    bed = tmp_path / "chr3.bed"
    bed.write_text("chr3\t0\t20\n")
    regions = extract_regions(bed, genome, width=8)
    np.testing.assert_array_equal(regions.onehot[0], expected_onehot("GTACGTAC"))


# ---------------------------------------------------------------------------------------------
# arguments


@pytest.mark.parametrize(
    ("keyword", "value", "match"),
    [
        ("width", 0, "width must be a positive integer"),
        ("width", 10.5, "width must be a positive integer"),
        ("max_n_fraction", 1.5, "max_n_fraction must be between 0 and 1"),
        ("missing_chromosomes", "ignore", "missing_chromosomes must be one of"),
    ],
)
def test_bad_arguments_are_rejected(genome, bad_input, keyword, value, match):
    arguments = {"width": 10, keyword: value}
    with pytest.raises(ValueError, match=match):
        extract_regions(bad_input("bed_duplicates.bed"), genome, **arguments)


# ---------------------------------------------------------------------------------------------
# output tables


def test_regions_bed_round_trips_and_keeps_names(genome, bad_input, tmp_path):
    bed = tmp_path / "peaks.narrowPeak"
    bed.write_text(
        "chr1\t10\t80\tpeak_one\t0\t.\t5.0\t-1\t-1\t7\n"
        "chr2\t0\t60\t.\t0\t.\t5.0\t-1\t-1\t-1\n"
    )
    regions = extract_regions(bed, genome, width=10)
    out = tmp_path / "out" / "regions.bed"
    write_regions_bed(regions, out)
    lines = out.read_text().splitlines()
    assert lines == [
        "#" + "\t".join(REGIONS_BED_COLUMNS),
        "chr1\t12\t22\tregion_000000\t0\t.\tpeak_one\t1\t10\t80\t7\t0",
        "chr2\t25\t35\tregion_000001\t0\t.\t.\t2\t0\t60\t-1\t1",
    ]
    assert read_regions_bed(out) == regions.regions
    # The table is itself a readable BED for seqlift (header skipped, BED6+).
    assert [(r.chrom, r.start, r.end, r.name) for r in read_bed(out)] == [
        ("chr1", 12, 22, "region_000000"),
        ("chr2", 25, 35, "region_000001"),
    ]


def test_dropped_tsv_lists_every_dropped_row(genome, bad_input, tmp_path):
    regions = extract_regions(
        bad_input("bed_unknown_chrom.bed"), genome, width=10, missing_chromosomes="drop"
    )
    out = tmp_path / "dropped.tsv"
    write_dropped_tsv(regions, out)
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == list(DROPPED_TSV_COLUMNS)
    assert lines[1:] == [
        "2\tchrUn_test\t10\t30\tmissing_chromosome: chrUn_test is not in genome.fa",
        "3\t2\t10\t30\tmissing_chromosome: 2 is not in genome.fa",
        "4\tchrUn_test\t40\t60\tmissing_chromosome: chrUn_test is not in genome.fa",
    ]


def test_dropped_tsv_has_a_header_when_nothing_was_dropped(genome, bad_input, tmp_path):
    regions = extract_regions(bad_input("bed_duplicates.bed"), genome, width=10)
    out = tmp_path / "dropped.tsv"
    write_dropped_tsv(regions, out)
    assert out.read_text() == "source_line\tchrom\tstart\tend\treason\n"


def test_malformed_regions_table_names_line(tmp_path):
    path = tmp_path / "regions.bed"
    path.write_text("#header\nchr1\t0\t10\tregion_000000\n")
    with pytest.raises(InputError) as info:
        read_regions_bed(path)
    assert f"{path}:2:" in str(info.value) and "write_regions_bed" in str(info.value)

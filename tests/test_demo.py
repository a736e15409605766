"""Tests for seqlift.demo and the committed demo files (demo/data/, demo/model.pt).

The committed genome must carry every planted motif where motifs.bed says, the committed weights
must separate held-out (chr3) positives from negatives far better than chance, and the generator
must be deterministic (it reproduces the committed files byte for byte).
"""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlift.demo import (
    DEMO_WIDTH,
    HELDOUT_CHROMS,
    MOTIFS,
    TASK_NAMES,
    DemoCNN,
    evaluate_demo_model,
    load_demo_model,
    make_synthetic_genome,
    read_motifs_bed,
    train_demo_model,
    window_labels,
)
from seqlift.pipeline.regions import extract_regions, read_bed

DEMO = Path(__file__).resolve().parent.parent / "demo"
DATA = DEMO / "data"
DATA_FILES = ("genome.fa", "peaks.bed", "background.bed", "motifs.bed")

# Measured held-out auROC of demo/model.pt (see demo/README.md), minus a margin for torch builds.
MIN_HELDOUT_AUROC = {"AP1": 0.95, "CTCF": 0.95, "GATA": 0.95}

IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "[AG]", "Y": "[CT]", "S": "[CG]",
         "W": "[AT]", "K": "[GT]", "M": "[AC]", "N": "[ACGT]"}
SMALL_GENOME = {"chr1": 30_000, "chr2": 20_000, "chr3": 20_000}


def read_fasta(path: Path) -> dict[str, str]:
    """Plain FASTA reader (no index), so the tests never write next to the committed files."""
    sequences, name = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            sequences[name] = []
        else:
            sequences[name].append(line)
    return {name: "".join(lines) for name, lines in sequences.items()}


def reverse_complement(sequence: str) -> str:
    return sequence.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def pairwise_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """auROC by brute force over all (positive, negative) pairs, ties counting 1/2."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    greater = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((greater + 0.5 * ties) / (positives.size * negatives.size))


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    """The committed demo data copied to a temporary folder (pyfaidx writes a .fai there)."""
    folder = tmp_path_factory.mktemp("demo_data")
    for name in DATA_FILES:
        shutil.copyfile(DATA / name, folder / name)
    return folder


# ---------------------------------------------------------------------------------------------
# committed data


def test_every_planted_motif_is_in_the_committed_genome_at_its_coordinates():
    genome = read_fasta(DATA / "genome.fa")
    motifs = read_motifs_bed(DATA / "motifs.bed")
    patterns = {family: re.compile("".join(IUPAC[b] for b in consensus) + "$")
                for family, consensus in MOTIFS.items()}
    counts = dict.fromkeys(TASK_NAMES, 0)
    for motif in motifs:
        in_genome = genome[motif["chrom"]][motif["start"]:motif["end"]]
        assert in_genome == motif["sequence"], motif
        on_motif_strand = in_genome if motif["strand"] == "+" else reverse_complement(in_genome)
        assert patterns[motif["family"]].match(on_motif_strand), motif
        counts[motif["family"]] += 1
    assert min(counts.values()) >= 150, counts


def test_every_planted_motif_lies_in_the_demo_window_of_its_peak():
    peaks = {record.name: record for record in read_bed(DATA / "peaks.bed")}
    motifs = read_motifs_bed(DATA / "motifs.bed")
    for motif in motifs:
        peak = peaks[motif["peak"]]
        window_start = peak.start + peak.summit - DEMO_WIDTH // 2
        assert motif["chrom"] == peak.chrom
        assert window_start <= motif["start"] and motif["end"] <= window_start + DEMO_WIDTH
    # each family is planted independently with probability 1/2: ~1/8 of peaks carry none
    with_motifs = {motif["peak"] for motif in motifs}
    assert with_motifs <= set(peaks)
    assert 0.05 < 1 - len(with_motifs) / len(peaks) < 0.2


def test_committed_data_is_small_narrowpeak_with_summits():
    peaks = read_bed(DATA / "peaks.bed")
    assert 300 <= len(peaks) <= 600
    assert all(peak.summit is not None for peak in peaks)
    assert sum((DATA / name).stat().st_size for name in DATA_FILES) < 5_000_000
    assert (DEMO / "model.pt").stat().st_size < 1_000_000


def test_committed_data_is_what_the_generator_writes(tmp_path):
    make_synthetic_genome(tmp_path, seed=0)
    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


# ---------------------------------------------------------------------------------------------
# committed model


def test_committed_weights_predict_heldout_regions_far_better_than_chance(demo_copy):
    model = DemoCNN(n_outputs=3)
    model.load_state_dict(torch.load(DEMO / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    genome = read_fasta(demo_copy / "genome.fa")
    motifs = read_motifs_bed(demo_copy / "motifs.bed")
    onehots, regions = [], []
    for bed in ("peaks.bed", "background.bed"):
        region_set = extract_regions(demo_copy / bed, demo_copy / "genome.fa", DEMO_WIDTH)
        keep = [i for i, r in enumerate(region_set.regions) if r.chrom in HELDOUT_CHROMS]
        onehots.append(region_set.onehot[keep])
        regions += [region_set.regions[i] for i in keep]
    onehot = np.concatenate(onehots)
    assert len(regions) >= 200
    with torch.no_grad():
        logits = model(torch.from_numpy(onehot).float()).numpy()
    for task, family in enumerate(TASK_NAMES):
        # label by hand: an instance of the family lies fully inside the window
        labels = np.array([
            any(m["family"] == family and m["chrom"] == r.chrom and r.start <= m["start"]
                and m["end"] <= r.end for m in motifs)
            for r in regions
        ], dtype=int)
        assert 30 <= labels.sum() <= len(labels) - 30
        auroc = pairwise_auroc(labels, logits[:, task])
        assert auroc > MIN_HELDOUT_AUROC[family], (family, auroc)
    # the windows really come from the genome
    first = regions[0]
    assert onehot[0].argmax(axis=0).tolist() == [
        "ACGT".index(b) for b in genome[first.chrom][first.start:first.end]
    ]


def test_load_demo_model_gives_the_committed_weights_in_eval_mode():
    model = load_demo_model(DEMO / "model.pt")
    state = torch.load(DEMO / "model.pt", map_location="cpu", weights_only=True)
    assert not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name


# ---------------------------------------------------------------------------------------------
# generator, labels, metrics


def test_regeneration_is_deterministic_and_depends_on_the_seed(tmp_path):
    first = make_synthetic_genome(tmp_path / "a", seed=3, chrom_sizes=SMALL_GENOME,
                                  n_peaks=12, n_background=12)
    second = make_synthetic_genome(tmp_path / "b", seed=3, chrom_sizes=SMALL_GENOME,
                                   n_peaks=12, n_background=12)
    other = make_synthetic_genome(tmp_path / "c", seed=4, chrom_sizes=SMALL_GENOME,
                                  n_peaks=12, n_background=12)
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), key
    assert first["genome"].read_bytes() != other["genome"].read_bytes()
    assert len(read_bed(first["peaks"])) == 12 and len(read_bed(first["background"])) == 12


def test_small_genome_has_n_only_at_the_recorded_stretches(tmp_path):
    paths = make_synthetic_genome(tmp_path, seed=0, chrom_sizes=SMALL_GENOME, n_peaks=5,
                                  n_background=5)
    genome = read_fasta(paths["genome"])
    assert {name: len(sequence) for name, sequence in genome.items()} == SMALL_GENOME
    assert genome["chr1"][:1000] == "N" * 1000 and genome["chr1"][-1000:] == "N" * 1000
    assert genome["chr2"][5000:15000] == "N" * 10000
    assert genome["chr1"].count("N") == 2000 and genome["chr2"].count("N") == 12000
    assert set(genome["chr3"][1000:-1000]) == set("ACGT")


def test_window_labels_need_the_whole_instance_inside():
    motifs = [
        {"chrom": "chr1", "start": 100, "end": 109, "family": "AP1"},
        {"chrom": "chr2", "start": 50, "end": 58, "family": "GATA"},
    ]
    labels = window_labels(motifs, ["chr1", "chr1", "chr1", "chr2", "chr2"],
                           np.array([100, 101, 9, 0, 49]), width=100)
    np.testing.assert_array_equal(labels, [
        [1, 0, 0],  # [100, 200) holds [100, 109)
        [0, 0, 0],  # starts one base late
        [1, 0, 0],  # [9, 109) ends exactly at the instance end
        [0, 0, 1],
        [0, 0, 1],
    ])


def test_evaluation_leaves_the_auroc_of_a_single_class_undefined(tmp_path):
    make_synthetic_genome(tmp_path, seed=2, chrom_sizes=SMALL_GENOME, n_peaks=10, n_background=5)
    metrics = evaluate_demo_model(DemoCNN(), tmp_path, chroms=("chr3",))
    labels_all_one_class = [name for name, n in metrics["n_positives"].items()
                            if n in (0, metrics["n_windows"])]
    for name, value in metrics["auroc"].items():
        assert (value is None) == (name in labels_all_one_class), (name, value)
        assert value is None or 0.0 <= value <= 1.0


def test_training_is_deterministic_for_a_seed(tmp_path):
    make_synthetic_genome(tmp_path / "genome", seed=1, chrom_sizes=SMALL_GENOME, n_peaks=20,
                          n_background=10)
    train_demo_model(tmp_path / "genome", tmp_path / "one.pt", seed=5, epochs=2)
    train_demo_model(tmp_path / "genome", tmp_path / "two.pt", seed=5, epochs=2)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    untrained = DemoCNN().state_dict()
    assert one.keys() == untrained.keys()
    for name in one:
        assert torch.equal(one[name], two[name]), name
    assert not torch.equal(one["linear.weight"], untrained["linear.weight"])


def test_committed_model_responds_to_each_planted_family_most_in_its_own_output(demo_copy):
    model = load_demo_model(DEMO / "model.pt")
    assert model.pool.kernel_size > model.pool.stride  # overlapping max-pool windows
    background = extract_regions(demo_copy / "background.bed", demo_copy / "genome.fa",
                                 DEMO_WIDTH)
    keep = [i for i, r in enumerate(background.regions) if r.chrom in HELDOUT_CHROMS]
    plain = torch.from_numpy(background.onehot[keep]).float()
    instances = {"AP1": "ATGACTCAT", "CTCF": "CCGCGAGGCGGCAG", "GATA": "AGATAAGA"}
    with torch.no_grad():
        baseline = model(plain)
        for task, family in enumerate(TASK_NAMES):
            planted = plain.clone()
            centre = DEMO_WIDTH // 2
            planted[:, :, centre:centre + len(instances[family])] = torch.tensor(
                np.eye(4, dtype=np.float32)[["ACGT".index(b) for b in instances[family]]].T
            )
            change = (model(planted) - baseline).mean(dim=0)
            assert change[task] > 1.0, (family, change)
            assert change[task] == change.max(), (family, change)


# ---------------------------------------------------------------------------------------------
# the demo run's motifs (slow: the whole demo workflow, shared with test_report_browser.py)

# The JASPAR families of the planted motifs: every part of a dimer's name (FOS::JUND) must be
# of the family.
PLANTED_FAMILIES = {
    "AP1": re.compile(r"^(FOS|FOSB|FOSL[12]|JUN|JUNB|JUND)$"),
    "CTCF": re.compile(r"^CTCF$"),
    "GATA": re.compile(r"^GATA[1-6]$"),
}
# Measured on the committed demo (README.md): AP1 7.5e-5, CTCF 0.39, GATA 1.4e-3; the bounds
# leave room for other torch builds' last bits.
MAX_TOP_Q = {"AP1": 1e-3, "CTCF": 0.5, "GATA": 0.01}


def _demo_outcome(demo_run, target):
    folder = demo_run / "results" / "demo" / "motifs" / target
    return folder, json.loads((folder / "matches.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("target", TASK_NAMES)
def test_the_leading_demo_pattern_of_each_target_matches_its_planted_family(demo_run, target):
    from seqlift.motifs import leading_pattern, read_patterns

    folder, outcome = _demo_outcome(demo_run, target)
    patterns = read_patterns(folder / "modisco.h5")
    leading = leading_pattern(patterns)
    assert outcome["status"] == "ok" and outcome["matching"]["status"] == "ok"
    assert outcome["database"]["release"] == "JASPAR2026"
    assert outcome["database"]["n_motifs"] == 1019
    assert outcome["leading_pattern"] == leading.name == "pos_patterns.pattern_0"
    table = next(p for p in outcome["patterns"] if p["name"] == leading.name)
    assert table["n_seqlets"] == leading.n_seqlets
    # The planted families are in half of the 450 peaks, 1-3 sites each.
    assert 100 <= leading.n_seqlets <= 700, leading.n_seqlets
    top = table["matches"][0]
    parts = top["name"].upper().split("::")
    assert all(PLANTED_FAMILIES[target].match(part) for part in parts), top
    assert top["q_value"] < MAX_TOP_Q[target], top
    rows = [line.split("\t") for line in (folder / "matches.tsv").read_text().splitlines()[1:]]
    first = next(row for row in rows if row[1] == leading.name and row[3] == "1")
    assert first[4:6] == [top["id"], top["name"]]
    assert float(first[8]) == pytest.approx(top["q_value"], rel=1e-3)
    # modisco-lite's own report (on in the demo) ran TOMTOM against the same JASPAR file.
    assert f"{top['id']} {top['name']}" in (folder / "modisco_report" / "report.html").read_text()


@pytest.mark.slow
def test_the_demo_qc_summary_records_each_leading_pattern_and_its_top_match(demo_run):
    summary = json.loads((demo_run / "results" / "demo" / "qc" / "summary.json").read_text())
    assert set(summary["motifs"]) == set(TASK_NAMES)
    for target in TASK_NAMES:
        _, outcome = _demo_outcome(demo_run, target)
        leading = next(p for p in outcome["patterns"] if p["name"] == outcome["leading_pattern"])
        recorded = summary["motifs"][target]
        assert recorded["status"] == "ok" and recorded["reason"] is None
        assert recorded["leading_pattern"] == leading["name"]
        assert recorded["n_seqlets"] == leading["n_seqlets"]
        assert recorded["top_match"] == {key: leading["matches"][0][key]
                                         for key in ("id", "name", "q_value")}


@pytest.mark.slow
def test_changing_motif_settings_reruns_neither_attribution_nor_aggregation(demo_run):
    from helpers import job_counts, run_snakemake

    config_path = demo_run / "config.yaml"
    original = config_path.read_text()
    try:
        config_path.write_text(original.replace("  window: null", "  window: 200\n"
                                                "  max_seqlets: 1000"))
        planned = job_counts(run_snakemake(demo_run, "-n").stdout)
    finally:
        config_path.write_text(original)
    assert planned["motifs"] == 3
    assert not {"regions", "references", "attribution", "aggregate", "motif_database",
                "exports"} & set(planned), planned
    unchanged = run_snakemake(demo_run, "-n")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr

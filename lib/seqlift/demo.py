"""A synthetic genome with planted motifs and a small CNN trained on it, for the seqlift demo.

:func:`make_synthetic_genome` writes a ~1 Mb genome (``chr1``-``chr3``) where peaks carry
planted instances of three motif families, and records every instance in ``motifs.bed``:

``AP1``
    AP-1 / TRE, ``RTGASTCAY`` (e.g. ``ATGACTCAT``), 1-2 per peak.
``CTCF``
    the CTCF core ``CCGCGNGGNGGCAG``, 1 per peak.
``GATA``
    ``WGATAAGR`` (the ``WGATAR`` family), 1-3 per peak.

:class:`DemoCNN` predicts, for a ``(batch, 4, DEMO_WIDTH)`` window, one logit per family: is an
instance of that family fully inside the window. :func:`train_demo_model` trains it on the CPU in
seconds, holding ``chr3`` out for evaluation, so an attribution method can be checked against
known motif positions.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seqlift._codes import CODE_TO_ONEHOT, sequence_to_codes
from seqlift.pipeline.qc import auroc
from seqlift.pipeline.regions import extract_regions

__all__ = [
    "DEMO_WIDTH",
    "DEMO_CHROM_SIZES",
    "TASK_NAMES",
    "MOTIFS",
    "HELDOUT_CHROMS",
    "DemoCNN",
    "make_synthetic_genome",
    "read_motifs_bed",
    "window_labels",
    "train_demo_model",
    "evaluate_demo_model",
    "load_demo_model",
]

DEMO_WIDTH = 250
"""Input length of :class:`DemoCNN` and window width of the demo, in bp."""

DEMO_CHROM_SIZES = {"chr1": 400_000, "chr2": 300_000, "chr3": 300_000}
TASK_NAMES = ("AP1", "CTCF", "GATA")
"""Output order of :class:`DemoCNN`; also the motif names in ``motifs.bed``."""

MOTIFS = {"AP1": "RTGASTCAY", "CTCF": "CCGCGNGGNGGCAG", "GATA": "WGATAAGR"}
"""IUPAC consensus of each planted family; every instance is a uniform draw from it."""

HELDOUT_CHROMS = ("chr3",)

_INSTANCES_PER_PEAK = {"AP1": (1, 2), "CTCF": (1, 1), "GATA": (1, 3)}
_TELOMERE_N = 1_000
_SLOT = 1_000
# Motifs are planted within this distance of the summit so that every window of DEMO_WIDTH
# shifted by up to DEMO_WIDTH // 2 - _PLANT_RADIUS bp still contains them.
_PLANT_RADIUS = 100
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
    "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


# ---------------------------------------------------------------------------------------------
# Genome


def _background(length: int, rng: np.random.Generator) -> np.ndarray:
    """Base codes (A=0, C=1, G=2, T=3) at 41 % GC with CpG depleted ~4-fold, as in mammals."""
    codes = rng.choice(4, size=length, p=[0.295, 0.205, 0.205, 0.295]).astype(np.uint8)
    cpg = np.flatnonzero((codes[:-1] == 1) & (codes[1:] == 2))
    cpg = cpg[rng.random(cpg.size) < 0.75]
    to_tpg = rng.random(cpg.size) < 0.5  # CG -> TG, else CG -> CA (deamination on either strand)
    codes[cpg[to_tpg]] = 3
    codes[cpg[~to_tpg] + 1] = 0
    return codes


def _n_intervals(chrom: str, length: int) -> list[tuple[int, int]]:
    intervals = [(0, _TELOMERE_N), (length - _TELOMERE_N, length)]
    if chrom == "chr2":  # an assembly gap, so that N handling shows up in the demo
        middle = length // 2
        intervals.append((middle - 5_000, middle + 5_000))
    return intervals


def _sample_instance(consensus: str, rng: np.random.Generator) -> str:
    return "".join(_IUPAC[base][rng.integers(len(_IUPAC[base]))] for base in consensus)


def _reverse_complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)[::-1]


def _family_pattern() -> re.Pattern:
    """A regex finding (overlapping) matches of any family's consensus on either strand."""
    def regex(consensus: str) -> str:
        return "".join(f"[{_IUPAC[base]}]" for base in consensus)

    alternatives = []
    for consensus in MOTIFS.values():
        reverse = "".join({"R": "Y", "Y": "R", "S": "S", "W": "W", "K": "M", "M": "K", "N": "N",
                           "A": "T", "C": "G", "G": "C", "T": "A"}[b] for b in consensus[::-1])
        alternatives += [regex(consensus), regex(reverse)]
    return re.compile("(?=(" + "|".join(alternatives) + "))")


def _scrub_chance_matches(
    codes: np.ndarray, planted: list[tuple[int, int]], rng: np.random.Generator
) -> None:
    """Mutate background bases until the only consensus matches are planted instances.

    Without this, ~7 % of 250-bp background windows hold a chance ``WGATAAGR`` and the labels
    (which count planted instances only) would be noisy. Planted bases are never changed.
    """
    protected = np.zeros(codes.size, dtype=bool)
    for start, end in planted:
        protected[start:end] = True
    planted_set = set(planted)
    pattern = _family_pattern()
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    while True:
        text = letters[codes].tobytes().decode("ascii")
        changed = False
        for match in pattern.finditer(text):
            start, end = match.start(), match.start() + len(match.group(1))
            if (start, end) in planted_set:
                continue
            free = np.flatnonzero(~protected[start:end]) + start
            if free.size == 0:
                continue
            position = int(free[rng.integers(free.size)])
            codes[position] = (codes[position] + int(rng.integers(1, 4))) % 4
            changed = True
        if not changed:
            return


def make_synthetic_genome(
    out_dir: str | os.PathLike,
    seed: int = 0,
    chrom_sizes: dict[str, int] | None = None,
    n_peaks: int = 450,
    n_background: int = 450,
) -> dict[str, Path]:
    """Write a synthetic genome with planted motifs, its peaks, background regions and motifs.

    Each peak (250-600 bp, summit in its middle 40 %) carries each of the three families
    independently with probability 1/2, planted non-overlapping within 100 bp of
    the summit on a random strand. Chance matches to the three consensuses elsewhere are mutated
    away, so background regions (drawn with the same sizes) hold no instance.
    Peaks and background regions sit in separate 1-kb slots clear of the N stretches (1 kb at
    each chromosome end, a 10-kb gap in the middle of ``chr2``). The output depends only on the
    arguments.

    Parameters
    ----------
    out_dir : str or path-like
        Created if missing.
    seed : int, default 0
    chrom_sizes : dict, optional
        ``{chrom: length}``, default :data:`DEMO_CHROM_SIZES` (1 Mb in all).
    n_peaks, n_background : int, default 450
        Spread over the chromosomes in proportion to their usable length.

    Returns
    -------
    dict
        Paths by key: ``genome`` (``genome.fa``, 60-bp lines), ``peaks`` (``peaks.bed``,
        narrowPeak with summit), ``background`` (``background.bed``, BED4), ``motifs``
        (``motifs.bed``: chrom, start, end, family, score 0, strand, instance sequence as read
        on the + strand of the genome, peak name).
    """
    chrom_sizes = dict(DEMO_CHROM_SIZES if chrom_sizes is None else chrom_sizes)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    sequences: dict[str, np.ndarray] = {}
    slots: list[tuple[str, int]] = []
    for chrom, length in chrom_sizes.items():
        codes = _background(length, rng)
        n_intervals = _n_intervals(chrom, length)
        for start, end in n_intervals:
            codes[start:end] = 4
        sequences[chrom] = codes
        for slot_start in range(0, length - _SLOT + 1, _SLOT):
            slot_end = slot_start + _SLOT
            # keep a margin so that shifted windows around the slot stay clear of N too
            clear = all(slot_end + DEMO_WIDTH <= start or end + DEMO_WIDTH <= slot_start
                        for start, end in n_intervals)
            if clear:
                slots.append((chrom, slot_start))
    if n_peaks + n_background > len(slots):
        raise ValueError(
            f"{n_peaks} peaks and {n_background} background regions need "
            f"{n_peaks + n_background} 1-kb slots; these chromosomes have {len(slots)}"
        )
    chosen = rng.permutation(len(slots))[: n_peaks + n_background]
    peak_slots = sorted(slots[i] for i in chosen[:n_peaks])
    background_slots = sorted(slots[i] for i in chosen[n_peaks:])
    chrom_order = {chrom: index for index, chrom in enumerate(chrom_sizes)}
    peak_slots.sort(key=lambda slot: (chrom_order[slot[0]], slot[1]))
    background_slots.sort(key=lambda slot: (chrom_order[slot[0]], slot[1]))

    peak_lines, motif_lines = [], []
    planted: dict[str, list[tuple[int, int]]] = {chrom: [] for chrom in chrom_sizes}
    for number, (chrom, slot_start) in enumerate(peak_slots, start=1):
        peak_name = f"peak_{number:04d}"
        width = int(rng.integers(250, 601))
        start = slot_start + int(rng.integers(0, _SLOT - width + 1))
        summit = int(rng.integers(int(0.3 * width), int(0.7 * width) + 1))
        centre = start + summit
        # independent draws: a family's presence says nothing about the others' (some peaks
        # carry none, as real peaks often lack every motif one looks for)
        families = [name for name in TASK_NAMES if rng.random() < 0.5]
        occupied: list[tuple[int, int]] = []
        for family in families:
            low, high = _INSTANCES_PER_PEAK[family]
            for _ in range(int(rng.integers(low, high + 1))):
                instance = _sample_instance(MOTIFS[family], rng)
                strand = "+" if rng.random() < 0.5 else "-"
                genomic = instance if strand == "+" else _reverse_complement(instance)
                for _attempt in range(1000):
                    motif_start = centre + int(
                        rng.integers(-_PLANT_RADIUS, _PLANT_RADIUS - len(genomic) + 1)
                    )
                    motif_end = motif_start + len(genomic)
                    if all(motif_end + 2 <= s or e + 2 <= motif_start for s, e in occupied):
                        break
                else:  # pragma: no cover - 6 motifs always fit in 200 bp
                    raise RuntimeError("could not place a motif instance")
                occupied.append((motif_start, motif_end))
                planted[chrom].append((motif_start, motif_end))
                sequences[chrom][motif_start:motif_end] = ["ACGT".index(b) for b in genomic]
                motif_lines.append(
                    (chrom_order[chrom], motif_start,
                     f"{chrom}\t{motif_start}\t{motif_end}\t{family}\t0\t{strand}\t{genomic}\t"
                     f"{peak_name}\n")
                )
        signal = len(occupied)
        peak_lines.append(
            f"{chrom}\t{start}\t{start + width}\t{peak_name}\t{min(1000, 100 * signal)}\t.\t"
            f"{float(signal):.1f}\t-1\t-1\t{summit}\n"
        )

    for chrom, codes in sequences.items():
        _scrub_chance_matches(codes, planted[chrom], rng)

    background_lines = []
    for number, (chrom, slot_start) in enumerate(background_slots, start=1):
        width = int(rng.integers(250, 601))
        start = slot_start + int(rng.integers(0, _SLOT - width + 1))
        background_lines.append(f"{chrom}\t{start}\t{start + width}\tbackground_{number:04d}\n")

    paths = {
        "genome": out_dir / "genome.fa",
        "peaks": out_dir / "peaks.bed",
        "background": out_dir / "background.bed",
        "motifs": out_dir / "motifs.bed",
    }
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    with open(paths["genome"], "w", encoding="ascii", newline="\n") as handle:
        for chrom, codes in sequences.items():
            text = letters[codes].tobytes().decode("ascii")
            handle.write(f">{chrom}\n")
            handle.writelines(text[i:i + 60] + "\n" for i in range(0, len(text), 60))
    paths["peaks"].write_text("".join(peak_lines), encoding="ascii")
    paths["background"].write_text("".join(background_lines), encoding="ascii")
    motif_lines.sort(key=lambda item: (item[0], item[1]))
    paths["motifs"].write_text("".join(line for _, _, line in motif_lines), encoding="ascii")
    return paths


def read_motifs_bed(path: str | os.PathLike) -> list[dict]:
    """Read ``motifs.bed`` into dicts with keys chrom, start, end, family, strand, sequence, peak."""
    motifs = []
    with open(path, encoding="ascii") as handle:
        for line in handle:
            chrom, start, end, family, _score, strand, sequence, peak = line.rstrip("\n").split("\t")
            motifs.append({"chrom": chrom, "start": int(start), "end": int(end), "family": family,
                           "strand": strand, "sequence": sequence, "peak": peak})
    return motifs


def window_labels(
    motifs: Sequence[dict], chroms: Sequence[str], starts: np.ndarray, width: int
) -> np.ndarray:
    """Which families have an instance fully inside each window.

    Parameters
    ----------
    motifs : sequence of dict
        As returned by :func:`read_motifs_bed`.
    chroms : sequence of str
        ``(n,)`` chromosome of each window.
    starts : np.ndarray
        ``(n,)`` 0-based window starts.
    width : int

    Returns
    -------
    np.ndarray
        ``(n, len(TASK_NAMES))`` float32 of 0/1, columns in :data:`TASK_NAMES` order.
    """
    starts = np.asarray(starts, dtype=np.int64)
    chroms = np.asarray(chroms)
    labels = np.zeros((len(starts), len(TASK_NAMES)), dtype=np.float32)
    for task, family in enumerate(TASK_NAMES):
        for chrom in np.unique(chroms):
            instances = [m for m in motifs if m["family"] == family and m["chrom"] == chrom]
            if not instances:
                continue
            motif_starts = np.sort([m["start"] for m in instances])
            length = instances[0]["end"] - instances[0]["start"]
            rows = np.flatnonzero(chroms == chrom)
            window_starts = starts[rows]
            # an instance at s is inside [w, w + width) when w <= s <= w + width - length
            first = np.searchsorted(motif_starts, window_starts, side="left")
            last = np.searchsorted(motif_starts, window_starts + width - length, side="right")
            labels[rows, task] = (last > first).astype(np.float32)
    return labels


# ---------------------------------------------------------------------------------------------
# Model


class DemoCNN(nn.Module):
    """A small multi-task CNN: one presence logit per planted motif family.

    ``conv(4 -> n_filters, 15) -> ReLU -> MaxPool(8, stride 4) -> conv(n_filters -> n_hidden, 5)
    -> ReLU -> sum over positions -> Linear(n_hidden -> n_outputs)``. The max-pool windows
    overlap on purpose (stride < size): attribution engines must handle that case. Every module
    is used once, and the only operation outside modules is the (linear) sum over positions,
    which lets one motif instance move a logit as much wherever it sits.

    Parameters
    ----------
    n_outputs : int, default 3
        Logits, in :data:`TASK_NAMES` order for the demo weights.
    n_filters : int, default 32
        First-layer (motif detector) filters.
    n_hidden : int, default 32
        Second-layer filters.

    Input ``(batch, 4, length)`` float one-hot (any length >= 8; the demo uses
    :data:`DEMO_WIDTH`); output ``(batch, n_outputs)`` logits.
    """

    def __init__(self, n_outputs: int = 3, n_filters: int = 32, n_hidden: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(4, n_filters, kernel_size=15, padding=7)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool1d(kernel_size=8, stride=4)
        self.conv2 = nn.Conv1d(n_filters, n_hidden, kernel_size=5, padding=2)
        self.relu2 = nn.ReLU()
        self.linear = nn.Linear(n_hidden, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.pool(self.relu1(self.conv1(x)))
        hidden = self.relu2(self.conv2(hidden))
        return self.linear(hidden.sum(dim=-1))


def load_demo_model(path: str | os.PathLike, n_outputs: int = 3) -> DemoCNN:
    """Build a :class:`DemoCNN`, load a state_dict saved by :func:`train_demo_model`, eval mode."""
    model = DemoCNN(n_outputs=n_outputs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Training and evaluation


def _rounded_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.min() == labels.max():
        return None  # one class only (tiny test genomes): undefined
    return round(auroc(scores, labels > 0), 4)


def _load_genome_onehot(fasta_path: Path) -> dict[str, np.ndarray]:
    genome: dict[str, np.ndarray] = {}
    name, parts = None, []
    with open(fasta_path, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(">"):
                if name is not None:
                    genome[name] = CODE_TO_ONEHOT[sequence_to_codes("".join(parts))].T.copy()
                name, parts = line[1:].split()[0], []
            else:
                parts.append(line.strip())
    if name is not None:
        genome[name] = CODE_TO_ONEHOT[sequence_to_codes("".join(parts))].T.copy()
    return genome


def _read_bed_table(path: Path) -> list[list[str]]:
    with open(path, encoding="ascii") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if line.strip()]


def evaluate_demo_model(
    model: nn.Module,
    genome_dir: str | os.PathLike,
    chroms: Sequence[str] = HELDOUT_CHROMS,
    width: int = DEMO_WIDTH,
) -> dict:
    """Held-out auROC and accuracy of each output on the peaks and background of ``chroms``.

    Windows are cut with :func:`seqlift.pipeline.regions.extract_regions` (summit-centred for peaks,
    midpoint-centred for background) and labelled with :func:`window_labels`. Accuracy uses
    logit > 0.

    Returns
    -------
    dict
        ``{"auroc": {task: float}, "accuracy": {task: float}, "n_windows": int,
        "n_positives": {task: int}}``; an auROC is None when ``chroms`` hold only one class.
    """
    genome_dir = Path(genome_dir)
    motifs = read_motifs_bed(genome_dir / "motifs.bed")
    windows = []
    for bed in ("peaks.bed", "background.bed"):
        region_set = extract_regions(genome_dir / bed, genome_dir / "genome.fa", width)
        keep = [i for i, r in enumerate(region_set.regions) if r.chrom in chroms]
        windows.append((region_set.onehot[keep], [region_set.regions[i] for i in keep]))
    onehot = np.concatenate([w[0] for w in windows])
    regions = [r for w in windows for r in w[1]]
    labels = window_labels(motifs, [r.chrom for r in regions], [r.start for r in regions], width)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(onehot).float()).numpy()
    model.train(was_training)
    return {
        "auroc": {name: _rounded_auc(labels[:, t], logits[:, t])
                  for t, name in enumerate(TASK_NAMES)},
        "accuracy": {name: round(float(((logits[:, t] > 0) == (labels[:, t] > 0)).mean()), 4)
                     for t, name in enumerate(TASK_NAMES)},
        "n_windows": len(regions),
        "n_positives": {name: int(labels[:, t].sum()) for t, name in enumerate(TASK_NAMES)},
    }


def train_demo_model(
    genome_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    seed: int = 0,
    width: int = DEMO_WIDTH,
    epochs: int = 120,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    heldout_chroms: Sequence[str] = HELDOUT_CHROMS,
    n_threads: int = 2,
) -> dict:
    """Train :class:`DemoCNN` on a genome from :func:`make_synthetic_genome` and save it.

    Each epoch sees every training peak and background region (windows shifted by up to 25 bp)
    and as many random windows from the training chromosomes; each window is reverse-complemented
    with probability 1/2. Labels come from ``motifs.bed`` (:func:`window_labels`), so a random
    window that happens to hold a planted motif is a positive. ``heldout_chroms`` are never seen.
    With the same seed, thread count and torch build the weights are identical.

    Parameters
    ----------
    genome_dir : str or path-like
        Folder with genome.fa, peaks.bed, background.bed, motifs.bed.
    out_path : str or path-like
        Where the state_dict is saved (about 30 kB).
    seed : int, default 0
    width : int, default DEMO_WIDTH
    epochs, batch_size, learning_rate :
        Adam, binary cross-entropy on the three logits.
    heldout_chroms : sequence of str, default ("chr3",)
    n_threads : int, default 2
        ``torch.set_num_threads`` during training (restored afterwards).

    Returns
    -------
    dict
        :func:`evaluate_demo_model` on ``heldout_chroms``, plus ``training_seconds``,
        ``n_train_peaks``, ``epochs`` and ``seed``.
    """
    genome_dir, out_path = Path(genome_dir), Path(out_path)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        began = time.perf_counter()
        began_cpu = time.process_time()
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        genome = _load_genome_onehot(genome_dir / "genome.fa")
        motifs = read_motifs_bed(genome_dir / "motifs.bed")
        half = width // 2

        def centres(bed: str, summit_column: bool) -> tuple[list[str], np.ndarray]:
            rows = [row for row in _read_bed_table(genome_dir / bed)
                    if row[0] not in heldout_chroms]
            chroms = [row[0] for row in rows]
            if summit_column:
                middle = [int(row[1]) + int(row[9]) for row in rows]
            else:
                middle = [(int(row[1]) + int(row[2])) // 2 for row in rows]
            return chroms, np.array(middle, dtype=np.int64)

        peak_chroms, peak_centres = centres("peaks.bed", summit_column=True)
        background_chroms, background_centres = centres("background.bed", summit_column=False)
        region_chroms = peak_chroms + background_chroms
        region_centres = np.concatenate([peak_centres, background_centres])
        train_chroms = [chrom for chrom in genome if chrom not in heldout_chroms]
        chrom_lengths = np.array([genome[chrom].shape[1] for chrom in train_chroms])
        max_shift = half - _PLANT_RADIUS

        model = DemoCNN(n_outputs=len(TASK_NAMES))
        optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
        loss_function = nn.BCEWithLogitsLoss()
        model.train()
        for _epoch in range(epochs):
            shifts = rng.integers(-max_shift, max_shift + 1, size=len(region_centres))
            starts = list(region_centres + shifts - half)
            chroms = list(region_chroms)
            # random windows from the training chromosomes (mostly negatives), clear of N
            n_random = len(peak_centres)
            while n_random:
                chrom_index = rng.choice(len(train_chroms), p=chrom_lengths / chrom_lengths.sum())
                chrom = train_chroms[chrom_index]
                start = int(rng.integers(0, chrom_lengths[chrom_index] - width + 1))
                if genome[chrom][:, start:start + width].sum() >= 0.9 * width:
                    chroms.append(chrom)
                    starts.append(start)
                    n_random -= 1
            starts = np.array(starts, dtype=np.int64)
            labels = window_labels(motifs, chroms, starts, width)
            onehot = np.stack([genome[c][:, s:s + width] for c, s in zip(chroms, starts,
                                                                          strict=True)])
            flip = rng.random(len(starts)) < 0.5
            onehot[flip] = onehot[flip][:, ::-1, ::-1]  # reverse complement in ACGT order
            order = rng.permutation(len(starts))
            for batch_start in range(0, len(order), batch_size):
                batch = order[batch_start:batch_start + batch_size]
                inputs = torch.from_numpy(np.ascontiguousarray(onehot[batch])).float()
                targets = torch.from_numpy(labels[batch])
                optimiser.zero_grad()
                loss = loss_function(model(inputs), targets)
                loss.backward()
                optimiser.step()
        training_seconds = time.perf_counter() - began
        training_cpu_seconds = time.process_time() - began_cpu
        model.eval()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out_path)
        metrics = evaluate_demo_model(model, genome_dir, heldout_chroms, width)
    finally:
        torch.set_num_threads(previous_threads)
    metrics.update({
        "training_seconds": round(training_seconds, 1),
        "training_cpu_seconds": round(training_cpu_seconds, 1),
        "n_train_peaks": len(peak_centres),
        "epochs": epochs,
        "seed": seed,
        "heldout_chroms": list(heldout_chroms),
    })
    return metrics


def write_metrics(metrics: dict, path: str | os.PathLike) -> None:
    """Write the dict returned by :func:`train_demo_model` as indented JSON."""
    Path(path).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")

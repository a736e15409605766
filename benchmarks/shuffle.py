"""Time seqlift's dinucleotide shuffle against tangermeme's (run by hand, not in tests).

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \
        .venv/bin/python benchmarks/shuffle.py [--length 2000] [--repeats 15] [--encode]

``--encode`` also times the text -> codes -> one-hot steps on a 1 Mbp string
(``sequence_to_codes``, ``one_hot_encode``, the workflow's
the regions stage's genome windows, and tangermeme's ``one_hot_encode``).

Both run in this process on the same random sequences, alternating call by
call so that load from other processes hits both alike. Reports the median
wall-clock and CPU (process) time per call, shuffles per second of wall
time (the throughput) and the ratios tangermeme / seqlift. The malloc
settings keep freed buffers in the process, so that neither tool pays for
page faults on every call.

tangermeme runs with its defaults (one thread, n_jobs=1); torch is set to
one thread. seqlift runs on numba's threads (NUMBA_NUM_THREADS, default:
the cores this process may use) for calls of 2**18 bases or more, so its
CPU time can exceed its wall time. Run with NUMBA_NUM_THREADS=1 for
single-thread numbers. On a machine shared with other jobs, repeat the run
and report medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch
from tangermeme.ersatz import dinucleotide_shuffle as tangermeme_shuffle

from seqlift.references import dinucleotide_shuffle as seqlift_shuffle
from seqlift.sequence import one_hot_encode, random_one_hot, sequence_to_codes


def time_call(function, X, n_shuffles: int, seed: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function(X, n=n_shuffles, random_state=seed)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_encoding(repeats: int, length: int = 1_000_000) -> None:
    """Median time of each text -> codes / one-hot step on one uppercase ACGTN string."""
    from tangermeme.utils import one_hot_encode as tangermeme_one_hot_encode

    from seqlift._codes import CODE_TO_ONEHOT

    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("ACGTN"), size=length, p=[0.24, 0.24, 0.24, 0.24, 0.04]))
    steps = {
        "seqlift sequence_to_codes": lambda: sequence_to_codes(sequence),
        "seqlift one_hot_encode": lambda: one_hot_encode(sequence),
        "regions stage window": lambda: CODE_TO_ONEHOT[sequence_to_codes(sequence)].T.copy(),
        "tangermeme one_hot_encode": lambda: tangermeme_one_hot_encode(sequence),
    }
    print(f"text -> codes / one-hot, {length:,} bases, median of {repeats}")
    for name, step in steps.items():
        step()
        samples = []
        for _ in range(repeats):
            wall = time.perf_counter()
            step()
            samples.append(time.perf_counter() - wall)
        median = statistics.median(samples)
        print(f"{name:>27} {median * 1e3:>8.2f} ms {length / median / 1e6:>8.0f} Mbase/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 100])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--encode", action="store_true", help="also time text -> one-hot")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(
        f"length {args.length} bp, {args.shuffles} shuffles per sequence, "
        f"{args.repeats} alternating runs each, float32 one-hot input, "
        f"seqlift on up to {numba.config.NUMBA_NUM_THREADS} numba threads"
    )
    header = f"{'sequences':>9} {'tool':>10} {'wall ms':>9} {'cpu ms':>9} {'shuffles/s (wall)':>18}"
    print(header)
    for n_sequences in args.batches:
        X = random_one_hot((n_sequences, 4, args.length), random_state=0, dtype=torch.float32)
        tools = {"seqlift": seqlift_shuffle, "tangermeme": tangermeme_shuffle}
        for function in tools.values():  # compile / warm up
            function(X, n=args.shuffles, random_state=0)
        times = {name: [] for name in tools}
        for repeat in range(args.repeats):
            for name, function in tools.items():
                times[name].append(time_call(function, X, args.shuffles, seed=repeat))

        medians = {}
        for name, samples in times.items():
            wall = statistics.median(sample[0] for sample in samples)
            cpu = statistics.median(sample[1] for sample in samples)
            medians[name] = (wall, cpu)
            rate = n_sequences * args.shuffles / wall
            print(
                f"{n_sequences:>9} {name:>10} {wall * 1e3:>9.2f} {cpu * 1e3:>9.2f} {rate:>18,.0f}"
            )
        wall_ratio = medians["tangermeme"][0] / medians["seqlift"][0]
        cpu_ratio = medians["tangermeme"][1] / medians["seqlift"][1]
        print(f"{n_sequences:>9} {'ratio':>10} {wall_ratio:>8.1f}x {cpu_ratio:>8.1f}x")
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "none started"
    print(f"numba threading layer: {layer}")
    if args.encode:
        time_encoding(args.repeats)


if __name__ == "__main__":
    main()

"""Reference (baseline) sequences for DeepLIFT/SHAP.

Every reference function has the call signature the engine expects,
``f(X, n, random_state) -> (n_examples, n, 4, length)``:

- ``dinucleotide_shuffle``: shuffles of each sequence that keep its
  dinucleotide counts exactly (the usual DeepLIFT/SHAP reference);
  ``dinucleotide_shuffle_codes`` gives the same shuffles as one byte per base;
- ``zeros``: all-zero sequences;
- ``uniform``: 0.25 at every position and base.

``region_seed`` turns a run seed and a region number into the seed of that
region, so a region's references depend on the region and never on which
batch or shard it was processed in.

Shuffling algorithm
-------------------
A sequence is a walk through the multigraph whose vertices are the bases and
whose edges are its dinucleotides; a sequence with the same dinucleotide
counts, first and last base is an Eulerian path through the same graph. Each
shuffle is drawn with the algorithm of Altschul & Erickson (1985), in the form
of Kandel et al. (1996):

1. For every base other than the last one, choose the edge it is left by for
   the last time, so that these last exits form a spanning arborescence
   directed to the last base. It is drawn with Wilson's loop-erased random
   walk, which gives each arborescence a probability proportional to the
   product of its edge multiplicities, as the algorithm requires.
2. Put the remaining exits of each base in a uniformly random order
   (a Fisher-Yates shuffle of the block of that base's exits), followed by
   its last exit.
3. Walk from the first base, taking the next exit of the current base.

Every sequence with the same dinucleotide counts, first and last base is then
equally likely, unlike the "keep each base's original last exit" shortcut
(used by deeplift and tangermeme), which always reuses the original tree.

It runs in numba kernels. Each shuffle has its own counter-based random
stream (SplitMix64) keyed by the example's seed and the shuffle's number, so
shuffle ``k`` of an example depends only on that example's seed and ``k``,
never on ``n``, the batch, or the number of threads. Why it is fast: the
Fisher-Yates draws are computed many at a time in SIMD registers before the
swaps; a step of the walk is two dependent loads, and four walks run
interlaced so that their chains overlap; the kernel writes one byte per base,
expanded to one-hot in a single pass. Large calls are split across numba's
threads by (example, group of four shuffles); see ``_shuffle_codes`` and
``seqlift._numba`` for the thread count and threading layer.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch

from ._numba import LAUNCH_LOCK, prefer_forksafe_threads

__all__ = [
    "dinucleotide_shuffle",
    "dinucleotide_shuffle_codes",
    "region_seed",
    "uniform",
    "zeros",
]

_MASK64 = (1 << 64) - 1

# SplitMix64 constants (Steele, Lea & Flood 2014). numba turns mixed
# uint64/int64 arithmetic into float64, so every constant is a np.uint64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STREAM_SALT = np.uint64(0x5EED5EED5EED5EED)
_SHIFT30 = np.uint64(30)
_SHIFT27 = np.uint64(27)
_SHIFT31 = np.uint64(31)
_SHIFT32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)
_ONE = np.uint64(1)
_FOUR = np.uint64(4)
_EIGHT = np.uint64(8)
_TWELVE = np.uint64(12)


def region_seed(seed: int, region_number: int) -> int:
    """The seed of one region, derived from a run seed.

    The value is the first 8 bytes (big-endian) of the BLAKE2b hash of the
    text ``"{seed}:{region_number}"``, with the top bit cleared so it fits in
    an int64. It is the same on every platform, process and Python or numpy
    version, and different region numbers give unrelated seeds.

    Parameters
    ----------
    seed : int
        The run seed (any Python int, negative allowed).
    region_number : int
        The region's index in the input, e.g. its BED row number.

    Returns
    -------
    int
        A seed in ``[0, 2**63)``.
    """
    for name, value in (("seed", seed), ("region_number", region_number)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    digest = hashlib.blake2b(f"{int(seed)}:{int(region_number)}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") >> 1


def _example_keys(random_state: int | Sequence[int] | None, n_examples: int) -> np.ndarray:
    """The 64-bit key of each example's random stream, from ``random_state``."""
    if random_state is None:
        # Drawn from numpy's global generator, so np.random.seed makes it repeatable.
        random_state = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        seeds = [region_seed(int(random_state), index) for index in range(n_examples)]
    else:
        if isinstance(random_state, torch.Tensor):
            random_state = random_state.tolist()
        if isinstance(random_state, (str, bytes)) or not isinstance(
            random_state, (Sequence, np.ndarray)
        ):
            raise TypeError(
                "random_state must be None, an int, or one int per example, "
                f"not {type(random_state).__name__}"
            )
        seeds = list(random_state)
        if len(seeds) != n_examples:
            raise ValueError(
                f"random_state holds {len(seeds)} seeds for {n_examples} examples; "
                "give one seed per example"
            )
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"every per-example seed must be an int, got {seed!r}")
    return np.array([int(seed) & _MASK64 for seed in seeds], dtype=np.uint64)


def _span(start: int, end: int, length: int) -> tuple[int, int]:
    """Resolve tangermeme's ``start``/``end`` convention to ``[start, end)``.

    A negative ``end`` counts from the end inclusively (``-1`` is the last
    base, so the span runs to the end of the sequence); a negative ``start``
    counts from the end as a Python index does.
    """
    resolved_start = start + length if start < 0 else start
    resolved_end = length + 1 + end if end < 0 else end
    if not 0 <= resolved_start <= resolved_end <= length:
        raise ValueError(f"start={start}, end={end} is not a span of a sequence of length {length}")
    return resolved_start, resolved_end


@numba.njit(inline="always")
def _mix(z):
    """The SplitMix64 output function: 64 well-mixed bits from a counter value."""
    z = (z ^ (z >> _SHIFT30)) * _MIX1
    z = (z ^ (z >> _SHIFT27)) * _MIX2
    return z ^ (z >> _SHIFT31)


@numba.njit(inline="always")
def _next_random(state):
    """One SplitMix64 step: the new state and 64 random bits."""
    state = state + _GOLDEN
    return state, _mix(state)


@numba.njit(inline="always")
def _below(state, bound):
    """A uniform integer in ``[0, bound)`` (Lemire's method, unbiased), and the new state."""
    bound64 = np.uint64(bound)
    state, bits = _next_random(state)
    product = (bits >> _SHIFT32) * bound64
    low = product & _LOW32
    if low < bound64:
        threshold = (_TWO32 - bound64) % bound64
        while low < threshold:
            state, bits = _next_random(state)
            product = (bits >> _SHIFT32) * bound64
            low = product & _LOW32
    return state, np.int64(product >> _SHIFT32)


@numba.njit(inline="always")
def _exact_draw(bits, bound):
    """Lemire's unbiased draw in ``[0, bound)`` from 32 random ``bits``.

    A rejected draw (probability below ``bound / 2**32``) is replaced by one
    from bits derived from the rejected ones, so the result stays a function
    of the stream.
    """
    product = bits * bound
    if (product & _LOW32) < bound:
        threshold = (_TWO32 - bound) % bound
        while (product & _LOW32) < threshold:
            bits = _mix(bits ^ _STREAM_SALT) >> _SHIFT32
            product = bits * bound
    return product >> _SHIFT32


@numba.njit(inline="always")
def _permute_block(exits, begin, size, state, draws):
    """Fisher-Yates shuffle of ``exits[begin:begin + size]``; returns the new random state.

    Swap ``t`` (``t = 0 .. size - 2``) exchanges position ``begin + size -
    1 - t`` with a uniform one at or before it. Its draw comes from one half
    of the SplitMix64 word of its pair (``t`` and ``t + half`` share one
    word), so the words are a counter function that the compiler vectorises,
    with the multiplications in SIMD registers; only the rare draw that
    Lemire's method might reject is redone exactly, one by one.
    ``draws`` (at least ``size`` long) is scratch.
    """
    n_steps = size - 1
    if n_steps <= 0:
        return state
    half = (n_steps + 1) // 2
    maybe_rejected = np.uint64(0)
    for pair in range(half):
        word = _mix(state + np.uint64(pair + 1) * _GOLDEN)
        bound_high = np.uint64(size - pair)
        bound_low = np.uint64(size - pair - half)
        product_high = (word >> _SHIFT32) * bound_high
        product_low = (word & _LOW32) * bound_low
        maybe_rejected |= np.uint64((product_high & _LOW32) < bound_high)
        maybe_rejected |= np.uint64((product_low & _LOW32) < bound_low)
        draws[pair] = product_high >> _SHIFT32
        draws[pair + half] = product_low >> _SHIFT32
    if maybe_rejected:
        for pair in range(half):
            word = _mix(state + np.uint64(pair + 1) * _GOLDEN)
            draws[pair] = _exact_draw(word >> _SHIFT32, np.uint64(size - pair))
            draws[pair + half] = _exact_draw(word & _LOW32, np.uint64(size - pair - half))
    # Unsigned indices spare numba's negative-index check on every access.
    first = np.uint64(begin)
    position = np.uint64(begin + size - 1)
    for step in range(n_steps):
        other = first + draws[step]
        value = exits[position]
        exits[position] = exits[other]
        exits[other] = value
        position -= _ONE
    return state + np.uint64(half) * _GOLDEN


@numba.njit(nogil=True, cache=True)
def _draw_last_exits(counts, root, state, last_exit, in_tree):
    """Step 1 for one walk: the last exit of every base but ``root``.

    ``counts`` (16,) holds the segment's dinucleotide counts (row = from).
    Writes ``last_exit`` (4,), uses ``in_tree`` (4,) as scratch, returns the
    new random state.
    """
    in_tree[:] = False
    in_tree[root] = True
    for base in range(4):
        if in_tree[base]:
            continue
        if (
            counts[base * 4] + counts[base * 4 + 1] + counts[base * 4 + 2] + counts[base * 4 + 3]
            == 0
        ):
            continue
        # Wilson's loop-erased random walk into the tree. A self-loop can
        # never be in the tree, so the walk steps only to other bases; every
        # base but the root that has exits has one to another base, or the
        # original sequence could not have left it.
        current = base
        while not in_tree[current]:
            n_exits = 0
            for other in range(4):
                if other != current:
                    n_exits += counts[current * 4 + other]
            state, draw = _below(state, n_exits)
            chosen = 0
            for other in range(4):
                if other != current:
                    chosen = other
                    if draw < counts[current * 4 + other]:
                        break
                    draw -= counts[current * 4 + other]
            last_exit[current] = chosen
            current = chosen
        current = base
        while not in_tree[current]:
            in_tree[current] = True
            current = last_exit[current]
    return state


@numba.njit(nogil=True, cache=True)
def _find_segments(code, start, stop, segments, segment_counts):
    """The N-free runs of ``code[start:stop]`` of 3 or more bases; returns how many.

    Writes each run's ``[first, stop)`` into ``segments`` (capacity, 2) and
    its dinucleotide counts (row = from) into ``segment_counts`` (capacity, 16).
    """
    n_segments = 0
    position = start
    while position < stop:
        if code[position] >= 4:
            position += 1
            continue
        segment_start = position
        while position < stop and code[position] < 4:
            position += 1
        if position - segment_start >= 3:
            segments[n_segments, 0] = segment_start
            segments[n_segments, 1] = position
            segment_counts[n_segments, :] = 0
            for inner in range(segment_start, position - 1):
                segment_counts[n_segments, code[inner] * 4 + code[inner + 1]] += 1
            n_segments += 1
    return n_segments


# The number of shuffles of one example walked together. Each step of a walk
# is two dependent loads (the base's next exit index, then the exit); four
# independent walks in one loop let the CPU overlap their chains.
_WALKS_PER_GROUP = 4


@numba.njit(nogil=True, cache=True)
def _shuffle_group(code, segments, segment_counts, n_segments, example_state, first_shuffle, out):
    """Shuffles ``first_shuffle .. first_shuffle + len(out) - 1`` of one example, into ``out``.

    code: (length,) uint8; segments, segment_counts, n_segments: from
    ``_find_segments``; out: (n_walks, length) uint8 with ``n_walks <= 4``.
    Shuffle ``k`` depends only on ``example_state`` and ``k``.
    """
    n_walks, length = out.shape
    exits = np.empty((_WALKS_PER_GROUP, length), dtype=np.uint8)
    draws = np.empty(length, dtype=np.uint64)
    next_exit = np.zeros(_WALKS_PER_GROUP * 4, dtype=np.uint64)
    last_exit = np.zeros(_WALKS_PER_GROUP * 4, dtype=np.int64)
    in_tree = np.zeros(4, dtype=np.bool_)
    states = np.empty(_WALKS_PER_GROUP, dtype=np.uint64)
    for walk in range(n_walks):
        _, states[walk] = _next_random(example_state + np.uint64(first_shuffle + walk) * _MIX1)
        out[walk, :] = code

    for segment in range(n_segments):
        first = segments[segment, 0]
        stop = segments[segment, 1]
        counts = segment_counts[segment]
        root = np.int64(code[stop - 1])
        for walk in range(n_walks):
            state = _draw_last_exits(
                counts, root, states[walk], last_exit[walk * 4 : walk * 4 + 4], in_tree
            )
            # Step 2: each base's exits in one block of exits[walk], the
            # others in a uniformly random order, then the last exit.
            row = exits[walk]
            offset = 0
            for base in range(4):
                next_exit[walk * 4 + base] = offset
                degree = (
                    counts[base * 4]
                    + counts[base * 4 + 1]
                    + counts[base * 4 + 2]
                    + counts[base * 4 + 3]
                )
                if degree == 0:
                    continue
                has_last = base != root
                kept = last_exit[walk * 4 + base]
                position = offset
                for other in range(4):
                    n_copies = counts[base * 4 + other]
                    if has_last and other == kept:
                        n_copies -= 1
                    row[position : position + n_copies] = other
                    position += n_copies
                if has_last:
                    row[position] = kept
                    state = _permute_block(row, offset, degree - 1, state, draws)
                else:
                    state = _permute_block(row, offset, degree, state, draws)
                offset += degree
            states[walk] = state

        # Step 3: the walks, each taking its base's next exit. Written out
        # for four walks, with each walk's base in its own local variable
        # (the four dependency chains overlap), and unsigned indices, which
        # spare numba's negative-index check on every access.
        start_base = np.uint64(code[first])
        if n_walks == _WALKS_PER_GROUP:
            exits0, exits1, exits2, exits3 = exits[0], exits[1], exits[2], exits[3]
            out0, out1, out2, out3 = out[0], out[1], out[2], out[3]
            base0 = base1 = base2 = base3 = start_base
            for signed_position in range(first + 1, stop):
                position = np.uint64(signed_position)
                index = next_exit[base0]
                next_exit[base0] = index + _ONE
                base0 = np.uint64(exits0[index])
                out0[position] = base0
                index = next_exit[_FOUR + base1]
                next_exit[_FOUR + base1] = index + _ONE
                base1 = np.uint64(exits1[index])
                out1[position] = base1
                index = next_exit[_EIGHT + base2]
                next_exit[_EIGHT + base2] = index + _ONE
                base2 = np.uint64(exits2[index])
                out2[position] = base2
                index = next_exit[_TWELVE + base3]
                next_exit[_TWELVE + base3] = index + _ONE
                base3 = np.uint64(exits3[index])
                out3[position] = base3
        else:
            for walk in range(n_walks):
                walk_exits = exits[walk]
                walk_out = out[walk]
                offset = np.uint64(walk * 4)
                base = start_base
                for signed_position in range(first + 1, stop):
                    index = next_exit[offset + base]
                    next_exit[offset + base] = index + _ONE
                    base = np.uint64(walk_exits[index])
                    walk_out[np.uint64(signed_position)] = base


@numba.njit(nogil=True, cache=True)
def _all_segments(codes, start, stop):
    """``_find_segments`` for every row of ``codes``: segments, their counts, how many per row."""
    n_examples, length = codes.shape
    # Segments of 3+ bases separated by Ns: at most (length + 1) / 4 of them.
    capacity = length // 4 + 1
    segments = np.empty((n_examples, capacity, 2), dtype=np.int64)
    segment_counts = np.empty((n_examples, capacity, 16), dtype=np.int64)
    n_segments = np.empty(n_examples, dtype=np.int64)
    for example in range(n_examples):
        n_segments[example] = _find_segments(
            codes[example], start, stop, segments[example], segment_counts[example]
        )
    return segments, segment_counts, n_segments


@numba.njit(nogil=True, cache=True)
def _shuffle_task(task, codes, n_shuffles, keys, segments, segment_counts, n_segments, out):
    """Task ``task`` of ``_shuffle_codes``: one example's shuffles of one group of four."""
    n_groups = (n_shuffles + _WALKS_PER_GROUP - 1) // _WALKS_PER_GROUP
    example = task // n_groups
    first_shuffle = (task % n_groups) * _WALKS_PER_GROUP
    last_shuffle = min(first_shuffle + _WALKS_PER_GROUP, n_shuffles)
    _, example_state = _next_random(keys[example] ^ _STREAM_SALT)
    _shuffle_group(
        codes[example],
        segments[example],
        segment_counts[example],
        n_segments[example],
        example_state,
        first_shuffle,
        out[example, first_shuffle:last_shuffle],
    )


@numba.njit(nogil=True, parallel=True, cache=True)
def _shuffle_codes_parallel(codes, start, stop, n_shuffles, keys, out):
    """Write ``n_shuffles`` shuffles of each row of ``codes`` into ``out``, on numba's threads.

    codes: (n_examples, length) uint8, 4 = unknown; keys: (n_examples,)
    uint64; out: (n_examples, n_shuffles, length) uint8. The work is split
    by (example, group of 4 shuffles); each shuffle has its own random
    stream, so the result does not depend on the number of threads.
    """
    segments, segment_counts, n_segments = _all_segments(codes, start, stop)
    n_tasks = codes.shape[0] * ((n_shuffles + _WALKS_PER_GROUP - 1) // _WALKS_PER_GROUP)
    for task in numba.prange(n_tasks):
        _shuffle_task(task, codes, n_shuffles, keys, segments, segment_counts, n_segments, out)


@numba.njit(nogil=True, cache=True)
def _shuffle_codes_serial(codes, start, stop, n_shuffles, keys, out):
    """``_shuffle_codes_parallel`` on the calling thread only (the same result)."""
    segments, segment_counts, n_segments = _all_segments(codes, start, stop)
    n_tasks = codes.shape[0] * ((n_shuffles + _WALKS_PER_GROUP - 1) // _WALKS_PER_GROUP)
    for task in range(n_tasks):
        _shuffle_task(task, codes, n_shuffles, keys, segments, segment_counts, n_segments, out)


@numba.njit(nogil=True, cache=True)
def _expand_one_hot(codes, out):
    """Write the one-hot encoding of ``codes`` (n, k, length) into ``out`` (n, k, 4, length).

    Every value is written (no zeroing pass first). It runs on one thread:
    it is bound by memory bandwidth, and more threads did not make it faster.
    """
    n_examples, n_shuffles, length = codes.shape
    for example in range(n_examples):
        for shuffle in range(n_shuffles):
            row = codes[example, shuffle]
            target = out[example, shuffle]
            for base in range(4):
                for position in range(length):
                    target[base, position] = row[position] == base


@numba.njit(nogil=True, cache=True)
def _onehot_codes(x, codes):
    """Write the code of each column of ``x`` (n, 4, length) into ``codes`` (n, length).

    One branch-free pass per example (which the compiler vectorises) instead
    of the several a vectorised check in torch takes. Returns -1 if ``x`` is
    one-hot (values 0 or 1, at most one 1 per column), else the flat index
    ``example * length + position`` of the first bad column.
    """
    n_examples, _, length = x.shape
    first_bad = np.full(n_examples, -1, dtype=np.int64)
    for example in range(n_examples):
        rows = x[example]
        code_row = codes[example]
        n_bad = 0
        for position in range(length):
            a = rows[0, position]
            c = rows[1, position]
            g = rows[2, position]
            t = rows[3, position]
            n_ones = (a == 1) + (c == 1) + (g == 1) + (t == 1)
            n_zeros = (a == 0) + (c == 0) + (g == 0) + (t == 0)
            n_bad += (n_ones + n_zeros != 4) + (n_ones > 1)
            code_row[position] = (c == 1) + 2 * (g == 1) + 3 * (t == 1) + 4 * (n_ones == 0)
        if n_bad:
            for position in range(length):
                n_ones = 0
                for base in range(4):
                    value = rows[base, position]
                    n_ones += value == 1
                    if value != 0 and value != 1:
                        n_ones = 2
                if n_ones > 1:
                    first_bad[example] = example * length + position
                    break
    for example in range(n_examples):
        if first_bad[example] >= 0:
            return first_bad[example]
    return -1


# dtypes the kernel writes directly; others are written as float32 and cast.
_KERNEL_DTYPES = {
    torch.float32,
    torch.float64,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
}

# Calls that shuffle fewer bases than this (examples x shuffles x length)
# run on the calling thread: waking numba's threads and waiting for the
# last of them costs more than it saves, and on a loaded machine it can cost
# milliseconds.
_PARALLEL_MIN_BASES = 1 << 18

def _shuffle_codes(codes, start, stop, n_shuffles, keys, out) -> None:
    """Run the shuffle kernel, on numba's threads if the call is large enough.

    The number of threads is numba's: ``numba.set_num_threads`` or
    ``NUMBA_NUM_THREADS``, by default the cores this process may run on.
    """
    if out.size < _PARALLEL_MIN_BASES:
        _shuffle_codes_serial(codes, start, stop, n_shuffles, keys, out)
        return
    n_threads = min(numba.get_num_threads(), codes.shape[0])
    if n_threads > 1:
        _shuffle_examples_on_threads(codes, start, stop, n_shuffles, keys, out, n_threads)
        return
    with LAUNCH_LOCK:
        prefer_forksafe_threads()
        if numba.get_num_threads() == 1:
            _shuffle_codes_serial(codes, start, stop, n_shuffles, keys, out)
        else:
            _shuffle_codes_parallel(codes, start, stop, n_shuffles, keys, out)


# Python threads running the serial kernel (which releases the GIL) on slices of the examples:
# measured 0.41 ms against 0.75 ms serial and 0.84 ms for numba's prange (workqueue layer) for
# 8 sequences x 20 shuffles x 2000 bp on 2 cores. The pool is made again in a forked child, whose
# copy of the parent's threads does not run.
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def _worker_pool(n_workers: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < n_workers:
            _POOL = ThreadPoolExecutor(n_workers, thread_name_prefix="seqlift-shuffle")
        return _POOL


def _shuffle_examples_on_threads(codes, start, stop, n_shuffles, keys, out, n_threads) -> None:
    """The serial kernel on ``n_threads`` contiguous slices of the examples at once.

    Every example's shuffles depend only on its own key, so the result is the same as on one
    thread.
    """
    bounds = np.linspace(0, codes.shape[0], n_threads + 1).astype(int)
    slices = [slice(bounds[i], bounds[i + 1]) for i in range(n_threads)]
    pool = _worker_pool(n_threads - 1)
    pending = [
        pool.submit(_shuffle_codes_serial, codes[part], start, stop, n_shuffles, keys[part],
                    out[part])
        for part in slices[1:]
    ]
    _shuffle_codes_serial(codes[slices[0]], start, stop, n_shuffles, keys[slices[0]],
                          out[slices[0]])
    for job in pending:
        job.result()


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    return int(n)


def _shuffled_codes(
    codes: np.ndarray, start: int, end: int, n: int, random_state: int | Sequence[int] | None
) -> np.ndarray:
    """``dinucleotide_shuffle_codes`` on a checked C-contiguous uint8 array ``codes``."""
    n_examples, length = codes.shape
    span_start, span_end = _span(int(start), int(end), length)
    keys = _example_keys(random_state, n_examples)
    shuffles = np.empty((n_examples, n, length), dtype=np.uint8)
    if shuffles.size:
        _shuffle_codes(codes, span_start, span_end, n, keys, shuffles)
    return shuffles


def dinucleotide_shuffle_codes(
    codes: np.ndarray | torch.Tensor,
    n: int = 20,
    start: int = 0,
    end: int = -1,
    random_state: int | Sequence[int] | None = None,
) -> np.ndarray | torch.Tensor:
    """Dinucleotide shuffles of sequences given as one byte per base.

    The same shuffles as ``dinucleotide_shuffle`` (which is this function
    followed by a one-hot expansion), without building a one-hot encoding:
    one byte per base, e.g. for storing references compactly.

    Parameters
    ----------
    codes : numpy.ndarray or torch.Tensor, integer, shape (n_examples, length)
        A=0, C=1, G=2, T=3, N=4 (as from ``seqlift.sequence.onehot_to_codes``).
    n : int, optional
        The number of shuffles per example. Default 20.
    start, end : int, optional
        The shuffled span, as in ``dinucleotide_shuffle``. Default: all of it.
    random_state : None, int, or sequence of int, optional
        As in ``dinucleotide_shuffle``. Default None.

    Returns
    -------
    numpy.ndarray or torch.Tensor (as given, on the CPU), uint8, shape (n_examples, n, length)
        The shuffles, with the same codes.

    Raises
    ------
    ValueError
        If ``codes`` is not 2-d or holds a value outside 0-4, the span is
        outside the sequence, ``n`` is negative, or ``random_state`` has the
        wrong length.
    """
    is_tensor = isinstance(codes, torch.Tensor)
    values = codes.detach().cpu().numpy() if is_tensor else np.asarray(codes)
    if values.ndim != 2:
        raise ValueError(f"codes must have shape (n_examples, length), got {values.shape}")
    if values.dtype.kind not in "iub":
        raise ValueError(f"codes must be integers, got dtype {values.dtype}")
    if values.size and (int(values.min()) < 0 or int(values.max()) > 4):
        raise ValueError("codes must be 0 (A), 1 (C), 2 (G), 3 (T) or 4 (N)")
    values = np.ascontiguousarray(values, dtype=np.uint8)
    shuffles = _shuffled_codes(values, start, end, _check_n(n), random_state)
    return torch.from_numpy(shuffles) if is_tensor else shuffles


def dinucleotide_shuffle(
    X: torch.Tensor,
    start: int = 0,
    end: int = -1,
    n: int = 20,
    random_state: int | Sequence[int] | None = None,
) -> torch.Tensor:
    """Dinucleotide-shuffled copies of each sequence.

    Within the span ``[start, end)`` every shuffle keeps the exact count of
    each of the 16 dinucleotides and the first and last base; positions
    outside the span are copied unchanged. Shuffles are drawn uniformly from
    all sequences with those properties (Altschul-Erickson, see the module
    docstring), so the shuffles of one sequence differ from each other unless
    its dinucleotides allow only one arrangement (e.g. ``AAAA``).

    Unknown bases (all-zero columns, ``N``) stay where they are. They split
    the span into N-free segments, and each segment of 3 or more bases is
    shuffled on its own, keeping its own dinucleotide counts, first and last
    base. Why: an N is an assembly gap or masked base, not a letter, so
    moving it would invent sequence structure the input does not have, and
    keeping it in place means the reference equals the input there, so an N
    gets no attribution. Dinucleotides that touch an N are kept too, since
    the bases on either side of it are segment ends. tangermeme instead
    shuffles N as a fifth letter, which moves N runs around.

    The shuffles are those of ``dinucleotide_shuffle_codes`` on
    ``onehot_to_codes(X)``, expanded to one-hot. Calls of 2**18 bases or
    more (examples x shuffles x length) run on numba's threads
    (``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``; by default the
    cores the process may use), with the same result for any thread count.

    Parameters
    ----------
    X : torch.Tensor, shape (n_examples, 4, length)
        One-hot encoded sequences (any dtype, any device); all-zero columns
        are unknown bases.
    start : int, optional
        The first position of the shuffled span. Default 0.
    end : int, optional
        The end of the span, exclusive when non-negative. A negative value
        counts from the end inclusively, as in tangermeme: the default -1
        shuffles up to and including the last base.
    n : int, optional
        The number of shuffles per example. Default 20.
    random_state : None, int, or sequence of int, optional
        With one int per example, example ``i``'s shuffles depend only on
        ``random_state[i]``, never on its position in the batch or on the
        other examples. An int ``s`` means the per-example seeds
        ``[region_seed(s, i) for i in range(n_examples)]``. None draws an int
        from numpy's global generator (so ``np.random.seed`` makes it
        repeatable). Default None.

    Returns
    -------
    torch.Tensor, shape (n_examples, n, 4, length)
        The shuffles, with the dtype and device of ``X``.

    Raises
    ------
    ValueError
        If ``X`` is not one-hot with 4 rows, the span is outside the
        sequence, ``n`` is negative, or ``random_state`` has the wrong length.
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor, not {type(X).__name__}")
    if X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(f"X must have shape (n_examples, 4, length), got {tuple(X.shape)}")
    n = _check_n(n)
    n_examples, _, length = X.shape

    values = X.detach().cpu()
    if values.dtype not in _KERNEL_DTYPES and values.dtype != torch.bool:
        values = values.float()
    codes = np.empty((n_examples, length), dtype=np.uint8)
    bad_column = _onehot_codes(values.numpy(), codes)
    if bad_column >= 0:
        example, position = divmod(int(bad_column), length)
        raise ValueError(
            f"X must be one-hot encoded (0/1 values, at most one 1 per column; unknown bases "
            f"as all-zero columns), but example {example} position {position} is "
            f"{X[example, :, position].tolist()}"
        )
    shuffled = _shuffled_codes(codes, start, end, n, random_state)
    kernel_dtype = X.dtype if X.dtype in _KERNEL_DTYPES else torch.float32
    shuffles = torch.empty((n_examples, n, 4, length), dtype=kernel_dtype)
    if shuffles.numel():
        _expand_one_hot(shuffled, shuffles.numpy())
    return shuffles.to(device=X.device, dtype=X.dtype)


def _check_references_input(X: torch.Tensor, n: int) -> None:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor, not {type(X).__name__}")
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n_examples, 4, length), got {tuple(X.shape)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")


def zeros(X: torch.Tensor, n: int, random_state: int | Sequence[int] | None = None) -> torch.Tensor:
    """All-zero references.

    Parameters
    ----------
    X : torch.Tensor, shape (n_examples, 4, length)
        The sequences; only their shape, dtype and device are used.
    n : int
        The number of references per example.
    random_state : ignored
        Accepted so every reference function has the same signature.

    Returns
    -------
    torch.Tensor, shape (n_examples, n, 4, length)
        Zeros, with the dtype and device of ``X``.
    """
    _check_references_input(X, n)
    return torch.zeros((X.shape[0], int(n), *X.shape[1:]), dtype=X.dtype, device=X.device)


def uniform(
    X: torch.Tensor, n: int, random_state: int | Sequence[int] | None = None
) -> torch.Tensor:
    """References of 0.25 at every position and base (the expected one-hot base).

    Parameters
    ----------
    X : torch.Tensor, shape (n_examples, 4, length)
        The sequences; only their shape, dtype and device are used.
    n : int
        The number of references per example.
    random_state : ignored
        Accepted so every reference function has the same signature.

    Returns
    -------
    torch.Tensor, shape (n_examples, n, 4, length)
        0.25 everywhere, with the device of ``X`` and its dtype if that is a
        floating-point dtype, else float32 (0.25 is not an integer).
    """
    _check_references_input(X, n)
    dtype = X.dtype if X.is_floating_point() else torch.float32
    return torch.full(
        (X.shape[0], int(n), *X.shape[1:]), 1.0 / X.shape[1], dtype=dtype, device=X.device
    )

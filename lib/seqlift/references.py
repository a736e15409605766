"""Reference (baseline) sequences for DeepLIFT/SHAP.

Every reference function has the call signature the engine expects,
``f(X, n, random_state) -> (n_examples, n, len(alphabet), length)``:

- ``dinucleotide_shuffle``: shuffles of each sequence that keep its
  dinucleotide counts exactly (the usual DeepLIFT/SHAP reference), over any
  alphabet; ``dinucleotide_shuffle_codes`` gives the same shuffles of DNA as
  one byte per base;
- ``zeros``: all-zero sequences;
- ``uniform``: ``1 / len(alphabet)`` at every position and character.

Seeds
-----
``example_seeds`` is the one place that turns a ``random_state`` (None, an
int, or one int per example) into one 64-bit seed per example. Shuffle ``k``
of an example with seed ``s`` is drawn from its own stream, keyed by
``(s + k) mod 2**64`` and nothing else, so

- an int ``random_state`` gives every example the same seed: an example's
  shuffles do not depend on its position in ``X`` (a slice gives what the
  whole gives), and its shuffle ``k`` is shuffle 0 of seed ``random_state + k``,
  tangermeme's meaning of "reference ``k`` is drawn with seed
  ``random_state + k``";
- one int per example gives each example a stream of its own (the workflow
  seeds region ``i`` with ``region_seed(seed, i)``, so a region's references
  never depend on the shard it is in);
- shuffle ``k`` does not depend on ``n``, the batch, or the number of threads.

Shuffling algorithm
-------------------
A sequence is a walk through the multigraph whose vertices are the characters
and whose edges are its dinucleotides; a sequence with the same dinucleotide
counts, first and last character is an Eulerian path through the same graph.
Each shuffle is drawn with the algorithm of Altschul & Erickson (1985), in the
form of Kandel et al. (1996):

1. For every character other than the last one, choose the edge it is left
   by for the last time, so that these last exits form a spanning
   arborescence directed to the last character. It is drawn with Wilson's
   loop-erased random walk, which gives each arborescence a probability
   proportional to the product of its edge multiplicities, as the algorithm
   requires.
2. Put the remaining exits of each character in a uniformly random order
   (a Fisher-Yates shuffle of the block of that character's exits), followed
   by its last exit.
3. Walk from the first character, taking the next exit of the current one.

Every sequence with the same dinucleotide counts, first and last character is
then equally likely, unlike the "keep each character's original last exit"
shortcut (used by deeplift and tangermeme), which always reuses the original
tree. The same decomposition counts the sequences (the BEST theorem): a span
with only one (a homopolymer, ``ATATAT``, three bases or fewer) cannot be
shuffled, and ``dinucleotide_shuffle`` says so instead of returning copies.

It runs in numba kernels. Each shuffle has its own counter-based random
stream (SplitMix64). Why it is fast: the Fisher-Yates draws are computed many
at a time in SIMD registers before the swaps; a step of the walk is two
dependent loads, and four walks run interlaced so that their chains overlap;
the kernel writes one byte per base, expanded to one-hot in a single pass.
Large calls are split across threads by example (several examples) or by
group of four shuffles (one example); see ``_shuffle_codes`` and
``seqlift._numba`` for the thread count and threading layer.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence

import numba
import numpy as np
import torch

from ._numba import LAUNCH_LOCK, prefer_forksafe_threads, run_on_threads
from ._utils import listing
from .errors import InputError
from .sequence import _KERNEL_DTYPES, N_CODE, _check_not_packed, _checked_codes

__all__ = [
    "dinucleotide_shuffle",
    "dinucleotide_shuffle_codes",
    "example_seeds",
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


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def example_seeds(
    random_state: int | Sequence[int] | np.ndarray | torch.Tensor | None, n_examples: int
) -> np.ndarray:
    """The seed of each example's references: the one home of per-example seeding.

    Reference ``k`` of example ``i`` is shuffle 0 of seed
    ``(seeds[i] + k) mod 2**64``, which is what ``dinucleotide_shuffle``
    draws as its shuffle ``k`` for seed ``seeds[i]``; so
    ``dinucleotide_shuffle(X, n=1, random_state=seeds[rows] + k)`` draws
    reference ``k`` of a batch of examples ``rows``, one pair at a time.

    Parameters
    ----------
    random_state : None, int, or sequence of int (list, numpy array, tensor)
        An int gives every example that seed, so an example's references do
        not depend on its position among the others (tangermeme's meaning in
        ``deep_lift_shap``: reference ``k`` is drawn with seed
        ``random_state + k``). One int per example gives each its own. None
        draws one int from numpy's global generator (so ``np.random.seed``
        makes it repeatable). Any Python int is taken modulo ``2**64``.
    n_examples : int
        The number of examples.

    Returns
    -------
    numpy.ndarray, uint64, shape (n_examples,)
        The seeds. Add reference numbers as uint64 (numpy wraps around).

    Raises
    ------
    ValueError
        If ``random_state`` is not one of these (a float, a RandomState, a
        bool, ...), or holds a number of seeds other than ``n_examples``.
    """
    if random_state is None:
        random_state = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
    if _is_int(random_state):
        return np.full(n_examples, int(random_state) & _MASK64, dtype=np.uint64)
    if isinstance(random_state, torch.Tensor):
        random_state = random_state.tolist()
    if isinstance(random_state, (str, bytes)) or not isinstance(
        random_state, (Sequence, np.ndarray)
    ):
        raise InputError(
            "random_state must be None, an int, or one int per example, not "
            f"{type(random_state).__name__} (a numpy RandomState cannot be split per example)"
        )
    seeds = list(random_state.ravel()) if isinstance(random_state, np.ndarray) else list(
        random_state
    )
    if len(seeds) != n_examples or (isinstance(random_state, np.ndarray) and random_state.ndim != 1):
        raise InputError(
            f"random_state holds {len(seeds)} seeds for {n_examples} examples; give one seed "
            "per example, or one int for all"
        )
    bad = [position for position, seed in enumerate(seeds) if not _is_int(seed)]
    if bad:
        raise InputError(
            f"every per-example seed must be an int, but random_state[{bad[0]}] is "
            f"{seeds[bad[0]]!r}"
        )
    return np.array([int(seed) & _MASK64 for seed in seeds], dtype=np.uint64)


def _span(start: int, end: int, length: int) -> tuple[int, int]:
    """Resolve tangermeme's ``start``/``end`` convention to ``[start, end)``.

    A negative ``end`` counts from the end inclusively (``-1`` is the last
    base, so the span runs to the end of the sequence); a negative ``start``
    counts from the end as a Python index does.
    """
    for name, value in (("start", start), ("end", end)):
        if not _is_int(value):
            raise TypeError(f"{name} must be an int, got {value!r}")
    resolved_start = start + length if start < 0 else start
    resolved_end = length + 1 + end if end < 0 else end
    if not 0 <= resolved_start <= resolved_end <= length:
        raise InputError(
            f"start={start}, end={end} is not a span of a sequence of length {length}; "
            f"use 0 <= start <= end <= {length} (a negative end counts from the end, -1 being "
            "the last base)"
        )
    return int(resolved_start), int(resolved_end)


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


@numba.njit(inline="always")
def _shuffle_stream(seed):
    """The first state of the random stream of the shuffle with seed ``seed``.

    Two SplitMix64 rounds, so that seeds ``s`` and ``s + 1`` (shuffles ``k``
    and ``k + 1`` of one example) start unrelated streams.
    """
    _, state = _next_random(seed ^ _STREAM_SALT)
    _, state = _next_random(state)
    return state


@numba.njit(nogil=True, cache=True)
def _draw_last_exits(counts, n_chars, root, state, last_exit, in_tree):
    """Step 1 for one walk: the last exit of every character but ``root``.

    ``counts`` (n_chars * n_chars,) holds the segment's dinucleotide counts
    (row = from). Writes ``last_exit`` (n_chars,), uses ``in_tree``
    (n_chars,) as scratch, returns the new random state.
    """
    in_tree[:] = False
    in_tree[root] = True
    for base in range(n_chars):
        if in_tree[base]:
            continue
        degree = 0
        for other in range(n_chars):
            degree += counts[base * n_chars + other]
        if degree == 0:
            continue
        # Wilson's loop-erased random walk into the tree. A self-loop can
        # never be in the tree, so the walk steps only to other characters;
        # every one but the root that has exits has one to another, or the
        # original sequence could not have left it.
        current = base
        while not in_tree[current]:
            n_exits = 0
            for other in range(n_chars):
                if other != current:
                    n_exits += counts[current * n_chars + other]
            state, draw = _below(state, n_exits)
            chosen = 0
            for other in range(n_chars):
                if other != current:
                    chosen = other
                    if draw < counts[current * n_chars + other]:
                        break
                    draw -= counts[current * n_chars + other]
            last_exit[current] = chosen
            current = chosen
        current = base
        while not in_tree[current]:
            in_tree[current] = True
            current = last_exit[current]
    return state


@numba.njit(nogil=True, cache=True)
def _log_arrangements(counts, n_chars, root, present, laplacian):
    """The natural log of the number of distinct sequences with a segment's dinucleotide counts,
    first and last (``root``) character.

    A sequence is one choice of every character's last exit (an arborescence
    ``T`` into the root, step 1 of the shuffle) and one order of every
    character's other exits (step 2), so the number is
    ``sum_T prod_v multinomial(exits of v but T's)``
    ``= prod_v (d_v - [v != root])! / prod_u m_vu!  *  sum_T prod_{v != root} m_{v,T(v)}``,
    and the sum is the determinant of the Laplacian of the characters but the
    root (the matrix-tree theorem). ``present`` (n_chars,) int64 and
    ``laplacian`` (n_chars, n_chars) float64 are scratch.
    """
    log_count = 0.0
    n_present = 0
    for base in range(n_chars):
        degree = 0
        for other in range(n_chars):
            multiplicity = counts[base * n_chars + other]
            degree += multiplicity
            log_count -= math.lgamma(multiplicity + 1.0)
        if base == root:
            log_count += math.lgamma(degree + 1.0)
        elif degree > 0:
            log_count += math.lgamma(degree)
            present[n_present] = base
            n_present += 1
    for i in range(n_present):
        base = present[i]
        leaving = 0.0
        for other in range(n_chars):
            if other != base:
                leaving += counts[base * n_chars + other]
        for j in range(n_present):
            laplacian[i, j] = -float(counts[base * n_chars + present[j]])
        laplacian[i, i] = leaving
    # The determinant (positive: the original sequence gives one arborescence), by Gaussian
    # elimination with partial pivoting.
    for column in range(n_present):
        pivot = column
        for row in range(column + 1, n_present):
            if abs(laplacian[row, column]) > abs(laplacian[pivot, column]):
                pivot = row
        for j in range(n_present):
            value = laplacian[column, j]
            laplacian[column, j] = laplacian[pivot, j]
            laplacian[pivot, j] = value
        log_count += math.log(abs(laplacian[column, column]))
        for row in range(column + 1, n_present):
            factor = laplacian[row, column] / laplacian[column, column]
            for j in range(column, n_present):
                laplacian[row, j] -= factor * laplacian[column, j]
    return log_count


@numba.njit(nogil=True, cache=True)
def _find_segments(code, n_chars, start, stop, segments, segment_counts):
    """The runs of known characters (codes below ``n_chars``) of ``code[start:stop]`` of 3 or
    more; returns how many.

    Writes each run's ``[first, stop)`` into ``segments`` (capacity, 2) and its
    dinucleotide counts (row = from) into ``segment_counts`` (capacity,
    n_chars * n_chars).
    """
    n_segments = 0
    position = start
    while position < stop:
        if code[position] >= n_chars:
            position += 1
            continue
        segment_start = position
        while position < stop and code[position] < n_chars:
            position += 1
        if position - segment_start >= 3:
            segments[n_segments, 0] = segment_start
            segments[n_segments, 1] = position
            segment_counts[n_segments, :] = 0
            for inner in range(segment_start, position - 1):
                segment_counts[n_segments, code[inner] * n_chars + code[inner + 1]] += 1
            n_segments += 1
    return n_segments


# A segment counts as having one arrangement below this log-count (log 1 = 0, log 2 = 0.69).
_LOG_TWO_ARRANGEMENTS = 0.5 * math.log(2.0)


@numba.njit(nogil=True, cache=True)
def _all_segments(codes, n_chars, start, stop, find_unshufflable):
    """``_find_segments`` for every row of ``codes``: segments, their counts, how many per row,
    and (with ``find_unshufflable``) whether each row's span has a single arrangement."""
    n_examples, length = codes.shape
    # Segments of 3+ characters separated by unknowns: at most (length + 1) / 4 of them.
    capacity = length // 4 + 1
    segments = np.empty((n_examples, capacity, 2), dtype=np.int64)
    segment_counts = np.empty((n_examples, capacity, n_chars * n_chars), dtype=np.int64)
    n_segments = np.empty(n_examples, dtype=np.int64)
    unshufflable = np.zeros(n_examples, dtype=np.bool_)
    present = np.empty(n_chars, dtype=np.int64)
    laplacian = np.empty((n_chars, n_chars), dtype=np.float64)
    for example in range(n_examples):
        code = codes[example]
        count = _find_segments(
            code, n_chars, start, stop, segments[example], segment_counts[example]
        )
        n_segments[example] = count
        if find_unshufflable:
            unshufflable[example] = True
            for segment in range(count):
                root = np.int64(code[segments[example, segment, 1] - 1])
                if _log_arrangements(
                    segment_counts[example, segment], n_chars, root, present, laplacian
                ) > _LOG_TWO_ARRANGEMENTS:
                    unshufflable[example] = False
                    break
    return segments, segment_counts, n_segments, unshufflable


# The number of shuffles of one example walked together. Each step of a walk
# is two dependent loads (the character's next exit index, then the exit);
# four independent walks in one loop let the CPU overlap their chains.
_WALKS_PER_GROUP = 4


@numba.njit(nogil=True, cache=True)
def _shuffle_group(code, n_chars, segments, segment_counts, n_segments, seed, first_shuffle, out):
    """Shuffles ``first_shuffle .. first_shuffle + len(out) - 1`` of one example, into ``out``.

    code: (length,) uint8; segments, segment_counts, n_segments: from
    ``_find_segments``; out: (n_walks, length) uint8 with ``n_walks <= 4``.
    Shuffle ``k`` depends only on the stream of seed ``seed + k``.
    """
    n_walks, length = out.shape
    exits = np.empty((_WALKS_PER_GROUP, length), dtype=np.uint8)
    draws = np.empty(length, dtype=np.uint64)
    next_exit = np.zeros(_WALKS_PER_GROUP * n_chars, dtype=np.uint64)
    last_exit = np.zeros(_WALKS_PER_GROUP * n_chars, dtype=np.int64)
    in_tree = np.zeros(n_chars, dtype=np.bool_)
    states = np.empty(_WALKS_PER_GROUP, dtype=np.uint64)
    for walk in range(n_walks):
        states[walk] = _shuffle_stream(seed + np.uint64(first_shuffle + walk))
        out[walk, :] = code

    for segment in range(n_segments):
        first = segments[segment, 0]
        stop = segments[segment, 1]
        counts = segment_counts[segment]
        root = np.int64(code[stop - 1])
        for walk in range(n_walks):
            block = walk * n_chars
            state = _draw_last_exits(
                counts, n_chars, root, states[walk], last_exit[block : block + n_chars], in_tree
            )
            # Step 2: each character's exits in one block of exits[walk], the
            # others in a uniformly random order, then the last exit.
            row = exits[walk]
            offset = 0
            for base in range(n_chars):
                next_exit[block + base] = offset
                degree = 0
                for other in range(n_chars):
                    degree += counts[base * n_chars + other]
                if degree == 0:
                    continue
                has_last = base != root
                kept = last_exit[block + base]
                position = offset
                for other in range(n_chars):
                    n_copies = counts[base * n_chars + other]
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

        # Step 3: the walks, each taking its character's next exit. Written
        # out for four walks, with each walk's character in its own local
        # variable (the four dependency chains overlap), and unsigned
        # indices, which spare numba's negative-index check on every access.
        start_base = np.uint64(code[first])
        stride = np.uint64(n_chars)
        if n_walks == _WALKS_PER_GROUP:
            exits0, exits1, exits2, exits3 = exits[0], exits[1], exits[2], exits[3]
            out0, out1, out2, out3 = out[0], out[1], out[2], out[3]
            offset1, offset2, offset3 = stride, stride + stride, stride + stride + stride
            base0 = base1 = base2 = base3 = start_base
            for signed_position in range(first + 1, stop):
                position = np.uint64(signed_position)
                index = next_exit[base0]
                next_exit[base0] = index + _ONE
                base0 = np.uint64(exits0[index])
                out0[position] = base0
                index = next_exit[offset1 + base1]
                next_exit[offset1 + base1] = index + _ONE
                base1 = np.uint64(exits1[index])
                out1[position] = base1
                index = next_exit[offset2 + base2]
                next_exit[offset2 + base2] = index + _ONE
                base2 = np.uint64(exits2[index])
                out2[position] = base2
                index = next_exit[offset3 + base3]
                next_exit[offset3 + base3] = index + _ONE
                base3 = np.uint64(exits3[index])
                out3[position] = base3
        else:
            for walk in range(n_walks):
                walk_exits = exits[walk]
                walk_out = out[walk]
                offset = np.uint64(walk) * stride
                base = start_base
                for signed_position in range(first + 1, stop):
                    index = next_exit[offset + base]
                    next_exit[offset + base] = index + _ONE
                    base = np.uint64(walk_exits[index])
                    walk_out[np.uint64(signed_position)] = base


@numba.njit(nogil=True, cache=True)
def _shuffle_task(task, codes, n_chars, n_shuffles, seeds, segments, segment_counts, n_segments,
                  out):
    """Task ``task`` of ``_shuffle_codes``: one example's shuffles of one group of four."""
    n_groups = (n_shuffles + _WALKS_PER_GROUP - 1) // _WALKS_PER_GROUP
    example = task // n_groups
    first_shuffle = (task % n_groups) * _WALKS_PER_GROUP
    last_shuffle = min(first_shuffle + _WALKS_PER_GROUP, n_shuffles)
    _shuffle_group(
        codes[example],
        n_chars,
        segments[example],
        segment_counts[example],
        n_segments[example],
        seeds[example],
        first_shuffle,
        out[example, first_shuffle:last_shuffle],
    )


@numba.njit(nogil=True, parallel=True, cache=True)
def _shuffle_codes_parallel(codes, n_chars, n_shuffles, seeds, segments, segment_counts,
                            n_segments, out):
    """Write ``n_shuffles`` shuffles of each row of ``codes`` into ``out``, on numba's threads.

    codes: (n_examples, length) uint8, ``n_chars`` or more = unknown; seeds:
    (n_examples,) uint64; segments, segment_counts, n_segments: from
    ``_all_segments``; out: (n_examples, n_shuffles, length) uint8. The work
    is split by (example, group of 4 shuffles); each shuffle has its own
    random stream, so the result does not depend on the number of threads.
    """
    n_tasks = codes.shape[0] * ((n_shuffles + _WALKS_PER_GROUP - 1) // _WALKS_PER_GROUP)
    for task in numba.prange(n_tasks):
        _shuffle_task(task, codes, n_chars, n_shuffles, seeds, segments, segment_counts,
                      n_segments, out)


@numba.njit(nogil=True, cache=True)
def _shuffle_codes_serial(codes, n_chars, n_shuffles, seeds, segments, segment_counts,
                          n_segments, out):
    """``_shuffle_codes_parallel`` on the calling thread only (the same result)."""
    n_tasks = codes.shape[0] * ((n_shuffles + _WALKS_PER_GROUP - 1) // _WALKS_PER_GROUP)
    for task in range(n_tasks):
        _shuffle_task(task, codes, n_chars, n_shuffles, seeds, segments, segment_counts,
                      n_segments, out)


@numba.njit(nogil=True, cache=True)
def _expand_one_hot(codes, out):
    """Write the one-hot encoding of ``codes`` (n, k, length) into ``out`` (n, k, rows, length).

    Every value is written (no zeroing pass first). It runs on one thread:
    it is bound by memory bandwidth, and more threads did not make it faster.
    """
    n_examples, n_shuffles, length = codes.shape
    n_rows = out.shape[2]
    for example in range(n_examples):
        for shuffle in range(n_shuffles):
            row = codes[example, shuffle]
            target = out[example, shuffle]
            for base in range(n_rows):
                for position in range(length):
                    target[base, position] = row[position] == base


# Calls that shuffle fewer bases than this (examples x shuffles x length)
# run on the calling thread: waking numba's threads and waiting for the
# last of them costs more than it saves, and on a loaded machine it can cost
# milliseconds.
_PARALLEL_MIN_BASES = 1 << 18


def _thread_count(n_jobs: int | None) -> int:
    """Threads for a shuffle: ``n_jobs`` (None or -1: all), at most numba's thread count."""
    available = numba.get_num_threads()
    if n_jobs is None or n_jobs == -1:
        return available
    if not _is_int(n_jobs) or n_jobs < 1:
        raise InputError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}")
    return min(int(n_jobs), available)


def _shuffle_codes(codes, n_chars, n_shuffles, seeds, segments, out, n_threads) -> None:
    """Run the shuffle kernel, on up to ``n_threads`` threads if the call is large enough."""
    arguments = (codes, n_chars, n_shuffles, seeds, *segments, out)
    if out.size < _PARALLEL_MIN_BASES or n_threads == 1:
        _shuffle_codes_serial(*arguments)
    elif codes.shape[0] > 1:
        _shuffle_examples_on_threads(arguments, min(n_threads, codes.shape[0]))
    else:
        with LAUNCH_LOCK:
            prefer_forksafe_threads()
            previous = numba.get_num_threads()
            numba.set_num_threads(n_threads)
            try:
                _shuffle_codes_parallel(*arguments)
            finally:
                numba.set_num_threads(previous)


def _shuffle_examples_on_threads(arguments, n_threads: int) -> None:
    """The serial kernel (which releases the GIL) on ``n_threads`` parts of the examples at once.

    Measured 0.41 ms against 0.75 ms serial and 0.84 ms for numba's prange (workqueue layer) for
    8 sequences x 20 shuffles x 2000 bp on 2 cores. Every example's shuffles depend only on its
    own seed, so the result is the same as on one thread.
    """
    codes, n_chars, n_shuffles, seeds, segments, segment_counts, n_segments, out = arguments

    def run(start: int, stop: int) -> None:
        part = slice(start, stop)
        _shuffle_codes_serial(codes[part], n_chars, n_shuffles, seeds[part], segments[part],
                              segment_counts[part], n_segments[part], out[part])

    run_on_threads(run, codes.shape[0], n_threads)


def _check_reference_input(X: torch.Tensor, n: int) -> int:
    """Raise unless ``X`` is a 3-d tensor; returns ``n`` checked."""
    if not isinstance(X, torch.Tensor):
        raise InputError(f"X must be a torch.Tensor, not {type(X).__name__}")
    if X.ndim != 3:
        raise InputError(
            f"X must have shape (n_examples, len(alphabet), length), got {tuple(X.shape)}"
        )
    return _check_n(n)


def _check_n(n: int) -> int:
    if not _is_int(n):
        raise TypeError(f"n (the number of shuffles) must be an int, got {n!r}")
    if n < 0:
        raise InputError(f"n (the number of shuffles) must be non-negative, got {n}")
    return int(n)


def _movable_positions(codes: np.ndarray, n_chars: int, span: tuple[int, int]) -> np.ndarray:
    """Where a shuffle can change the character: inside the span, known, between two known
    characters (segment ends and unknowns stay in place)."""
    known = codes < n_chars
    movable = np.zeros_like(known)
    first, stop = span
    if stop - first >= 3:
        inner = slice(first + 1, stop - 1)
        movable[:, inner] = known[:, inner] & known[:, first : stop - 2] & known[:, first + 2 : stop]
    return movable


def _shuffled_codes(
    codes: np.ndarray,
    n_chars: int,
    start: int,
    end: int,
    n: int,
    random_state,
    n_jobs: int | None = None,
    refuse_copies: bool = False,
    verbose: bool = False,
) -> np.ndarray:
    """The shuffles ``(n_examples, n, length)`` uint8 of checked C-contiguous uint8 ``codes``.

    With ``refuse_copies`` and ``n > 1``, raises if an example's span has a
    single arrangement; with ``verbose``, warns if a position that could move
    is the same in every shuffle of an example (as tangermeme's ``verbose``).
    """
    n_examples, length = codes.shape
    span = _span(start, end, length)
    seeds = example_seeds(random_state, n_examples)
    n_threads = _thread_count(n_jobs)
    *segments, unshufflable = _all_segments(codes, n_chars, *span, refuse_copies and n > 1)
    if unshufflable.any():
        examples = np.flatnonzero(unshufflable)
        raise InputError(
            f"example(s) {listing(examples)} cannot be shuffled: the dinucleotides of their "
            f"span [{span[0]}, {span[1]}) allow a single arrangement (a homopolymer, a repeat "
            "such as ATATAT, a span of three bases or fewer, or only N), so every shuffle would "
            "be a copy of the input, and copies as references give all-zero attributions; use "
            "other references for them (zeros, uniform, a reference tensor) or leave them out"
        )
    shuffles = np.empty((n_examples, n, length), dtype=np.uint8)
    if shuffles.size:
        _shuffle_codes(codes, n_chars, n, seeds, segments, shuffles, n_threads)
    if verbose and shuffles.size:
        conserved = (shuffles == shuffles[:, :1]).all(axis=1) & _movable_positions(
            codes, n_chars, span
        )
        if conserved.any():
            examples = np.flatnonzero(conserved.any(axis=1))
            warnings.warn(
                f"dinucleotide_shuffle: example(s) {listing(examples)} have positions that are "
                f"the same in all {n} shuffles (first: example {examples[0]} position "
                f"{int(np.flatnonzero(conserved[examples[0]])[0])})",
                UserWarning,
                stacklevel=3,
            )
    return shuffles


def dinucleotide_shuffle_codes(
    codes: np.ndarray | torch.Tensor,
    n: int = 20,
    start: int = 0,
    end: int = -1,
    random_state: int | Sequence[int] | None = None,
) -> np.ndarray | torch.Tensor:
    """Dinucleotide shuffles of DNA given as one byte per base.

    The same shuffles as ``dinucleotide_shuffle(..., allow_N=True)`` (which
    is this followed by a one-hot expansion), without building a one-hot
    encoding: one byte per base, e.g. for storing references compactly. A
    span with a single arrangement comes back as copies, without an error
    (the workflow's QC sees the resulting zero attributions).

    Parameters
    ----------
    codes : numpy.ndarray or torch.Tensor, integer, shape (n_examples, length)
        A=0, C=1, G=2, T=3, N=4 (as from ``seqlift.sequence.onehot_to_codes``).
    n : int, optional
        The number of shuffles per example. Default 20.
    start, end : int, optional
        The shuffled span, as in ``dinucleotide_shuffle``. Default: all of it.
    random_state : None, int, or sequence of int, optional
        As in ``dinucleotide_shuffle`` (see ``example_seeds``). Default None.

    Returns
    -------
    numpy.ndarray or torch.Tensor (as given, on the CPU), uint8, shape (n_examples, n, length)
        The shuffles, with the same codes.

    Raises
    ------
    ValueError
        If ``codes`` is not 2-d or holds a value outside 0-4, the span is
        outside the sequence, ``n`` is negative, or ``random_state`` is not
        None, an int or one int per example.
    """
    is_tensor = isinstance(codes, torch.Tensor)
    values = codes.detach().cpu().numpy() if is_tensor else np.asarray(codes)
    if values.ndim != 2:
        raise InputError(f"codes must have shape (n_examples, length), got {values.shape}")
    if values.dtype.kind not in "iub":
        raise InputError(f"codes must be integers, got dtype {values.dtype}")
    if values.size and (int(values.min()) < 0 or int(values.max()) > N_CODE):
        raise InputError("codes must be 0 (A), 1 (C), 2 (G), 3 (T) or 4 (N)")
    values = np.ascontiguousarray(values, dtype=np.uint8)
    shuffles = _shuffled_codes(values, 4, start, end, _check_n(n), random_state)
    return torch.from_numpy(shuffles) if is_tensor else shuffles


def dinucleotide_shuffle(
    X: torch.Tensor,
    start: int = 0,
    end: int = -1,
    n: int = 20,
    random_state: int | Sequence[int] | None = None,
    verbose: bool = False,
    allow_N: bool = False,
    return_packed: bool | None = None,
    n_jobs: int | None = None,
) -> torch.Tensor:
    """Dinucleotide-shuffled copies of each sequence.

    Within the span ``[start, end)`` every shuffle keeps the exact count of
    each dinucleotide and the first and last character; positions outside
    the span are copied unchanged. Shuffles are drawn uniformly from all
    sequences with those properties (Altschul-Erickson, see the module
    docstring), over any alphabet (the rows of ``X``).

    Parameters
    ----------
    X : torch.Tensor, shape (n_examples, len(alphabet), length)
        One-hot encoded sequences, any dtype, any device.
    start : int, optional
        The first position of the shuffled span. Default 0.
    end : int, optional
        The end of the span, exclusive when non-negative. A negative value
        counts from the end inclusively, as in tangermeme: the default -1
        shuffles up to and including the last base.
    n : int, optional
        The number of shuffles per example. Default 20.
    random_state : None, int, or sequence of int, optional
        See ``example_seeds``. An int gives every example the same seed, so
        an example's shuffles do not depend on where it is in ``X``, and
        shuffle ``k`` is shuffle 0 of seed ``random_state + k``. One int per
        example gives each its own stream. None draws an int from numpy's
        global generator. Default None.
    verbose : bool, optional
        Warn if a position that a shuffle could change is the same in every
        shuffle of an example (as tangermeme). Default False.
    allow_N : bool, optional
        Whether unknown characters (all-zero columns, ``N``) are accepted;
        if False (tangermeme's default) they raise. With True they stay
        where they are (unlike tangermeme, which shuffles them as a letter
        of their own, so runs of N move): they split the span into segments
        of known characters, each shuffled on its own, keeping its own
        dinucleotide counts and end characters; segments of 3 or fewer stay
        as they are. An N is an assembly gap or a masked base, not a letter:
        kept in place, it gets no attribution (the reference equals the
        input there) and no sequence is made up around it. Default False.
    return_packed : bool or None, optional
        Must not be True: seqlift has no PackedSequence (see
        ``dinucleotide_shuffle_codes`` for one byte per base).
    n_jobs : int or None, optional
        The most threads to use, -1 or None for numba's thread count
        (``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``; by default the
        cores the process may use). Calls of fewer than 2**18 bases
        (examples x shuffles x length) run on the calling thread. The result
        is the same for any value. Default None.

    Returns
    -------
    torch.Tensor, shape (n_examples, n, len(alphabet), length)
        The shuffles, with the dtype and device of ``X``.

    Raises
    ------
    ValueError
        If ``X`` is not a 3-d one-hot tensor, has an unknown character and
        ``allow_N`` is False, the span is outside the sequence, ``n`` is
        negative, ``random_state`` is not None, an int or one int per
        example, or ``n > 1`` and an example's span has a single arrangement
        (e.g. ``"A" * 30``), so that every shuffle would be a copy.
    TypeError
        If ``n``, ``start`` or ``end`` is not an int.
    """
    _check_not_packed(
        return_packed, "dinucleotide_shuffle_codes(onehot_to_codes(X)) gives one byte per base"
    )
    n = _check_reference_input(X, n)
    n_examples, n_rows, length = X.shape
    codes = _checked_codes(X, "X", allow_N=bool(allow_N))
    shuffled = _shuffled_codes(
        codes, n_rows, start, end, n, random_state, n_jobs, refuse_copies=True, verbose=verbose
    )
    kernel_dtype = X.dtype if X.dtype in _KERNEL_DTYPES else torch.float32
    shuffles = torch.empty((n_examples, n, n_rows, length), dtype=kernel_dtype)
    if shuffles.numel():
        _expand_one_hot(shuffled, shuffles.numpy())
    return shuffles.to(device=X.device, dtype=X.dtype)



def _baseline(X: torch.Tensor, n: int, value: float) -> torch.Tensor:
    """``n`` references per example, ``value`` everywhere, with the device of ``X`` and its
    dtype when that holds ``value`` exactly (a floating-point one, or any for 0)."""
    n = _check_reference_input(X, n)
    dtype = X.dtype if X.is_floating_point() or value == 0 else torch.float32
    return torch.full((X.shape[0], n, *X.shape[1:]), value, dtype=dtype, device=X.device)


def zeros(X: torch.Tensor, n: int, random_state: int | Sequence[int] | None = None) -> torch.Tensor:
    """All-zero references.

    Parameters
    ----------
    X : torch.Tensor, shape (n_examples, len(alphabet), length)
        The sequences; only their shape, dtype and device are used.
    n : int
        The number of references per example.
    random_state : ignored
        Accepted so every reference function has the same signature.

    Returns
    -------
    torch.Tensor, shape (n_examples, n, len(alphabet), length)
        Zeros, with the dtype and device of ``X``.
    """
    return _baseline(X, n, 0.0)


def uniform(
    X: torch.Tensor, n: int, random_state: int | Sequence[int] | None = None
) -> torch.Tensor:
    """References of ``1 / len(alphabet)`` (0.25 for DNA) everywhere: the expected one-hot column.

    Parameters
    ----------
    X, n, random_state
        As in ``zeros``.

    Returns
    -------
    torch.Tensor, shape (n_examples, n, len(alphabet), length)
        The value everywhere, with the device of ``X`` and its dtype if that
        is a floating-point dtype, else float32.
    """
    n_rows = X.shape[1] if isinstance(X, torch.Tensor) and X.ndim == 3 else 4
    return _baseline(X, n, 1.0 / n_rows)

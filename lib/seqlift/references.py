"""Reference (baseline) sequences for DeepLIFT/SHAP.

Every reference function has the call signature the engine expects,
``f(X, n, random_state) -> (n_examples, n, 4, length)``:

- ``dinucleotide_shuffle``: shuffles of each sequence that keep its
  dinucleotide counts exactly (the usual DeepLIFT/SHAP reference);
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
2. The remaining exits of each base are used in a uniformly random order
   (drawn one at a time, without replacement, during the walk).
3. Walk from the first base, taking the next exit of the current base.

Every sequence with the same dinucleotide counts, first and last base is then
equally likely, unlike the "keep each base's original last exit" shortcut
(used by deeplift and tangermeme), which always reuses the original tree.

The walk runs in a numba kernel with a counter-based random generator
(SplitMix64) seeded per example and per shuffle, so shuffle ``k`` of an
example depends only on that example's seed and ``k``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numba
import numpy as np
import torch

__all__ = ["dinucleotide_shuffle", "region_seed", "uniform", "zeros"]

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
def _next_random(state):
    """One SplitMix64 step: the new state and 64 random bits."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _SHIFT30)) * _MIX1
    z = (z ^ (z >> _SHIFT27)) * _MIX2
    return state, z ^ (z >> _SHIFT31)


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


# The number of shuffles of one example walked together. Each walk is a chain
# of dependent loads and stores (about 20 cycles a step); walking four
# independent ones in one loop, with their state in registers, lets the CPU
# overlap the chains, which is about three times faster than one at a time.
_WALKS_PER_GROUP = 4


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


@numba.njit(inline="always")
def _exit_index(draw, count0, count1, count2):
    """The exit a draw in ``[0, total)`` falls in, given the first three counts (branch-free)."""
    bound1 = count0
    bound2 = bound1 + count1
    bound3 = bound2 + count2
    return np.int64(draw >= bound1) + np.int64(draw >= bound2) + np.int64(draw >= bound3)


@numba.njit(nogil=True, cache=True)
def _shuffle_segment(
    rows, n_walks, first, stop, states, segment_counts, counts, last_exit, in_tree, remaining
):
    """Shuffle ``rows[w, first:stop]`` in place for the ``w < n_walks``.

    rows: (4, length); the segment holds codes 0-3 only and is at least 3
    long. ``states`` (4,): the walks' random states, updated in place.
    ``segment_counts`` (16,): the segment's dinucleotide counts. ``counts``
    (64,), ``last_exit`` (16,), ``remaining`` (16,), ``in_tree`` (4,):
    scratch. Walks ``w >= n_walks`` are run as idle walks that repeat their
    base (no exits to draw), which costs almost nothing.
    """
    root = rows[0, stop - 1]
    for walk in range(4):
        if walk >= n_walks:
            for base in range(4):
                remaining[walk * 4 + base] = 0
                last_exit[walk * 4 + base] = base
            continue
        for index in range(16):
            counts[walk * 16 + index] = segment_counts[index]
        states[walk] = _draw_last_exits(
            segment_counts, root, states[walk], last_exit[walk * 4 : walk * 4 + 4], in_tree
        )
        # Step 2: the exits left once the last ones are set aside.
        for base in range(4):
            offset = walk * 16 + base * 4
            n_exits = counts[offset] + counts[offset + 1] + counts[offset + 2] + counts[offset + 3]
            if base != root and n_exits > 0:
                counts[offset + last_exit[walk * 4 + base]] -= 1
                n_exits -= 1
            remaining[walk * 4 + base] = n_exits

    # Step 3: the four walks, each drawing a base's next exit without
    # replacement. The steps are written out rather than put in a helper:
    # numba reference-counts the arrays passed to a helper on every call,
    # which is slower than the step itself, and separate local variables let
    # the compiler keep each walk's base and random state in registers.
    base0 = base1 = base2 = base3 = rows[0, first]
    state0, state1, state2, state3 = states[0], states[1], states[2], states[3]
    for position in range(first + 1, stop):
        previous = base0
        n_left = remaining[previous]
        if n_left > 0:
            state0, draw = _below(state0, n_left)
            offset = previous * 4
            base0 = _exit_index(draw, counts[offset], counts[offset + 1], counts[offset + 2])
            counts[offset + base0] -= 1
            remaining[previous] = n_left - 1
        else:
            base0 = last_exit[previous]
        rows[0, position] = base0
        previous = base1
        n_left = remaining[4 + previous]
        if n_left > 0:
            state1, draw = _below(state1, n_left)
            offset = 16 + previous * 4
            base1 = _exit_index(draw, counts[offset], counts[offset + 1], counts[offset + 2])
            counts[offset + base1] -= 1
            remaining[4 + previous] = n_left - 1
        else:
            base1 = last_exit[4 + previous]
        rows[1, position] = base1
        previous = base2
        n_left = remaining[8 + previous]
        if n_left > 0:
            state2, draw = _below(state2, n_left)
            offset = 32 + previous * 4
            base2 = _exit_index(draw, counts[offset], counts[offset + 1], counts[offset + 2])
            counts[offset + base2] -= 1
            remaining[8 + previous] = n_left - 1
        else:
            base2 = last_exit[8 + previous]
        rows[2, position] = base2
        previous = base3
        n_left = remaining[12 + previous]
        if n_left > 0:
            state3, draw = _below(state3, n_left)
            offset = 48 + previous * 4
            base3 = _exit_index(draw, counts[offset], counts[offset + 1], counts[offset + 2])
            counts[offset + base3] -= 1
            remaining[12 + previous] = n_left - 1
        else:
            base3 = last_exit[12 + previous]
        rows[3, position] = base3
    states[0], states[1], states[2], states[3] = state0, state1, state2, state3


@numba.njit(nogil=True, cache=True)
def _shuffle_rows(codes, start, stop, n_shuffles, keys, out):
    """Write ``n_shuffles`` one-hot shuffles of each row of ``codes`` into ``out``.

    codes: (n_examples, length) uint8, 4 = unknown; keys: (n_examples,)
    uint64; out: (n_examples, n_shuffles, 4, length), any numeric dtype.
    """
    n_examples, length = codes.shape
    group = _WALKS_PER_GROUP
    rows = np.empty((group, length), dtype=np.int64)
    states = np.zeros(group, dtype=np.uint64)
    counts = np.empty(group * 16, dtype=np.int64)
    last_exit = np.zeros(group * 4, dtype=np.int64)
    remaining = np.zeros(group * 4, dtype=np.int64)
    in_tree = np.zeros(4, dtype=np.bool_)
    segment_starts = np.empty(length + 1, dtype=np.int64)
    segment_stops = np.empty(length + 1, dtype=np.int64)
    segment_counts = np.zeros((length + 1, 16), dtype=np.int64)

    for example in range(n_examples):
        code = codes[example]
        # The N-free segments of the span long enough to shuffle (3 or more
        # bases), and their dinucleotide counts, shared by all shuffles.
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
                segment_starts[n_segments] = segment_start
                segment_stops[n_segments] = position
                segment_counts[n_segments, :] = 0
                for inner in range(segment_start, position - 1):
                    segment_counts[n_segments, code[inner] * 4 + code[inner + 1]] += 1
                n_segments += 1

        _, example_state = _next_random(keys[example] ^ _STREAM_SALT)
        for first_shuffle in range(0, n_shuffles, group):
            n_walks = min(group, n_shuffles - first_shuffle)
            for walk in range(group):
                # Shuffle k's stream depends only on the example's key and k.
                shuffle_key = example_state + np.uint64(first_shuffle + walk) * _MIX1
                _, states[walk] = _next_random(shuffle_key)
                for position in range(length):
                    rows[walk, position] = code[position]
            for segment in range(n_segments):
                _shuffle_segment(
                    rows,
                    n_walks,
                    segment_starts[segment],
                    segment_stops[segment],
                    states,
                    segment_counts[segment],
                    counts,
                    last_exit,
                    in_tree,
                    remaining,
                )
            for walk in range(n_walks):
                target = out[example, first_shuffle + walk]
                row = rows[walk]
                for base in range(4):
                    for position in range(length):
                        target[base, position] = 1 if row[position] == base else 0


@numba.njit(nogil=True, cache=True)
def _onehot_codes(x, codes):
    """Write the code of each column of ``x`` (n, 4, length) into ``codes`` (n, length).

    One pass instead of the several a vectorised check takes. Returns -1 if
    ``x`` is one-hot (values 0 or 1, at most one 1 per column), else the flat
    index ``example * length + position`` of the first bad column.
    """
    n_examples, _, length = x.shape
    for example in range(n_examples):
        for position in range(length):
            code = 4
            n_ones = 0
            for base in range(4):
                value = x[example, base, position]
                if value == 1:
                    code = base
                    n_ones += 1
                elif value != 0:
                    return example * length + position
            if n_ones > 1:
                return example * length + position
            codes[example, position] = code
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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    n_examples, _, length = X.shape
    span_start, span_end = _span(int(start), int(end), length)
    keys = _example_keys(random_state, n_examples)

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
    kernel_dtype = X.dtype if X.dtype in _KERNEL_DTYPES else torch.float32
    shuffles = torch.empty((n_examples, int(n), 4, length), dtype=kernel_dtype)
    if shuffles.numel():
        _shuffle_rows(codes, span_start, span_end, int(n), keys, shuffles.numpy())
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

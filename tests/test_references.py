"""Spec of seqlift.references: dinucleotide shuffles (one-hot and byte codes, threads), zero/uniform
references, region seeds."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from collections import Counter

import numba
import numpy as np
import pytest
import torch

from seqlift.references import (
    dinucleotide_shuffle,
    dinucleotide_shuffle_codes,
    region_seed,
    uniform,
    zeros,
)
from seqlift.sequence import (
    characters,
    codes_to_onehot,
    one_hot_encode,
    onehot_to_codes,
    random_one_hot,
)


def encode(*sequences: str, dtype=torch.float32) -> torch.Tensor:
    return torch.stack([one_hot_encode(s, dtype=dtype) for s in sequences])


def dinucleotides(sequence: str) -> Counter:
    return Counter(sequence[i : i + 2] for i in range(len(sequence) - 1))


def random_sequences_with_n_runs(n_sequences: int, length: int, seed: int) -> list[str]:
    """Random ACGT sequences, most with a few runs of N (at the ends, too)."""
    rng = np.random.default_rng(seed)
    sequences = []
    for index in range(n_sequences):
        bases = rng.choice(list("ACGT"), size=length)
        for _ in range(index % 4):
            run_start = int(rng.integers(0, length))
            bases[run_start : run_start + int(rng.integers(1, 12))] = "N"
        if index % 5 == 0:
            bases[:3] = "N"
        sequences.append("".join(bases))
    return sequences


def shuffled_strings(shuffles: torch.Tensor) -> list[list[str]]:
    return [[characters(s) for s in example] for example in shuffles]


def test_shuffles_keep_exact_dinucleotide_counts_of_many_sequences_with_n_runs():
    sequences = random_sequences_with_n_runs(40, 300, seed=1)
    shuffles = shuffled_strings(dinucleotide_shuffle(encode(*sequences), n=10, random_state=3))
    for original, example in zip(sequences, shuffles, strict=True):
        for shuffle in example:
            assert dinucleotides(shuffle) == dinucleotides(original)
            assert Counter(shuffle) == Counter(original)


def test_n_positions_stay_in_place_and_segment_ends_are_kept():
    sequence = "ACGTTGCANNNNACGGTACCATNTTGACGGATN"
    shuffles = shuffled_strings(dinucleotide_shuffle(encode(sequence), n=50, random_state=0))[0]
    n_positions = [i for i, base in enumerate(sequence) if base == "N"]
    # The N-free segments and their ends (both bases next to every N).
    segment_ends = {0, 7, 12, 21, 23, 31}
    for shuffle in shuffles:
        assert [i for i, base in enumerate(shuffle) if base == "N"] == n_positions
        for position in segment_ends:
            assert shuffle[position] == sequence[position]
    assert len(set(shuffles)) > 1


def test_first_and_last_base_of_the_span_are_kept_and_outside_is_unchanged():
    sequences = random_sequences_with_n_runs(10, 120, seed=5)
    start, end = 17, 95
    shuffles = shuffled_strings(
        dinucleotide_shuffle(encode(*sequences), start=start, end=end, n=8, random_state=2)
    )
    for original, example in zip(sequences, shuffles, strict=True):
        for shuffle in example:
            assert shuffle[:start] == original[:start]
            assert shuffle[end:] == original[end:]
            assert shuffle[start] == original[start]
            assert shuffle[end - 1] == original[end - 1]
            assert dinucleotides(shuffle[start:end]) == dinucleotides(original[start:end])
        assert len(set(example)) > 1


def test_negative_end_is_inclusive_as_in_tangermeme():
    sequence = "ACGTACGGTCAATGCCATGA"
    X = encode(sequence)
    whole = dinucleotide_shuffle(X, end=-1, n=5, random_state=4)
    explicit = dinucleotide_shuffle(X, end=len(sequence), n=5, random_state=4)
    assert torch.equal(whole, explicit)
    # end=-3 leaves the last two bases out of the span.
    for shuffle in shuffled_strings(dinucleotide_shuffle(X, end=-3, n=20, random_state=4))[0]:
        assert shuffle[-3:] == sequence[-3:]


def test_output_is_one_hot_with_the_input_dtype_and_shape():
    for dtype in (torch.float32, torch.float64, torch.int8, torch.float16, torch.bool):
        X = encode("ACGTNNACGTTTGCA", "GGGCCATATANNNCG", dtype=dtype)
        shuffles = dinucleotide_shuffle(X, n=7, random_state=1)
        assert shuffles.dtype == dtype
        assert shuffles.shape == (2, 7, 4, 15)
        as_int = shuffles.to(torch.int64)
        assert set(as_int.unique().tolist()) == {0, 1}
        assert torch.equal(
            as_int.sum(dim=2), X.to(torch.int64).sum(dim=1, keepdim=True).expand(2, 7, 15)
        )


def test_same_seed_gives_same_shuffles_and_different_seeds_differ():
    X = random_one_hot((5, 4, 200), random_state=0, dtype=torch.float32)
    first = dinucleotide_shuffle(X, n=10, random_state=123)
    again = dinucleotide_shuffle(X, n=10, random_state=123)
    other = dinucleotide_shuffle(X, n=10, random_state=124)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # Every example's shuffles differ from each other and from the original.
    for example in range(5):
        strings = {characters(s) for s in first[example]}
        assert len(strings) == 10
        assert characters(X[example]) not in strings


def test_none_seed_follows_numpys_global_generator():
    X = random_one_hot((2, 4, 100), random_state=0, dtype=torch.float32)
    np.random.seed(7)
    first = dinucleotide_shuffle(X, n=3)
    np.random.seed(7)
    assert torch.equal(first, dinucleotide_shuffle(X, n=3))
    assert not torch.equal(first, dinucleotide_shuffle(X, n=3))


def test_per_example_seed_does_not_depend_on_batch_position():
    X = random_one_hot((6, 4, 150), random_state=1, dtype=torch.float32)
    seeds = [11, 22, 33, 44, 55, 66]
    batch = dinucleotide_shuffle(X, n=9, random_state=seeds)
    alone = dinucleotide_shuffle(X[2:3], n=9, random_state=[seeds[2]])
    assert torch.equal(alone[0], batch[2])
    # Reordering the batch reorders the shuffles and changes nothing else.
    order = [5, 2, 0, 4, 1, 3]
    reordered = dinucleotide_shuffle(X[order], n=9, random_state=[seeds[i] for i in order])
    assert torch.equal(reordered, batch[order])
    # Shuffle k of an example does not depend on how many shuffles are drawn.
    assert torch.equal(dinucleotide_shuffle(X, n=3, random_state=seeds), batch[:, :3])


def test_int_seed_means_region_seeds_of_the_batch_positions():
    X = random_one_hot((4, 4, 80), random_state=2, dtype=torch.float32)
    by_int = dinucleotide_shuffle(X, n=5, random_state=99)
    by_list = dinucleotide_shuffle(X, n=5, random_state=[region_seed(99, i) for i in range(4)])
    assert torch.equal(by_int, by_list)


def test_shuffles_are_uniform_over_all_sequences_with_the_same_dinucleotides():
    sequence = "ACAGATCAGA"
    # Every arrangement with the same first base, last base and dinucleotides.
    interior = sorted(set(itertools.permutations(sequence[1:-1])))
    candidates = [sequence[0] + "".join(middle) + sequence[-1] for middle in interior]
    valid = {s for s in candidates if dinucleotides(s) == dinucleotides(sequence)}
    assert len(valid) == 12

    n_shuffles = 6000
    shuffles = shuffled_strings(
        dinucleotide_shuffle(encode(sequence), n=n_shuffles, random_state=8)
    )[0]
    frequencies = Counter(shuffles)
    assert set(frequencies) == valid
    expected = n_shuffles / len(valid)
    # Each count is binomial(6000, 1/12): sd = 21.4; allow 5 sd.
    for count in frequencies.values():
        assert abs(count - expected) < 5 * np.sqrt(expected * (1 - 1 / len(valid)))


@pytest.mark.parametrize("span_length", [0, 1, 2, 3])
def test_spans_of_zero_to_three_bases_are_left_as_they_are(span_length):
    # With three bases or fewer, the ends are kept and the middle base is forced.
    sequence = "GATTACAGATTACA"
    X = encode(sequence)
    shuffles = dinucleotide_shuffle(X, start=5, end=5 + span_length, n=4, random_state=0)
    assert torch.equal(shuffles, X[:, None].expand(1, 4, 4, len(sequence)))


@pytest.mark.parametrize("sequence", ["A", "AC", "ACG", "NNNNNN", "AAAAAAA", "ANCNGNT"])
def test_sequences_with_a_single_arrangement_are_returned_unchanged(sequence):
    X = encode(sequence)
    shuffles = dinucleotide_shuffle(X, n=3, random_state=0)
    assert torch.equal(shuffles, X[:, None].expand(1, 3, 4, len(sequence)))


def test_zero_shuffles_and_zero_examples_give_empty_results():
    X = encode("ACGTACGT")
    assert dinucleotide_shuffle(X, n=0).shape == (1, 0, 4, 8)
    assert dinucleotide_shuffle(X[:0], n=5, random_state=1).shape == (0, 5, 4, 8)


def test_shuffle_keeps_the_device_of_the_input():
    X = encode("ACGTACGTTGCA")
    assert dinucleotide_shuffle(X, n=2, random_state=0).device == X.device


def test_bad_inputs_raise_clear_errors():
    X = encode("ACGTACGT")
    with pytest.raises(ValueError, match="one-hot"):
        dinucleotide_shuffle(X * 0.5, n=2, random_state=0)
    two_ones = X.clone()
    two_ones[0, :, 3] = 1
    with pytest.raises(ValueError, match="position 3"):
        dinucleotide_shuffle(two_ones, n=2, random_state=0)
    with pytest.raises(ValueError, match="shape"):
        dinucleotide_shuffle(X[0], n=2)
    with pytest.raises(ValueError, match="span"):
        dinucleotide_shuffle(X, start=5, end=3, n=2)
    with pytest.raises(ValueError, match="span"):
        dinucleotide_shuffle(X, start=0, end=9, n=2)
    with pytest.raises(ValueError, match="one seed per example"):
        dinucleotide_shuffle(X, n=2, random_state=[1, 2])
    with pytest.raises(TypeError, match="random_state"):
        dinucleotide_shuffle(X, n=2, random_state=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        dinucleotide_shuffle(X, n=-1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        dinucleotide_shuffle(X.numpy(), n=2)


def test_zeros_and_uniform_references():
    X = encode("ACGTN", "TTTTT")
    zero = zeros(X, 3)
    assert zero.shape == (2, 3, 4, 5) and zero.dtype == torch.float32
    assert torch.count_nonzero(zero) == 0
    flat = uniform(X, 2, random_state=5)
    assert flat.shape == (2, 2, 4, 5)
    assert torch.all(flat == 0.25)
    assert uniform(X.to(torch.float64), 1).dtype == torch.float64
    assert uniform(X.to(torch.int8), 1).dtype == torch.float32


def test_region_seed_is_a_fixed_documented_hash():
    assert region_seed(42, 7) == 7041254291183900872
    assert region_seed(0, 0) == 7689419447139100721
    assert region_seed(-1, 3) == 1007717566093963150
    seeds = {region_seed(5, region) for region in range(1000)}
    assert len(seeds) == 1000
    assert all(0 <= seed < 2**63 for seed in seeds)
    assert region_seed(np.int64(42), np.int32(7)) == region_seed(42, 7)
    with pytest.raises(TypeError):
        region_seed(1.0, 2)


def test_codes_shuffle_gives_the_same_shuffles_as_the_one_hot_shuffle():
    sequences = random_sequences_with_n_runs(6, 250, seed=9)
    X = encode(*sequences)
    codes = onehot_to_codes(X)
    one_hot = dinucleotide_shuffle(X, start=3, end=-5, n=7, random_state=[5, 6, 7, 8, 9, 10])
    by_codes = dinucleotide_shuffle_codes(
        codes, n=7, start=3, end=-5, random_state=[5, 6, 7, 8, 9, 10]
    )
    assert isinstance(by_codes, torch.Tensor) and by_codes.dtype == torch.uint8
    assert by_codes.shape == (6, 7, 250)
    assert torch.equal(codes_to_onehot(by_codes), one_hot)
    # numpy in, numpy out, same values.
    as_numpy = dinucleotide_shuffle_codes(
        codes.numpy(), n=7, start=3, end=-5, random_state=[5, 6, 7, 8, 9, 10]
    )
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.uint8
    assert np.array_equal(as_numpy, by_codes.numpy())
    # N (code 4) stays where it is.
    assert torch.equal(by_codes == 4, (codes == 4)[:, None].expand(6, 7, 250))


def test_codes_shuffle_rejects_bad_codes():
    with pytest.raises(ValueError, match="0 \\(A\\)"):
        dinucleotide_shuffle_codes(np.array([[0, 1, 5]]), n=2, random_state=0)
    with pytest.raises(ValueError, match="0 \\(A\\)"):
        dinucleotide_shuffle_codes(np.array([[0, -1, 2]]), n=2, random_state=0)
    with pytest.raises(ValueError, match="integers"):
        dinucleotide_shuffle_codes(np.array([[0.0, 1.0]]), n=2, random_state=0)
    with pytest.raises(ValueError, match="shape"):
        dinucleotide_shuffle_codes(np.array([0, 1, 2]), n=2, random_state=0)
    with pytest.raises(ValueError, match="non-negative"):
        dinucleotide_shuffle_codes(np.zeros((1, 5), dtype=np.uint8), n=-2)


def test_shuffles_do_not_depend_on_the_number_of_threads():
    # 8 x 20 x 2000 bases is large enough to run on numba's threads.
    X = random_one_hot((8, 4, 2000), random_state=3, dtype=torch.float32)
    X[2, :, 500:530] = 0
    seeds = [region_seed(17, i) for i in range(8)]
    threaded = dinucleotide_shuffle(X, n=20, random_state=seeds)
    # One example at a time is too small for threads, so it runs on this one.
    for example in range(8):
        alone = dinucleotide_shuffle(X[example : example + 1], n=20, random_state=[seeds[example]])
        assert torch.equal(alone[0], threaded[example])
    default_threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert torch.equal(dinucleotide_shuffle(X, n=20, random_state=seeds), threaded)
    finally:
        numba.set_num_threads(default_threads)


def test_threaded_shuffle_is_safe_with_fork_torch_openmp_and_python_threads():
    # In a child process, so that a hang or an abort fails this test only.
    script = textwrap.dedent(
        """
        import os, threading

        import numpy as np
        import torch
        from seqlift.references import dinucleotide_shuffle
        from seqlift.sequence import random_one_hot

        X = random_one_hot((8, 4, 2000), random_state=0, dtype=torch.float32)
        first = dinucleotide_shuffle(X, n=20, random_state=1)
        # torch's OpenMP threads after numba's.
        torch.set_num_threads(2)
        conv = torch.nn.functional.conv1d(first.reshape(160, 4, 2000), torch.ones(8, 4, 19))
        assert conv.shape == (160, 8, 1982)
        # A forked child that shuffles again. It compares in numpy: torch's
        # own OpenMP threads hang in a child forked after the parent used them.
        pid = os.fork()
        if pid == 0:
            again = dinucleotide_shuffle(X, n=20, random_state=1)
            os._exit(0 if np.array_equal(again.numpy(), first.numpy()) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # Two Python threads shuffling at once.
        results = [None, None]
        def shuffle(slot):
            results[slot] = dinucleotide_shuffle(X, n=20, random_state=1)
        threads = [threading.Thread(target=shuffle, args=(slot,)) for slot in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(torch.equal(result, first) for result in results)
        print("ok")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"

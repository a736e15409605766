"""Spec of seqlift.references: dinucleotide shuffles (one-hot and byte codes, any alphabet, threads),
per-example seeds, zero/uniform references, region seeds. (Agreement with tangermeme itself:
test_tangermeme_compat.py.)"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import warnings
from collections import Counter

import numba
import numpy as np
import pytest
import torch

from seqlift.references import (
    dinucleotide_shuffle,
    dinucleotide_shuffle_codes,
    example_seeds,
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


def encode_in(alphabet: str, *sequences: str) -> torch.Tensor:
    return torch.stack([one_hot_encode(s, alphabet, torch.float32, []) for s in sequences])


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


def shuffled_strings(shuffles: torch.Tensor, alphabet: str = "ACGT") -> list[list[str]]:
    return [[characters(s, alphabet, allow_N=True) for s in example] for example in shuffles]


def test_shuffles_keep_exact_dinucleotide_counts_of_many_sequences_with_n_runs():
    sequences = random_sequences_with_n_runs(40, 300, seed=1)
    shuffles = shuffled_strings(
        dinucleotide_shuffle(encode(*sequences), n=10, random_state=3, allow_N=True)
    )
    for original, example in zip(sequences, shuffles, strict=True):
        for shuffle in example:
            assert dinucleotides(shuffle) == dinucleotides(original)
            assert Counter(shuffle) == Counter(original)


def test_n_positions_stay_in_place_and_segment_ends_are_kept():
    sequence = "ACGTTGCANNNNACGGTACCATNTTGACGGATN"
    shuffles = shuffled_strings(
        dinucleotide_shuffle(encode(sequence), n=50, random_state=0, allow_N=True)
    )[0]
    n_positions = [i for i, base in enumerate(sequence) if base == "N"]
    # The N-free segments and their ends (both bases next to every N).
    segment_ends = {0, 7, 12, 21, 23, 31}
    for shuffle in shuffles:
        assert [i for i, base in enumerate(shuffle) if base == "N"] == n_positions
        for position in segment_ends:
            assert shuffle[position] == sequence[position]
    assert len(set(shuffles)) > 1


def test_unknown_bases_raise_unless_allow_n_as_in_tangermeme():
    X = encode("ACGTTGCANNNNACGGTACC")
    with pytest.raises(ValueError, match=r"X\[0, :, 8\] = \[0.0, 0.0, 0.0, 0.0\]: it is all zero "
                       r"\(an unknown base, N\) \(4 such positions in all\); pass allow_N=True"):
        dinucleotide_shuffle(X, n=3, random_state=0)
    assert dinucleotide_shuffle(X, n=3, random_state=0, allow_N=True).shape == (1, 3, 4, 20)


def test_first_and_last_base_of_the_span_are_kept_and_outside_is_unchanged():
    sequences = random_sequences_with_n_runs(10, 120, seed=5)
    start, end = 17, 95
    shuffles = shuffled_strings(
        dinucleotide_shuffle(
            encode(*sequences), start=start, end=end, n=8, random_state=2, allow_N=True
        )
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
        X = encode("ACAGATCAGANNACGTTTGCA", "GGGCCATATANNNCACAGATC", dtype=dtype)
        shuffles = dinucleotide_shuffle(X, n=7, random_state=1, allow_N=True)
        assert shuffles.dtype == dtype
        assert shuffles.shape == (2, 7, 4, 21)
        as_int = shuffles.to(torch.int64)
        assert set(as_int.unique().tolist()) == {0, 1}
        assert torch.equal(
            as_int.sum(dim=2), X.to(torch.int64).sum(dim=1, keepdim=True).expand(2, 7, 21)
        )


def test_any_alphabet_is_shuffled_keeping_its_dinucleotides():
    for alphabet, sequence in (
        ("ACGTN", "ACGTNNACGTTAGCNCATGACNNTTAGGCAN"),
        ("AB", "ABBABAABBBAABABA"),
        ("ACDEFGHIKLMNPQRSTVWY", "MKVLAAGICLLWHPQRSTVWYEDFNMKA"),
    ):
        X = encode_in(alphabet, sequence)
        shuffles = dinucleotide_shuffle(X, n=12, random_state=6)
        assert shuffles.shape == (1, 12, len(alphabet), len(sequence))
        strings = shuffled_strings(shuffles, alphabet)[0]
        for shuffle in strings:
            assert dinucleotides(shuffle) == dinucleotides(sequence)
            assert shuffle[0] == sequence[0] and shuffle[-1] == sequence[-1]
        assert len(set(strings)) > 1
    X = encode_in("ACGTN", "ACGTNNACGTTAGCNCATGACNNTTAGGCAN")
    assert torch.allclose(uniform(X, 2), torch.full((1, 2, 5, 31), 0.2))


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


def test_an_int_seed_does_not_depend_on_the_position_in_the_batch():
    X = random_one_hot((6, 4, 150), random_state=1, dtype=torch.float32)
    whole = dinucleotide_shuffle(X, n=9, random_state=99)
    assert torch.equal(dinucleotide_shuffle(X[2:5], n=9, random_state=99), whole[2:5])
    assert torch.equal(dinucleotide_shuffle(X[[4, 0]], n=9, random_state=99), whole[[4, 0]])
    # Two copies of one sequence in one batch get the same shuffles.
    twice = dinucleotide_shuffle(X[[3, 3]], n=9, random_state=99)
    assert torch.equal(twice[0], twice[1])


def test_shuffle_k_of_seed_s_is_shuffle_0_of_seed_s_plus_k():
    # tangermeme's meaning in deep_lift_shap: reference k is drawn with seed random_state + k.
    X = random_one_hot((3, 4, 150), random_state=1, dtype=torch.float32)
    twenty = dinucleotide_shuffle(X, n=20, random_state=40)
    for k in (0, 1, 7, 19):
        assert torch.equal(dinucleotide_shuffle(X, n=1, random_state=40 + k)[:, 0], twenty[:, k])
    # A batch of (example, reference) pairs, each with its own seed, in one call.
    rows, references = [2, 0, 1, 2], [5, 5, 0, 19]
    seeds = example_seeds(40, 3)[rows] + np.array(references, dtype=np.uint64)
    pairs = dinucleotide_shuffle(X[rows], n=1, random_state=seeds)[:, 0]
    assert torch.equal(pairs, twenty[rows, references])


def test_per_example_seeds_give_each_example_its_own_stream():
    X = random_one_hot((6, 4, 150), random_state=1, dtype=torch.float32)
    seeds = [11, 22, 33, 44, 55, 66]
    batch = dinucleotide_shuffle(X, n=9, random_state=seeds)
    alone = dinucleotide_shuffle(X[2:3], n=9, random_state=[seeds[2]])
    assert torch.equal(alone[0], batch[2])
    assert torch.equal(dinucleotide_shuffle(X[2:3], n=9, random_state=seeds[2])[0], batch[2])
    # Reordering the batch reorders the shuffles and changes nothing else.
    order = [5, 2, 0, 4, 1, 3]
    reordered = dinucleotide_shuffle(X[order], n=9, random_state=[seeds[i] for i in order])
    assert torch.equal(reordered, batch[order])
    # Shuffle k of an example does not depend on how many shuffles are drawn.
    assert torch.equal(dinucleotide_shuffle(X, n=3, random_state=seeds), batch[:, :3])
    assert torch.equal(
        dinucleotide_shuffle(X, n=9, random_state=torch.tensor(seeds)), batch
    )


def test_example_seeds_is_the_one_place_that_reads_random_state():
    assert example_seeds(7, 3).tolist() == [7, 7, 7]
    assert example_seeds(7, 3).dtype == np.uint64
    assert example_seeds([1, 2**64 + 5, -1], 3).tolist() == [1, 5, 2**64 - 1]
    assert example_seeds(np.array([3, 4]), 2).tolist() == [3, 4]
    assert example_seeds(torch.tensor([3, 4]), 2).tolist() == [3, 4]
    np.random.seed(1)
    drawn = example_seeds(None, 2)
    np.random.seed(1)
    assert example_seeds(None, 2).tolist() == drawn.tolist() and drawn[0] == drawn[1]
    for bad, message in (
        (1.5, "not float"),
        (np.random.RandomState(0), "not RandomState"),
        (True, "not bool"),
        ("12", "not str"),
        ([1, 2], "holds 2 seeds for 3 examples"),
        ([1, 2.0, 3], r"random_state\[1\] is 2.0"),
    ):
        with pytest.raises(ValueError, match=message):
            example_seeds(bad, 3)


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


def test_aata_has_two_arrangements_and_gets_both():
    # AA, AT, TA from A to A: AATA or ATAA (tangermeme's shortcut can only copy it, and raises).
    shuffles = shuffled_strings(dinucleotide_shuffle(encode("AATA"), n=2000, random_state=2))[0]
    frequencies = Counter(shuffles)
    assert set(frequencies) == {"AATA", "ATAA"}
    # binomial(2000, 1/2): sd = 22.4; allow 5 sd.
    assert abs(frequencies["ATAA"] - 1000) < 5 * 22.4


@pytest.mark.parametrize(
    ("sequence", "start", "end"),
    [
        ("A" * 30, 0, -1),
        ("ATATATATAT", 0, -1),
        ("ACGTACGT", 0, -1),
        ("ACAT", 0, -1),
        ("AC", 0, -1),
        ("GATTACAGATTACA", 5, 5),
        ("GATTACAGATTACA", 5, 8),
        ("NNNNNN", 0, -1),
        ("ANCNGNT", 0, -1),
        ("ACGTNACGTNNACGT", 0, -1),
    ],
)
def test_a_span_with_a_single_arrangement_raises_instead_of_returning_copies(sequence, start, end):
    with pytest.raises(ValueError, match=r"example\(s\) 0 cannot be shuffled: .*single "
                       "arrangement.*copies as references give all-zero attributions"):
        dinucleotide_shuffle(encode(sequence), start=start, end=end, n=2, random_state=0,
                             allow_N=True)


def test_exactly_the_sequences_with_one_arrangement_raise():
    # Checked against every arrangement of the interior, for 60 short random sequences.
    rng = np.random.default_rng(4)
    for _ in range(60):
        sequence = "".join(rng.choice(list("ACGT"), size=int(rng.integers(4, 9)), p=[.4, .3, .2, .1]))
        arrangements = {
            sequence[0] + "".join(middle) + sequence[-1]
            for middle in itertools.permutations(sequence[1:-1])
        }
        n_arrangements = sum(dinucleotides(s) == dinucleotides(sequence) for s in arrangements)
        if n_arrangements == 1:
            with pytest.raises(ValueError, match="cannot be shuffled"):
                dinucleotide_shuffle(encode(sequence), n=2, random_state=0)
        else:
            shuffles = shuffled_strings(dinucleotide_shuffle(encode(sequence), n=200,
                                                             random_state=0))[0]
            assert len(set(shuffles)) == n_arrangements


def test_the_error_names_only_the_examples_that_cannot_be_shuffled():
    X = encode("ACAGATCAGA", "AAAAAAAAAA", "ACAGATCAGA", "ATATATATAT")
    with pytest.raises(ValueError, match=r"example\(s\) 1, 3 cannot be shuffled: the "
                       r"dinucleotides of their span \[0, 10\)"):
        dinucleotide_shuffle(X, n=20, random_state=0)


def test_a_single_shuffle_of_an_unshufflable_span_is_a_copy_as_in_tangermeme():
    X = encode("A" * 30)
    assert torch.equal(dinucleotide_shuffle(X, n=1, random_state=0), X[:, None])
    codes = onehot_to_codes(X)
    assert torch.equal(dinucleotide_shuffle_codes(codes, n=3, random_state=0)[0, 2], codes[0])


def test_verbose_warns_when_a_movable_position_is_the_same_in_every_shuffle():
    # ACAGATCAGA has 12 arrangements: with one shuffle every position is "the same in all".
    X = encode("ACAGATCAGA")
    with pytest.warns(UserWarning, match=r"example\(s\) 0 have positions that are the same in "
                      r"all 1 shuffles \(first: example 0 position 1\)"):
        dinucleotide_shuffle(X, n=1, random_state=0, verbose=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dinucleotide_shuffle(X, n=200, random_state=0, verbose=True)
        # Ns and the bases next to them stay by design, and do not count.
        dinucleotide_shuffle(encode("ACAGATCAGANNACAGATCAGA"), n=200, random_state=0,
                             verbose=True, allow_N=True)


def test_zero_shuffles_and_zero_examples_give_empty_results():
    X = encode("ACGTACGT")
    assert dinucleotide_shuffle(X, n=0).shape == (1, 0, 4, 8)
    assert dinucleotide_shuffle(X[:0], n=5, random_state=1).shape == (0, 5, 4, 8)


def test_shuffle_keeps_the_device_of_the_input():
    X = encode("ACGTACGTTGCA")
    assert dinucleotide_shuffle(X, n=2, random_state=0).device == X.device


def test_bad_inputs_raise_clear_errors_of_tangermemes_types():
    X = encode("ACGTACGT")
    with pytest.raises(ValueError, match=r"X\[0, :, 0\] = \[0.5, 0.0, 0.0, 0.0\]: it holds values"):
        dinucleotide_shuffle(X * 0.5, n=2, random_state=0)
    two_ones = X.clone()
    two_ones[0, :, 3] = 1
    with pytest.raises(ValueError, match=r"X\[0, :, 3\] = \[1.0, 1.0, 1.0, 1.0\]"):
        dinucleotide_shuffle(two_ones, n=2, random_state=0)
    with pytest.raises(ValueError, match="shape"):
        dinucleotide_shuffle(X[0], n=2)
    with pytest.raises(ValueError, match="span"):
        dinucleotide_shuffle(X, start=5, end=3, n=2)
    with pytest.raises(ValueError, match="span"):
        dinucleotide_shuffle(X, start=0, end=9, n=2)
    with pytest.raises(ValueError, match="one seed per example"):
        dinucleotide_shuffle(X, n=2, random_state=[1, 2])
    with pytest.raises(ValueError, match="random_state"):
        dinucleotide_shuffle(X, n=2, random_state=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        dinucleotide_shuffle(X, n=-1)
    with pytest.raises(TypeError, match="must be an int, got 2.0"):
        dinucleotide_shuffle(X, n=2.0)
    with pytest.raises(TypeError, match="start must be an int"):
        dinucleotide_shuffle(X, start=1.0, n=2)
    with pytest.raises(ValueError, match="torch.Tensor"):
        dinucleotide_shuffle(X.numpy(), n=2)
    with pytest.raises(ValueError, match="torch.Tensor"):
        dinucleotide_shuffle("ACGTACGT", n=2)
    with pytest.raises(NotImplementedError, match="dinucleotide_shuffle_codes"):
        dinucleotide_shuffle(X, n=2, return_packed=True)
    with pytest.raises(ValueError, match="n_jobs"):
        dinucleotide_shuffle(X, n=2, n_jobs=0)


def test_zeros_and_uniform_references():
    X = encode("ACGTN", "TTTTT")
    zero = zeros(X, 3)
    assert zero.shape == (2, 3, 4, 5) and zero.dtype == torch.float32
    assert torch.count_nonzero(zero) == 0
    assert zeros(X.to(torch.int8), 1).dtype == torch.int8
    flat = uniform(X, 2, random_state=5)
    assert flat.shape == (2, 2, 4, 5)
    assert torch.all(flat == 0.25)
    assert uniform(X.to(torch.float64), 1).dtype == torch.float64
    assert uniform(X.to(torch.int8), 1).dtype == torch.float32
    with pytest.raises(ValueError, match="non-negative"):
        zeros(X, -1)
    with pytest.raises(ValueError, match="shape"):
        uniform(X[0], 1)


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
    seeds = [5, 6, 7, 8, 9, 10]
    one_hot = dinucleotide_shuffle(X, start=3, end=-5, n=7, random_state=seeds, allow_N=True)
    by_codes = dinucleotide_shuffle_codes(codes, n=7, start=3, end=-5, random_state=seeds)
    assert isinstance(by_codes, torch.Tensor) and by_codes.dtype == torch.uint8
    assert by_codes.shape == (6, 7, 250)
    assert torch.equal(codes_to_onehot(by_codes), one_hot)
    # numpy in, numpy out, same values.
    as_numpy = dinucleotide_shuffle_codes(codes.numpy(), n=7, start=3, end=-5, random_state=seeds)
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
    threaded = dinucleotide_shuffle(X, n=20, random_state=seeds, allow_N=True)
    # One example at a time is too small for threads, so it runs on this one.
    for example in range(8):
        alone = dinucleotide_shuffle(
            X[example : example + 1], n=20, random_state=[seeds[example]], allow_N=True
        )
        assert torch.equal(alone[0], threaded[example])
    assert torch.equal(dinucleotide_shuffle(X, n=20, random_state=seeds, allow_N=True, n_jobs=1),
                       threaded)
    # One example with 160 shuffles splits its shuffles across numba's threads.
    one = dinucleotide_shuffle(X[2:3], n=160, random_state=seeds[2], allow_N=True)
    assert torch.equal(one[:, :20], threaded[2:3])
    default_threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert torch.equal(dinucleotide_shuffle(X, n=20, random_state=seeds, allow_N=True),
                           threaded)
        assert torch.equal(
            dinucleotide_shuffle(X[2:3], n=160, random_state=seeds[2], allow_N=True), one
        )
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

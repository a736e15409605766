"""seqlift's sequence tools against tangermeme 1.6.0 itself (issue 10, items 6 and 8-12).

Each test gives the same inputs to both: deterministic functions must give the same outputs, or
raise exceptions of the type tangermeme raises; the shuffles (seqlift keeps its own exact, faster
random stream) must have the same properties. What differs on purpose is asserted as such here
and listed in the README ("What still differs from tangermeme, on purpose"), so a new tangermeme
release that changes any of it fails a test instead of surprising a user.
"""

from __future__ import annotations

import inspect
import warnings
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from tangermeme.ersatz import dinucleotide_shuffle as tm_dinucleotide_shuffle  # noqa: E402
from tangermeme.ersatz import multisubstitute as tm_multisubstitute  # noqa: E402
from tangermeme.ersatz import substitute as tm_substitute  # noqa: E402
from tangermeme.plot import plot_logo as tm_plot_logo  # noqa: E402
from tangermeme.utils import characters as tm_characters  # noqa: E402
from tangermeme.utils import one_hot_encode as tm_one_hot_encode  # noqa: E402
from tangermeme.utils import random_one_hot as tm_random_one_hot  # noqa: E402

from seqlift.plot import plot_logo  # noqa: E402
from seqlift.references import dinucleotide_shuffle  # noqa: E402
from seqlift.sequence import (  # noqa: E402
    characters,
    multisubstitute,
    one_hot_encode,
    random_one_hot,
    substitute,
)

PAIRS = {
    "one_hot_encode": (one_hot_encode, tm_one_hot_encode),
    "characters": (characters, tm_characters),
    "random_one_hot": (random_one_hot, tm_random_one_hot),
    "substitute": (substitute, tm_substitute),
    "multisubstitute": (multisubstitute, tm_multisubstitute),
    "dinucleotide_shuffle": (dinucleotide_shuffle, tm_dinucleotide_shuffle),
    "plot_logo": (plot_logo, tm_plot_logo),
}

# Defaults that differ on purpose (README table): (seqlift's, tangermeme's).
DIFFERENT_DEFAULTS = {
    ("one_hot_encode", "ignore"): (None, "N"),  # None: N and the other IUPAC codes
    ("dinucleotide_shuffle", "n_jobs"): (None, 1),  # None: numba's thread count
}


def normalised(default):
    """``['A', 'C', 'G', 'T']`` and ``"ACGT"`` are the same default; so are ``'int8'`` and
    ``torch.int8``."""
    if isinstance(default, (list, tuple)) and all(isinstance(c, str) for c in default):
        return "".join(default)
    if default == "int8":
        return torch.int8
    return default


def outcome(call):
    """``(value, None)`` or ``(None, exception)``; tangermeme's warnings are not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call(), None
        except Exception as error:  # noqa: BLE001 - the type is what is compared
            return None, error


def assert_same_outcome(ours, theirs):
    """Both give equal values (tensors: equal values and dtype), or ours raises an instance of
    the type of tangermeme's exception."""
    their_value, their_error = outcome(theirs)
    our_value, our_error = outcome(ours)
    if their_error is not None:
        assert isinstance(our_error, type(their_error)), (
            f"tangermeme raises {their_error!r}; seqlift gives {our_error or our_value!r}"
        )
        return
    assert our_error is None, f"tangermeme gives a value; seqlift raises {our_error!r}"
    if isinstance(their_value, torch.Tensor):
        assert our_value.dtype == their_value.dtype
        assert torch.equal(our_value, their_value)
    else:
        assert our_value == their_value


def assert_both_raise(error_type, ours, theirs):
    """tangermeme raises ``error_type`` (checked, so a release that stops shows up) and so do we."""
    their_error = outcome(theirs)[1]
    assert isinstance(their_error, error_type), f"tangermeme now gives {their_error!r}"
    our_error = outcome(ours)[1]
    assert isinstance(our_error, error_type), f"seqlift gives {our_error or 'no error'!r}"


def encode(*sequences: str, alphabet: str = "ACGT", dtype=torch.float32) -> torch.Tensor:
    ignore = [] if "N" in alphabet else ["N"]
    return torch.stack([tm_one_hot_encode(s, list(alphabet), dtype, ignore) for s in sequences])


def dinucleotides(sequence: str) -> Counter:
    return Counter(sequence[i : i + 2] for i in range(len(sequence) - 1))


def strings(shuffles: torch.Tensor, alphabet: str = "ACGT") -> list[list[str]]:
    return [[tm_characters(s, list(alphabet), allow_N=True) for s in e] for e in shuffles]


# ---------------------------------------------------------------------------------------------
# Signatures: tangermeme's positional order, seqlift's extras keyword-only.


@pytest.mark.parametrize("name", PAIRS)
def test_public_functions_take_tangermemes_arguments_in_its_positional_order(name):
    ours, theirs = (inspect.signature(f).parameters.values() for f in PAIRS[name])
    their_positional = [p for p in theirs if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    our_parameters = list(ours)
    prefix = our_parameters[: len(their_positional)]
    assert [p.name for p in prefix] == [p.name for p in their_positional]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in prefix)
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY for p in our_parameters[len(their_positional) :]
    )
    differing = {
        (name, mine.name): (normalised(mine.default), normalised(theirs_.default))
        for mine, theirs_ in zip(prefix, their_positional, strict=True)
        if normalised(mine.default) != normalised(theirs_.default)
    }
    assert differing == {key: value for key, value in DIFFERENT_DEFAULTS.items() if key[0] == name}


def test_one_hot_encode_does_not_swallow_unknown_keywords_as_tangermemes_kwargs_does():
    assert_same_outcome(lambda: one_hot_encode("ACGT"), lambda: tm_one_hot_encode("ACGT", foo=1))
    with pytest.raises(TypeError, match="foo"):
        one_hot_encode("ACGT", foo=1)


# ---------------------------------------------------------------------------------------------
# Item 8: dinucleotide_shuffle


def test_dinucleotide_shuffle_shuffles_a_five_letter_alphabet_as_tangermeme_does():
    sequence = "ACGTNNACGTTAGCNCATGACNNTTAGGCANGTCCATNAGCTTNACG"
    X = encode(sequence, alphabet="ACGTN")
    for shuffle in (dinucleotide_shuffle, tm_dinucleotide_shuffle):
        shuffles = shuffle(X, n=10, random_state=3)
        assert shuffles.shape == (1, 10, 5, len(sequence)) and shuffles.dtype == torch.float32
        drawn = strings(shuffles, "ACGTN")[0]
        for shuffled in drawn:
            assert dinucleotides(shuffled) == dinucleotides(sequence)
            assert (shuffled[0], shuffled[-1]) == (sequence[0], sequence[-1])
        assert len(set(drawn)) > 1


def test_unknown_bases_raise_unless_allow_n_in_both_and_seqlift_keeps_them_in_place():
    sequence = "ACGTTGCAGNNNNACGGTACCATGTTGACGGATCC"
    X = encode(sequence)
    assert_both_raise(
        ValueError,
        lambda: dinucleotide_shuffle(X, n=4, random_state=0),
        lambda: tm_dinucleotide_shuffle(X, n=4, random_state=0),
    )
    for shuffle in (dinucleotide_shuffle, tm_dinucleotide_shuffle):
        for shuffled in strings(shuffle(X, n=20, random_state=0, allow_N=True))[0]:
            assert dinucleotides(shuffled) == dinucleotides(sequence)
    # On purpose: seqlift never moves an N (tangermeme shuffles N as a letter of its own).
    for shuffled in strings(dinucleotide_shuffle(X, n=20, random_state=0, allow_N=True))[0]:
        assert shuffled[9:13] == "NNNN"


@pytest.mark.parametrize(
    ("sequence", "start", "end"),
    [("A" * 30, 0, -1), ("ATATATATAT", 0, -1), ("ACGTACGT", 0, -1), ("AC", 0, -1),
     ("GATTACAGATTACA", 4, 7), ("GATTACAGATTACA", 6, 6)],
)
def test_a_sequence_that_cannot_be_shuffled_raises_a_value_error_in_both(sequence, start, end):
    X = encode(sequence)
    assert_both_raise(
        ValueError,
        lambda: dinucleotide_shuffle(X, start, end, 20, 0),
        lambda: tm_dinucleotide_shuffle(X, start, end, 20, 0),
    )


def test_one_shuffle_of_a_sequence_that_cannot_be_shuffled_is_a_copy_in_both():
    X = encode("A" * 30)
    assert_same_outcome(
        lambda: dinucleotide_shuffle(X, n=1, random_state=0),
        lambda: tm_dinucleotide_shuffle(X, n=1, random_state=0),
    )


def test_aata_differs_on_purpose_seqlift_draws_both_of_its_arrangements():
    X = encode("AATA")
    # tangermeme's shortcut keeps every base's original last exit, so it can only copy AATA.
    assert isinstance(outcome(lambda: tm_dinucleotide_shuffle(X, n=20, random_state=0))[1],
                      ValueError)
    assert set(strings(dinucleotide_shuffle(X, n=20, random_state=0))[0]) == {"AATA", "ATAA"}


X_SMALL = encode("ACAGATCAGATTGCA", "GGATCCATTAGCCAT")


@pytest.mark.parametrize(
    ("label", "arguments"),
    [
        ("X is a str", dict(X="ACAGATCAGATTGCA")),
        ("X is a numpy array", dict(X=X_SMALL.numpy())),
        ("X is 2-d", dict(X=X_SMALL[0])),
        ("X is not one-hot", dict(X=X_SMALL * 0.5)),
        ("random_state is a float", dict(random_state=1.5)),
        ("random_state is a RandomState", dict(random_state=np.random.RandomState(0))),
        ("random_state is a str", dict(random_state="1")),
        ("random_state is a bool", dict(random_state=True)),
        ("random_state has the wrong length", dict(random_state=[1, 2, 3])),
        ("n is negative", dict(n=-1)),
        ("n is a float", dict(n=2.0)),
        ("start is a float", dict(start=1.0)),
        ("end before start", dict(start=9, end=3)),
    ],
)
def test_dinucleotide_shuffle_raises_what_tangermeme_raises(label, arguments):
    arguments = {"X": X_SMALL, "n": 3, "random_state": 0, **arguments}
    their_error = outcome(lambda: tm_dinucleotide_shuffle(**arguments))[1]
    assert their_error is not None, f"tangermeme no longer raises when {label}"
    assert_same_outcome(
        lambda: dinucleotide_shuffle(**arguments), lambda: tm_dinucleotide_shuffle(**arguments)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int8,
                                   torch.bool])
def test_shuffles_have_tangermemes_shape_dtype_ends_and_outside_of_the_span(dtype):
    X = X_SMALL.to(dtype)
    for shuffle in (dinucleotide_shuffle, tm_dinucleotide_shuffle):
        shuffles = shuffle(X, 2, 13, 6, 1)
        assert shuffles.shape == (2, 6, 4, 15) and shuffles.dtype == dtype
        assert torch.equal(shuffles[..., :3], X[:, None, :, :3].expand(2, 6, 4, 3))
        assert torch.equal(shuffles[..., 12:], X[:, None, :, 12:].expand(2, 6, 4, 3))
        assert shuffle(X, n=0, random_state=1).shape == (2, 0, 4, 15)
        assert shuffle(X[:0], n=3, random_state=1).shape == (0, 3, 4, 15)


def test_verbose_warns_in_both_when_a_position_is_the_same_in_every_shuffle():
    for shuffle in (dinucleotide_shuffle, tm_dinucleotide_shuffle):
        with pytest.warns(UserWarning, match="same|identical"):
            shuffle(X_SMALL, n=1, random_state=0, verbose=True)


def test_per_example_seeds_mean_the_same_in_both_and_an_int_seed_differs_on_purpose():
    X = encode("ACAGATCAGATTGCAGGCT", "GGATCCATTAGCCATCCGA", "TTAGCCGATAGGCATAGCA")
    for shuffle in (dinucleotide_shuffle, tm_dinucleotide_shuffle):
        batch = shuffle(X, n=5, random_state=[4, 5, 6])
        assert torch.equal(shuffle(X[1:2], n=5, random_state=[5])[0], batch[1])
    # tangermeme seeds example i with random_state + i (its position); seqlift gives every
    # example the seed, so that a slice gives what the whole gives.
    assert torch.equal(tm_dinucleotide_shuffle(X, n=5, random_state=4)[1],
                       tm_dinucleotide_shuffle(X[1:2], n=5, random_state=5)[0])
    assert torch.equal(dinucleotide_shuffle(X, n=5, random_state=4)[1],
                       dinucleotide_shuffle(X[1:2], n=5, random_state=4)[0])


# ---------------------------------------------------------------------------------------------
# Item 9: random_one_hot


@pytest.mark.parametrize(
    ("shape", "probs", "dtype", "seed"),
    [
        ((3, 4, 50), None, "int8", 0),
        ((2, 4, 40), [0.1, 0.2, 0.3, 0.4], "float32", 7),
        ((2, 4, 40), np.array([[0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 0.5, 0.5]]), np.float64, 3),
        ((1, 5, 30), [[0.2] * 5], "int64", 11),
        ((4, 4, 0), None, "int8", 1),
    ],
)
def test_random_one_hot_draws_tangermemes_sequences_for_the_same_positional_call(
    shape, probs, dtype, seed
):
    assert_same_outcome(
        lambda: random_one_hot(shape, probs, dtype, seed),
        lambda: tm_random_one_hot(shape, probs, dtype, seed),
    )
    assert_same_outcome(
        lambda: random_one_hot(shape, probs, dtype, np.random.RandomState(seed)),
        lambda: tm_random_one_hot(shape, probs, dtype, np.random.RandomState(seed)),
    )


@pytest.mark.parametrize(
    ("shape", "probs"), [([3, 4, 5], None), ((3, 4), None), ((1, 4, 5), [0.5, 0.5, 0.5, 0.0])]
)
def test_random_one_hot_raises_what_tangermeme_raises(shape, probs):
    assert_both_raise(ValueError, lambda: random_one_hot(shape, probs, "int8", 0),
                      lambda: tm_random_one_hot(shape, probs, "int8", 0))


# ---------------------------------------------------------------------------------------------
# Item 10: one_hot_encode and characters


@pytest.mark.parametrize(
    ("sequence", "arguments"),
    [
        ("ACGTNACGTTNA", {}),
        ("", {}),
        ("ACGTNACGT", dict(alphabet=list("ACGTN"), ignore=[])),
        ("MKVAKM", dict(alphabet=list("AKMV"))),
        ("ACGTXNA", dict(ignore=["N", "X"])),
        ("GATTACA", dict(dtype=torch.float32)),
        ("GATTACA", dict(dtype=torch.bool)),
    ],
)
def test_one_hot_encode_gives_tangermemes_encoding(sequence, arguments):
    assert_same_outcome(lambda: one_hot_encode(sequence, **arguments),
                        lambda: tm_one_hot_encode(sequence, **arguments))


@pytest.mark.parametrize(
    ("error_type", "sequence", "arguments"),
    [
        (ValueError, "ACGTXA", {}),
        (ValueError, "ACGTN", dict(alphabet=list("ACGTN"))),
        (ValueError, "ACGT", dict(alphabet=list("ACGT"), ignore=["A"])),
        (ValueError, "Aé", {}),
        (ValueError, "ACG", dict(alphabet=["A", "C", "é"])),
        (TypeError, list("ACGT"), {}),
        (TypeError, None, {}),
        (TypeError, b"ACGT", {}),
    ],
)
def test_one_hot_encode_raises_what_tangermeme_raises(error_type, sequence, arguments):
    assert_both_raise(error_type, lambda: one_hot_encode(sequence, **arguments),
                      lambda: tm_one_hot_encode(sequence, **arguments))


def test_lowercase_and_iupac_codes_differ_on_purpose():
    # tangermeme raises; seqlift encodes soft-masked bases and makes IUPAC codes all-zero columns.
    for sequence in ("acgt", "ACRT"):
        assert isinstance(outcome(lambda s=sequence: tm_one_hot_encode(s))[1], ValueError)
    assert torch.equal(one_hot_encode("acgt"), tm_one_hot_encode("ACGT"))
    assert torch.equal(one_hot_encode("ACRT"), tm_one_hot_encode("ACNT"))


PWM_WITH_TIE = torch.tensor([[0.7, 0.1, 0.0], [0.1, 0.4, 0.0], [0.1, 0.4, 0.0], [0.1, 0.1, 0.0]])


@pytest.mark.parametrize(
    ("pwm", "arguments"),
    [
        (tm_one_hot_encode("ACGTNNGATN"), {}),
        (tm_one_hot_encode("ACGTNNGATN"), dict(allow_N=True)),
        (tm_one_hot_encode("ACGTNNGATN"), dict(force=True)),
        (tm_one_hot_encode("GATTACA"), {}),
        (tm_one_hot_encode("GATTACA").numpy(), {}),
        (tm_one_hot_encode("GATTACA").unsqueeze(0), {}),
        (PWM_WITH_TIE, {}),
        (PWM_WITH_TIE, dict(force=True)),
        (PWM_WITH_TIE, dict(allow_N=True)),
        (torch.zeros(2, 4, 3), {}),
        (torch.zeros(3, 5), {}),
        (tm_one_hot_encode("MKV", alphabet=list("AKMV")), dict(alphabet=list("AKMV"))),
    ],
)
def test_characters_reads_what_tangermeme_reads_and_raises_where_it_raises(pwm, arguments):
    assert_same_outcome(lambda: characters(pwm, **arguments),
                        lambda: tm_characters(pwm, **arguments))


# ---------------------------------------------------------------------------------------------
# Item 11: substitute and multisubstitute

X_SUBSTITUTE = torch.cat([tm_random_one_hot((3, 4, 30), random_state=5),
                          tm_one_hot_encode("ACGTN" * 6).unsqueeze(0)])


@pytest.mark.parametrize(
    ("motif", "start"),
    [
        ("GATA", None),
        ("TTNNAA", 3),
        ("CACGTG", 0),
        ("AC", 28),
        ("", None),
        (tm_one_hot_encode("GGCC").unsqueeze(0), 10),
        (torch.stack([tm_one_hot_encode(m) for m in ("AAA", "CCC", "GNG", "TTT")]), None),
    ],
)
def test_substitute_writes_what_tangermeme_writes(motif, start):
    assert_same_outcome(lambda: substitute(X_SUBSTITUTE, motif, start),
                        lambda: tm_substitute(X_SUBSTITUTE, motif, start))


@pytest.mark.parametrize(
    ("error_type", "X", "motif", "start"),
    [
        (RuntimeError, X_SUBSTITUTE, torch.stack([tm_one_hot_encode("AC")] * 3), None),
        (IndexError, X_SUBSTITUTE, "AC", 2.0),
        (ValueError, X_SUBSTITUTE, "A" * 31, None),
        (ValueError, X_SUBSTITUTE, "AAA", 28),
        (ValueError, X_SUBSTITUTE, "AAA", -1),
        (ValueError, X_SUBSTITUTE, "AZ", None),
        (ValueError, X_SUBSTITUTE, torch.zeros(1, 5, 2), None),
        (ValueError, X_SUBSTITUTE * 2, "AC", None),
        (ValueError, "ACGTACGT", "AC", None),
        (ValueError, X_SUBSTITUTE.numpy(), "AC", None),
    ],
)
def test_substitute_raises_what_tangermeme_raises(error_type, X, motif, start):
    assert_both_raise(error_type, lambda: substitute(X, motif, start),
                      lambda: tm_substitute(X, motif, start))


@pytest.mark.parametrize(
    ("motifs", "spacing", "start"),
    [
        (["GATA", "CAGT"], 3, None),
        (["AC", "GNT", "TTT"], [0, 5], None),
        (["AC", "GNT", "TTT"], [2, 1], 4),
        (["CCCC"], [], 7),
        ("ACG", 2, None),
    ],
)
def test_multisubstitute_takes_tangermemes_positional_order(motifs, spacing, start):
    assert_same_outcome(lambda: multisubstitute(X_SUBSTITUTE, motifs, spacing, start),
                        lambda: tm_multisubstitute(X_SUBSTITUTE, motifs, spacing, start))


@pytest.mark.parametrize(
    ("error_type", "motifs", "spacing", "start"),
    [
        (ValueError, ["AC", "GT"], [1, 2], None),
        (ValueError, [], 1, None),
        (ValueError, ["AC", "GT"], [-1], None),
        (ValueError, ["AC", "GT"], [30], None),
        (ValueError, ["A" * 15, "C" * 15], 5, None),
        (ValueError, ["AAAA", "CCCC"], 1, 25),
        (IndexError, ["AC", "GT"], [1.5], None),
        (IndexError, ["AC", "GT"], 1, 2.0),
    ],
)
def test_multisubstitute_raises_what_tangermeme_raises(error_type, motifs, spacing, start):
    assert_both_raise(error_type, lambda: multisubstitute(X_SUBSTITUTE, motifs, spacing, start),
                      lambda: tm_multisubstitute(X_SUBSTITUTE, motifs, spacing, start))


# ---------------------------------------------------------------------------------------------
# Item 12: plot_logo's colours

SCORES = np.zeros((4, 6))
SCORES[0, 0], SCORES[1, 1], SCORES[2, 2], SCORES[3, 3], SCORES[0, 4], SCORES[1, 5] = (
    1.0, 2.0, -1.0, 0.5, 1.5, -0.7
)


def colours_by_position(plot, **arguments) -> dict[int, tuple[float, ...]]:
    """x position -> RGBA of its letter (one letter per position here), from either plot."""
    figure, ax = plt.subplots()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plot(SCORES, ax=ax, **arguments)
        drawn = {}
        for collection in ax.collections:  # tangermeme: one PathCollection of all letters
            for path, colour in zip(collection.get_paths(), collection.get_facecolors(),
                                    strict=True):
                box = path.get_extents()
                drawn[round(box.x0 + box.width / 2 - 0.475)] = tuple(np.round(colour, 6))
        for patch in ax.patches:  # seqlift (logomaker): one patch per letter
            box = patch.get_path().get_extents(patch.get_transform() - ax.transData)
            drawn[round((box.x0 + box.x1) / 2)] = tuple(np.round(patch.get_facecolor(), 6))
        return drawn
    finally:
        plt.close(figure)


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        dict(color="purple"),
        dict(color={"A": "red", "C": "black", "G": "yellow", "T": "blue"}),
        dict(color=np.arange(6.0)),
        dict(color=np.arange(6.0), color_cmap="magma", color_vmin=2, color_vmax=4),
        dict(color=[0.5, 0.1, 0.9, 0.3, 0.7, 0.2], color_cmap="coolwarm"),
        dict(color=["red", "blue", "green", "k", "y", "#123456"]),
        dict(color=np.random.RandomState(0).rand(6, 4)),
        dict(color=np.random.RandomState(1).rand(6, 3)),
        dict(color=[1.0, 2.0]),  # the wrong length: a warning and the default colours
    ],
)
def test_plot_logo_colours_every_letter_as_tangermeme_does(arguments):
    assert colours_by_position(plot_logo, **arguments) == colours_by_position(tm_plot_logo,
                                                                              **arguments)


def test_plot_logo_cuts_colours_with_the_window_but_keeps_the_original_positions():
    arguments = dict(color=np.random.RandomState(0).rand(6, 4), start=2, end=5)
    ours = colours_by_position(plot_logo, **arguments)
    theirs = colours_by_position(tm_plot_logo, **arguments)
    # On purpose: seqlift draws position 2 at x = 2, tangermeme at x = 0.
    assert ours == {position + 2: colour for position, colour in theirs.items()}


def test_plot_logo_warns_in_both_for_colours_of_the_wrong_length():
    for plot in (plot_logo, tm_plot_logo):
        figure, ax = plt.subplots()
        with pytest.warns(UserWarning, match="length 2"):
            plot(SCORES, ax=ax, color=[1.0, 2.0])
        plt.close(figure)


def test_plot_logo_leaves_out_the_letters_tangermeme_leaves_out():
    scores = SCORES.copy()
    scores[2, 2] = 0.01  # below 2% of the largest score (2.0)
    for min_height_pct in (0.02, 0.3):
        drawn = []
        for plot in (plot_logo, tm_plot_logo):
            figure, ax = plt.subplots()
            plot(scores, ax=ax, min_height_pct=min_height_pct)
            drawn.append(len(ax.patches) or sum(len(c.get_paths()) for c in ax.collections))
            plt.close(figure)
        assert drawn[0] == drawn[1]


def test_plot_logo_cuts_with_start_or_end_alone_where_tangermeme_needs_both():
    ours = colours_by_position(plot_logo, start=3)
    theirs = colours_by_position(tm_plot_logo, start=3)
    assert sorted(ours) == [3, 4, 5] and sorted(theirs) == [0, 1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# The rest of the README's table


def test_packed_sequences_are_refused_with_what_to_use_instead():
    from tangermeme.utils import PackedSequence

    X = encode("ACAGATCAGATTGCA")
    assert isinstance(tm_dinucleotide_shuffle(X, n=2, random_state=0, return_packed=True),
                      PackedSequence)
    with pytest.raises(NotImplementedError, match="dinucleotide_shuffle_codes"):
        dinucleotide_shuffle(X, n=2, random_state=0, return_packed=True)
    assert isinstance(tm_one_hot_encode("ACGT", return_packed=True), PackedSequence)
    with pytest.raises(NotImplementedError, match="sequence_to_codes"):
        one_hot_encode("ACGT", return_packed=True)


def test_characters_writes_n_only_for_all_zero_columns_not_for_zero_sums():
    scores = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert tm_characters(scores, allow_N=True) == "NN"
    assert characters(scores, allow_N=True) == "AN"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: characters(tm_one_hot_encode("GATTACA"), "ACGT"),
         lambda: tm_characters(tm_one_hot_encode("GATTACA"), "ACGT")),
        (lambda: multisubstitute(X_SUBSTITUTE, ["AC", "GT"], (1,)),
         lambda: tm_multisubstitute(X_SUBSTITUTE, ["AC", "GT"], (1,))),
        (lambda: multisubstitute(X_SUBSTITUTE, ["AC", "GT"], np.int64(1)),
         lambda: tm_multisubstitute(X_SUBSTITUTE, ["AC", "GT"], np.int64(1))),
        (lambda: substitute(X_SUBSTITUTE, tm_one_hot_encode("GGCC")),
         lambda: tm_substitute(X_SUBSTITUTE, tm_one_hot_encode("GGCC"))),
        (lambda: one_hot_encode("ACGT", dtype="float32"),
         lambda: tm_one_hot_encode("ACGT", dtype="float32")),
        (lambda: dinucleotide_shuffle(X_SMALL, n=2, random_state=2**70),
         lambda: tm_dinucleotide_shuffle(X_SMALL, n=2, random_state=2**70)),
    ],
)
def test_harmless_inputs_tangermeme_refuses_are_accepted(ours, theirs):
    assert outcome(theirs)[1] is not None
    assert outcome(ours)[1] is None


def test_a_span_past_the_end_and_a_repeated_alphabet_letter_are_refused():
    # tangermeme clips the span and lets the last of two equal letters win.
    assert tm_dinucleotide_shuffle(X_SMALL, end=40, n=2, random_state=0).shape == (2, 2, 4, 15)
    with pytest.raises(ValueError, match="not a span"):
        dinucleotide_shuffle(X_SMALL, end=40, n=2, random_state=0)
    assert tm_one_hot_encode("AC", alphabet=list("ACA"), ignore=[]).tolist() == [[0, 0], [0, 1],
                                                                                [1, 0]]
    with pytest.raises(ValueError, match="repeats a character"):
        one_hot_encode("AC", alphabet=list("ACA"), ignore=[])

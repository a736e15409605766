"""seqlift against tangermeme 1.6.0 itself: the sequence tools (issue 10, items 6 and 8-12) and
``deep_lift_shap`` (its seven ``deep_lift_shap`` items).

Each test gives the same inputs to both: deterministic functions must give the same outputs
(``deep_lift_shap``: the same references, attributions within 1e-5 of the largest), or raise
exceptions of the type tangermeme raises; the shuffles (seqlift keeps its own exact, faster
random stream) must have the same properties. What differs on purpose is asserted as such here
and listed in the README ("What still differs from tangermeme, on purpose"), so a new tangermeme
release that changes any of it fails a test instead of surprising a user.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from tangermeme.deep_lift_shap import deep_lift_shap as tm_deep_lift_shap  # noqa: E402
from tangermeme.ersatz import dinucleotide_shuffle as tm_dinucleotide_shuffle  # noqa: E402
from tangermeme.ersatz import multisubstitute as tm_multisubstitute  # noqa: E402
from tangermeme.ersatz import substitute as tm_substitute  # noqa: E402
from tangermeme.plot import plot_logo as tm_plot_logo  # noqa: E402
from tangermeme.utils import characters as tm_characters  # noqa: E402
from tangermeme.utils import one_hot_encode as tm_one_hot_encode  # noqa: E402
from tangermeme.utils import random_one_hot as tm_random_one_hot  # noqa: E402
from torch import nn  # noqa: E402
from zoo.oracles import relative_difference  # noqa: E402

from seqlift import deep_lift_shap  # noqa: E402
from seqlift.engine.api import ArgsLengthError, ReferencesError  # noqa: E402
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
    "deep_lift_shap": (deep_lift_shap, tm_deep_lift_shap),
}

# Defaults that differ on purpose (README table): (seqlift's, tangermeme's).
DIFFERENT_DEFAULTS = {
    ("one_hot_encode", "ignore"): (None, "N"),  # None: N and the other IUPAC codes
    ("dinucleotide_shuffle", "n_jobs"): (None, 1),  # None: numba's thread count
    # seqlift's own exact shuffle (its own random stream).
    ("deep_lift_shap", "references"): (dinucleotide_shuffle, tm_dinucleotide_shuffle),
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


# ---------------------------------------------------------------------------------------------
# deep_lift_shap (issue 10, its deep_lift_shap items 1-7). Models are tangermeme's toy
# architectures (tests/toy_models.py in its repository), rebuilt here with seeded weights.

LENGTH = 100
N_REFERENCES = 3


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    from seqlift.zoo import seeded_init

    return seeded_init(module, seed).eval()


class FlattenDense(nn.Module):
    """A dense layer over the flattened sequence, scaled by ``beta`` and shifted by ``alpha``."""

    def __init__(self, n_outputs: int = 3) -> None:
        super().__init__()
        self.dense = nn.Linear(4 * LENGTH, n_outputs)

    def forward(self, X, alpha=None, beta=None):
        y = self.dense(X.flatten(1))
        return y * (1 if beta is None else beta) + (0 if alpha is None else alpha)


class ConvAvgDense(nn.Module):
    """Convolution, ReLU, mean over the length, dense."""

    def __init__(self, n_outputs: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 12, 3)
        self.relu = nn.ReLU()
        self.dense = nn.Linear(12, n_outputs)

    def forward(self, X):
        return self.dense(self.relu(self.conv(X)).mean(dim=-1))


class ConvPoolDense(nn.Module):
    """Two blocks of convolution, ReLU and max-pool, then dense."""

    def __init__(self, n_outputs: int = 3) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv1d(4, 16, 3, padding="same"), nn.ReLU(),
                                    nn.MaxPool1d(3))
        self.block2 = nn.Sequential(nn.Conv1d(16, 8, 5, padding="same"), nn.ReLU(),
                                    nn.MaxPool1d(3))
        self.dense = nn.Linear(8 * (LENGTH // 9), n_outputs)

    def forward(self, X):
        return self.dense(self.block2(self.block1(X)).flatten(1))


class SmallDeepSEA(nn.Module):
    """Convolution, max-pool, ReLU twice, then dense, ReLU, dense."""

    def __init__(self, n_outputs: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(4, 32, 3, padding="same"), nn.MaxPool1d(3), nn.ReLU(),
            nn.Conv1d(32, 16, 3, padding="same"), nn.MaxPool1d(3), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Linear(16 * (LENGTH // 9), 20), nn.ReLU(),
                                  nn.Linear(20, n_outputs))

    def forward(self, X):
        return self.head(self.features(X).flatten(1))


TOY_MODELS = {
    "flatten_dense": lambda: seeded(FlattenDense()),
    "conv_avg_dense": lambda: seeded(ConvAvgDense()),
    "conv_pool_dense": lambda: seeded(ConvPoolDense()),
    "small_deepsea": lambda: seeded(SmallDeepSEA()),
}

X_DLS = tm_random_one_hot((3, 4, LENGTH), random_state=0).float()
R_DLS = tm_dinucleotide_shuffle(X_DLS, n=N_REFERENCES, random_state=1)


@functools.cache
def toy(name: str) -> nn.Module:
    return TOY_MODELS[name]()


def both(model, X, *positional, **arguments):
    """``(seqlift's, tangermeme's)`` outcomes of the same call: ``(value, None)`` or
    ``(None, exception)``; the convergence warnings are not the point."""
    return tuple(outcome(lambda f=f: f(model, X, *positional, **arguments))
                 for f in (deep_lift_shap, tm_deep_lift_shap))


def same_numbers(model, X, *positional, **arguments):
    """Run both; the same references (when returned) and attributions within 1e-5 relative."""
    (ours, our_error), (theirs, their_error) = both(model, X, *positional, **arguments)
    assert their_error is None and our_error is None, (their_error, our_error)
    if isinstance(theirs, tuple):
        assert type(ours).__name__ == type(theirs).__name__ and ours._fields == theirs._fields
        assert torch.equal(ours.references, theirs.references)
        ours, theirs = ours.attributions, theirs.attributions
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert relative_difference(ours, theirs) <= 1e-5
    return ours


SEEDED = dict(references=tm_dinucleotide_shuffle, n_shuffles=N_REFERENCES, random_state=7,
              device="cpu")


# Item 2 (and the deliverable): tangermeme's shuffle and seed give tangermeme's numbers.


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 32])
@pytest.mark.parametrize("name", TOY_MODELS)
def test_tangermemes_shuffle_and_seed_give_tangermemes_references_and_attributions(
    name, batch_size
):
    same_numbers(toy(name), X_DLS, **{**SEEDED, "target": 2, "batch_size": batch_size,
                                      "return_references": True})


@pytest.mark.parametrize("mode", [dict(hypothetical=True), dict(raw_outputs=True),
                                  dict(references=R_DLS, return_references=True)])
def test_hypothetical_raw_outputs_and_a_references_tensor_give_tangermemes_numbers(mode):
    same_numbers(toy("small_deepsea"), X_DLS, **{**SEEDED, "batch_size": 4, **mode})


def _bpnet_counts() -> nn.Module:
    from seqlift.zoo import BPNetStyle, CountWrapper

    return CountWrapper(BPNetStyle(n_filters=32, n_layers=4, seed=0)).eval()


def _beluga() -> nn.Module:
    from seqlift.zoo import Beluga

    return Beluga(seed=0).eval()


# name -> (model, input length, target)
LARGE_MODELS = {"bpnet_style_counts": (_bpnet_counts, 400, 0), "beluga": (_beluga, 2000, 1000)}


@functools.cache
def large(name: str):
    build, length, target = LARGE_MODELS[name]
    return build(), tm_random_one_hot((2, 4, length), random_state=3).float(), target


@pytest.mark.parametrize("batch_size", [1, 3, 32])
@pytest.mark.parametrize("name", [
    "bpnet_style_counts", pytest.param("beluga", marks=pytest.mark.slow),
])
def test_bpnet_and_beluga_get_tangermemes_numbers_for_every_batch_size(name, batch_size):
    model, X, target = large(name)
    same_numbers(model, X, target=target, batch_size=batch_size,
                 references=tm_dinucleotide_shuffle, n_shuffles=2, random_state=5, device="cpu",
                 return_references=True)


def record_calls(calls: list):
    """A reference function that records how it is called and draws tangermeme's shuffles."""

    def references(X, n, **keywords):
        calls.append((tuple(X.shape), X.dtype, X.device.type, X.tolist(), n, keywords))
        return tm_dinucleotide_shuffle(X, n=n, **keywords)

    return references


def test_a_reference_function_is_called_once_per_reference_as_tangermeme_calls_it_when_seeded():
    calls = {}
    for f in (deep_lift_shap, tm_deep_lift_shap):
        calls[f] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f(toy("conv_avg_dense"), X_DLS, batch_size=4, references=record_calls(calls[f]),
              n_shuffles=N_REFERENCES, random_state=7, device="cpu")
    # f(X[j:j+1], n=1, random_state=7 + k) for reference k of example j, in that order.
    assert calls[deep_lift_shap] == calls[tm_deep_lift_shap]
    assert [(c[0], c[4], c[5]) for c in calls[deep_lift_shap]] == [
        ((1, 4, LENGTH), 1, {"random_state": 7 + k}) for _ in range(3) for k in range(3)
    ]


def test_an_unseeded_reference_function_gets_the_rows_of_the_pairs_with_n_1_and_no_seed():
    rows = {}
    for f in (deep_lift_shap, tm_deep_lift_shap):
        calls = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f(toy("conv_avg_dense"), X_DLS, batch_size=4, references=record_calls(calls),
              n_shuffles=N_REFERENCES, device="cpu")
        assert {(c[4], tuple(c[5])) for c in calls} == {(1, ())}
        # Each example, once per reference (the batches of calls differ: ours are larger).
        rows[f] = sorted(str(row) for c in calls for row in c[3])
    assert rows[deep_lift_shap] == rows[tm_deep_lift_shap]
    assert rows[deep_lift_shap] == sorted(str(x) for x in X_DLS.tolist() for _ in range(3))


def test_a_function_of_x_and_n_alone_runs_unseeded_and_raises_type_error_seeded_in_both():
    def shuffles(X, n):
        return tm_dinucleotide_shuffle(X, n=n)

    model = toy("conv_avg_dense")
    (ours, _), (theirs, _) = both(model, X_DLS, references=shuffles, n_shuffles=2, device="cpu")
    assert ours.shape == theirs.shape == X_DLS.shape
    assert_both_raise(
        TypeError,
        lambda: deep_lift_shap(model, X_DLS, references=shuffles, random_state=0, device="cpu"),
        lambda: tm_deep_lift_shap(model, X_DLS, references=shuffles, random_state=0,
                                  device="cpu"),
    )


def test_a_function_that_draws_one_reference_per_call_gives_n_shuffles_of_them_in_both():
    def one_shuffle(X, n, random_state):
        return tm_dinucleotide_shuffle(X, n=1, random_state=random_state)

    multipliers = same_numbers(
        toy("small_deepsea"), X_DLS, references=one_shuffle, n_shuffles=5, random_state=0,
        device="cpu", return_references=True, raw_outputs=True,
    )
    assert multipliers.shape == (3, 5, 4, LENGTH)


@pytest.mark.parametrize(
    ("label", "returned", "error_type"),
    [
        ("X itself, without a reference axis", lambda X: X, RuntimeError),
        ("the wrong length", lambda X: torch.zeros(X.shape[0], 1, 4, LENGTH - 1), RuntimeError),
        ("the wrong number of rows", lambda X: torch.zeros(2, 1, 4, LENGTH), RuntimeError),
        ("a numpy array", lambda X: np.zeros((X.shape[0], 1, 4, LENGTH), np.float32),
         TypeError),
    ],
)
def test_a_reference_function_that_returns_the_wrong_thing_raises_what_tangermeme_raises(
    label, returned, error_type
):
    def references(X, n, random_state):
        return returned(X)

    arguments = dict(references=references, random_state=0, device="cpu")
    model = toy("conv_avg_dense")
    assert_both_raise(error_type, lambda: deep_lift_shap(model, X_DLS, **arguments),
                      lambda: tm_deep_lift_shap(model, X_DLS, **arguments))


def test_several_references_for_n_1_are_refused_where_tangermeme_keeps_the_first():
    def five_shuffles(X, n, random_state):
        return tm_dinucleotide_shuffle(X, n=5, random_state=random_state)

    (_, our_error), (theirs, their_error) = both(toy("conv_avg_dense"), X_DLS,
                                                 references=five_shuffles, **{
                                                     k: v for k, v in SEEDED.items()
                                                     if k != "references"})
    assert their_error is None and theirs.shape == X_DLS.shape
    assert isinstance(our_error, ReferencesError)
    assert "returned shape (1, 5, 4, 100)" in str(our_error)
    assert "expected (1, 1, 4, 100)" in str(our_error)


def test_a_probability_baseline_from_a_function_gives_tangermemes_numbers():
    def quarter(X, n, random_state=None):
        return torch.full((X.shape[0], n, *X.shape[1:]), 0.25)

    for random_state in (0, None):
        same_numbers(toy("small_deepsea"), X_DLS, references=quarter, n_shuffles=2,
                     random_state=random_state, device="cpu")


def test_values_that_are_no_distribution_over_the_bases_are_refused_unless_only_warn():
    def doubled(X, n, random_state):
        return 2 * tm_dinucleotide_shuffle(X, n=n, random_state=random_state)

    arguments = {**SEEDED, "references": doubled}
    (_, our_error), (theirs, their_error) = both(toy("small_deepsea"), X_DLS, **arguments)
    assert their_error is None and isinstance(our_error, ValueError)
    assert "not a one-hot encoding or a distribution" in str(our_error)
    with pytest.warns(UserWarning, match="not a one-hot encoding or a distribution"):
        ours = deep_lift_shap(toy("small_deepsea"), X_DLS, only_warn=True,
                              warning_threshold=math.inf, **arguments)
    assert relative_difference(ours, theirs) <= 1e-5


# Item 1: an int seed means tangermeme's "reference k is drawn with seed random_state + k".


def test_an_int_seed_draws_reference_k_of_every_example_with_seed_plus_k():
    expected = torch.stack([
        torch.cat([tm_dinucleotide_shuffle(X_DLS[j:j + 1], n=1, random_state=5 + k)[0]
                   for k in range(N_REFERENCES)])
        for j in range(len(X_DLS))
    ])
    (ours, _), (theirs, _) = both(toy("small_deepsea"), X_DLS, **{
        **SEEDED, "random_state": 5, "return_references": True})
    assert torch.equal(theirs.references, expected) and torch.equal(ours.references, expected)
    # seqlift's own shuffle means the same, with its own stream.
    own = deep_lift_shap(toy("small_deepsea"), X_DLS, n_shuffles=N_REFERENCES, random_state=5,
                         device="cpu", return_references=True).references
    for k in range(N_REFERENCES):
        assert torch.equal(own[:, k], dinucleotide_shuffle(X_DLS, n=1, random_state=5 + k)[:, 0])


@pytest.mark.parametrize("references", [tm_dinucleotide_shuffle, dinucleotide_shuffle],
                         ids=["tangermeme's shuffle", "seqlift's shuffle"])
def test_with_an_int_seed_a_slice_gets_what_the_whole_gives_it(references):
    arguments = dict(references=references, n_shuffles=N_REFERENCES, random_state=0,
                     device="cpu", return_references=True)
    libraries = [deep_lift_shap]
    if references is tm_dinucleotide_shuffle:  # so that a tangermeme that changes shows up
        libraries.append(tm_deep_lift_shap)
    for f in libraries:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = f(toy("small_deepsea"), X_DLS, **arguments)
            part = f(toy("small_deepsea"), X_DLS[1:3], **arguments)
        assert torch.equal(part.references, whole.references[1:3])
        assert relative_difference(part.attributions, whole.attributions[1:3]) <= 1e-6


@pytest.mark.parametrize("references", [tm_dinucleotide_shuffle, dinucleotide_shuffle],
                         ids=["tangermeme's shuffle", "seqlift's shuffle"])
def test_a_sequence_of_seeds_gives_each_example_what_its_seed_gives_it_alone(references):
    seeds = [11, 40, 7]
    arguments = dict(references=references, n_shuffles=N_REFERENCES, device="cpu",
                     return_references=True)
    model = toy("small_deepsea")
    batch = deep_lift_shap(model, X_DLS, random_state=seeds, **arguments)
    for j, seed in enumerate(seeds):
        alone = deep_lift_shap(model, X_DLS[j:j + 1], random_state=seed, **arguments)
        assert torch.equal(batch.references[j], alone.references[0])
        assert relative_difference(batch.attributions[j], alone.attributions[0]) <= 1e-6
    if references is tm_dinucleotide_shuffle:
        alone = tm_deep_lift_shap(model, X_DLS[1:2], random_state=seeds[1], **arguments)
        assert torch.equal(batch.references[1], alone.references[0])
        # On purpose: tangermeme takes an int only.
        assert isinstance(outcome(lambda: tm_deep_lift_shap(
            model, X_DLS, random_state=seeds, **arguments))[1], TypeError)


# Item 3: tangermeme's positional order, only_warn included (the signature test above checks
# the names, the defaults and that seqlift's extras are keyword-only).


def test_every_positional_argument_means_what_it_means_in_tangermeme():
    # only_warn=True (14th) lets X * 2 through with a warning in both; a shift would break it.
    positional = (None, 1, 4, R_DLS, 20, True, True, math.inf, None, False, False, True,
                  torch.float32, "cpu", 9, False)
    same_numbers(toy("small_deepsea"), X_DLS * 2, *positional)


# Item 4: one-hot checks.

NOT_ONE_HOT = {
    "X holds 2s": (X_DLS * 2, R_DLS),
    "X holds 0.5": (X_DLS * 0.5, R_DLS),
    "X has two 1s in a column": (X_DLS.clone().index_fill_(2, torch.tensor([4]), 1.0), R_DLS),
    "references hold 2s": (X_DLS, R_DLS * 2),
    "references are 0.25 everywhere": (X_DLS, torch.full_like(R_DLS, 0.25)),
}


@pytest.mark.parametrize("label", NOT_ONE_HOT)
def test_input_that_is_not_one_hot_raises_a_value_error_in_both_or_warns_with_only_warn(label):
    X, references = NOT_ONE_HOT[label]
    model = toy("small_deepsea")
    assert_both_raise(
        ValueError,
        lambda: deep_lift_shap(model, X, references=references, device="cpu"),
        lambda: tm_deep_lift_shap(model, X, references=references, device="cpu"),
    )
    for f in (deep_lift_shap, tm_deep_lift_shap):
        with pytest.warns(UserWarning, match="one-hot"):
            f(model, X, references=references, device="cpu", only_warn=True,
              warning_threshold=math.inf)
    same_numbers(model, X, references=references, device="cpu", only_warn=True)


def test_unknown_bases_are_all_zero_columns_in_references_in_both_and_in_x_in_seqlift():
    X = X_DLS.clone()
    X[:, :, 10:14] = 0
    references = R_DLS.clone()
    references[:, :, :, 50:52] = 0
    model = toy("small_deepsea")
    same_numbers(model, X_DLS, references=references, device="cpu")
    # On purpose: tangermeme refuses N in X (genomic windows have them); its only_warn numbers
    # are ours.
    assert isinstance(both(model, X, references=references, device="cpu")[1][1], ValueError)
    ours = deep_lift_shap(model, X, references=references, device="cpu")
    assert (ours[:, :, 10:14] == 0).all()
    with pytest.warns(UserWarning, match="unknown characters"):
        theirs = tm_deep_lift_shap(model, X, references=references, device="cpu",
                                   only_warn=True)
    assert relative_difference(ours, theirs) <= 1e-5


# Item 5: return_references gives tangermeme's named tuple (same_numbers checks the type's
# name and fields).


def test_return_references_gives_tangermemes_named_tuple():
    (ours, _), (theirs, _) = both(toy("conv_pool_dense"), X_DLS, **SEEDED,
                                  return_references=True)
    assert ours._fields == theirs._fields == ("attributions", "references")
    attributions, references = ours
    assert attributions is ours.attributions and references is ours.references
    assert torch.equal(ours.references, theirs.references)
    assert ours.references.dtype == theirs.references.dtype


def test_return_deltas_adds_a_field_of_its_own():
    result = deep_lift_shap(toy("conv_pool_dense"), X_DLS, references=R_DLS, device="cpu",
                            return_deltas=True, return_references=True)
    assert result._fields == ("attributions", "references", "deltas")
    assert result.deltas.shape == (3, N_REFERENCES)
    assert deep_lift_shap(toy("conv_pool_dense"), X_DLS, references=R_DLS, device="cpu",
                          return_deltas=True)._fields == ("attributions", "deltas")


# Item 6: tangermeme's exception types.

ALPHA = torch.randn(3, 1, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("label", "error_type", "arguments"),
    [
        ("n_shuffles is 0", RuntimeError, dict(n_shuffles=0)),
        ("n_shuffles is negative", RuntimeError, dict(n_shuffles=-2)),
        ("n_shuffles is a float", TypeError, dict(n_shuffles=2.0)),
        ("references hold none per example", RuntimeError,
         dict(references=torch.zeros(3, 0, 4, LENGTH))),
        ("references for other examples", ValueError,
         dict(references=torch.zeros(2, 3, 4, LENGTH))),
        ("references are 3-d", ValueError, dict(references=torch.zeros(3, 4, LENGTH))),
        ("references are a numpy array", TypeError,
         dict(references=np.zeros((3, 3, 4, LENGTH)))),
        ("references are a str", TypeError, dict(references="dinucleotide_shuffle")),
        ("X is a numpy array", ValueError, dict(X=X_DLS.numpy())),
        ("X is 2-d", ValueError, dict(X=X_DLS[0])),
        ("X holds no examples", ValueError, dict(X=X_DLS[:0])),
        ("args has too few rows", IndexError,
         dict(model=seeded(FlattenDense()), args=(ALPHA[:2],))),
        ("target is out of range", IndexError, dict(target=5)),
        ("target is a float", IndexError, dict(target=1.0)),
        ("target is a str", TypeError, dict(target="1")),
        ("random_state is a float", ValueError, dict(random_state=1.5)),
        ("random_state is a str", TypeError, dict(random_state="1")),
        ("random_state is a RandomState", TypeError,
         dict(random_state=np.random.RandomState(0))),
    ],
)
def test_deep_lift_shap_raises_what_tangermeme_raises(label, error_type, arguments):
    arguments = {"model": toy("small_deepsea"), "X": X_DLS, **SEEDED, **arguments}
    assert_both_raise(error_type, lambda: deep_lift_shap(**arguments),
                      lambda: tm_deep_lift_shap(**arguments))


def test_args_of_the_wrong_length_are_named_as_the_problem():
    model = seeded(FlattenDense())
    with pytest.raises(ArgsLengthError) as raised:
        deep_lift_shap(model, X_DLS, args=(ALPHA[:2],), references=R_DLS, device="cpu")
    message = str(raised.value)
    assert "args[0] has shape (2, 1)" in message and "one row per example" in message
    assert "expects length" not in message
    same_numbers(model, X_DLS, args=(ALPHA, 2 + ALPHA), target=1, references=R_DLS,
                 device="cpu")


# Item 7: integer scalars of numpy and torch as targets.


@pytest.mark.parametrize("target", [np.int64(1), np.int32(1), torch.tensor(1), -2],
                         ids=["numpy int64", "numpy int32", "0-d tensor", "negative int"])
def test_integer_scalars_of_numpy_and_torch_are_targets_as_in_tangermeme(target):
    same_numbers(toy("conv_pool_dense"), X_DLS, target=target, **SEEDED)


def test_a_list_of_targets_stacks_what_tangermeme_gives_one_target_at_a_time():
    targets = [np.int64(2), torch.tensor(0), 1]
    ours = deep_lift_shap(toy("conv_pool_dense"), X_DLS, target=targets, **SEEDED)
    assert ours.shape == (3, *X_DLS.shape)
    for index, target in enumerate(targets):
        theirs = tm_deep_lift_shap(toy("conv_pool_dense"), X_DLS, target=target, **SEEDED)
        assert relative_difference(ours[index], theirs) <= 1e-5
    # On purpose: tangermeme has no target list (its projection fails on one).
    assert isinstance(both(toy("conv_pool_dense"), X_DLS, target=[0, 1], **SEEDED)[1][1],
                      RuntimeError)


# The rest of the README's table for deep_lift_shap.


def test_seqlifts_own_shuffle_is_the_default_with_its_own_stream():
    arguments = dict(n_shuffles=N_REFERENCES, random_state=0, device="cpu",
                     return_references=True)
    (ours, _), (theirs, _) = both(toy("small_deepsea"), X_DLS, **arguments)
    assert not torch.equal(ours.references, theirs.references)
    for result in (ours, theirs):
        for sequence, shuffles in zip(strings(X_DLS[:, None]), strings(result.references),
                                      strict=True):
            for shuffled in shuffles:
                assert dinucleotides(shuffled) == dinucleotides(sequence[0])


def test_a_dtype_other_than_the_models_runs_on_a_converted_copy_where_tangermeme_raises():
    model = toy("small_deepsea")
    arguments = dict(references=R_DLS, device="cpu", dtype=torch.float64)
    assert isinstance(both(model, X_DLS, **arguments)[1][1], RuntimeError)
    ours = deep_lift_shap(model, X_DLS, **arguments)
    assert ours.dtype == torch.float64 and next(model.parameters()).dtype == torch.float32
    theirs = tm_deep_lift_shap(seeded(SmallDeepSEA()).double(), X_DLS, **arguments)
    assert relative_difference(ours, theirs) <= 1e-10


@pytest.mark.parametrize(
    ("label", "arguments"),
    [
        ("batch_size is 0", dict(batch_size=0)),
        ("args has more rows than X", dict(model=seeded(FlattenDense()), args=(
            torch.cat([ALPHA, ALPHA]),))),
    ],
)
def test_arguments_tangermeme_silently_accepts_are_refused(label, arguments):
    arguments = {"model": toy("small_deepsea"), "X": X_DLS, **SEEDED, **arguments}
    assert outcome(lambda: tm_deep_lift_shap(**arguments))[1] is None
    assert isinstance(outcome(lambda: deep_lift_shap(**arguments))[1], ValueError)


@pytest.mark.parametrize("name", ["softmax_rows", "functional_ops"])
def test_softmax_and_functional_non_linearities_get_exact_rules_where_tangermemes_differ(name):
    from engine_helpers import standard_inputs
    from zoo.models import ZOO_BY_NAME

    model = ZOO_BY_NAME[name].build()
    X, references = standard_inputs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theirs = tm_deep_lift_shap(model, X, references=references, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours, deltas = deep_lift_shap(model, X, references=references, device="cpu",
                                      return_deltas=True)
    assert deltas.abs().max() <= 1e-6
    assert relative_difference(ours, theirs) > 1e-3
    # tangermeme: its own softmax split (no convergence warning either); F.relu, torch.exp, ...
    # are linear to it, and it says so.
    treated_as_linear = any("treated as linear" in str(w.message) for w in caught)
    assert treated_as_linear == (name == "functional_ops")

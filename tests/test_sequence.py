"""Spec of seqlift.sequence: one-hot encoding, byte codes and motif substitution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tangermeme.ersatz import multisubstitute as tangermeme_multisubstitute
from tangermeme.ersatz import substitute as tangermeme_substitute

from seqlift.sequence import (
    characters,
    codes_to_onehot,
    multisubstitute,
    one_hot_encode,
    onehot_to_codes,
    random_one_hot,
    substitute,
)


def test_one_hot_encode_puts_one_1_per_base_in_acgt_order():
    encoding = one_hot_encode("ACGTA")
    expected = torch.tensor(
        [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=torch.int8
    )
    assert encoding.dtype == torch.int8
    assert torch.equal(encoding, expected)


def test_lowercase_soft_masked_bases_encode_like_uppercase():
    assert torch.equal(one_hot_encode("acgtNnAcG"), one_hot_encode("ACGTNNACG"))


def test_n_and_other_iupac_codes_become_all_zero_columns():
    encoding = one_hot_encode("ANRYSWKMBDHVnrT")
    assert encoding[:, 0].tolist() == [1, 0, 0, 0]
    assert encoding[:, -1].tolist() == [0, 0, 0, 1]
    assert torch.count_nonzero(encoding[:, 1:-1]) == 0


def test_unknown_characters_raise_naming_the_character_and_position():
    with pytest.raises(ValueError, match=r"'X' at position 4"):
        one_hot_encode("ACGTXACGT")
    with pytest.raises(ValueError, match=r"'-' at position 2"):
        one_hot_encode("AC-G")
    with pytest.raises(ValueError, match=r"'é' at position 1"):
        one_hot_encode("Aé")
    with pytest.raises(TypeError, match="str"):
        one_hot_encode(list("ACGT"))


def test_one_hot_encode_dtype_and_custom_alphabet():
    assert one_hot_encode("ACGT", dtype=torch.float32).dtype == torch.float32
    assert one_hot_encode("ACGT", dtype="float64").dtype == torch.float64
    # With a custom alphabet, IUPAC letters in it are letters, not unknowns.
    protein = one_hot_encode("MKV", alphabet="AKMV")
    assert protein.argmax(dim=0).tolist() == [2, 1, 3]


def test_characters_inverts_one_hot_encode_with_n_for_zero_columns():
    sequence = "ACGTNNGATTACAN"
    assert characters(one_hot_encode(sequence)) == sequence
    assert characters(one_hot_encode(sequence).numpy()) == sequence
    assert characters(one_hot_encode(sequence).unsqueeze(0)) == sequence
    assert characters(one_hot_encode("rykm")) == "NNNN"


def test_characters_takes_the_largest_score_and_refuses_ties_unless_forced():
    pwm = torch.tensor([[0.7, 0.1], [0.1, 0.4], [0.1, 0.4], [0.1, 0.1]])
    with pytest.raises(ValueError, match="column 1"):
        characters(pwm)
    assert characters(pwm, force=True) == "AC"
    with pytest.raises(ValueError, match="rows"):
        characters(torch.zeros(3, 5))


def test_codes_round_trip_losslessly_including_n():
    X = torch.stack([one_hot_encode("ACGTNAC"), one_hot_encode("NNTTGCA")])
    codes = onehot_to_codes(X)
    assert codes.dtype == torch.uint8
    assert codes.tolist() == [[0, 1, 2, 3, 4, 0, 1], [4, 4, 3, 3, 2, 1, 0]]
    assert torch.equal(codes_to_onehot(codes, dtype=torch.int8), X)
    assert codes_to_onehot(codes).dtype == torch.float32
    # numpy in, numpy out; any leading axes.
    codes_np = onehot_to_codes(X.numpy()[None])
    assert isinstance(codes_np, np.ndarray) and codes_np.shape == (1, 2, 7)
    assert np.array_equal(codes_np[0], codes.numpy())


def test_codes_conversions_refuse_bad_input():
    X = one_hot_encode("ACGT", dtype=torch.float32)
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        onehot_to_codes(X * 0.5)
    with pytest.raises(ValueError, match="more than one 1"):
        onehot_to_codes(X + torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [0] * 4, [0] * 4]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, length\)"):
        onehot_to_codes(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="0 \\(A\\)"):
        codes_to_onehot(torch.tensor([0, 5], dtype=torch.uint8))
    with pytest.raises(ValueError, match="integers"):
        codes_to_onehot(torch.tensor([0.0, 1.0]))


def test_random_one_hot_is_one_hot_reproducible_and_follows_probs():
    X = random_one_hot((3, 4, 500), random_state=0)
    assert X.dtype == torch.int8
    assert torch.all(X.sum(dim=1) == 1)
    assert torch.equal(X, random_one_hot((3, 4, 500), random_state=0))
    assert not torch.equal(X, random_one_hot((3, 4, 500), random_state=1))

    only_g = random_one_hot((2, 4, 50), probs=[0, 0, 1, 0], random_state=0)
    assert characters(only_g[0]) == "G" * 50
    per_sequence = random_one_hot((2, 4, 20), probs=[[1, 0, 0, 0], [0, 0, 0, 1]], random_state=0)
    assert characters(per_sequence[0]) == "A" * 20 and characters(per_sequence[1]) == "T" * 20
    gc_rich = random_one_hot((1, 4, 20000), probs=[0.1, 0.4, 0.4, 0.1], random_state=3)
    gc_fraction = gc_rich[0, 1:3].sum().item() / 20000
    assert abs(gc_fraction - 0.8) < 0.01  # sd is 0.0028
    with pytest.raises(ValueError, match="sum to 1"):
        random_one_hot((1, 4, 5), probs=[0.5, 0.5, 0.5, 0])


def test_substitute_centres_the_motif_by_default_like_tangermeme():
    X = one_hot_encode("A" * 11).unsqueeze(0)
    # length // 2 - motif_length // 2 = 5 - 1 = 4
    assert characters(substitute(X, "CGT")[0]) == "AAAACGTAAAA"
    assert characters(substitute(X, "CGTC")[0]) == "AAACGTCAAAA"
    X = random_one_hot((4, 4, 30), random_state=0)
    for motif in ("GATA", "CACGTG", "TTNNAA"):
        assert torch.equal(substitute(X, motif), tangermeme_substitute(X, motif))


def test_substitute_keeps_the_original_base_under_n_and_copies_the_input():
    X = one_hot_encode("CCCCCCCC").unsqueeze(0)
    result = substitute(X, "ANNA", start=2)
    assert characters(result[0]) == "CCACCACC"
    assert characters(X[0]) == "CCCCCCCC"
    # One motif per sequence.
    X2 = X.repeat(2, 1, 1)
    motifs = torch.stack([one_hot_encode("GG"), one_hot_encode("TT")])
    assert [characters(s) for s in substitute(X2, motifs, start=0)] == ["GGCCCCCC", "TTCCCCCC"]


def test_substitute_refuses_motifs_that_do_not_fit():
    X = one_hot_encode("ACGTACGT").unsqueeze(0)
    with pytest.raises(ValueError, match="falls off"):
        substitute(X, "AAA", start=6)
    with pytest.raises(ValueError, match="longer than the sequences"):
        substitute(X, "A" * 9)
    with pytest.raises(ValueError, match="'Z' at position 1"):
        substitute(X, "AZ")


def test_multisubstitute_places_motifs_with_spacings():
    X = one_hot_encode("A" * 20).unsqueeze(0)
    result = multisubstitute(X, ["CC", "GGG", "T"], spacing=[2, 1], start=3)
    assert characters(result[0]) == "AAACCAAGGGATAAAAAAAA"
    X = random_one_hot((3, 4, 40), random_state=4)
    for motifs, spacing in ((["GATA", "CAGT"], 3), (["AC", "GNT", "TTT"], [0, 5])):
        expected = tangermeme_multisubstitute(X, motifs, spacing)
        assert torch.equal(multisubstitute(X, motifs, spacing), expected)
    with pytest.raises(ValueError, match="spacings"):
        multisubstitute(X, ["AC", "GT"], spacing=[1, 2])
    with pytest.raises(ValueError, match="does not fit"):
        multisubstitute(X, ["A" * 20, "C" * 20], spacing=5)

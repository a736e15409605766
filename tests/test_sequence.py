"""Spec of seqlift.sequence: text -> codes -> one-hot, the one-hot check, characters, random
sequences and motif substitution. (Agreement with tangermeme itself: test_tangermeme_compat.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from seqlift.sequence import (
    MotifCountError,
    PositionTypeError,
    characters,
    check_one_hot,
    codes_to_onehot,
    multisubstitute,
    one_hot_encode,
    onehot_to_codes,
    random_one_hot,
    sequence_to_codes,
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


def test_unknown_characters_raise_naming_the_character_the_position_and_the_fix():
    with pytest.raises(ValueError, match=r"'X' at position 4 .*add it to `ignore`"):
        one_hot_encode("ACGTXACGT")
    with pytest.raises(ValueError, match=r"'-' at position 2"):
        one_hot_encode("AC-G")
    with pytest.raises(ValueError, match=r"'é' at position 1"):
        one_hot_encode("Aé")
    # A character outside Latin-1 is not mistaken for the '?' it is encoded through.
    with pytest.raises(ValueError, match=r"'€' at position 1"):
        one_hot_encode("A€", alphabet="ACG?")
    with pytest.raises(TypeError, match="str"):
        one_hot_encode(list("ACGT"))


def test_n_in_the_alphabet_needs_an_ignore_without_it():
    with pytest.raises(ValueError, match=r"N is in the alphabet 'ACGTN' .*ignore=\[\]"):
        one_hot_encode("ACGTN", alphabet="ACGTN")
    assert one_hot_encode("ANT", alphabet="ACGTN", ignore=[]).tolist() == [
        [1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 0]
    ]
    with pytest.raises(ValueError, match=r"\['N'\] are both in the alphabet"):
        one_hot_encode("ACGTN", alphabet="ACGTN", ignore="N")
    with pytest.raises(ValueError, match="repeats a character"):
        one_hot_encode("AC", alphabet="ACA", ignore=[])


def test_one_hot_encode_dtype_and_custom_alphabet():
    assert one_hot_encode("ACGT", dtype=torch.float32).dtype == torch.float32
    assert one_hot_encode("ACGT", dtype="float64").dtype == torch.float64
    assert one_hot_encode("ACGT", dtype=np.int16).dtype == torch.int16
    # With a custom alphabet, IUPAC letters in it are letters, not unknowns.
    protein = one_hot_encode("MKV", alphabet="AKMV")
    assert protein.argmax(dim=0).tolist() == [2, 1, 3]
    assert one_hot_encode("", alphabet="ACGT").shape == (4, 0)


def test_one_hot_encode_has_no_packed_result_and_says_what_to_use():
    with pytest.raises(NotImplementedError, match="sequence_to_codes"):
        one_hot_encode("ACGT", return_packed=True)


def test_sequence_to_codes_maps_acgt_in_either_case_and_everything_else_to_4():
    codes = sequence_to_codes("ACGTacgtNnRx-é€")
    assert codes.dtype == np.uint8
    assert codes.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4]
    assert sequence_to_codes("").shape == (0,)
    with pytest.raises(TypeError, match="str"):
        sequence_to_codes(b"ACGT")


def test_one_hot_encode_is_codes_to_onehot_of_sequence_to_codes():
    sequence = "GATTACAnnRACGTacgy"
    assert torch.equal(
        one_hot_encode(sequence), codes_to_onehot(sequence_to_codes(sequence), dtype=torch.int8)
    )


def test_characters_inverts_one_hot_encode_writing_n_for_zero_columns_with_allow_n():
    sequence = "ACGTNNGATTACAN"
    encoding = one_hot_encode(sequence)
    assert characters(encoding, allow_N=True) == sequence
    assert characters(encoding.numpy(), allow_N=True) == sequence
    assert characters(encoding.unsqueeze(0), allow_N=True) == sequence
    assert characters(one_hot_encode("rykm"), allow_N=True) == "NNNN"
    assert characters(one_hot_encode("GATTACA")) == "GATTACA"


def test_characters_refuses_all_zero_columns_unless_allow_n_or_force():
    encoding = one_hot_encode("ANG")
    with pytest.raises(ValueError, match=r"column 1 of pwm is all zero .*allow_N=True"):
        characters(encoding)
    assert characters(encoding, allow_N=True) == "ANG"
    # force alone takes the first character, as tangermeme does.
    assert characters(encoding, force=True) == "AAG"


def test_characters_takes_the_largest_score_and_refuses_ties_unless_forced():
    pwm = torch.tensor([[0.7, 0.1], [0.1, 0.4], [0.1, 0.4], [0.1, 0.1]])
    with pytest.raises(ValueError, match="column 1 of pwm has several characters"):
        characters(pwm)
    assert characters(pwm, force=True) == "AC"
    # As in tangermeme, allow_N also lets a tie through, to the first character.
    assert characters(pwm, allow_N=True) == "AC"
    with pytest.raises(ValueError, match="3 rows but the alphabet 'ACGT' has 4"):
        characters(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="one sequence at a time"):
        characters(torch.zeros(2, 4, 5))


def test_codes_round_trip_losslessly_including_n():
    X = torch.stack([one_hot_encode("ACGTNAC"), one_hot_encode("NNTTGCA")])
    codes = onehot_to_codes(X)
    assert codes.dtype == torch.uint8
    assert codes.tolist() == [[0, 1, 2, 3, 4, 0, 1], [4, 4, 3, 3, 2, 1, 0]]
    assert torch.equal(codes_to_onehot(codes, dtype=torch.int8), X)
    assert codes_to_onehot(codes).dtype == torch.float32
    # numpy in, numpy out; any leading axes; any dtype.
    codes_np = onehot_to_codes(X.numpy()[None])
    assert isinstance(codes_np, np.ndarray) and codes_np.shape == (1, 2, 7)
    assert np.array_equal(codes_np[0], codes.numpy())
    for dtype in (torch.float16, torch.bool, torch.int64, torch.float64):
        assert torch.equal(onehot_to_codes(X.to(dtype)), codes)
    assert onehot_to_codes(X[0]).tolist() == [0, 1, 2, 3, 4, 0, 1]


def test_codes_conversions_refuse_bad_input_naming_the_column():
    X = one_hot_encode("ACGT", dtype=torch.float32)
    with pytest.raises(ValueError, match=r"x\[:, 0\] = \[0.5, 0.0, 0.0, 0.0\]: it holds values"):
        onehot_to_codes(X * 0.5)
    two_ones = X.clone()
    two_ones[0, 1] = 1
    with pytest.raises(ValueError, match=r"x\[:, 1\] = \[1.0, 1.0, 0.0, 0.0\]: it has more"):
        onehot_to_codes(two_ones)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, length\)"):
        onehot_to_codes(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="0 \\(A\\)"):
        codes_to_onehot(torch.tensor([0, 5], dtype=torch.uint8))
    with pytest.raises(ValueError, match="integers"):
        codes_to_onehot(torch.tensor([0.0, 1.0]))


def test_onehot_to_codes_names_the_bad_column_in_the_inputs_own_indices():
    references = codes_to_onehot(torch.zeros((2, 3, 5), dtype=torch.uint8))
    references[1, 2, 3, 4] = 1  # position 4 of reference 2 of example 1: A and T
    with pytest.raises(
        ValueError, match=r"x\[1, 2, :, 4\] = \[1.0, 0.0, 0.0, 1.0\]: it has more than one 1"
    ):
        onehot_to_codes(references)


def test_check_one_hot_accepts_one_hot_with_zero_columns():
    X = torch.stack([one_hot_encode("ACNT"), one_hot_encode("NNGG")])
    assert check_one_hot(X, "X", axis=1) is None
    assert check_one_hot(X.bool(), "X", axis=1) is None
    assert check_one_hot(X[:, None].float(), "references") is None


def test_check_one_hot_names_the_first_bad_position_what_is_wrong_and_how_many():
    references = torch.zeros(2, 3, 4, 5)
    references[..., 0, :] = 1
    references[0, 2, :, 3] = torch.tensor([0.25, 0.25, 0.25, 0.25])
    references[1, 0, 1, 1] = 1
    with pytest.raises(ValueError) as error:
        check_one_hot(references, "references")
    assert str(error.value) == (
        "references must be one-hot encoded along axis 2 (values 0 and 1, at most one 1 per "
        "position, unknown bases as all-zero columns), but references[0, 2, :, 3] = "
        "[0.25, 0.25, 0.25, 0.25]: it holds values other than 0 and 1 (2 such positions in all); "
        "encode sequences with seqlift.sequence.one_hot_encode or codes_to_onehot"
    )
    references[0, 2, :, 3] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"references\[1, 0, :, 1\] = \[1.0, 1.0, 0.0, 0.0\]"):
        check_one_hot(references, "references")
    with pytest.raises(ValueError, match=r"X\[0, :, 0\] = \[nan, 0.0, 0.0, 0.0\]: it holds"):
        check_one_hot(torch.tensor([[[float("nan")], [0.0], [0.0], [0.0]]]), "X", axis=1)


def test_check_one_hot_refuses_zero_columns_when_n_is_not_allowed():
    X = one_hot_encode("ACNNT").unsqueeze(0)
    with pytest.raises(
        ValueError, match=r"X\[0, :, 2\] = \[0, 0, 0, 0\]: it is all zero .*\(2 such positions "
        r"in all\); pass allow_N=True"
    ):
        check_one_hot(X, "X", axis=1, allow_N=False)


def test_check_one_hot_only_warn_warns_instead_of_raising():
    with pytest.warns(UserWarning, match=r"X\[:, 0\] = \[2.0, 0.0, 0.0, 0.0\]"):
        assert check_one_hot(torch.tensor([[2.0], [0], [0], [0]]), "X", only_warn=True) is None


def test_check_one_hot_refuses_what_is_not_a_tensor_with_a_value_error():
    with pytest.raises(ValueError, match="X must be a torch.Tensor, not ndarray"):
        check_one_hot(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="no axis 3"):
        check_one_hot(torch.zeros(4, 3), axis=3)


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
    with pytest.raises(ValueError, match=r"row\(s\) 0 do not"):
        random_one_hot((1, 4, 5), probs=[0.5, 0.5, 0.5, 0])
    with pytest.raises(ValueError, match=r"expected \(4,\), \(1, 4\) or \(3, 4\)"):
        random_one_hot((3, 4, 5), probs=[[0.5, 0.5, 0, 0]] * 2)
    with pytest.raises(ValueError, match="tuple"):
        random_one_hot([3, 4, 5])


def test_random_one_hot_takes_dtype_third_and_random_state_fourth():
    positional = random_one_hot((2, 4, 30), None, torch.float32, 5)
    assert positional.dtype == torch.float32
    assert torch.equal(positional, random_one_hot((2, 4, 30), random_state=5).float())


def test_random_one_hot_draws_with_a_randomstate_in_the_order_of_the_sequences():
    # Sequence i is RandomState.choice(4, size=length) drawn after sequences 0 .. i-1.
    state = np.random.RandomState(11)
    expected = [state.choice(4, size=6) for _ in range(2)]
    X = random_one_hot((2, 4, 6), random_state=np.random.RandomState(11))
    assert onehot_to_codes(X).tolist() == [row.tolist() for row in expected]
    generator = random_one_hot((2, 4, 6), random_state=np.random.default_rng(11))
    assert torch.all(generator.sum(dim=1) == 1)


def test_substitute_centres_the_motif_by_default():
    X = one_hot_encode("A" * 11).unsqueeze(0)
    # length // 2 - motif_length // 2 = 5 - 1 = 4
    assert characters(substitute(X, "CGT")[0]) == "AAAACGTAAAA"
    assert characters(substitute(X, "CGTC")[0]) == "AAACGTCAAAA"
    assert characters(substitute(X, "cgt")[0]) == "AAAACGTAAAA"


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
    with pytest.raises(ValueError, match="falls off .*between 0 and 5"):
        substitute(X, "AAA", start=6)
    with pytest.raises(ValueError, match="longer than the sequences"):
        substitute(X, "A" * 9)
    with pytest.raises(ValueError, match="'Z' at position 1"):
        substitute(X, "AZ")
    with pytest.raises(ValueError, match="X must be a torch.Tensor, not str"):
        substitute("ACGTACGT", "AC")


def test_a_motif_count_other_than_one_or_n_is_a_value_and_a_runtime_error():
    X = one_hot_encode("ACGTACGT").unsqueeze(0).repeat(2, 1, 1)
    motifs = one_hot_encode("GG").unsqueeze(0).repeat(3, 1, 1)
    with pytest.raises(MotifCountError, match="3 motifs for 2 sequences") as error:
        substitute(X, motifs)
    assert isinstance(error.value, ValueError) and isinstance(error.value, RuntimeError)


def test_a_start_that_is_not_an_int_is_an_index_and_a_type_error():
    X = one_hot_encode("ACGTACGT").unsqueeze(0)
    with pytest.raises(PositionTypeError, match="start must be an int or None, got 2.0") as error:
        substitute(X, "AC", start=2.0)
    assert isinstance(error.value, IndexError) and isinstance(error.value, TypeError)
    assert characters(substitute(X, "TT", start=np.int64(0))[0]) == "TTGTACGT"


def test_multisubstitute_places_motifs_with_spacings():
    X = one_hot_encode("A" * 20).unsqueeze(0)
    result = multisubstitute(X, ["CC", "GGG", "T"], [2, 1], 3)
    assert characters(result[0]) == "AAACCAAGGGATAAAAAAAA"
    # Centred: 2 + 1 + 3 = 6 bases from 20 // 2 - 6 // 2 = 7.
    assert characters(multisubstitute(X, ["CC", "GGG"], 1)[0]) == "AAAAAAACCAGGGAAAAAAA"
    with pytest.raises(ValueError, match="2 motifs need 1 spacings, got 2"):
        multisubstitute(X, ["AC", "GT"], spacing=[1, 2])
    with pytest.raises(ValueError, match="does not fit"):
        multisubstitute(X, ["A" * 10, "C" * 10], spacing=5)
    with pytest.raises(ValueError, match=r"from 0 to the sequence length - 1 \(19\)"):
        multisubstitute(X, ["A", "C"], spacing=[20])
    with pytest.raises(ValueError, match="spacing must be an int or a list"):
        multisubstitute(X, ["A", "C"], spacing=1.5)


def test_substitution_functions_have_no_packed_result():
    X = one_hot_encode("ACGT").unsqueeze(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in (
            lambda: substitute(X, "A", return_packed=True),
            lambda: multisubstitute(X, ["A"], [], return_packed=True),
            lambda: random_one_hot((1, 4, 3), return_packed=True),
        ):
            with pytest.raises(NotImplementedError, match="PackedSequence"):
                call()

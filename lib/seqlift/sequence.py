"""One-hot encoding of DNA and the small sequence edits used to build test inputs.

The encoding is the one tangermeme uses: a sequence of length ``L`` becomes a
``(4, L)`` tensor over the alphabet ``ACGT``, with one 1 per column. Positions
whose base is unknown (``N`` and the other IUPAC ambiguity codes) become
all-zero columns, and every function here carries such columns through.

``onehot_to_codes`` and ``codes_to_onehot`` convert between the one-hot form
and one byte per position (A=0, C=1, G=2, T=3, N=4), a quarter of the size of
an int8 one-hot encoding and the form the shuffling kernels work on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "IUPAC_AMBIGUITY_CODES",
    "N_CODE",
    "characters",
    "codes_to_onehot",
    "multisubstitute",
    "one_hot_encode",
    "onehot_to_codes",
    "random_one_hot",
    "substitute",
]

# The IUPAC nucleotide codes other than A, C, G and T. Each stands for more
# than one base, so none of them can be encoded as a single 1.
IUPAC_AMBIGUITY_CODES = "NRYSWKMBDHV"

# The byte code of an unknown base (an all-zero column).
N_CODE = 4

_NUMPY_DTYPES = {
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
    "bool": torch.bool,
}


def _as_torch_dtype(dtype: str | np.dtype | torch.dtype) -> torch.dtype:
    """The torch dtype for a torch dtype, a numpy dtype or its name."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name
    if name not in _NUMPY_DTYPES:
        raise ValueError(f"dtype {dtype!r} has no torch equivalent for a one-hot encoding")
    return _NUMPY_DTYPES[name]


def _first_bad_character(sequence: str, allowed: set[str]) -> tuple[int, str]:
    """The position and character of the first character of ``sequence`` not in ``allowed``."""
    for position, character in enumerate(sequence):
        if character not in allowed:
            return position, character
    raise AssertionError("no bad character found")  # pragma: no cover


def one_hot_encode(
    sequence: str,
    alphabet: str | Sequence[str] = "ACGT",
    dtype: str | torch.dtype = torch.int8,
    ignore: str | Sequence[str] | None = None,
) -> torch.Tensor:
    """One-hot encode a sequence.

    Lowercase letters (soft-masked repeats in most genome FASTA files) are
    encoded as their uppercase letter.

    Parameters
    ----------
    sequence : str
        The sequence, e.g. ``"ACGTNacgt"``.
    alphabet : str or sequence of str, optional
        The characters of the rows, in order. Default ``"ACGT"``.
    dtype : str or torch.dtype, optional
        The dtype of the returned tensor. Default ``torch.int8``.
    ignore : str or sequence of str or None, optional
        Characters encoded as all-zero columns. Default None: the IUPAC
        ambiguity codes ``NRYSWKMBDHV`` that are not in ``alphabet``, so with
        ``ACGT`` an ``N`` or an ``R`` is a zero column.

    Returns
    -------
    torch.Tensor, shape (len(alphabet), len(sequence))
        The one-hot encoding.

    Raises
    ------
    TypeError
        If ``sequence`` is not a str.
    ValueError
        If a character is in neither ``alphabet`` nor ``ignore``; the message
        names the character and its 0-based position.
    """
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be a str, not {type(sequence).__name__}")
    alphabet = [character.upper() for character in alphabet]
    if ignore is None:
        ignore = [code for code in IUPAC_AMBIGUITY_CODES if code not in alphabet]
    ignore = [character.upper() for character in ignore]
    overlap = sorted(set(alphabet) & set(ignore))
    if overlap:
        raise ValueError(f"characters {overlap} are both in the alphabet and in `ignore`")
    if len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet {alphabet} repeats a character")

    upper = sequence.upper()
    allowed = set(alphabet) | set(ignore)
    if not all(len(character) == 1 and character.isascii() for character in allowed):
        raise ValueError("alphabet and ignore must consist of single ASCII characters")
    if not upper.isascii():
        position, character = _first_bad_character(upper, allowed)
        raise ValueError(
            f"cannot encode character {sequence[position]!r} at position {position} "
            f"(0-based): it is not in the alphabet {''.join(alphabet)!r} nor an ignored "
            f"(all-zero) code {''.join(ignore)!r}"
        )

    # -2: not allowed; -1: all-zero column; otherwise the row index.
    lookup = np.full(256, -2, dtype=np.int16)
    for row, character in enumerate(alphabet):
        lookup[ord(character)] = row
    for character in ignore:
        lookup[ord(character)] = -1
    rows = lookup[np.frombuffer(upper.encode("ascii"), dtype=np.uint8)]

    bad = np.flatnonzero(rows == -2)
    if bad.size:
        position = int(bad[0])
        raise ValueError(
            f"cannot encode character {sequence[position]!r} at position {position} "
            f"(0-based): it is not in the alphabet {''.join(alphabet)!r} nor an ignored "
            f"(all-zero) code {''.join(ignore)!r}"
        )

    encoding = rows[None, :] == np.arange(len(alphabet))[:, None]
    return torch.from_numpy(encoding).to(_as_torch_dtype(dtype))


def _as_tensor(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, not {type(x).__name__}")


def characters(
    x: torch.Tensor | np.ndarray,
    alphabet: str | Sequence[str] = "ACGT",
    force: bool = False,
) -> str:
    """Turn a one-hot encoding (or a PWM) back into a string.

    Each column becomes the character of its largest value; an all-zero column
    becomes ``N``. This inverts ``one_hot_encode`` for uppercase sequences of
    A, C, G, T and N.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray, shape (len(alphabet), length) or (1, len(alphabet), length)
        A one-hot encoding, or any matrix of per-character scores.
    alphabet : str or sequence of str, optional
        The characters of the rows, in order. Default ``"ACGT"``.
    force : bool, optional
        If True, a column whose maximum is shared by several characters gives
        the first of them; if False such a tie raises. Default False.

    Returns
    -------
    str
        The sequence, of the length of the last axis of ``x``.
    """
    x = _as_tensor(x, "x")
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (len(alphabet), length), got {tuple(x.shape)}")
    alphabet = list(alphabet)
    if x.shape[0] != len(alphabet):
        raise ValueError(
            f"x has {x.shape[0]} rows but the alphabet {''.join(alphabet)!r} has "
            f"{len(alphabet)} characters"
        )
    values = x.detach().cpu().double().numpy()
    is_unknown = (values == 0).all(axis=0)
    is_max = values == values.max(axis=0, keepdims=True)
    ties = (is_max.sum(axis=0) > 1) & ~is_unknown
    if ties.any() and not force:
        position = int(np.flatnonzero(ties)[0])
        raise ValueError(
            f"column {position} has several characters with the same largest value; "
            "pass force=True to take the first"
        )
    letters = np.array(alphabet + ["N"])
    codes = np.where(is_unknown, len(alphabet), values.argmax(axis=0))
    return "".join(letters[codes])


def random_one_hot(
    shape: tuple[int, int, int],
    probs: Sequence[float] | np.ndarray | None = None,
    random_state: int | np.random.Generator | np.random.RandomState | None = None,
    dtype: str | torch.dtype = torch.int8,
) -> torch.Tensor:
    """Draw random one-hot encoded sequences.

    Parameters
    ----------
    shape : tuple of int
        ``(n, len(alphabet), length)``.
    probs : array-like, shape (len(alphabet),) or (n, len(alphabet)) or (1, len(alphabet)), optional
        The probability of each character, for all sequences or per sequence.
        Each row must sum to 1. Default: uniform.
    random_state : int, numpy Generator or RandomState, or None, optional
        The seed or generator to draw with. None draws a fresh seed.
    dtype : str or torch.dtype, optional
        The dtype of the returned tensor. Default ``torch.int8``.

    Returns
    -------
    torch.Tensor, shape (n, len(alphabet), length)
        One-hot encoded sequences, one 1 per column.
    """
    if not isinstance(shape, tuple) or len(shape) != 3:
        raise ValueError(f"shape must be a tuple (n, len(alphabet), length), got {shape!r}")
    n, n_characters, length = (int(size) for size in shape)
    if isinstance(random_state, np.random.RandomState):
        uniform_draws = random_state.random_sample((n, length))
    else:
        uniform_draws = np.random.default_rng(random_state).random((n, length))

    if probs is None:
        probs = np.full((1, n_characters), 1.0 / n_characters)
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    if probs.shape[1] != n_characters or probs.shape[0] not in (1, n):
        raise ValueError(
            f"probs has shape {probs.shape}; expected ({n_characters},), (1, {n_characters}) "
            f"or ({n}, {n_characters})"
        )
    if (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0):
        raise ValueError("each row of probs must be non-negative and sum to 1")

    # A character is the number of cumulative probabilities the uniform draw
    # passes; the last bound is left out so rounding cannot give len(alphabet).
    bounds = np.cumsum(probs, axis=1)[:, :-1]
    codes = (uniform_draws[:, :, None] >= bounds[:, None, :]).sum(axis=2)
    encoding = codes[:, None, :] == np.arange(n_characters)[None, :, None]
    return torch.from_numpy(encoding).to(_as_torch_dtype(dtype))


def _check_one_hot(x: torch.Tensor, name: str, axis: int = -2) -> None:
    """Raise unless ``x`` holds only 0 and 1 with at most one 1 along ``axis``."""
    if x.dtype == torch.bool:
        column_sums = x.sum(dim=axis)
    else:
        if not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name} must be one-hot encoded: it holds values other than 0 and 1")
        column_sums = x.sum(dim=axis, dtype=torch.int64)
    if bool((column_sums > 1).any()):
        raise ValueError(
            f"{name} must be one-hot encoded: some position has more than one 1 "
            "(unknown bases must be all-zero columns)"
        )


def onehot_to_codes(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Turn a one-hot encoding into one byte per position.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray, shape (..., 4, length)
        One-hot encoded sequences; all-zero columns are unknown bases.

    Returns
    -------
    torch.Tensor or numpy.ndarray (as given), dtype uint8, shape (..., length)
        A=0, C=1, G=2, T=3, and 4 for an all-zero column.

    Raises
    ------
    ValueError
        If ``x`` does not have 4 rows, or is not one-hot (a value other than
        0 or 1, or two 1s in one column).
    """
    is_numpy = isinstance(x, np.ndarray)
    tensor = _as_tensor(x, "x")
    if tensor.ndim < 2 or tensor.shape[-2] != 4:
        raise ValueError(f"x must have shape (..., 4, length), got {tuple(tensor.shape)}")
    tensor = tensor.detach()
    _check_one_hot(tensor, "x")
    weights = torch.arange(4, dtype=torch.uint8, device=tensor.device)
    ones = tensor.to(torch.uint8)
    codes = (ones * weights[:, None]).sum(dim=-2, dtype=torch.uint8)
    codes += N_CODE * (ones.sum(dim=-2, dtype=torch.uint8) == 0).to(torch.uint8)
    return codes.cpu().numpy() if is_numpy else codes


def codes_to_onehot(
    codes: torch.Tensor | np.ndarray, dtype: str | torch.dtype = torch.float32
) -> torch.Tensor:
    """Turn byte codes back into a one-hot encoding.

    Parameters
    ----------
    codes : torch.Tensor or numpy.ndarray, integer, shape (..., length)
        A=0, C=1, G=2, T=3, N=4.
    dtype : str or torch.dtype, optional
        The dtype of the result. Default ``torch.float32``.

    Returns
    -------
    torch.Tensor, shape (..., 4, length)
        The one-hot encoding, with an all-zero column for each 4, on the
        device of ``codes``.
    """
    codes = _as_tensor(codes, "codes")
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > N_CODE):
        raise ValueError("codes must be 0 (A), 1 (C), 2 (G), 3 (T) or 4 (N)")
    rows = torch.arange(4, device=codes.device)[:, None]
    return (codes.unsqueeze(-2) == rows).to(_as_torch_dtype(dtype))


def _motif_tensor(
    motif: torch.Tensor | str, n_characters: int, alphabet: str | Sequence[str], ignore
) -> torch.Tensor:
    """A motif as a one-hot tensor (1 or n, len(alphabet), motif_length)."""
    if isinstance(motif, str):
        return one_hot_encode(motif, alphabet=alphabet, ignore=ignore).unsqueeze(0)
    motif = _as_tensor(motif, "motif")
    if motif.ndim == 2:
        motif = motif.unsqueeze(0)
    if motif.ndim != 3 or motif.shape[1] != n_characters:
        raise ValueError(
            f"motif must have shape (n, {n_characters}, motif_length), got {tuple(motif.shape)}"
        )
    _check_one_hot(motif, "motif", axis=1)
    return motif


def _check_sequences(X: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor, not {type(X).__name__}")
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n, len(alphabet), length), got {tuple(X.shape)}")
    _check_one_hot(X, "X", axis=1)


def substitute(
    X: torch.Tensor,
    motif: torch.Tensor | str,
    start: int | None = None,
    alphabet: str | Sequence[str] = "ACGT",
    ignore: str | Sequence[str] = "N",
) -> torch.Tensor:
    """Write a motif over part of each sequence, keeping the sequence length.

    As in tangermeme, positions of the motif that are all-zero columns (the
    characters in ``ignore`` of a string motif) keep the original base, so
    ``"ACNNGT"`` writes ``AC`` and ``GT`` around two untouched positions.

    Parameters
    ----------
    X : torch.Tensor, shape (n, len(alphabet), length)
        One-hot encoded sequences; all-zero columns are allowed.
    motif : str or torch.Tensor, shape (1 or n, len(alphabet), motif_length)
        The motif. A string is one-hot encoded; a tensor with one motif is
        written into every sequence, one with ``n`` motifs gives motif ``i``
        to sequence ``i``.
    start : int or None, optional
        The position of the first base of the motif. None centres it:
        ``length // 2 - motif_length // 2``, tangermeme's convention.
    alphabet : str or sequence of str, optional
        The alphabet for a string motif. Default ``"ACGT"``.
    ignore : str or sequence of str, optional
        Characters of a string motif that keep the original base. Default ``"N"``.

    Returns
    -------
    torch.Tensor, shape (n, len(alphabet), length)
        A copy of ``X`` with the motif written in; ``X`` is not modified.
    """
    _check_sequences(X)
    motif = _motif_tensor(motif, X.shape[1], alphabet, ignore).to(device=X.device, dtype=X.dtype)
    length, motif_length = X.shape[-1], motif.shape[-1]
    if motif.shape[0] not in (1, X.shape[0]):
        raise ValueError(f"motif holds {motif.shape[0]} motifs for {X.shape[0]} sequences")
    if motif_length > length:
        raise ValueError(f"motif of length {motif_length} is longer than the sequences ({length})")
    if start is None:
        start = length // 2 - motif_length // 2
    if start < 0 or start + motif_length > length:
        raise ValueError(
            f"a motif of length {motif_length} at start={start} falls off a sequence of "
            f"length {length}"
        )

    Y = X.clone()
    window = Y[:, :, start : start + motif_length]
    is_known = motif.sum(dim=1, keepdim=True) > 0
    Y[:, :, start : start + motif_length] = torch.where(is_known, motif, window)
    return Y


def multisubstitute(
    X: torch.Tensor,
    motifs: Sequence[torch.Tensor | str],
    spacing: int | Sequence[int],
    start: int | None = None,
    alphabet: str | Sequence[str] = "ACGT",
    ignore: str | Sequence[str] = "N",
) -> torch.Tensor:
    """Write several motifs into each sequence with given gaps between them.

    Parameters
    ----------
    X : torch.Tensor, shape (n, len(alphabet), length)
        One-hot encoded sequences.
    motifs : list of str or torch.Tensor
        The motifs, in order along the sequence (see ``substitute``).
    spacing : int or list of int
        The number of bases between the end of motif ``i`` and the start of
        motif ``i + 1``: one value for all gaps, or ``len(motifs) - 1`` values.
    start : int or None, optional
        The start of the first motif. None centres the whole arrangement
        (motifs and gaps): ``length // 2 - total // 2``, as tangermeme does.
    alphabet, ignore : optional
        As in ``substitute``.

    Returns
    -------
    torch.Tensor, shape (n, len(alphabet), length)
        A copy of ``X`` with all motifs written in.
    """
    if len(motifs) == 0:
        raise ValueError("motifs must hold at least one motif")
    if isinstance(spacing, (int, np.integer)):
        spacing = [int(spacing)] * (len(motifs) - 1)
    spacing = list(spacing)
    if len(spacing) != len(motifs) - 1:
        raise ValueError(
            f"{len(motifs)} motifs need {len(motifs) - 1} spacings, got {len(spacing)}"
        )
    if any(gap < 0 for gap in spacing):
        raise ValueError(f"spacings must be non-negative, got {spacing}")

    motif_lengths = [len(m) if isinstance(m, str) else m.shape[-1] for m in motifs]
    total = sum(motif_lengths) + sum(spacing)
    if start is None:
        start = X.shape[-1] // 2 - total // 2
    if start < 0 or start + total > X.shape[-1]:
        raise ValueError(
            f"motifs and spacings span {total} bases from start={start}, which does not fit "
            f"in sequences of length {X.shape[-1]}"
        )

    position = start
    for index, motif in enumerate(motifs):
        X = substitute(X, motif, start=position, alphabet=alphabet, ignore=ignore)
        if index < len(spacing):
            position += motif_lengths[index] + spacing[index]
    return X

"""One-hot encoding of DNA, byte codes, the one-hot check and the small sequence edits.

The encoding is the one tangermeme uses: a sequence of length ``L`` becomes a
``(4, L)`` tensor over the alphabet ``ACGT``, with one 1 per column. Positions
whose base is unknown (``N`` and the other IUPAC ambiguity codes) become
all-zero columns, and every function here carries such columns through.

This module is the one home of three conversions and one check:

- text to byte codes: :func:`sequence_to_codes` (A=0, C=1, G=2, T=3, anything
  else 4, lowercase accepted), which :func:`one_hot_encode` and the genome
  extraction build on;
- byte codes to one-hot: :func:`codes_to_onehot`;
- one-hot to byte codes: :func:`onehot_to_codes`, one compiled pass that also
  checks the input (the shuffles use the same pass);
- the one-hot check: :func:`check_one_hot`, for tensors on any device, which
  names the first position that is not one-hot.

The public functions take tangermeme 1.6.0's arguments in its positional
order, and raise exceptions of the types tangermeme raises (seqlift
subclasses of them where the natural type differs).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numba
import numpy as np
import torch

from ._codes import N_CODE, sequence_to_codes
from ._codes import translate as _translate
from ._codes import translation_table as _translation_table
from ._utils import listing
from .errors import InputError, SeqliftError

__all__ = [
    "IUPAC_AMBIGUITY_CODES",
    "N_CODE",
    "MotifCountError",
    "PositionTypeError",
    "characters",
    "check_one_hot",
    "codes_to_onehot",
    "multisubstitute",
    "one_hot_encode",
    "onehot_to_codes",
    "random_one_hot",
    "sequence_to_codes",
    "substitute",
]

# The IUPAC nucleotide codes other than A, C, G and T. Each stands for more
# than one base, so none of them can be encoded as a single 1.
IUPAC_AMBIGUITY_CODES = "NRYSWKMBDHV"


# A code that no character of an alphabet maps to: the character is not allowed.
_NOT_ALLOWED = 255


class MotifCountError(InputError, RuntimeError):
    """A motif tensor holds neither one motif nor one per sequence.

    A ``ValueError`` like every bad argument, and a ``RuntimeError`` because
    that is what tangermeme (through torch) raises for it.
    """


class PositionTypeError(SeqliftError, IndexError, TypeError):
    """A position (``start``) that is not an int.

    A ``TypeError``, and an ``IndexError`` because that is what tangermeme
    (through torch's indexing) raises for it.
    """


_TORCH_DTYPES = {
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
    try:
        name = np.dtype(dtype).name
    except TypeError:  # "torch.float32", "bfloat16", ...
        name = str(dtype).removeprefix("torch.")
    if name not in _TORCH_DTYPES:
        raise InputError(
            f"dtype {dtype!r} cannot hold a one-hot encoding here; use one of "
            f"{', '.join(_TORCH_DTYPES)} or a torch dtype"
        )
    return _TORCH_DTYPES[name]


def _check_not_packed(return_packed: bool | None, alternative: str) -> None:
    """seqlift has no PackedSequence (tangermeme's 2-bit container): say what to use instead."""
    if return_packed:
        raise NotImplementedError(
            f"return_packed=True asks for a tangermeme PackedSequence, which seqlift does not "
            f"provide; {alternative}"
        )


# ---------------------------------------------------------------------------------------------
# Text -> codes -> one-hot


def _rows_of_codes(codes: torch.Tensor, n_rows: int, dtype: torch.dtype) -> torch.Tensor:
    """``(..., length)`` codes to ``(..., n_rows, length)`` one-hot; a code ``>= n_rows`` is an
    all-zero column.

    On the CPU it runs in numpy, about ten times faster here than torch's comparison and cast
    (0.2 ms for a megabase to int8, which is a view of the comparison's bytes).
    """
    if codes.device.type != "cpu":
        rows = torch.arange(n_rows, device=codes.device, dtype=codes.dtype)[:, None]
        return (codes.unsqueeze(-2) == rows).to(dtype)
    values = codes.numpy()
    is_row = torch.from_numpy(values[..., None, :] == np.arange(n_rows, dtype=values.dtype)[:, None])
    if dtype in (torch.bool, torch.int8, torch.uint8):
        return is_row.view(dtype)
    try:
        numpy_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:  # bfloat16 and others numpy lacks
        return is_row.to(dtype)
    return torch.from_numpy(is_row.numpy().astype(numpy_dtype))


def _characters_of(characters: str | Sequence[str], what: str) -> str:
    """``characters`` (a str or a sequence of one-character strs), uppercased and joined."""
    joined = "".join(characters)
    if len(joined) != len(characters) or not joined.isascii():
        raise InputError(
            f"{what} must consist of single ASCII characters, got {list(characters)!r}"
        )
    return joined.upper()


def one_hot_encode(
    sequence: str,
    alphabet: str | Sequence[str] = "ACGT",
    dtype: str | torch.dtype = torch.int8,
    ignore: str | Sequence[str] | None = None,
    desc: str | None = None,
    verbose: bool = False,
    n_jobs: int = 1,
    return_packed: bool = False,
) -> torch.Tensor:
    """One-hot encode a sequence.

    Lowercase letters (soft-masked repeats in most genome FASTA files) are
    encoded as their uppercase letter; tangermeme raises on them.

    Parameters
    ----------
    sequence : str
        The sequence, e.g. ``"ACGTNacgt"``.
    alphabet : str or sequence of str, optional
        The characters of the rows, in order. Default ``"ACGT"``.
    dtype : str, numpy or torch dtype, optional
        The dtype of the returned tensor. Default ``torch.int8``.
    ignore : str or sequence of str or None, optional
        Characters encoded as all-zero columns. Default None: ``N`` (as in
        tangermeme) and the other IUPAC ambiguity codes ``RYSWKMBDHV`` that
        are not in ``alphabet``. To put ``N`` in the alphabet, pass an
        ``ignore`` without it (e.g. ``[]``).
    desc, verbose, n_jobs : optional
        Accepted for tangermeme's signature; encoding takes a millisecond per
        megabase on one thread, so there is nothing to show or to split.
    return_packed : bool, optional
        Must be False: seqlift has no PackedSequence (use
        :func:`sequence_to_codes` for one byte per base).

    Returns
    -------
    torch.Tensor, shape (len(alphabet), len(sequence))
        The one-hot encoding.

    Raises
    ------
    TypeError
        If ``sequence`` is not a str.
    ValueError
        If a character is in neither ``alphabet`` nor ``ignore`` (the message
        names it and its 0-based position), a character is in both (such as
        ``N`` in the alphabet with the default ``ignore``), or the alphabet
        repeats a character.
    """
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be a str, not {type(sequence).__name__}")
    _check_not_packed(return_packed, "sequence_to_codes(sequence) gives one byte per base")
    alphabet = _characters_of(alphabet, "alphabet")
    if ignore is None:
        in_alphabet = "N" in alphabet
        ignore = "N" + "".join(code for code in IUPAC_AMBIGUITY_CODES[1:] if code not in alphabet)
        if in_alphabet:
            raise InputError(
                f"N is in the alphabet {alphabet!r} and in the default `ignore` (as in "
                "tangermeme); pass ignore=[] (or the characters to encode as all-zero columns) "
                "to encode N as a letter"
            )
    ignore = _characters_of(ignore, "ignore")
    overlap = sorted(set(alphabet) & set(ignore))
    if overlap:
        raise InputError(
            f"characters {overlap} are both in the alphabet {alphabet!r} and in `ignore` "
            f"{ignore!r}; remove them from one of the two"
        )
    if len(set(alphabet)) != len(alphabet):
        raise InputError(f"alphabet {alphabet!r} repeats a character; give each row once")

    codes = _translate(sequence, _translation_table(alphabet, ignore, _NOT_ALLOWED))
    if codes.size and (not sequence.isascii() or int(codes.max()) == _NOT_ALLOWED):
        position = next(
            i for i, character in enumerate(sequence)
            if not character.isascii() or codes[i] == _NOT_ALLOWED
        )
        raise InputError(
            f"cannot encode character {sequence[position]!r} at position {position} "
            f"(0-based): it is not in the alphabet {alphabet!r} nor an ignored (all-zero) "
            f"code {ignore!r}; add it to `ignore` to encode it as an all-zero column"
        )
    return _rows_of_codes(torch.from_numpy(codes), len(alphabet), _as_torch_dtype(dtype))


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

    Raises
    ------
    ValueError
        If ``codes`` is not integer or holds a value outside 0-4.
    """
    codes = _as_tensor(codes, "codes")
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise InputError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > N_CODE):
        raise InputError("codes must be 0 (A), 1 (C), 2 (G), 3 (T) or 4 (N)")
    return _rows_of_codes(codes, 4, _as_torch_dtype(dtype))


# ---------------------------------------------------------------------------------------------
# One-hot -> codes, and the one-hot check


def _as_tensor(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise InputError(f"{name} must be a torch.Tensor or numpy.ndarray, not {type(x).__name__}")


def _not_one_hot_message(
    X: torch.Tensor, index: tuple[int, ...], axis: int, name: str, n_bad: int, allow_N: bool
) -> str:
    """What is wrong with the column of ``X`` at ``index`` (the other axes) along ``axis``, where,
    and what to do: ``X[3, :, 17] = [0.5, 0.5, 0.0, 0.0]: it holds values other than 0 and 1``."""
    key = (*index[:axis], slice(None), *index[axis:])
    column = X.detach()[key].cpu()
    if not bool(((column == 0) | (column == 1)).all()):
        reason, advice = "it holds values other than 0 and 1", ""
    elif int((column == 1).sum()) > 1:
        reason, advice = "it has more than one 1", ""
    else:
        reason, advice = "it is all zero (an unknown base, N)", "; pass allow_N=True to accept them"
    if not advice:
        advice = "; encode sequences with seqlift.sequence.one_hot_encode or codes_to_onehot"
    shown = ", ".join(":" if isinstance(i, slice) else str(i) for i in key)
    others = f" ({n_bad} such positions in all)" if n_bad > 1 else ""
    rule = (
        "values 0 and 1, at most one 1 per position, unknown bases as all-zero columns"
        if allow_N
        else "values 0 and 1, exactly one 1 per position"
    )
    return (
        f"{name} must be one-hot encoded along axis {axis} ({rule}), but "
        f"{name}[{shown}] = {column.tolist()}: {reason}{others}{advice}"
    )


def check_one_hot(
    X: torch.Tensor,
    name: str = "X",
    axis: int = -2,
    allow_N: bool = True,
    only_warn: bool = False,
) -> None:
    """Check that a tensor is a one-hot encoding, naming the first position that is not.

    Works on any device, in a few vectorised passes. (To convert as well,
    :func:`onehot_to_codes` checks in its one compiled pass.)

    Parameters
    ----------
    X : torch.Tensor, any shape, e.g. (n, 4, length) or references (n, k, 4, length)
        The tensor.
    name : str, optional
        What to call it in the message. Default ``"X"``.
    axis : int, optional
        The axis of the characters. Default -2.
    allow_N : bool, optional
        Whether all-zero columns (unknown bases) are allowed. Default True.
    only_warn : bool, optional
        Warn (``UserWarning``) instead of raising, as tangermeme's
        ``only_warn``. Default False.

    Raises
    ------
    ValueError
        If ``X`` is not a tensor, holds a value other than 0 and 1, has a
        column with more than one 1, or (``allow_N=False``) an all-zero
        column. The message gives the first such column's index and values,
        how many there are, and what to do.
    """
    if not isinstance(X, torch.Tensor):
        message = f"{name} must be a torch.Tensor, not {type(X).__name__}"
    elif X.ndim == 0 or not -X.ndim <= axis < X.ndim:
        message = f"{name} of shape {tuple(X.shape)} has no axis {axis} to be one-hot along"
    else:
        axis = axis % X.ndim
        values = X.detach()
        ones = (values == 1).sum(dim=axis)
        bad = ones > 1 if allow_N else ones != 1
        if values.dtype != torch.bool:
            bad |= ((values != 0) & (values != 1)).any(dim=axis)
        if not bool(bad.any()):
            return
        first = int(bad.flatten().to(torch.uint8).argmax())
        index = tuple(int(i) for i in np.unravel_index(first, tuple(bad.shape)))
        message = _not_one_hot_message(X, index, axis, name, int(bad.sum()), allow_N)
    if only_warn:
        warnings.warn(message, UserWarning, stacklevel=2)
        return
    raise InputError(message)


@numba.njit(nogil=True, cache=True)
def _columns_to_codes(x, codes, ones):
    """Write the row of the 1 of each column of ``x`` (n, k, length) into ``codes`` (n, length).

    An all-zero column gets code ``k``. Each row is read once, contiguously,
    with no branch (which the compiler vectorises); ``ones`` (length,) uint8
    is scratch. Returns ``(first_bad, first_unknown)``: the flat index
    ``example * length + position`` of the first column that is not one-hot
    (a value other than 0 and 1, or two 1s) and of the first all-zero column,
    -1 where there is none.
    """
    n_examples, n_rows, length = x.shape
    first_bad = -1
    first_unknown = -1
    for example in range(n_examples):
        rows = x[example]
        code_row = codes[example]
        n_bad = 0
        for position in range(length):
            ones[position] = 0
            code_row[position] = 0
        for row in range(n_rows):
            values = rows[row]
            for position in range(length):
                value = values[position]
                is_one = value == 1
                n_bad += (value != 0) & (value != 1)
                ones[position] += is_one
                code_row[position] += row * is_one
        n_unknown = 0
        for position in range(length):
            n_bad += ones[position] > 1
            is_unknown = ones[position] == 0
            n_unknown += is_unknown
            code_row[position] += n_rows * is_unknown
        if n_bad and first_bad < 0:
            for position in range(length):
                n_ones = 0
                for row in range(n_rows):
                    value = rows[row, position]
                    n_ones += value == 1
                    if value != 0 and value != 1:
                        n_ones = 2
                if n_ones > 1:
                    first_bad = example * length + position
                    break
        if n_unknown and first_unknown < 0:
            for position in range(length):
                if ones[position] == 0:
                    first_unknown = example * length + position
                    break
    return first_bad, first_unknown


# dtypes numba's kernels read and write directly; others (float16, bfloat16, ...) go through float32.
_KERNEL_DTYPES = {
    torch.bool,
    torch.float32,
    torch.float64,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
}


def _checked_codes(X: torch.Tensor, name: str, allow_N: bool = True) -> np.ndarray:
    """The codes ``(..., length)`` uint8 of a one-hot ``X`` (..., k, length), k for an all-zero
    column; raises like :func:`check_one_hot` (naming the column in ``X``'s own indices) if ``X``
    is not one-hot."""
    *leading, n_rows, length = X.shape
    if n_rows > _NOT_ALLOWED - 1:
        raise InputError(f"{name} has {n_rows} rows; at most {_NOT_ALLOWED - 1} are supported")
    values = X.detach().cpu()
    if values.dtype not in _KERNEL_DTYPES:
        values = values.float()
    values = values.reshape(-1, n_rows, length)
    codes = np.empty((values.shape[0], length), dtype=np.uint8)
    first_bad, first_unknown = _columns_to_codes(
        values.numpy(), codes, np.empty(length, dtype=np.uint8)
    )
    if first_bad < 0 and (allow_N or first_unknown < 0):
        return codes.reshape(*leading, length)
    first = first_bad if first_bad >= 0 else first_unknown
    example, position = divmod(int(first), length)
    index = (*(int(i) for i in np.unravel_index(example, leading)), position)
    n_bad = 1 if first_bad >= 0 else int((codes == n_rows).sum())
    raise InputError(_not_one_hot_message(X, index, X.ndim - 2, name, n_bad, allow_N))


def onehot_to_codes(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Turn a one-hot encoding into one byte per position.

    One compiled pass over the input converts and checks it.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray, shape (..., 4, length)
        One-hot encoded sequences; all-zero columns are unknown bases.

    Returns
    -------
    torch.Tensor or numpy.ndarray (as given), dtype uint8, shape (..., length)
        A=0, C=1, G=2, T=3, and 4 for an all-zero column; a tensor stays on
        its device.

    Raises
    ------
    ValueError
        If ``x`` does not have 4 rows, or is not one-hot (a value other than
        0 or 1, or two 1s in one column); the message names the first such
        column.
    """
    is_numpy = isinstance(x, np.ndarray)
    tensor = _as_tensor(x, "x")
    if tensor.ndim < 2 or tensor.shape[-2] != 4:
        raise InputError(f"x must have shape (..., 4, length), got {tuple(tensor.shape)}")
    codes = _checked_codes(tensor, "x")
    if is_numpy:
        return codes
    return torch.from_numpy(codes).to(tensor.device)


# ---------------------------------------------------------------------------------------------
# One-hot -> text, random sequences


def characters(
    pwm: torch.Tensor | np.ndarray,
    alphabet: str | Sequence[str] = "ACGT",
    force: bool = False,
    allow_N: bool = False,
) -> str:
    """Turn a one-hot encoding (or a PWM) back into a string, as tangermeme does.

    Each column becomes the character of its largest value (the first of
    them with ``force``). An all-zero column is a tie of every character: it
    raises, becomes ``N`` with ``allow_N``, or the first character with only
    ``force``.

    Parameters
    ----------
    pwm : torch.Tensor or numpy.ndarray, shape (len(alphabet), length) or (1, len(alphabet), length)
        A one-hot encoding, or any matrix of per-character scores.
    alphabet : str or sequence of str, optional
        The characters of the rows, in order. Default ``"ACGT"``.
    force : bool, optional
        Take the first character where several share the largest value
        instead of raising. Default False.
    allow_N : bool, optional
        Write ``N`` for an all-zero column. As in tangermeme, it also stops
        ties from raising (the first character is taken). Default False.

    Returns
    -------
    str
        The sequence, of the length of the last axis of ``pwm``.

    Raises
    ------
    ValueError
        If ``pwm`` is not 2-d (after dropping a batch axis of 1), its rows do
        not match ``alphabet``, or a column ties and neither ``force`` nor
        ``allow_N`` is set; the message names the column.
    """
    x = _as_tensor(pwm, "pwm")
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise InputError(
            f"pwm must have shape (len(alphabet), length), got {tuple(x.shape)}; pass one "
            "sequence at a time"
        )
    alphabet = list(alphabet)
    if x.shape[0] != len(alphabet):
        raise InputError(
            f"pwm has {x.shape[0]} rows but the alphabet {''.join(alphabet)!r} has "
            f"{len(alphabet)} characters"
        )
    values = x.detach().cpu().double().numpy()
    is_unknown = (values == 0).all(axis=0)
    is_max = values == values.max(axis=0, keepdims=True)
    ties = is_max.sum(axis=0) > 1
    if ties.any() and not force and not allow_N:
        position = int(np.flatnonzero(ties)[0])
        what = "is all zero (an unknown base)" if is_unknown[position] else (
            "has several characters with the same largest value"
        )
        raise InputError(
            f"column {position} of pwm {what} ({int(ties.sum())} such columns); pass "
            "allow_N=True to write N for all-zero columns, or force=True to take the first "
            "of the tied characters"
        )
    letters = np.array(alphabet + ["N"])
    codes = values.argmax(axis=0)
    if allow_N:
        codes = np.where(is_unknown, len(alphabet), codes)
    return "".join(letters[codes])


def random_one_hot(
    shape: tuple[int, int, int],
    probs: Sequence[float] | np.ndarray | None = None,
    dtype: str | torch.dtype = "int8",
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
    return_packed: bool = False,
) -> torch.Tensor:
    """Draw random one-hot encoded sequences, with tangermeme's random stream.

    Sequence ``i`` is ``RandomState.choice(len(alphabet), size=length,
    p=probs_i)`` from one ``numpy.random.RandomState(random_state)``, in
    order, so a seed gives the very sequences tangermeme gives.

    Parameters
    ----------
    shape : tuple of int
        ``(n, len(alphabet), length)``.
    probs : array-like, shape (len(alphabet),) or (n, len(alphabet)) or (1, len(alphabet)), optional
        The probability of each character, for all sequences or per sequence.
        Each row must sum to 1. Default: uniform.
    dtype : str, numpy or torch dtype, optional
        The dtype of the returned tensor. Default ``"int8"``.
    random_state : int, numpy RandomState or Generator, or None, optional
        The seed or generator to draw with (a Generator draws with its own
        ``choice``, a stream of its own). None draws a fresh seed.
    return_packed : bool, optional
        Must be False: seqlift has no PackedSequence.

    Returns
    -------
    torch.Tensor, shape (n, len(alphabet), length)
        One-hot encoded sequences, one 1 per column.

    Raises
    ------
    ValueError
        If ``shape`` is not a 3-tuple, or ``probs`` has the wrong shape or a
        row that is negative or does not sum to 1.
    """
    if not isinstance(shape, tuple) or len(shape) != 3:
        raise InputError(f"shape must be a tuple (n, len(alphabet), length), got {shape!r}")
    _check_not_packed(return_packed, "draw a one-hot tensor and use onehot_to_codes")
    n, n_characters, length = (int(size) for size in shape)
    if probs is not None:
        probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        if probs.ndim != 2 or probs.shape[1] != n_characters or probs.shape[0] not in (1, n):
            raise InputError(
                f"probs has shape {probs.shape}; expected ({n_characters},), "
                f"(1, {n_characters}) or ({n}, {n_characters})"
            )
        # numpy's own tolerance, so that what passes here passes RandomState.choice.
        tolerance = math.sqrt(np.finfo(np.float64).eps)
        wrong = (probs < 0).any(axis=1) | (np.abs(probs.sum(axis=1) - 1.0) > tolerance)
        if wrong.any():
            rows = listing(int(row) for row in np.flatnonzero(wrong))
            raise InputError(
                f"each row of probs must be non-negative and sum to 1, but row(s) {rows} "
                "do not"
            )
    if not isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        random_state = np.random.RandomState(random_state)

    codes = np.empty((n, length), dtype=np.int64)
    for i in range(n):
        row = None if probs is None else probs[i if probs.shape[0] > 1 else 0]
        codes[i] = random_state.choice(n_characters, size=length, p=row)
    return _rows_of_codes(torch.from_numpy(codes), n_characters, _as_torch_dtype(dtype))


# ---------------------------------------------------------------------------------------------
# Motif substitution


def _motif_tensor(
    motif: torch.Tensor | str, n_characters: int, alphabet: str | Sequence[str], ignore
) -> torch.Tensor:
    """A motif as a one-hot tensor (1 or n, len(alphabet), motif_length)."""
    if isinstance(motif, str):
        return one_hot_encode(motif, alphabet=alphabet, ignore=ignore).unsqueeze(0)
    if not isinstance(motif, (torch.Tensor, np.ndarray)):
        raise InputError(f"motif must be a str or a tensor, not {type(motif).__name__}")
    motif = _as_tensor(motif, "motif")
    if motif.ndim == 2:
        motif = motif.unsqueeze(0)
    if motif.ndim != 3 or motif.shape[1] != n_characters:
        raise InputError(
            f"motif must have shape (n, {n_characters}, motif_length), got {tuple(motif.shape)}"
        )
    check_one_hot(motif, "motif", axis=1)
    return motif


def _check_sequences(X: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor):
        raise InputError(
            f"X must be a torch.Tensor, not {type(X).__name__}; encode a sequence with "
            "one_hot_encode(sequence).unsqueeze(0)"
        )
    if X.ndim != 3:
        raise InputError(f"X must have shape (n, len(alphabet), length), got {tuple(X.shape)}")
    check_one_hot(X, "X", axis=1)


def _check_position(start: int | None, name: str = "start") -> None:
    if start is not None and (isinstance(start, bool) or not isinstance(start, (int, np.integer))):
        raise PositionTypeError(f"{name} must be an int or None, got {start!r}")


def substitute(
    X: torch.Tensor,
    motif: torch.Tensor | str,
    start: int | None = None,
    alphabet: str | Sequence[str] = "ACGT",
    ignore: str | Sequence[str] = "N",
    return_packed: bool | None = None,
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
        to sequence ``i``. A 2-d tensor is one motif.
    start : int or None, optional
        The position of the first base of the motif. None centres it:
        ``length // 2 - motif_length // 2``, tangermeme's convention.
    alphabet : str or sequence of str, optional
        The alphabet for a string motif. Default ``"ACGT"``.
    ignore : str or sequence of str, optional
        Characters of a string motif that keep the original base. Default ``"N"``.
    return_packed : bool or None, optional
        Must not be True: seqlift has no PackedSequence.

    Returns
    -------
    torch.Tensor, shape (n, len(alphabet), length)
        A copy of ``X`` with the motif written in; ``X`` is not modified.

    Raises
    ------
    ValueError
        If ``X`` or the motif is not one-hot or has the wrong shape, the motif
        is longer than the sequences, or it falls off them at ``start``.
    MotifCountError
        (a ValueError and a RuntimeError) if a motif tensor holds neither one
        motif nor one per sequence.
    PositionTypeError
        (an IndexError and a TypeError) if ``start`` is not an int.
    """
    _check_sequences(X)
    _check_not_packed(return_packed, "substitute into the one-hot tensor")
    _check_position(start)
    motif = _motif_tensor(motif, X.shape[1], alphabet, ignore).to(device=X.device, dtype=X.dtype)
    length, motif_length = X.shape[-1], motif.shape[-1]
    if motif.shape[0] not in (1, X.shape[0]):
        raise MotifCountError(
            f"motif holds {motif.shape[0]} motifs for {X.shape[0]} sequences; give one motif "
            "for all or one per sequence"
        )
    if motif_length > length:
        raise InputError(
            f"motif of length {motif_length} is longer than the sequences ({length})"
        )
    if start is None:
        start = length // 2 - motif_length // 2
    if start < 0 or start + motif_length > length:
        raise InputError(
            f"a motif of length {motif_length} at start={start} falls off a sequence of "
            f"length {length}; start must be between 0 and {length - motif_length}"
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
    return_packed: bool | None = None,
) -> torch.Tensor:
    """Write several motifs into each sequence with given gaps between them.

    Parameters
    ----------
    X : torch.Tensor, shape (n, len(alphabet), length)
        One-hot encoded sequences.
    motifs : sequence of str or torch.Tensor
        The motifs, in order along the sequence (see ``substitute``).
    spacing : int or sequence of int
        The number of bases between the end of motif ``i`` and the start of
        motif ``i + 1``: one value for all gaps, or ``len(motifs) - 1``
        values, each from 0 to ``length - 1``.
    start : int or None, optional
        The start of the first motif. None centres the whole arrangement
        (motifs and gaps): ``length // 2 - total // 2``, as tangermeme does.
    alphabet, ignore : optional
        As in ``substitute``.
    return_packed : bool or None, optional
        Must not be True: seqlift has no PackedSequence.

    Returns
    -------
    torch.Tensor, shape (n, len(alphabet), length)
        A copy of ``X`` with all motifs written in.

    Raises
    ------
    ValueError
        If the number of spacings is not ``len(motifs) - 1``, a spacing is
        negative or not shorter than the sequences, or the arrangement does not
        fit; and as ``substitute``.
    """
    _check_not_packed(return_packed, "substitute into the one-hot tensor")
    _check_position(start)
    if isinstance(spacing, (int, np.integer)) and not isinstance(spacing, bool):
        spacing = [int(spacing)] * max(len(motifs) - 1, 0)
    if isinstance(spacing, (str, bytes)) or not isinstance(spacing, (Sequence, np.ndarray)):
        raise InputError(f"spacing must be an int or a list of ints, got {spacing!r}")
    spacing = list(spacing)
    if len(spacing) != len(motifs) - 1:
        raise InputError(
            f"{len(motifs)} motifs need {len(motifs) - 1} spacings, got {len(spacing)}"
        )
    length = X.shape[-1] if isinstance(X, torch.Tensor) else None
    if length is not None and any(not 0 <= gap < length for gap in spacing):
        raise InputError(
            f"spacings must be from 0 to the sequence length - 1 ({length - 1}), got {spacing}"
        )

    motif_lengths = [len(m) if isinstance(m, str) else m.shape[-1] for m in motifs]
    total = sum(motif_lengths) + sum(spacing)
    if length is not None:
        if start is None:
            start = length // 2 - total // 2
        if start < 0 or start + total > length:
            raise InputError(
                f"motifs and spacings span {total} bases from start={start}, which does not "
                f"fit in sequences of length {length}"
            )

    position = start
    for index, motif in enumerate(motifs):
        X = substitute(X, motif, start=position, alphabet=alphabet, ignore=ignore)
        if index < len(spacing):
            position += motif_lengths[index] + spacing[index]
    return X

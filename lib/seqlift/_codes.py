"""DNA text as byte codes, without torch: the one home of text -> codes.

``A C G T`` (either case) are codes 0-3 and every other character :data:`N_CODE`. The regions
stage reads genomes with this (its job imports no torch); :mod:`seqlift.sequence` builds its
one-hot encodings on it.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["CODE_TO_ONEHOT", "N_CODE", "sequence_to_codes", "translate", "translation_table"]

#: The byte code of an unknown base (an all-zero column).
N_CODE = 4

#: ``CODE_TO_ONEHOT[codes]`` is the one-hot ``(..., 4)`` uint8 of codes 0-4 (4: all zero).
CODE_TO_ONEHOT = np.zeros((N_CODE + 1, 4), dtype=np.uint8)
CODE_TO_ONEHOT[np.arange(4), np.arange(4)] = 1


@functools.lru_cache(maxsize=64)
def translation_table(alphabet: str, ignore: str, other: int) -> bytes:
    """A ``bytes.translate`` table: each character of ``alphabet`` (either case) to its row,
    each of ``ignore`` (either case) to ``len(alphabet)``, every other byte to ``other``."""
    table = bytearray([other] * 256)
    for code, characters_of_code in ((len(alphabet), ignore), *enumerate(alphabet)):
        for character in characters_of_code:
            table[ord(character.upper())] = code
            table[ord(character.lower())] = code
    return bytes(table)


def translate(sequence: str, table: bytes) -> np.ndarray:
    """The codes of ``sequence`` under ``table``, one uint8 per character.

    ``bytes.translate`` runs at about a GB/s, three times numpy's table
    lookup. A character outside Latin-1 becomes ``?`` first, one byte like
    every other character, so positions are kept.
    """
    return np.frombuffer(
        sequence.encode("latin-1", "replace").translate(table), dtype=np.uint8
    ).copy()


def sequence_to_codes(sequence: str) -> np.ndarray:
    """The byte code of every base of a DNA sequence.

    Parameters
    ----------
    sequence : str
        The bases, e.g. ``"ACGTNacgt"``.

    Returns
    -------
    numpy.ndarray, uint8, shape (len(sequence),)
        A=0, C=1, G=2, T=3 in either case; every other character (``N``, the
        IUPAC ambiguity codes, anything else) is 4, an unknown base.

    Raises
    ------
    TypeError
        If ``sequence`` is not a str.
    """
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be a str, not {type(sequence).__name__}")
    return translate(sequence, translation_table("ACGT", "", N_CODE))

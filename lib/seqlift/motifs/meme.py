"""MEME motif files (text format, version 4): a strict reader that names the broken line."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlift.errors import InputError
from seqlift.motifs.modisco import BASES

PathLike = str | os.PathLike

__all__ = ["MemeFileError", "MemeMotif", "format_meme", "read_meme_file", "write_meme_file"]


class MemeFileError(InputError):
    """A MEME motif file that cannot be read; the message names the file and line."""


@dataclass
class MemeMotif:
    """A motif of a MEME file: ``id`` and ``name`` from its ``MOTIF`` line, ``ppm`` ``(length,
    4)`` letter probabilities (rows sum to 1)."""

    id: str
    name: str
    ppm: np.ndarray
    n_sites: int | None = None

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}".strip()


def format_meme(motifs: Sequence[MemeMotif], source: str) -> str:
    """``motifs`` as the text of a MEME (version 4) file, uniform background; ``source`` goes
    into its background line, ``Background letter frequencies (from <source>):``. Probabilities
    are written exactly (:func:`read_meme_file` reads back the same float64 values)."""
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        f"Background letter frequencies (from {source}):",
        "A 0.25 C 0.25 G 0.25 T 0.25",
        "",
    ]
    for motif in motifs:
        lines.append(f"MOTIF {motif.id} {motif.name}".rstrip())
        sites = f" nsites= {motif.n_sites}" if motif.n_sites else ""
        lines.append(f"letter-probability matrix: alength= 4 w= {len(motif.ppm)}{sites} E= 0")
        # The shortest text that reads back as the same float64: the file is a lossless copy.
        lines.extend(" ".join(repr(float(value)) for value in row) for row in motif.ppm)
        lines.append("")
    return "\n".join(lines) + "\n"


def write_meme_file(path: PathLike, motifs: Sequence[MemeMotif], source: str) -> Path:
    """Write :func:`format_meme` of ``motifs`` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(format_meme(motifs, source))
    return path


_WIDTH = re.compile(r"\bw=\s*(\d+)")
_ALPHABET_LENGTH = re.compile(r"\balength=\s*(\d+)")


def read_meme_file(path: PathLike) -> list[MemeMotif]:
    """Read a MEME motif file strictly, so that a broken one is named by its line.

    Accepted: the MEME format's text version (``MEME version ...``, optional ``ALPHABET= ACGT``,
    strands and background lines), each motif a ``MOTIF <id> [name]`` line, a
    ``letter-probability matrix: ... w= <length>`` line and ``length`` rows of 4 probabilities
    that sum to 1 (within 0.02). Other lines between a ``MOTIF`` line and its matrix (the
    log-odds matrix and sites of MEME's own ``meme.txt``), ``URL`` lines and blank lines are
    skipped, and a byte-order mark is ignored. Not read: custom alphabet blocks
    (``ALPHABET "DNA" DNA-LIKE``) and matrices without ``w=``.

    Raises
    ------
    MemeFileError
        Naming the file, the line and the problem: a missing ``MEME version`` line, another
        alphabet, a ``MOTIF`` line without an id or a repeated id, a matrix header without
        ``w=``, a row that is not 4 non-negative numbers summing to 1, a motif with fewer rows
        than ``w``, or no motif at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the text
    except FileNotFoundError:
        raise MemeFileError(f"{path}: the MEME file does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MemeFileError(f"{path}: cannot be read as a MEME text file ({error})") from None

    def fail(number: int, problem: str) -> MemeFileError:
        return MemeFileError(f"{path}, line {number}: {problem}")

    motifs: list[MemeMotif] = []
    seen: dict[str, int] = {}
    lines = text.splitlines()
    if not any(line.startswith("MEME version") for line in lines):
        raise fail(1, "no 'MEME version' line; this is not a MEME motif file")
    current: dict[str, Any] | None = None

    def finish(number: int) -> None:
        if current is None:
            return
        if current["width"] is None:
            raise fail(current["line"], f"motif {current['id']} has no 'letter-probability "
                       "matrix: ... w= <length>' line")
        if len(current["rows"]) < current["width"]:
            raise fail(number, f"motif {current['id']} has {len(current['rows'])} matrix rows "
                       f"but its header says w= {current['width']}")
        motifs.append(MemeMotif(current["id"], current["name"], np.array(current["rows"]),
                                current["sites"]))

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("ALPHABET"):
            letters = line.split("=", 1)[-1].strip()
            if letters != BASES:
                raise fail(number, f"alphabet {letters!r}; only DNA motifs ({BASES}) can be "
                           "matched to patterns")
        elif line.startswith("MOTIF"):
            finish(number)
            fields = line.split()
            if len(fields) < 2:
                raise fail(number, "a MOTIF line needs the motif's id ('MOTIF MA0139.2 CTCF')")
            if fields[1] in seen:
                raise fail(number, f"motif id {fields[1]} was already used on line "
                           f"{seen[fields[1]]}; ids must be unique")
            seen[fields[1]] = number
            # 'MOTIF <id> [alternate name]': MEME's own output adds 'width = ...' after it.
            current = {"id": fields[1], "name": fields[2] if len(fields) > 2 else "",
                       "width": None, "rows": [], "line": number, "sites": None}
        elif current is None or not line or line.startswith("URL"):
            continue
        elif line.startswith("letter-probability matrix"):
            width = _WIDTH.search(line)
            if width is None or int(width.group(1)) < 1:
                raise fail(number, "the letter-probability matrix line needs 'w= <length>'")
            alphabet_length = _ALPHABET_LENGTH.search(line)
            if alphabet_length and int(alphabet_length.group(1)) != 4:
                raise fail(number, f"alength= {alphabet_length.group(1)}; DNA motifs have 4 "
                           "letters")
            sites = re.search(r"\bnsites=\s*(\d+)", line)
            current |= {"width": int(width.group(1)), "sites": int(sites.group(1)) if sites
                        else None}
        elif current["width"] is not None and len(current["rows"]) < current["width"]:
            try:
                row = [float(value) for value in line.split()]
            except ValueError:
                raise fail(number, f"matrix row {line!r} of motif {current['id']} is not "
                           "numbers") from None
            if len(row) != 4 or min(row) < 0 or not math.isclose(sum(row), 1, abs_tol=0.02):
                raise fail(number, f"matrix row {line!r} of motif {current['id']} must be 4 "
                           "probabilities (A C G T) that sum to 1")
            current["rows"].append(row)
        # Anything else (MEME's own output has a log-odds matrix and its sites between a MOTIF
        # line and its letter probabilities) is skipped; a motif without them is named below.
    finish(len(lines))
    if not motifs:
        raise fail(len(lines), "no motif (no 'MOTIF <id>' line followed by its matrix)")
    return motifs

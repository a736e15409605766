"""Motif discovery on attributions, with the field's own tools: TF-MoDISco (modisco-lite 3.0),
TOMTOM (memelite) and the JASPAR database that pyjaspar ships.

One module per tool:

- :mod:`seqlift.motifs.modisco`: central windows, modisco-lite's ``TFMoDISco``, the patterns of
  a ``modisco.h5`` (:class:`Pattern`) and their trimming;
- :mod:`seqlift.motifs.meme`: MEME motif files, read strictly (a broken line is named);
- :mod:`seqlift.motifs.jaspar`: a JASPAR release, collection and taxon as MEME motifs;
- :mod:`seqlift.motifs.tomtom`: patterns matched to a database, with Benjamini-Hochberg q-values.

The workflow's ``motifs`` stage (:mod:`seqlift.pipeline.motifs`) runs them per target. In a
notebook::

    from seqlift.motifs import build_jaspar_database, discover_patterns, match_patterns
"""

from seqlift.motifs.jaspar import MotifDatabaseError, build_jaspar_database, jaspar_choices
from seqlift.motifs.meme import (
    MemeFileError,
    MemeMotif,
    format_meme,
    read_meme_file,
    write_meme_file,
)
from seqlift.motifs.modisco import (
    BASES,
    DEFAULT_WINDOW,
    MODISCO_DEFAULTS,
    Pattern,
    central_window,
    discover_patterns,
    leading_pattern,
    read_patterns,
    save_patterns,
    trim_bounds,
)
from seqlift.motifs.tomtom import benjamini_hochberg, match_patterns

__all__ = [
    "BASES",
    "DEFAULT_WINDOW",
    "MODISCO_DEFAULTS",
    "MemeFileError",
    "MemeMotif",
    "MotifDatabaseError",
    "Pattern",
    "benjamini_hochberg",
    "build_jaspar_database",
    "central_window",
    "discover_patterns",
    "format_meme",
    "jaspar_choices",
    "leading_pattern",
    "match_patterns",
    "read_meme_file",
    "read_patterns",
    "save_patterns",
    "trim_bounds",
    "write_meme_file",
]

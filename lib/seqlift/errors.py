"""Exceptions raised by seqlift.

Every error caused by the user's input (a malformed BED line, a chromosome the FASTA lacks, a
missing file) is an :class:`InputError`. Its message names the file, the line or region at fault,
and says what to do about it, so that it can be shown as is at the end of a Snakemake log.
"""


class SeqliftError(Exception):
    """Base class of every exception raised on purpose by seqlift."""


class InputError(SeqliftError, ValueError):
    """The user's input (a file, a config value) cannot be used as given.

    Subclasses :class:`ValueError` so that callers who already catch ``ValueError`` for bad
    arguments keep working. The message names the file and the line or region at fault and ends
    with what to do.
    """

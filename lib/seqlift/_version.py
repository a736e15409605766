"""The version of seqlift, in one place: the package metadata and every shard read it here."""

__version__ = "0.1.0"

"""The JASPAR database that pyjaspar ships (sqlite inside its wheel, so it works offline)."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqlift._utils import listing
from seqlift.errors import InputError
from seqlift.motifs.meme import MemeMotif
from seqlift.motifs.modisco import BASES

__all__ = ["MotifDatabaseError", "build_jaspar_database", "jaspar_choices"]


class MotifDatabaseError(InputError):
    """The JASPAR selection (release, collection, taxon) is not one that pyjaspar offers."""


def jaspar_choices(release: str | None = None) -> dict[str, Any]:
    """What pyjaspar offers: its releases (newest first), and the collections and taxa of
    ``release`` (default: the newest).

    Returns
    -------
    dict
        ``releases``, ``newest``, ``release``, ``collections`` and ``taxa`` (sorted lists).

    Raises
    ------
    MotifDatabaseError
        When ``release`` is not one of pyjaspar's.
    """
    import pyjaspar

    releases = sorted(pyjaspar.jaspar_releases, reverse=True)
    newest = pyjaspar.JASPAR_LATEST_RELEASE
    release = release or newest
    if release not in pyjaspar.jaspar_releases:
        raise MotifDatabaseError(
            f"motifs.jaspar.release {release!r} is not a JASPAR release that pyjaspar "
            f"{pyjaspar.__version__} ships; use one of {listing(releases)} (or null for the "
            f"newest, {newest})"
        )
    database = pyjaspar.jaspardb(release=release)
    try:
        cursor = database.conn.cursor()
        collections = sorted(row[0] for row in cursor.execute(
            "SELECT DISTINCT COLLECTION FROM MATRIX"))
        taxa = sorted(row[0] for row in cursor.execute(
            "SELECT DISTINCT VAL FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group'"))
    finally:
        database.conn.close()
    return {"releases": releases, "newest": newest, "release": release,
            "collections": collections, "taxa": taxa}


def build_jaspar_database(
    release: str | None = None, collection: str = "CORE", taxon: str | None = "vertebrates"
) -> tuple[list[MemeMotif], dict[str, Any]]:
    """The latest version of every JASPAR matrix of ``collection`` and ``taxon`` in ``release``.

    Parameters
    ----------
    release : str, optional
        A JASPAR release pyjaspar ships (``JASPAR2024``); None is its newest.
    collection : str
        A JASPAR collection (``CORE``, ``UNVALIDATED``, ...).
    taxon : str, optional
        A JASPAR taxonomic group (``vertebrates``, ``plants``, ...); None takes every taxon.

    Returns
    -------
    motifs : list of MemeMotif
        Letter probabilities from JASPAR's counts, in pyjaspar's order (a position without a
        count, which a few matrices have, is uniform).
    provenance : dict
        ``source`` (``"jaspar"``), ``release``, ``collection``, ``taxon``, ``n_motifs`` and the
        pyjaspar version.

    Raises
    ------
    MotifDatabaseError
        For a release, collection or taxon pyjaspar does not offer (the valid ones are named),
        or a selection without a motif.
    """
    import pyjaspar

    choices = jaspar_choices(release)
    release = choices["release"]
    if collection not in choices["collections"]:
        raise MotifDatabaseError(
            f"motifs.jaspar.collection {collection!r} is not a collection of {release}; use one "
            f"of {listing(choices['collections'])}"
        )
    if taxon is not None and taxon not in choices["taxa"]:
        raise MotifDatabaseError(
            f"motifs.jaspar.taxon {taxon!r} is not a taxonomic group of {release}; use one of "
            f"{listing(choices['taxa'], limit=20)}, or null for all of them"
        )
    database = pyjaspar.jaspardb(release=release)
    try:
        records = database.fetch_motifs(
            collection=collection, tax_group=None if taxon is None else [taxon]
        )
    finally:
        database.conn.close()
    motifs = []
    for record in records:
        counts = np.array([record.counts[base] for base in BASES], dtype=np.float64).T
        totals = counts.sum(axis=1, keepdims=True)
        # A few matrices (JASPAR2022 UNVALIDATED UN0498.1, UN0570.1) have positions without a
        # count: those carry no information, so they get the uniform background.
        ppm = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 0.25)
        motifs.append(MemeMotif(str(record.matrix_id), str(record.name), ppm,
                                int(round(float(totals.max()))) or None))
    if not motifs:
        raise MotifDatabaseError(
            f"{release} has no {collection} motif of taxon {taxon!r}; choose another "
            "motifs.jaspar.collection or motifs.jaspar.taxon"
        )
    provenance = {"source": "jaspar", "release": release, "collection": collection,
                  "taxon": taxon, "n_motifs": len(motifs),
                  "pyjaspar_version": pyjaspar.__version__}
    return motifs, provenance

"""The motifs stage as library calls: windows, MEME files, JASPAR, TOMTOM q-values, TF-MoDISco
outcomes (found, skipped, unmatched) and their tables.

The planted store: 300 random 100-bp regions, every second one holding a GATA site (``AGATAAGA``,
either strand) at its centre, whose hypothetical scores favour the site's bases (+1 for the
planted base, -1/3 for the others) over small noise elsewhere. TF-MoDISco must find the site and TOMTOM must
name a GATA motif of JASPAR.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import random_onehot, write_attributions_store

from seqlift.errors import InputError
from seqlift.motifs import (
    MemeFileError,
    MemeMotif,
    MotifDatabaseError,
    Pattern,
    benjamini_hochberg,
    build_jaspar_database,
    central_window,
    discover_patterns,
    leading_pattern,
    match_patterns,
    read_meme_file,
    read_patterns,
    save_patterns,
    write_meme_file,
)
from seqlift.pipeline import motifs

GATA_SITE = "AGATAAGA"
N_PLANTED, PLANTED_WIDTH = 300, 100
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def planted_store(path: Path, n: int = N_PLANTED, seed: int = 0, scale: float = 1.0) -> Path:
    """The planted store of the module docstring (``scale`` 0 gives all-zero attributions)."""
    rng = np.random.default_rng(seed)
    onehot = random_onehot(rng, n, PLANTED_WIDTH)
    hypothetical = rng.normal(0, 0.02, size=(n, 4, PLANTED_WIDTH))
    start = PLANTED_WIDTH // 2 - len(GATA_SITE) // 2
    for region in range(0, n, 2):
        site = GATA_SITE if rng.random() < 0.5 else GATA_SITE.translate(COMPLEMENT)[::-1]
        for offset, base in enumerate(site):
            column = start + offset
            onehot[region, :, column] = np.eye(4, dtype=np.uint8)["ACGT".index(base)]
            hypothetical[region, :, column] = -1 / 3
            hypothetical[region, "ACGT".index(base), column] = 1.0
    regions = [(f"region_{i:06d}", "chr1", 1000 * i, 1000 * i + PLANTED_WIDTH) for i in range(n)]
    return write_attributions_store(path, onehot, {"GATA": hypothetical * scale}, regions)


def run(tmp_path: Path, store: Path, database: tuple[Path, Path | None], **settings) -> dict:
    """:func:`motifs.run_motifs` of target GATA into ``tmp_path/GATA``."""
    folder = tmp_path / "GATA"
    return motifs.run_motifs(
        attributions_zarr=store, target="GATA", modisco_h5=folder / "modisco.h5",
        matches_json=folder / "matches.json", matches_tsv=folder / "matches.tsv",
        table_html=folder / "motifs.html", logos=folder / "logos", database_meme=database[0],
        database_info=database[1], settings=settings, n_threads=2,
        modisco_report=settings.pop("modisco_report", None),
    )


@pytest.fixture(scope="module")
def jaspar(tmp_path_factory) -> tuple[Path, Path]:
    """``jaspar.meme`` and ``jaspar.json`` of the default selection (rule motif_database)."""
    folder = tmp_path_factory.mktemp("jaspar")
    motifs.write_motif_database(folder / "jaspar.meme", folder / "jaspar.json")
    return folder / "jaspar.meme", folder / "jaspar.json"


@pytest.fixture(scope="module")
def planted(tmp_path_factory, jaspar) -> tuple[Path, dict]:
    """The planted store through run_motifs (modisco-lite's own report is checked on the demo,
    tests/test_demo.py)."""
    folder = tmp_path_factory.mktemp("planted")
    store = planted_store(folder / "attributions.zarr")
    return folder, run(folder, store, jaspar)


@pytest.fixture(scope="module")
def small_planted(tmp_path_factory) -> Path:
    """120 regions of the planted store: 60 sites, enough for a pattern, quick to find."""
    return planted_store(tmp_path_factory.mktemp("small") / "attributions.zarr", n=120, seed=2)


@pytest.fixture(scope="module")
def small_matched(tmp_path_factory, small_planted, jaspar) -> tuple[Path, dict]:
    """The small planted store through run_motifs against JASPAR."""
    folder = tmp_path_factory.mktemp("small_matched")
    return folder, run(folder, small_planted, jaspar)


# ---------------------------------------------------------------------------------------------
# windows and q-values


def test_the_window_is_central_and_defaults_to_400_bp_or_the_whole_region():
    assert central_window(1000, None) == (300, 700)
    assert central_window(250, None) == (0, 250)
    assert central_window(250, 200) == (25, 225)
    assert central_window(2114, 400) == (857, 1257)
    with pytest.raises(InputError, match=r"motifs.window is 300 but the regions are 250 bp"):
        central_window(250, 300)


def test_a_window_narrower_than_a_seqlet_core_is_named_before_modisco_runs():
    one_hot = np.zeros((4, 10, 4), dtype=np.float32)
    with pytest.raises(InputError, match=r"the windows are 10 bp, narrower than one TF-MoDISco "
                                         r"seqlet core \(sliding_window_size 20\)"):
        discover_patterns(one_hot, one_hot)


def test_windows_are_read_from_the_store_positions_first(tmp_path):
    store = planted_store(tmp_path / "attributions.zarr", n=3)
    one_hot, hypothetical = motifs.read_windows(store, "GATA", 8)
    start = PLANTED_WIDTH // 2 - 4
    import zarr

    group = zarr.open_group(str(store), mode="r")
    assert one_hot.shape == hypothetical.shape == (3, 8, 4)
    np.testing.assert_array_equal(one_hot, group["onehot"][:, :, start:start + 8].transpose(0, 2, 1))
    np.testing.assert_array_equal(hypothetical, group["hypothetical/GATA"][:, :, start:start + 8]
                                  .transpose(0, 2, 1))
    sites = ["".join("ACGT"[i] for i in row.argmax(axis=1)) for row in one_hot]
    assert sites[0] in {GATA_SITE, "TCTTATCT"} and sites[2] in {GATA_SITE, "TCTTATCT"}


def test_benjamini_hochberg_q_values_by_hand():
    p = np.array([[0.01, 0.04, 0.03, 0.5], [0.2, 0.2, 0.2, 0.2]])
    # Sorted 0.01 0.03 0.04 0.5 times 4 / rank: 0.04 0.06 0.0533 0.5; running minimum from the end.
    np.testing.assert_allclose(benjamini_hochberg(p), [[0.04, 0.16 / 3, 0.16 / 3, 0.5],
                                                       [0.2, 0.2, 0.2, 0.2]], rtol=1e-12)
    assert benjamini_hochberg(np.array([0.9, 0.8])).tolist() == [0.9, 0.9]


# ---------------------------------------------------------------------------------------------
# MEME files


def test_a_meme_file_round_trips(tmp_path):
    ppm = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0], [1 / 3, 1 / 6, 1 / 7, 0.0]])
    ppm[2, 3] = 1 - ppm[2, :3].sum()
    path = write_meme_file(tmp_path / "db.meme", [MemeMotif("M1", "ONE", ppm, 12),
                                                  MemeMotif("M2", "", ppm[::-1])], "a test")
    read = read_meme_file(path)
    assert [(motif.id, motif.name, motif.n_sites) for motif in read] == [("M1", "ONE", 12),
                                                                         ("M2", "", None)]
    np.testing.assert_array_equal(read[0].ppm, ppm)
    np.testing.assert_array_equal(read[1].ppm, ppm[::-1])
    assert "Background letter frequencies (from a test):" in path.read_text()


GOOD_MOTIF = "MOTIF M1 ONE\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n1 0 0 0\n"


MEME_TXT = """\ufeffMEME version 5.5.4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.3 C 0.2 G 0.2 T 0.3

MOTIF GATAAGR MEME-1\twidth =   3  sites =  20  llr = 180  E-value = 1.2e-010
--------------------------------------------------------------------------------
\tMotif GATAAGR MEME-1 position-specific scoring matrix
--------------------------------------------------------------------------------
log-odds matrix: alength= 4 w= 3 n= 9800 bayes= 7.5 E= 1.2e-010
  -123  -123  -123   194
   194  -123  -123  -123
  -123  -123   187  -123
--------------------------------------------------------------------------------
\tMotif GATAAGR MEME-1 position-specific probability matrix
--------------------------------------------------------------------------------
letter-probability matrix: alength= 4 w= 3 nsites= 20 E= 1.2e-010
 0.000000  0.000000  0.000000  1.000000
 1.000000  0.000000  0.000000  0.000000
 0.000000  0.000000  0.950000  0.050000
--------------------------------------------------------------------------------
"""


def test_memes_own_output_and_a_byte_order_mark_are_read(tmp_path):
    path = tmp_path / "meme.txt"
    path.write_text(MEME_TXT, encoding="utf-8")
    [motif] = read_meme_file(path)
    assert (motif.id, motif.name, motif.n_sites) == ("GATAAGR", "MEME-1", 20)
    np.testing.assert_array_equal(motif.ppm, [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0.95, 0.05]])


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (GOOD_MOTIF, 1, "no 'MEME version' line"),
        ("MEME version 4\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n" + GOOD_MOTIF, 2, "alphabet"),
        ("MEME version 4\nMOTIF\n", 2, "needs the motif's id"),
        ("MEME version 4\n" + GOOD_MOTIF.replace("w= 2", "nsites= 3"), 3, "needs 'w= <length>'"),
        ("MEME version 4\n" + GOOD_MOTIF.replace("1 0 0 0", "0.5 0 0 0"), 5, "sum to 1"),
        ("MEME version 4\n" + GOOD_MOTIF.replace("1 0 0 0", "1 0 x 0"), 5, "is not numbers"),
        ("MEME version 4\n" + GOOD_MOTIF.replace("1 0 0 0\n", ""), 4, "has 1 matrix rows"),
        ("MEME version 4\n" + GOOD_MOTIF + GOOD_MOTIF, 6, "already used on line 2"),
        ("MEME version 4\nMOTIF M1\n0.25 0.25 0.25 0.25\n", 2, "M1 has no 'letter-prob"),
        ("MEME version 4\n\nALPHABET= ACGT\n", 3, "no motif"),
    ],
)
def test_a_malformed_meme_file_is_named_with_its_line(tmp_path, text, line, problem):
    path = tmp_path / "bad.meme"
    path.write_text(text)
    with pytest.raises(MemeFileError, match=rf"bad\.meme, line {line}: .*{problem}"):
        read_meme_file(path)


def test_a_missing_meme_file_is_named(tmp_path):
    with pytest.raises(MemeFileError, match=r"missing\.meme: the MEME file does not exist"):
        read_meme_file(tmp_path / "missing.meme")


# ---------------------------------------------------------------------------------------------
# JASPAR


def test_the_default_database_is_jaspar2026_core_vertebrates(jaspar):
    import pyjaspar

    meme, info = jaspar
    provenance = json.loads(info.read_text())
    assert provenance | {"path": None} == {
        "status": "ok", "reason": None, "source": "jaspar", "release": "JASPAR2026",
        "collection": "CORE", "taxon": "vertebrates", "n_motifs": 1019, "pyjaspar_version": "4.0.0",
        "path": None,
    }
    database = {motif.id: motif for motif in read_meme_file(meme)}
    assert len(database) == 1019
    assert database["MA0139.2"].name == "CTCF" and database["MA0035.5"].name == "GATA1"
    counts = pyjaspar.jaspardb("JASPAR2026").fetch_motif_by_id("MA0139.2").counts
    expected = np.array([counts[base] for base in "ACGT"], dtype=np.float64).T
    np.testing.assert_allclose(database["MA0139.2"].ppm,
                               expected / expected.sum(axis=1, keepdims=True), rtol=1e-15)
    # The file is a lossless copy of the selection: a notebook's build_jaspar_database() and the
    # workflow's jaspar.meme give TOMTOM the same numbers.
    built, _ = build_jaspar_database()
    assert [motif.id for motif in built] == list(database)
    for motif in built:
        np.testing.assert_array_equal(database[motif.id].ppm, motif.ppm, err_msg=motif.id)


def test_positions_without_a_count_in_jaspar_are_uniform():
    motifs_2022, _ = build_jaspar_database("JASPAR2022", "UNVALIDATED", None)
    ppm = {motif.id: motif.ppm for motif in motifs_2022}
    for matrix in ("UN0498.1", "UN0570.1"):
        assert np.isfinite(ppm[matrix]).all()
        np.testing.assert_allclose(ppm[matrix].sum(axis=1), 1.0, rtol=1e-15)
        assert (ppm[matrix] == 0.25).all(axis=1).any(), matrix


def test_an_older_release_and_another_taxon_can_be_chosen():
    motifs_2020, provenance = build_jaspar_database("JASPAR2020", "CORE", "plants")
    assert provenance["release"] == "JASPAR2020" and provenance["taxon"] == "plants"
    assert provenance["n_motifs"] == len(motifs_2020) > 100
    assert not any(motif.id == "MA0139.1" for motif in motifs_2020)  # CTCF is a vertebrate motif


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"collection": "COREE"}, r"collection 'COREE' is not a collection of JASPAR2026; use one "
                                  r"of CORE, UNVALIDATED"),
        ({"taxon": "mammals"}, r"taxon 'mammals' is not a taxonomic group of JASPAR2026; use one "
                               r"of .*plants.*vertebrates"),
        ({"release": "JASPAR2030"}, r"release 'JASPAR2030' is not a JASPAR release .* use one of "
                                    r"JASPAR2026, JASPAR2024, .*JASPAR2014"),
    ],
)
def test_a_jaspar_selection_pyjaspar_lacks_names_the_valid_ones(selection, message):
    with pytest.raises(MotifDatabaseError, match=message):
        build_jaspar_database(**selection)


def test_the_database_rule_records_a_bad_selection_instead_of_failing(tmp_path):
    info = motifs.write_motif_database(tmp_path / "db.meme", tmp_path / "db.json",
                                       collection="COREE")
    assert info["status"] == "error" and "use one of CORE, UNVALIDATED" in info["reason"]
    assert json.loads((tmp_path / "db.json").read_text()) == info
    with pytest.raises(MemeFileError, match="no motif"):
        read_meme_file(tmp_path / "db.meme")


# ---------------------------------------------------------------------------------------------
# TOMTOM


def test_tomtom_finds_a_jaspar_motif_on_either_strand(jaspar):
    database = read_meme_file(jaspar[0])
    ctcf = next(motif for motif in database if motif.id == "MA0139.2")
    forward = Pattern("pos_patterns.pattern_0", 30, ctcf.ppm, ctcf.ppm, ctcf.ppm)
    reverse = Pattern("pos_patterns.pattern_1", 30, ctcf.ppm[::-1, ::-1],
                             ctcf.ppm[::-1, ::-1], ctcf.ppm[::-1, ::-1])
    matches = match_patterns([forward, reverse], database, n_matches=3)
    assert [[match["rank"] for match in found] for found in matches] == [[1, 2, 3], [1, 2, 3]]
    assert matches[0][0]["id"] == matches[1][0]["id"] == "MA0139.2"
    assert (matches[0][0]["strand"], matches[1][0]["strand"]) == ("+", "-")
    for found in matches:
        top = found[0]
        assert top["p_value"] < 1e-10
        assert top["e_value"] == pytest.approx(top["p_value"] * 1019, rel=1e-12)
        assert top["p_value"] <= top["q_value"] <= top["p_value"] * 1019
        assert [match["p_value"] for match in found] == sorted(match["p_value"] for match in found)


# ---------------------------------------------------------------------------------------------
# TF-MoDISco outcomes


def test_a_planted_gata_site_is_found_and_matched_to_jaspar_gata(planted):
    folder, outcome = planted
    assert outcome["status"] == "ok" and outcome["reason"] is None
    assert outcome["matching"] == {"status": "ok", "reason": None}
    assert (outcome["n_regions"], outcome["window"]) == (N_PLANTED, PLANTED_WIDTH)
    patterns = read_patterns(folder / "GATA" / "modisco.h5")
    leading = leading_pattern(patterns)
    assert outcome["leading_pattern"] == leading.name == "pos_patterns.pattern_0"
    # Every second region carries one site; modisco-lite 3.0 keeps about half of the 150 as the
    # pattern's seqlets (74 measured), both orientations among them.
    assert 0.4 * N_PLANTED / 2 <= leading.n_seqlets <= N_PLANTED / 2
    with h5py.File(folder / "GATA" / "modisco.h5") as results:
        seqlets = results["pos_patterns/pattern_0/seqlets"]
        assert set(seqlets["example_idx"][:] % 2) == {0}  # only regions with a site
        assert 0 < seqlets["is_revcomp"][:].sum() < leading.n_seqlets
    assert GATA_SITE in leading.consensus or "TCTTATCT" in leading.consensus
    table = {pattern["name"]: pattern for pattern in outcome["patterns"]}
    assert table[leading.name]["n_seqlets"] == leading.n_seqlets
    top = table[leading.name]["matches"][0]
    assert top["name"].upper().startswith("GATA") and top["q_value"] < 0.05
    assert json.loads((folder / "GATA" / "matches.json").read_text()) == outcome


def test_the_tables_and_logos_agree_with_the_outcome(planted):
    folder, outcome = planted
    rows = [line.split("\t") for line in (folder / "GATA" / "matches.tsv").read_text().splitlines()]
    assert rows[0] == ["target", "pattern", "n_seqlets", "rank", "id", "name", "p_value",
                       "e_value", "q_value", "strand"]
    expected = [[pattern["name"], str(pattern["n_seqlets"]), str(match["rank"]), match["id"],
                 match["name"], f"{match['q_value']:.4g}"]
                for pattern in outcome["patterns"] for match in pattern["matches"]]
    assert [[row[1], row[2], row[3], row[4], row[5], row[8]] for row in rows[1:]] == expected
    assert len(rows) == 1 + 3 * len(outcome["patterns"])
    page = (folder / "GATA" / "motifs.html").read_text()
    for pattern in outcome["patterns"]:
        logo = folder / "GATA" / pattern["logo"]
        assert logo.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and logo.stat().st_size > 2000
        assert f"alt='CWM of {pattern['name']}'" in page
        assert pattern["matches"][0]["name"] in page
    assert page.count("<img ") == len(outcome["patterns"])


def test_the_same_input_gives_the_same_patterns(small_matched, small_planted, tmp_path, jaspar):
    folder, outcome = small_matched
    again = run(tmp_path, small_planted, jaspar)
    assert again == outcome
    assert outcome["patterns"][0]["matches"][0]["name"].upper().startswith("GATA")
    with h5py.File(folder / "GATA" / "modisco.h5") as first, \
            h5py.File(tmp_path / "GATA" / "modisco.h5") as second:
        names = []
        first.visit(names.append)
        second_names = []
        second.visit(second_names.append)
        assert names == second_names
        for name in names:
            if isinstance(first[name], h5py.Dataset):
                np.testing.assert_array_equal(first[name][()], second[name][()], err_msg=name)


def test_the_notebook_calls_of_the_readme_give_the_stages_patterns_and_matches(
        small_matched, small_planted, tmp_path):
    _, outcome = small_matched
    one_hot, hypothetical = motifs.read_windows(small_planted, "GATA", None)
    pos, neg = discover_patterns(one_hot, hypothetical, {"max_seqlets": 2000})
    save_patterns(tmp_path / "modisco.h5", pos, neg, window=one_hot.shape[1])
    jaspar_motifs, provenance = build_jaspar_database()
    patterns = read_patterns(tmp_path / "modisco.h5")
    matches = match_patterns(patterns, jaspar_motifs, n_matches=3)
    assert provenance["n_motifs"] == outcome["database"]["n_motifs"] == len(jaspar_motifs)
    assert [(p.name, p.n_seqlets, p.consensus) for p in patterns] == [
        (p["name"], p["n_seqlets"], p["consensus"]) for p in outcome["patterns"]]
    assert matches == [p["matches"] for p in outcome["patterns"]]


def test_a_malformed_meme_file_keeps_the_patterns_and_says_why_they_were_not_matched(
        tmp_path, small_planted, small_matched):
    bad = tmp_path / "mine.meme"
    bad.write_text("MEME version 4\n" + GOOD_MOTIF.replace("w= 2", "w= 3"))
    outcome = run(tmp_path, small_planted, (bad, None))
    assert outcome["status"] == "ok" and len(outcome["patterns"]) >= 1
    assert outcome["database"] == {"source": "meme_file", "path": str(bad)}
    assert all(pattern["matches"] == [] for pattern in outcome["patterns"])
    reason = outcome["matching"]["reason"]
    assert outcome["matching"]["status"] == "skipped"
    assert reason.startswith("target GATA: ") and "mine.meme, line 5: motif M1 has 2 matrix rows" \
        in reason and "set motifs.meme_file to null" in reason
    assert "JASPAR matching skipped" in (tmp_path / "GATA" / "motifs.html").read_text()
    kept = read_patterns(tmp_path / "GATA" / "modisco.h5")
    assert [(p.name, p.n_seqlets) for p in kept] == [(p["name"], p["n_seqlets"])
                                                      for p in outcome["patterns"]]
    # The same store matched against JASPAR has the same patterns.
    assert [(p["name"], p["n_seqlets"]) for p in small_matched[1]["patterns"]] == [
        (p.name, p.n_seqlets) for p in kept]


def test_a_jaspar_selection_error_keeps_the_patterns(tmp_path, small_planted):
    motifs.write_motif_database(tmp_path / "db.meme", tmp_path / "db.json", taxon="mammals")
    outcome = run(tmp_path, small_planted, (tmp_path / "db.meme", tmp_path / "db.json"))
    assert outcome["status"] == "ok" and len(outcome["patterns"]) >= 1
    assert all(pattern["matches"] == [] for pattern in outcome["patterns"])
    assert outcome["matching"]["status"] == "skipped"
    assert outcome["matching"]["reason"].startswith(
        "target GATA: motifs.jaspar.taxon 'mammals' is not a taxonomic group of JASPAR2026")
    assert outcome["database"]["status"] == "error"


def test_too_few_regions_skip_the_target_with_the_key_to_change(tmp_path, jaspar):
    store = planted_store(tmp_path / "attributions.zarr", n=8)
    outcome = run(tmp_path, store, jaspar)
    assert outcome["status"] == "skipped" and outcome["patterns"] == []
    assert outcome["reason"] == ("target GATA: only 8 regions, fewer than motifs.min_regions (50); "
                                 "give more regions, or lower motifs.min_regions")
    assert outcome["matching"] == {"status": "skipped", "reason": "target GATA: no pattern to match"}
    assert read_patterns(tmp_path / "GATA" / "modisco.h5") == []
    assert list((tmp_path / "GATA" / "logos").iterdir()) == []
    assert "Skipped: target GATA: only 8 regions" in (tmp_path / "GATA" / "motifs.html").read_text()


def test_zero_attributions_skip_the_target(tmp_path, jaspar):
    store = planted_store(tmp_path / "attributions.zarr", n=60, scale=0.0)
    outcome = run(tmp_path, store, jaspar)
    assert outcome["status"] == "skipped"
    assert outcome["reason"].startswith("target GATA: every attribution in the central 100 bp is "
                                        "zero")


def test_a_skipped_target_still_gets_modisco_lites_own_report(tmp_path, jaspar):
    store = planted_store(tmp_path / "attributions.zarr", n=60, scale=0.0)
    outcome = run(tmp_path, store, jaspar, modisco_report=tmp_path / "GATA" / "report")
    assert outcome["status"] == "skipped"
    assert (tmp_path / "GATA" / "report" / "report.html").is_file()
    assert json.loads((tmp_path / "GATA" / "matches.json").read_text()) == outcome


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:tomtom was given 1 target motifs:UserWarning")
def test_modisco_lites_report_asks_for_no_more_matches_than_the_database_has(
        tmp_path, small_planted, jaspar):
    gata = next(motif for motif in read_meme_file(jaspar[0]) if motif.id == "MA0035.5")
    mine = write_meme_file(tmp_path / "mine.meme", [gata], "one GATA1 motif")
    outcome = run(tmp_path, small_planted, (mine, None), n_matches=3,
                  modisco_report=tmp_path / "GATA" / "report")
    assert outcome["status"] == "ok"
    assert all(len(pattern["matches"]) == 1 for pattern in outcome["patterns"])
    page = (tmp_path / "GATA" / "report" / "report.html").read_text()
    assert "MA0035.5" in page


def test_no_pattern_in_noise_skips_the_target_with_what_to_change(tmp_path, jaspar):
    rng = np.random.default_rng(1)
    onehot = random_onehot(rng, 60, 100)
    regions = [(f"region_{i:06d}", "chr1", 1000 * i, 1000 * i + 100) for i in range(60)]
    store = write_attributions_store(tmp_path / "attributions.zarr", onehot,
                                     {"GATA": rng.normal(size=(60, 4, 100))}, regions)
    outcome = run(tmp_path, store, jaspar)
    assert outcome["status"] == "skipped" and outcome["patterns"] == []
    assert outcome["reason"] == (
        "target GATA: TF-MoDISco found no pattern in 60 regions (central 100 bp): no group of "
        "at least 20 similar seqlets passed seqlet FDR 0.05; give more regions, widen "
        "motifs.window, or raise motifs.target_seqlet_fdr")


def test_the_qc_summary_of_outcomes(planted, tmp_path, jaspar):
    folder, outcome = planted
    skipped = run(tmp_path, planted_store(tmp_path / "few.zarr", n=8), jaspar)
    summary = motifs.summarize_outcomes([folder / "GATA" / "matches.json",
                                         tmp_path / "GATA" / "matches.json"])
    # Both are target GATA: the later one wins, as in a dict.
    assert summary["GATA"]["status"] == "skipped"
    assert summary["GATA"]["reason"] == skipped["reason"]
    found = motifs.summarize_outcomes([folder / "GATA" / "matches.json"])["GATA"]
    top = outcome["patterns"][0]["matches"][0]
    assert found == {
        "status": "ok", "reason": None, "n_patterns": len(outcome["patterns"]),
        "leading_pattern": "pos_patterns.pattern_0",
        "n_seqlets": outcome["patterns"][0]["n_seqlets"],
        "top_match": {"id": top["id"], "name": top["name"], "q_value": top["q_value"]},
        "matching": {"status": "ok", "reason": None},
        "table": str(folder / "GATA" / "matches.json"),
    }


def test_the_motif_packages_are_pinned_in_the_workflow_extra():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    import memelite
    import modiscolite
    import pyjaspar

    root = Path(__file__).resolve().parents[1]
    workflow_extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["workflow"]
    installed = {"modisco-lite": modiscolite.__version__, "memelite": memelite.__version__,
                 "pyjaspar": pyjaspar.__version__}
    # modisco-lite's files are the ones imported: bpnet-lite's dependency `modisco` 2.5.2 writes
    # the same modiscolite/ folder (the Makefile reinstalls modisco-lite after it).
    assert {f"{name}=={version}" for name, version in installed.items()} <= set(workflow_extra)

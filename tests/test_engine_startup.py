"""Where numba caches the compiled kernels, so that only an installation's first process compiles.

numba writes next to the source, else under the user's cache directory; where neither is
writable it refuses to define a cached kernel, which made ``import seqlift.engine`` fail on a
read-only install. ``seqlift._numba.ensure_cache_directory`` then gives it a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numba
import pytest

from seqlift import _numba


@pytest.fixture
def no_cache_dir(monkeypatch, tmp_path):
    """numba without ``NUMBA_CACHE_DIR``, Python's temporary directory in ``tmp_path``."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path / f"seqlift-numba-{os.getuid()}"


def _only_writable(monkeypatch, predicate):
    seen: list[Path] = []

    def writable(directory: Path) -> bool:
        seen.append(directory)
        return predicate(directory)

    monkeypatch.setattr(_numba, "_writable", writable)
    return seen


def test_a_read_only_install_without_a_writable_home_caches_in_the_temporary_directory(
        monkeypatch, no_cache_dir):
    seen = _only_writable(monkeypatch, lambda directory: directory == no_cache_dir)
    assert _numba.ensure_cache_directory() == no_cache_dir
    assert numba.config.CACHE_DIR == str(no_cache_dir)
    package = Path(_numba.__file__).resolve().parent
    assert seen[0] == package / "__pycache__"  # numba's own choices were tried first
    assert seen[-2] == _numba._numba_user_cache()


@pytest.mark.parametrize("writable_folder", ["package", "user cache"])
def test_numba_keeps_its_own_cache_directory_where_it_can_write(monkeypatch, no_cache_dir,
                                                                 writable_folder):
    package = Path(_numba.__file__).resolve().parent
    user_cache = _numba._numba_user_cache()

    def predicate(directory: Path) -> bool:
        if writable_folder == "package":
            return package in directory.parents
        return directory == user_cache

    _only_writable(monkeypatch, predicate)
    assert _numba.ensure_cache_directory() is None
    assert numba.config.CACHE_DIR == ""


def test_numba_cache_dir_set_by_the_user_is_left_alone(monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", "/shared/numba")
    seen = _only_writable(monkeypatch, lambda directory: False)
    assert _numba.ensure_cache_directory() is None
    assert numba.config.CACHE_DIR == "/shared/numba" and seen == []


def test_nothing_writable_at_all_leaves_numba_to_say_so(monkeypatch, no_cache_dir):
    _only_writable(monkeypatch, lambda directory: False)
    assert _numba.ensure_cache_directory() is None
    assert numba.config.CACHE_DIR == ""


def test_run_on_threads_covers_every_item_once_in_contiguous_parts():
    parts: list[tuple[int, int]] = []
    _numba.run_on_threads(lambda start, stop: parts.append((start, stop)), 10, 3)
    assert sorted(parts) == [(0, 3), (3, 6), (6, 10)]
    parts.clear()
    _numba.run_on_threads(lambda start, stop: parts.append((start, stop)), 2, 8)
    assert sorted(parts) == [(0, 1), (1, 2)]  # at most one thread per item
    parts.clear()
    _numba.run_on_threads(lambda start, stop: parts.append((start, stop)), 0, 4)
    assert parts == [(0, 0)]

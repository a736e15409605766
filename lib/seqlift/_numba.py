"""numba in seqlift, in one place for every compiled kernel: its cache, its threads.

Cache
-----
Every kernel is compiled with ``cache=True``: the first process of an installation compiles it,
later processes load it from disk. numba writes the cache next to the source
(``seqlift/__pycache__``, ``seqlift/rules/__pycache__``) or, where that is not writable (an
installation owned by someone else, as on a cluster), under the user's cache directory
(``~/.cache/numba``). Where neither is writable (a read-only container whose home is read-only
too) numba refuses to define a cached kernel at all, so ``import seqlift.engine`` would fail;
:func:`ensure_cache_directory`, run when this module is imported (before any kernel is defined),
then points numba at ``<tempdir>/seqlift-numba-<uid>``. ``NUMBA_CACHE_DIR``, set before seqlift
is imported, overrides all of this (for instance one directory shared by a cluster's nodes).

No cache removes numba's own start-up: the first compiled call of a process, even one loaded
from the cache, sets up numba's compiler tables (about 0.5 to 1 s; ``benchmarks/startup.py``).

Threads
-------
:func:`run_on_threads` runs a GIL-free (``nogil``) serial kernel on contiguous parts of its rows
in a pool of Python threads: no parallel variant to compile, and no second threading runtime.

numba's own threads (``prange`` kernels, used by :mod:`seqlift.references`) start with its
default layer on Linux, GNU OpenMP, which aborts or hangs a process that forks after using it
(Snakemake, multiprocessing, a DataLoader with workers) and is a second OpenMP runtime next to
torch's; :func:`prefer_forksafe_threads` picks numba's ``"forksafe"`` layer instead (TBB when
installed, else its workqueue). The workqueue layer aborts the process when two threads launch
parallel kernels at once, so every parallel launch holds :data:`LAUNCH_LOCK`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba

__all__ = ["LAUNCH_LOCK", "ensure_cache_directory", "prefer_forksafe_threads", "run_on_threads"]

#: Held around every launch of a numba ``prange`` kernel.
LAUNCH_LOCK = threading.Lock()


# -- cache -------------------------------------------------------------------------------------

def _writable(directory: Path) -> bool:
    """Whether files can be created in ``directory`` (made if missing), as numba checks it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def _numba_user_cache() -> Path | None:
    try:
        from numba.misc.appdirs import AppDirs
    except ImportError:  # pragma: no cover - numba moved its helper
        return None
    return Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


def ensure_cache_directory() -> Path | None:
    """Give numba a writable cache directory where it would find none.

    Nothing changes when ``NUMBA_CACHE_DIR`` is set, when the package's ``__pycache__``
    directories are writable, or when the user's numba cache directory is.

    Returns
    -------
    pathlib.Path or None
        The directory numba was pointed at, or None where numba's own choice stands.
    """
    if numba.config.CACHE_DIR:
        return None
    package = Path(__file__).resolve().parent
    if all(_writable(folder / "__pycache__") for folder in (package, package / "rules")):
        return None
    user_cache = _numba_user_cache()
    if user_cache is not None and _writable(user_cache):
        return None
    fallback = Path(tempfile.gettempdir()) / f"seqlift-numba-{os.getuid()}"
    if not _writable(fallback):
        return None  # numba will say that it cannot cache
    numba.config.CACHE_DIR = str(fallback)
    return fallback


# -- threads -----------------------------------------------------------------------------------

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    # A forked child has a copy of the pool whose threads do not run.
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def _pool(n_workers: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < n_workers:
            _POOL = ThreadPoolExecutor(n_workers, thread_name_prefix="seqlift-kernel")
        return _POOL


def run_on_threads(task: Callable[[int, int], None], n_items: int, n_threads: int) -> None:
    """Run ``task(start, stop)`` on ``n_threads`` contiguous parts of ``range(n_items)`` at once.

    The calling thread runs the first part. The parts run in parallel only if ``task`` releases
    the GIL (a ``nogil`` kernel), and must not write to the same memory.

    Parameters
    ----------
    task : callable
        ``task(start, stop)`` processes items ``start:stop``.
    n_items : int
        Number of items.
    n_threads : int
        Threads to use (at most one per item); 1 makes this a plain call ``task(0, n_items)``.
    """
    n_threads = max(1, min(n_threads, n_items))
    if n_threads == 1:
        task(0, n_items)
        return
    bounds = [n_items * part // n_threads for part in range(n_threads + 1)]
    pool = _pool(n_threads - 1)
    pending = [pool.submit(task, bounds[part], bounds[part + 1])
               for part in range(1, n_threads)]
    try:
        task(bounds[0], bounds[1])
    finally:
        for job in pending:
            job.result()


def prefer_forksafe_threads() -> None:
    """Make numba start its threads with its ``"forksafe"`` layer, if nothing chose one yet.

    Nothing changes when ``NUMBA_THREADING_LAYER`` is set, or when numba's threads were already
    started: the layer is chosen once per process.
    """
    try:
        numba.threading_layer()
    except ValueError:  # no threads started yet
        if numba.config.THREADING_LAYER == "default":
            numba.config.THREADING_LAYER = "forksafe"


# At import, before any kernel is defined (a cached kernel needs its directory then), and so
# that a later numba.get_num_threads() elsewhere, which starts the threads, finds the choice made.
ensure_cache_directory()
prefer_forksafe_threads()

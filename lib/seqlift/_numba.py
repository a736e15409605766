"""numba's thread policy, in one place for every compiled kernel of seqlift.

numba's default threading layer on Linux is GNU OpenMP, which aborts or hangs a process that
forks after using it (Snakemake, multiprocessing, a DataLoader with workers) and is a second
OpenMP runtime next to torch's; :func:`prefer_forksafe_threads` picks numba's ``"forksafe"``
layer instead (TBB when installed, else its workqueue). The workqueue layer aborts the process
when two threads launch parallel kernels at once, so every parallel launch holds
:data:`LAUNCH_LOCK`.
"""

from __future__ import annotations

import threading

import numba

__all__ = ["LAUNCH_LOCK", "prefer_forksafe_threads"]

#: Held around every parallel kernel launch.
LAUNCH_LOCK = threading.Lock()


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


# At import, so that a later numba.get_num_threads() elsewhere, which starts the threads, finds
# the choice made.
prefer_forksafe_threads()

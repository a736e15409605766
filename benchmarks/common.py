"""Helpers shared by the benchmark scripts: machine facts, peak memory, markdown tables.

Benchmarks are run by hand (never by ``make test``); these helpers make every script print the
same header, so numbers copied into ``benchmarks/README.md`` always carry their machine, library
versions and allocator settings.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import resource
from collections.abc import Sequence
from pathlib import Path

# glibc's malloc returns large freed blocks to the kernel with munmap and trims the heap as soon as
# it can; the next batch then pays page faults on fresh memory. On the benchmark machines this moved
# CPU timings of the same code by up to 2.5x, so every benchmark advises raising both thresholds.
MALLOC_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": "1073741824",
    "MALLOC_TRIM_THRESHOLD_": "1073741824",
}


def malloc_settings_line() -> str:
    """One line that says whether the recommended glibc malloc settings are in effect."""
    state = {name: os.environ.get(name) for name in MALLOC_SETTINGS}
    if all(state[name] == value for name, value in MALLOC_SETTINGS.items()):
        return "malloc: " + " ".join(f"{k}={v}" for k, v in state.items()) + " (recommended)"
    prefix = " ".join(f"{k}={v}" for k, v in MALLOC_SETTINGS.items())
    shown = ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in state.items())
    return (
        f"malloc: {shown}. WARNING: glibc's allocator moves CPU timings by up to 2.5x; "
        f"rerun as `{prefix} python ...` for stable numbers."
    )


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment_lines(threads: int, device: str) -> list[str]:
    """Lines describing where and with what a benchmark ran."""
    import torch

    versions = [f"torch {torch.__version__}"]
    for name in ("tangermeme", "captum"):
        try:
            module = __import__(name)
            versions.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            versions.append(f"{name} not installed")
    lines = [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {cpu_model()}, {os.cpu_count()} logical cores, "
        f"torch threads {threads}, device {device}",
        "versions: " + ", ".join(versions) + f", python {platform.python_version()}",
        malloc_settings_line(),
    ]
    if device.startswith("cuda"):
        lines.append(f"gpu: {torch.cuda.get_device_name(0)}")
    lines.append(seqlift_line())
    lines.append("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return lines


def seqlift_line() -> str:
    """Which seqlift engine ran: its folder and one hash of its engine and rules packages.

    The tree changes under us while benchmarks run, so the line says which code was timed.
    """
    import seqlift.engine

    package = Path(seqlift.engine.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*package.glob("engine/*.py"), *package.glob("rules/*.py")]):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return f"seqlift engine: {package} (engine/ and rules/ sha256 {digest.hexdigest()[:12]})"


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if platform.system() == "Darwin":  # bytes on macOS
        return peak / 2**20
    return peak / 1024


def own_peak_rss_mib() -> float:
    """Peak RSS of this process's own address space in MiB (``VmHWM``; Linux only, else ru_maxrss).

    A child started with fork + exec inherits its parent's ``ru_maxrss`` (Linux keeps the maximum
    in the signal struct across exec), so a fresh subprocess must read ``VmHWM`` instead.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numbers are printed as given (format them before)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)

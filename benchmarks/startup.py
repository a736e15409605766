"""What a fresh process pays before its attribution runs at full speed, and where the time goes.

Each measurement is a new Python process, as a shard job is: it imports torch and seqlift, builds
the demo's ``DemoCNN`` (untrained, seeded; cost does not depend on the weights), and explains one
example at a time with precomputed references (``--n-refs`` per example, column shuffles made
with torch, so that no numba kernel runs before the engine's), timing every pass. Reported: the
import time, the first pass, the second, the median of the rest (steady state) in pairs/s, and
the time from process start to the end of the first pass.

Scenarios, each on its own copy of ``lib/`` (the working tree's, or ``--revision``'s) in a
temporary directory, so that no numba cache exists at first:

``fresh``
    The first process of the copy (a fresh clone, CI) compiles the kernels; later ones load
    them from the copy's ``__pycache__``.
``read-only``
    The copy is read-only and so is ``HOME`` (a cluster or container install that the job
    cannot write to). Run as root, the children drop ``CAP_DAC_OVERRIDE`` with ``setpriv``.

``--split`` makes every child pay two one-off costs on tiny tensors before its first pass and
time them: numba's first call (its start-up, plus loading or compiling the kernel) and torch's
first ``autograd.grad`` with ``grad_outputs`` (it imports sympy, through
``torch.fx.experimental.symbolic_shapes``); the first pass then shows what is left.

Usage::

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        python benchmarks/startup.py [--revision REV] [--processes 3] [--passes 8] [--split]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def child(args: argparse.Namespace) -> None:
    """One measured process: import, build, explain ``--passes`` examples one by one."""
    import torch

    import seqlift.engine
    from seqlift.demo import DEMO_WIDTH, DemoCNN
    from seqlift.sequence import random_one_hot

    imported = time.perf_counter() - START
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DemoCNN().eval()
    X = random_one_hot((args.passes, 4, DEMO_WIDTH), random_state=0).float()
    generator = torch.Generator().manual_seed(1)
    references = torch.stack([
        torch.stack([x[:, torch.randperm(DEMO_WIDTH, generator=generator)]
                     for _ in range(args.n_refs)]) for x in X])
    one_off = {}
    if args.split:
        from seqlift.rules import rescaling

        begin = time.perf_counter()
        tiny = torch.randn(2, 8)
        rescaling.pair_multipliers(1, tiny[:1], tiny[1:], tiny[:1].relu(), tiny[1:].relu(),
                                   lambda: (tiny[:1] > 0).float(), torch.empty(1, 8))
        one_off["numba_first_call_s"] = time.perf_counter() - begin
        begin = time.perf_counter()
        leaf = torch.randn(4, requires_grad=True)
        torch.autograd.grad(leaf.tanh(), leaf, torch.ones(4))
        one_off["torch_first_grad_s"] = time.perf_counter() - begin
    passes = []
    for i in range(args.passes):
        begin = time.perf_counter()
        seqlift.engine.explain(model, X[i:i + 1], references[i:i + 1], [0, 1, 2],
                               batch_size=args.n_refs + 1)
        passes.append(time.perf_counter() - begin)
        if i == 0:
            first_pass_done = time.perf_counter() - START
    print("STARTUP " + json.dumps({"import_s": imported, "passes_s": passes,
                                   "first_pass_done_s": first_pass_done, **one_off}))


def copy_lib(revision: str | None, into: Path) -> Path:
    """``lib/`` of the working tree or of ``revision``, without any ``__pycache__``."""
    target = into / "lib"
    if revision is None:
        shutil.copytree(ROOT / "lib", target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "lib"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return target


def run_child(lib: Path, args: argparse.Namespace, read_only_home: Path | None) -> dict | str:
    """Start one measured process; its figures, or the last line of its error."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("NUMBA_CACHE_DIR", "SEQLIFT_RESCALE")}
    environment["PYTHONPATH"] = str(lib)
    # A temporary directory of the scenario's own, removed with it (numba's last resort).
    environment["TMPDIR"] = str(lib.parent / "tmp")
    command = [sys.executable, str(Path(__file__).resolve()), "--child",
               "--passes", str(args.passes), "--n-refs", str(args.n_refs),
               "--threads", str(args.threads), *(["--split"] if args.split else [])]
    if read_only_home is not None:
        environment["HOME"] = str(read_only_home)
        environment.pop("XDG_CACHE_HOME", None)
        if os.geteuid() == 0:
            command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    completed = subprocess.run(command, env=environment, capture_output=True, text=True)
    for line in completed.stdout.splitlines():
        if line.startswith("STARTUP "):
            return json.loads(line[len("STARTUP "):])
    lines = completed.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {completed.returncode}"


def row(scenario: str, process: str, figures: dict | str, n_pairs: int, split: bool) -> list:
    if isinstance(figures, str):
        return [scenario, process, f"failed: {figures}", *["-"] * (6 if split else 4)]
    passes = figures["passes_s"]
    steady = statistics.median(passes[2:]) if len(passes) > 2 else passes[-1]
    cells = [scenario, process, f"{figures['import_s']:.2f}"]
    if split:
        cells += [f"{figures['numba_first_call_s']:.2f}", f"{figures['torch_first_grad_s']:.2f}"]
    cells += [f"{passes[0]:.3f} ({n_pairs / passes[0]:.0f})",
              f"{passes[1]:.3f} ({n_pairs / passes[1]:.0f})" if len(passes) > 1 else "-",
              f"{n_pairs / steady:.0f}", f"{figures['first_pass_done_s']:.2f}"]
    return cells


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--revision", default=None,
                        help="measure this git revision's lib/ (default: the working tree's)")
    parser.add_argument("--processes", type=int, default=3, help="processes per scenario (3)")
    parser.add_argument("--passes", type=int, default=8, help="examples, one pass each (8)")
    parser.add_argument("--n-refs", type=int, default=20, help="references per example (20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--scenarios", nargs="*", default=["fresh", "read-only"],
                        choices=["fresh", "read-only"])
    parser.add_argument("--split", action="store_true",
                        help="time numba's and torch's one-off costs before the first pass")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    from common import environment_lines, markdown_table

    print("\n".join(f"- {line}" for line in environment_lines(args.threads, "cpu")))
    print(f"- command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"- lib: {args.revision or 'working tree'}; DemoCNN, 250 bp, {args.n_refs} references "
          f"per example, one example ({args.n_refs} pairs) per pass, 3 targets\n")
    headers = ["scenario", "process", "import s"]
    if args.split:
        headers += ["numba first call s", "torch first grad s"]
    headers += ["first pass s (pairs/s)", "second pass s (pairs/s)", "steady pairs/s",
                "start to end of first pass s"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqlift-startup-") as scratch:
        for scenario in args.scenarios:
            folder = Path(scratch) / scenario
            folder.mkdir()
            lib = copy_lib(args.revision, folder)
            (folder / "tmp").mkdir()
            home = None
            if scenario == "read-only":
                home = folder / "home"
                home.mkdir()
                for path in (lib, *lib.rglob("*"), home):
                    path.chmod(path.stat().st_mode & ~0o222)
            for process in range(args.processes):
                label = "first" if process == 0 else f"later ({process + 1})"
                rows.append(row(scenario, label, run_child(lib, args, home), args.n_refs,
                                args.split))
                print(markdown_table(headers, rows[-1:]).splitlines()[-1], flush=True)
            for path in (lib, *lib.rglob("*"), *([home] if home else [])):
                path.chmod(path.stat().st_mode | 0o200)
    print()
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()

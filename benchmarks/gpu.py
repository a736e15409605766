"""On a CUDA machine: seqlift's CUDA results against its CPU results, and seqlift vs tangermeme.

One command, three models (``benchmarks/engine.py``'s cases: ``beluga``, ``bpnet`` and
``transformer``, a convolutional stem with a 2-layer ``nn.TransformerEncoder``), two parts:

1. **CUDA vs CPU.** seqlift's attributions of ``--check-seqs`` sequences on the CPU (the numba
   kernel) and on CUDA (the torch formulation): the largest absolute difference and that relative
   to the largest CPU attribution. TF32 is switched off for this part (and the next) unless
   ``--tf32`` is given, so what is compared is the engine, not TF32's 10-bit mantissa.
2. **Throughput.** seqlift and tangermeme 1.6.0 on CUDA, same process, same inputs and
   references, alternating after one untimed warm-up each (``engine.time_alternating``),
   ``--repeats`` times; the median in pairs/s.

It prints one markdown table for ``benchmarks/README.md``. Without CUDA it says so and exits 0;
``--device cpu`` smoke-tests the script on the CPU instead (tiny sizes; part 1 then compares the
kernel with the torch formulation, which must agree bitwise).

Usage::

    python benchmarks/gpu.py [--models beluga bpnet transformer] [--n-seqs 8] [--n-refs 20]
        [--batch-size 128] [--repeats 3] [--check-seqs 2] [--tf32] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_lines, markdown_table  # noqa: E402
from engine import (  # noqa: E402
    build_case,
    largest_difference,
    make_inputs,
    run_seqlift,
    time_alternating,
)

MODELS = ("beluga", "bpnet", "transformer")
HEADERS = ["model", "length", "pairs", "check: max abs diff", "check: relative",
           "seqlift pairs/s", "tangermeme pairs/s", "seqlift / tangermeme", "runs s (seqlift)",
           "runs s (tangermeme)"]


def check(case, X, R, batch_size: int, device: str) -> tuple[str, str]:
    """Largest difference of seqlift's attributions on ``device`` from the CPU kernel's."""
    from seqlift.rules import rescaling

    with rescaling.formulation("kernel"):
        on_cpu = run_seqlift(case, X, R, batch_size, "cpu")
    if device == "cpu":
        with rescaling.formulation("torch"):
            other = run_seqlift(case, X, R, batch_size, "cpu")
    else:
        other = run_seqlift(case, X, R, batch_size, device).cpu()
    case.model.to("cpu")
    return largest_difference(other, on_cpu)


def benchmark(name: str, args: argparse.Namespace) -> list[str]:
    """One model's row: the CUDA/CPU check, then the alternating throughput runs."""
    case = build_case(name, 1)
    X, R = make_inputs(args.n_seqs, args.n_refs, case.length)
    begin = time.perf_counter()
    difference, relative = check(case, X[:args.check_seqs], R[:args.check_seqs],
                                 args.batch_size, args.device)
    print(f"- {name}: check took {time.perf_counter() - begin:.1f} s", flush=True)
    results = time_alternating(case, X, R, ["seqlift", "tangermeme"], args.batch_size,
                               args.device, args.repeats)
    n_pairs = args.n_seqs * args.n_refs
    medians = {key: statistics.median(result.seconds) for key, result in results.items()}
    return [name, str(case.length), str(n_pairs), difference, relative,
            f"{n_pairs / medians['seqlift']:.1f}", f"{n_pairs / medians['tangermeme']:.1f}",
            f"{medians['tangermeme'] / medians['seqlift']:.2f}x",
            " / ".join(f"{s:.3f}" for s in results["seqlift"].seconds),
            " / ".join(f"{s:.3f}" for s in results["tangermeme"].seconds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (a smoke test)")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--n-seqs", type=int, default=None, help="sequences (8; cpu: 1)")
    parser.add_argument("--n-refs", type=int, default=None, help="references each (20; cpu: 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="pairs per pass (128)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating repeats (3; cpu: 1)")
    parser.add_argument("--check-seqs", type=int, default=2,
                        help="sequences compared between CUDA and CPU (2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's)")
    parser.add_argument("--tf32", action="store_true", help="leave TF32 as torch sets it")
    args = parser.parse_args(argv)
    smoke = args.device == "cpu"
    if not smoke and not torch.cuda.is_available():
        print("No CUDA device (torch.cuda.is_available() is False): nothing measured. "
              "`python benchmarks/gpu.py --device cpu` smoke-tests this script on the CPU.")
        return 0
    args.n_seqs = args.n_seqs or (1 if smoke else 8)
    args.n_refs = args.n_refs or (3 if smoke else 20)
    args.repeats = args.repeats or (1 if smoke else 3)
    args.check_seqs = min(args.check_seqs, args.n_seqs)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    print("\n".join(f"- {line}" for line in environment_lines(torch.get_num_threads(),
                                                               args.device)))
    print(f"- command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"- TF32: {'as torch sets it' if args.tf32 else 'off'}; batch size {args.batch_size}; "
          f"{args.n_seqs} x {args.n_refs} pairs per run, {args.repeats} alternating repeats; "
          f"check on {args.check_seqs} sequence(s) "
          + ("(CPU smoke test: kernel vs torch formulation)" if smoke else "(CUDA vs CPU)"))
    rows = []
    for name in args.models:
        rows.append(benchmark(name, args))
        print(markdown_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(markdown_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""seqlift against tangermeme 1.6.0 on the models the engine issue names: Enformer and BPNet heads.

Each implementation gets the same model, the same one-hot inputs ``(n, 4, length)`` and the same
precomputed references ``(n, k, 4, length)``; runs alternate (seqlift, tangermeme, seqlift, ...)
in one process and medians are reported, with both implementations' largest relative
convergence delta ``max |f(x) - f(r) - sum (x - r) m| / max |f(x) - f(r)|`` over the call
(each measured against ``f`` evaluated independently, without either engine's hooks, in an
untimed float64 run of each implementation, so that float32 rounding does not hide a rule's
error). Weights are seeded and He-scaled (:func:`seqlift.zoo.seeded_init`).

tangermeme needs rules for what it cannot explain by itself, so it gets the ones it offers:

- ``enformer``: enformer-pytorch 0.8.12 ``Enformer.from_hparams(dim=96, depth=2, heads=4,
  dim_divisible_by=16)``, 2048 bp, wrapped to ``(batch, 8)`` (mean of the human head over the
  target bins). tangermeme: its ``_nonlinear`` rule for Enformer's ``GELU`` module (element-wise)
  and its ``integrated_gradients_op(K)`` for the ``Attention`` and ``AttentionPool`` modules
  (no closed form; K Gauss-Legendre points, ``--ig-points``); LayerNorm has its closed form.
  seqlift: nothing (every step of those modules meets a rule).
- ``bpnet-profile`` / ``bpnet-counts``: bpnet-lite 1.1 ``BPNet(n_filters=64, n_layers=8)``,
  2114 bp, through bpnet-lite's ``ProfileWrapper`` / ``CountWrapper``; tangermeme with the rules
  ``bpnetlite.attribute.deep_lift_shap`` registers. seqlift: nothing (it recognises them).

``--isolate`` also runs each implementation once in a fresh process (same model, inputs and
batch size, float32) and reports that process's peak RSS (``VmHWM``) and how much of it the run
itself added (after the model, the inputs and both libraries are loaded).

Usage::

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        python benchmarks/models.py --model enformer --n-seqs 2 --n-refs 10 --repeats 3 [--isolate]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_lines, markdown_table, own_peak_rss_mib  # noqa: E402


class EnformerHead(nn.Module):
    """enformer-pytorch's Enformer on ``(batch, 4, length)``, the human head's mean over bins."""

    def __init__(self, enformer: nn.Module):
        super().__init__()
        self.enformer = enformer

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.enformer(X.transpose(1, 2), head="human").mean(dim=1)


def build(name: str, ig_points: int):
    """``(model, length, seqlift kwargs, tangermeme kwargs)`` for one case."""
    torch.manual_seed(0)
    if name == "enformer":
        import enformer_pytorch.modeling_enformer as enf
        from tangermeme._deep_lift_utils import _nonlinear
        from tangermeme.deep_lift_shap import integrated_gradients_op

        from seqlift.zoo import seeded_init

        model = EnformerHead(seeded_init(enf.Enformer.from_hparams(
            dim=96, depth=2, heads=4, dim_divisible_by=16, target_length=4,
            output_heads={"human": 8}), 0)).eval()
        ops = {enf.GELU: _nonlinear, enf.Attention: integrated_gradients_op(ig_points),
               enf.AttentionPool: integrated_gradients_op(ig_points)}
        return model, 2048, {}, {"additional_nonlinear_ops": ops}
    from bpnetlite.bpnet import BPNet, CountWrapper, ProfileWrapper, _ProfileLogitScaling
    from bpnetlite.chrombpnet import _Exp, _Log
    from tangermeme._deep_lift_utils import _nonlinear

    bpnet = BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=0, verbose=False)
    wrapper = ProfileWrapper if name == "bpnet-profile" else CountWrapper
    ops = {_ProfileLogitScaling: _nonlinear, _Log: _nonlinear, _Exp: _nonlinear}
    return wrapper(bpnet).eval(), 2114, {}, {"additional_nonlinear_ops": ops}


def relative_delta(model, X, R, attributions_multipliers) -> float:
    """Largest ``|f(x) - f(r) - sum (x - r) m|`` relative to the largest ``|f(x) - f(r)|``."""
    with torch.no_grad():
        fx = model(X)[:, 0].double()
        fr = model(R.reshape(-1, *X.shape[1:]))[:, 0].double().reshape(R.shape[:2])
    m = attributions_multipliers.double()
    explained = ((X[:, None].double() - R.double()) * m).sum(dim=(2, 3))
    change = fx[:, None] - fr
    return float((change - explained).abs().max() / change.abs().max())


def run_seqlift(model, X, R, batch_size, kwargs):
    from seqlift import deep_lift_shap

    return deep_lift_shap(model, X, references=R, batch_size=batch_size, raw_outputs=True,
                          device="cpu", warning_threshold=float("inf"), **kwargs)


def run_tangermeme(model, X, R, batch_size, kwargs):
    from tangermeme.deep_lift_shap import deep_lift_shap

    return deep_lift_shap(model, X, references=R, batch_size=batch_size, raw_outputs=True,
                          device="cpu", warning_threshold=float("inf"), **kwargs)


IMPLEMENTATIONS = {"seqlift": run_seqlift, "tangermeme": run_tangermeme}


def isolated_peak(options: argparse.Namespace, name: str) -> dict:
    """``{"before_mib", "peak_mib"}`` of a fresh process that runs ``name`` once (``--only``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--model", options.model,
               "--n-seqs", str(options.n_seqs), "--n-refs", str(options.n_refs),
               "--batch-size", str(options.batch_size), "--threads", str(options.threads),
               "--ig-points", str(options.ig_points), "--only", name]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("ISOLATED "):
            return json.loads(line[len("ISOLATED "):])
    raise RuntimeError(f"isolated run of {name} failed:\n{completed.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("enformer", "bpnet-profile", "bpnet-counts"),
                        default="enformer")
    parser.add_argument("--n-seqs", type=int, default=2)
    parser.add_argument("--n-refs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ig-points", type=int, default=8)
    parser.add_argument("--isolate", action="store_true",
                        help="also measure each implementation's peak RSS in a fresh process")
    parser.add_argument("--only", choices=tuple(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    warnings.simplefilter("ignore")
    model, length, ours, theirs = build(options.model, options.ig_points)
    from seqlift.references import dinucleotide_shuffle
    from seqlift.sequence import random_one_hot

    X = random_one_hot((options.n_seqs, 4, length), random_state=0).float()
    R = dinucleotide_shuffle(X, n=options.n_refs, random_state=list(range(options.n_seqs)))
    runs = {"seqlift": (run_seqlift, ours), "tangermeme": (run_tangermeme, theirs)}
    if options.only:  # the child of --isolate: one run, then this process's memory
        import tangermeme.deep_lift_shap  # noqa: F401 - both libraries loaded before the baseline

        import seqlift.engine  # noqa: F401

        function, kwargs = runs[options.only]
        before = own_peak_rss_mib()
        function(model, X, R, options.batch_size, kwargs)
        print("ISOLATED " + json.dumps({"before_mib": before, "peak_mib": own_peak_rss_mib()}))
        return
    for function, kwargs in runs.values():  # warm-up: compilation, first-call costs
        function(model, X[:1], R[:1, :2], 2, kwargs)
    seconds = {name: [] for name in runs}
    for _ in range(options.repeats):
        for name, (function, kwargs) in runs.items():
            began = time.perf_counter()
            function(model, X, R, options.batch_size, kwargs)
            seconds[name].append(time.perf_counter() - began)
    model64, X64, R64 = model.double(), X.double(), R.double()
    deltas = {name: relative_delta(model64, X64, R64,
                                   function(model64, X64, R64, options.batch_size, kwargs))
              for name, (function, kwargs) in runs.items()}
    pairs = options.n_seqs * options.n_refs
    rate = {name: pairs / statistics.median(values) for name, values in seconds.items()}
    print("\n".join(environment_lines(options.threads, "cpu")))
    print(f"case: {options.model}, {options.n_seqs} x {options.n_refs} pairs at {length} bp, "
          f"batch size {options.batch_size}, {options.repeats} alternating repeats, "
          f"tangermeme IG points {options.ig_points}")
    memory = {name: isolated_peak(options, name) for name in runs} if options.isolate else {}
    rows = [[name, f"{rate[name]:.2f}", f"{deltas[name]:.1e}"] for name in runs]
    headers = ["implementation", "pairs/s", "max relative delta (float64)"]
    if memory:
        headers.append("peak RSS MiB (+ during the run)")
        for row, name in zip(rows, runs, strict=True):
            peak, before = memory[name]["peak_mib"], memory[name]["before_mib"]
            row.append(f"{peak:.0f} (+{peak - before:.0f})")
    print("pairs/s in float32; max relative delta from a float64 run")
    rows.append(["ratio seqlift / tangermeme", f"{rate['seqlift'] / rate['tangermeme']:.2f}x",
                 "", *([""] if memory else [])])
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()

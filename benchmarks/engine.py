"""Time seqlift's DeepLIFT/SHAP against tangermeme and Captum on the same work, in one process.

Every implementation gets the same model, the same one-hot inputs ``(n, 4, length)`` and the same
PRECOMPUTED references ``(n, k, 4, length)`` (exact dinucleotide shuffles), so reference generation
is not part of any timing (``benchmarks/shuffle.py`` measures that). Runs alternate
(seqlift, tangermeme, captum, floor, seqlift, ...) so that a slow phase of a noisy machine hits all
of them, and medians are reported.

The *cost floor* is what any DeepLIFT implementation that runs the references through the model
must at least pay: one forward pass of the references with a gradient graph plus one input-gradient
backward per target through it, plain autograd, no hooks, parameters with ``requires_grad=False``.

Usage::

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        python benchmarks/engine.py --model bpnet --batch-size 32 --n-seqs 8 --n-refs 20 \\
        --repeats 3 --threads 2 [--targets 3] [--isolate] [--device cuda]

``--isolate`` reruns each implementation once in a fresh subprocess to measure its own peak RSS
(``ru_maxrss`` only grows, so in one process it is the maximum over everything that ran).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_lines, markdown_table, own_peak_rss_mib, peak_rss_mib  # noqa: E402

IMPLEMENTATIONS = ("seqlift", "tangermeme", "captum", "floor")

# Beluga costs about 0.5 s per pair on 2 cores for each implementation, so its default is smaller
# than the 8 x 20; pass --n-seqs 8 --n-refs 20 for the full case.
DEFAULT_SIZES = {"beluga": (2, 20), "bpnet": (8, 20), "small": (8, 20), "transformer": (8, 20)}


@dataclass
class Case:
    """One model to benchmark: the module, its input length and the targets to explain."""

    name: str
    model: nn.Module
    length: int
    targets: list[int]


@dataclass
class Result:
    """Timings and outputs of one implementation over the alternating repeats."""

    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # user + system, all threads
    attributions: torch.Tensor | None = None  # (n_targets, n, 4, length) from the first run
    peak_gpu_mib: float = 0.0


class SmallTransformer(nn.Module):
    """A convolutional stem and a 2-layer ``nn.TransformerEncoder`` over 1000 bp, 3 outputs.

    ``Conv1d(4 -> 64, 15) ReLU MaxPool1d(4)`` gives 250 tokens of width 64, then two encoder
    layers (4 heads, feed-forward 128, batch first), a mean over tokens and ``Linear(64 -> 3)``.
    """

    def __init__(self, width: int = 64, n_outputs: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(4, width, 15, padding=7), nn.ReLU(), nn.MaxPool1d(4))
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=2 * width,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        tokens = self.stem(X).transpose(1, 2)
        return self.head(self.encoder(tokens).mean(dim=1))


def build_case(name: str, n_targets: int) -> Case:
    """The model called ``name`` with seeded random weights, in eval mode.

    Parameters
    ----------
    name : str
        ``beluga`` (DeepSEA-Beluga, 2000 bp, target 267), ``bpnet`` (bpnet-style count head,
        2114 bp, 64 filters, 8 dilated layers), ``small`` (SmallCNN, 101 bp) or
        ``transformer`` (:class:`SmallTransformer`, 1000 bp).
    n_targets : int
        1 or 3 targets to explain.
    """
    from seqlift.zoo import Beluga, BPNetStyle, CountWrapper, SmallCNN

    if name == "beluga":
        model, length = Beluga(seed=0), 2000
        targets = [267, 100, 1500][:n_targets]
    elif name == "bpnet":
        # One count output per track: three tracks give three targets sharing the trunk.
        model = CountWrapper(BPNetStyle(n_filters=64, n_layers=8, n_outputs=n_targets, seed=0))
        length, targets = 2114, list(range(n_targets))
    elif name == "small":
        model, length = SmallCNN(n_outputs=3, sequence_length=101, seed=0), 101
        targets = [0, 1, 2][:n_targets]
    elif name == "transformer":
        torch.manual_seed(0)
        model, length = SmallTransformer(), 1000
        targets = [0, 1, 2][:n_targets]
    else:
        raise ValueError(f"unknown model {name!r}")
    return Case(name, model.eval(), length, targets)


def make_inputs(n_seqs: int, n_refs: int, length: int, seed: int = 0) -> tuple[torch.Tensor,
                                                                                 torch.Tensor]:
    """Random one-hot examples ``(n, 4, length)`` and their shuffles ``(n, k, 4, length)``, float32.

    Deterministic in ``seed``, so an ``--isolate`` subprocess rebuilds exactly the same tensors.
    """
    from seqlift.references import dinucleotide_shuffle, region_seed
    from seqlift.sequence import random_one_hot

    X = random_one_hot((n_seqs, 4, length), random_state=seed).float()
    seeds = [region_seed(seed, i) for i in range(n_seqs)]
    R = dinucleotide_shuffle(X, n=n_refs, random_state=seeds).float()
    return X, R.contiguous()


def run_seqlift(case: Case, X, R, batch_size: int, device: str) -> torch.Tensor:
    """seqlift: all targets in one call; returns ``(n_targets, n, 4, length)``."""
    import seqlift

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return seqlift.deep_lift_shap(case.model, X, target=list(case.targets), references=R,
                                      batch_size=batch_size, device=device)


def run_tangermeme(case: Case, X, R, batch_size: int, device: str) -> torch.Tensor:
    """tangermeme: one call per target (it explains one target per call)."""
    from tangermeme.deep_lift_shap import deep_lift_shap

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for target in case.targets:
            out.append(deep_lift_shap(case.model, X, target=target, references=R,
                                      batch_size=batch_size, device=device))
    return torch.stack([a.detach().cpu() for a in out])


def run_captum(case: Case, X, R, batch_size: int, device: str) -> torch.Tensor:
    """Captum's DeepLift with one baseline per pair, multipliers projected like tangermeme.

    Pairs are flattened example-major and cut into batches of ``batch_size``; the hypothetical
    contributions ``m - sum_c r_c m_c`` are averaged over each example's references and multiplied
    by the example, as tangermeme does. One ``attribute`` call per target and batch.
    """
    from captum.attr import DeepLift

    model = case.model.to(device)
    n, k = R.shape[:2]
    R_pairs = R.reshape(n * k, *R.shape[2:])
    example_of_pair = torch.arange(n * k) // k
    explainer = DeepLift(model, multiply_by_inputs=False)
    out = torch.zeros(len(case.targets), *X.shape, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t, target in enumerate(case.targets):
            for start in range(0, n * k, batch_size):
                stop = min(start + batch_size, n * k)
                examples = X[example_of_pair[start:stop]].to(device)
                references = R_pairs[start:stop].to(device)
                multipliers = explainer.attribute(
                    examples, baselines=references, target=target,
                    custom_attribution_func=lambda m: m,
                )
                multipliers = multipliers[0] if isinstance(multipliers, tuple) else multipliers
                hypothetical = multipliers - (references * multipliers).sum(dim=1, keepdim=True)
                out[t].index_add_(0, example_of_pair[start:stop],
                                  hypothetical.detach().double().cpu())
    return (out / k * X.double()).float()


def run_floor(case: Case, X, R, batch_size: int, device: str) -> None:
    """The cost floor: references' forward with a graph + one input-gradient backward per target."""
    model = case.model.to(device)
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    n, k = R.shape[:2]
    R_pairs = R.reshape(n * k, *R.shape[2:])
    try:
        with torch.enable_grad():
            for start in range(0, n * k, batch_size):
                references = R_pairs[start:start + batch_size].to(device).requires_grad_(True)
                outputs = model(references)
                outputs = outputs.reshape(outputs.shape[0], -1)
                for t, target in enumerate(case.targets):
                    torch.autograd.grad(outputs[:, target].sum(), references,
                                        retain_graph=t < len(case.targets) - 1)
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    return None


RUNNERS: dict[str, Callable] = {
    "seqlift": run_seqlift,
    "tangermeme": run_tangermeme,
    "captum": run_captum,
    "floor": run_floor,
}


def time_alternating(case: Case, X, R, names: list[str], batch_size: int, device: str,
                     repeats: int, own_batch_size: int | None = None) -> dict[str, Result]:
    """Run each implementation ``repeats`` times, interleaved, keeping the first outputs.

    ``own_batch_size``, when given, is seqlift's (and the floor's) batch size; the peers keep
    ``batch_size``.
    """
    results = {name: Result() for name in names}
    sizes = {name: batch_size for name in names}
    if own_batch_size:
        sizes.update({"seqlift": own_batch_size, "floor": own_batch_size})
    cuda = device.startswith("cuda")
    # One untimed batch each first: lazy initialisation, allocator growth and hook set-up costs
    # would otherwise land in the first timed run of whichever implementation runs first.
    n_warm = max(1, min(X.shape[0], math.ceil(batch_size / R.shape[1])))
    for name in names:
        RUNNERS[name](case, X[:n_warm], R[:n_warm], sizes[name], device)
    for _ in range(repeats):
        for name in names:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            begin, begin_cpu = time.perf_counter(), time.process_time()
            out = RUNNERS[name](case, X, R, sizes[name], device)
            if cuda:
                torch.cuda.synchronize()
            results[name].seconds.append(time.perf_counter() - begin)
            results[name].cpu_seconds.append(time.process_time() - begin_cpu)
            if cuda:
                results[name].peak_gpu_mib = max(results[name].peak_gpu_mib,
                                                 torch.cuda.max_memory_allocated() / 2**20)
            if results[name].attributions is None and out is not None:
                results[name].attributions = out.detach().cpu().float()
    return results


def isolated_peak_rss(args: argparse.Namespace, model: str, name: str) -> dict | None:
    """Peak RSS (MiB, ``VmHWM``) of a fresh process that builds the case and runs ``name`` once.

    Returns ``{"before_mib": ..., "peak_mib": ...}``: the child imports all three libraries and
    builds the inputs before ``before_mib`` is read, so the difference is the run's own memory.
    """
    command = [
        sys.executable, str(Path(__file__).resolve()), "--model", model,
        "--batch-size", str(args.batch_size), "--n-seqs", str(args.n_seqs_for[model]),
        "--n-refs", str(args.n_refs_for[model]), "--threads", str(args.threads),
        "--device", args.device, "--targets", str(args.targets), "--only", name,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("ISOLATED "):
            return json.loads(line[len("ISOLATED "):])
    print(f"isolated run of {name} failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
    return None


def largest_difference(a: torch.Tensor | None, b: torch.Tensor | None) -> tuple[str, str]:
    """``max |a - b|`` and that divided by ``max |b|``, formatted; dashes when missing."""
    if a is None or b is None:
        return "-", "-"
    absolute = (a.double() - b.double()).abs().max().item()
    scale = b.double().abs().max().item()
    return f"{absolute:.2e}", f"{absolute / scale:.2e}" if scale > 0 else "inf"


def benchmark_model(args: argparse.Namespace, model_name: str) -> dict:
    """Time one model; print its markdown table and return the figures."""
    case = build_case(model_name, args.targets)
    n_seqs, n_refs = args.n_seqs_for[model_name], args.n_refs_for[model_name]
    X, R = make_inputs(n_seqs, n_refs, case.length)
    n_pairs = n_seqs * n_refs
    names = [name for name in IMPLEMENTATIONS if name not in args.skip]
    rss_before = peak_rss_mib()
    results = time_alternating(case, X, R, names, args.batch_size, args.device, args.repeats,
                               args.seqlift_batch_size)

    medians = {name: statistics.median(r.seconds) for name, r in results.items()}
    cpu_medians = {name: statistics.median(r.cpu_seconds) for name, r in results.items()}
    isolated = {}
    if args.isolate:
        isolated = {name: isolated_peak_rss(args, model_name, name) for name in names}
    reference = results.get("tangermeme")
    floor = medians.get("floor")
    rows, figures = [], {}
    for name in names:
        result = results[name]
        median = medians[name]
        diff_abs, diff_rel = largest_difference(
            result.attributions, None if reference is None else reference.attributions)
        if name in ("tangermeme", "floor"):
            diff_abs, diff_rel = "-", "-"
        memory = isolated.get(name)
        row = [
            name,
            f"{median:.3f}",
            " / ".join(f"{s:.3f}" for s in result.seconds),
            f"{cpu_medians[name]:.3f}",
            f"{n_pairs * len(case.targets) / median:.1f}" if args.targets > 1
            else f"{n_pairs / median:.1f}",
            f"{median / floor:.2f}" if floor else "-",
            f"{memory['peak_mib']:.0f} (+{memory['peak_mib'] - memory['before_mib']:.0f})"
            if memory else "-",
            diff_abs,
            diff_rel,
        ]
        if args.device.startswith("cuda"):
            row.append(f"{result.peak_gpu_mib:.0f}")
        rows.append(row)
        figures[name] = {"median_s": median, "runs_s": result.seconds,
                         "median_cpu_s": cpu_medians[name], "runs_cpu_s": result.cpu_seconds,
                         "isolated_rss_mib": memory,
                         "max_abs_diff_vs_tangermeme": diff_abs,
                         "max_rel_diff_vs_tangermeme": diff_rel}
    headers = ["implementation", "median wall s", "runs wall s", "median CPU s",
               "pair-targets/s" if args.targets > 1 else "pairs/s", "x floor",
               "isolated peak RSS MiB (+run)", "max |diff| vs tangermeme", "relative to max |attr|"]
    if args.device.startswith("cuda"):
        headers.append("peak GPU MiB")

    print(f"\n### {model_name}: {n_seqs} sequences x {n_refs} references = {n_pairs} pairs, "
          f"length {case.length}, targets {case.targets}, batch size {args.batch_size} "
          f"(seqlift and floor: {args.seqlift_batch_size or args.batch_size}), "
          f"{args.repeats} alternating repeats\n")
    print(markdown_table(headers, rows))
    print()
    if "seqlift" in medians and "tangermeme" in medians:
        ratio = medians["tangermeme"] / medians["seqlift"]
        figures["speedup_vs_tangermeme"] = ratio
        what = (f"{len(case.targets)} targets in one seqlift call vs {len(case.targets)} "
                "tangermeme calls" if args.targets > 1 else "single target")
        cpu_ratio = cpu_medians["tangermeme"] / cpu_medians["seqlift"]
        figures["cpu_speedup_vs_tangermeme"] = cpu_ratio
        print(f"- seqlift / tangermeme pairs/s: **{ratio:.2f}x** wall, {cpu_ratio:.2f}x CPU time "
              f"({what})")
    if "seqlift" in medians and floor:
        figures["seqlift_over_floor"] = medians["seqlift"] / floor
        figures["seqlift_over_floor_cpu"] = cpu_medians["seqlift"] / cpu_medians["floor"]
        print(f"- seqlift time / cost floor: **{medians['seqlift'] / floor:.2f}x** wall, "
              f"{figures['seqlift_over_floor_cpu']:.2f}x CPU time (floor = "
              f"references' forward with graph + {len(case.targets)} input-gradient backward(s))")
    print(f"- process peak RSS: {peak_rss_mib():.0f} MiB (before timing: {rss_before:.0f} MiB; "
          "ru_maxrss only grows, see the isolated column for each implementation's own peak)")
    figures.update(model=model_name, n_seqs=n_seqs, n_refs=n_refs, targets=case.targets,
                   batch_size=args.batch_size, process_peak_rss_mib=peak_rss_mib())
    return figures


def profile_seqlift(args: argparse.Namespace, model_name: str) -> None:
    """One seqlift run under cProfile (top functions by cumulative time) and torch.profiler."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    case = build_case(model_name, args.targets)
    X, R = make_inputs(args.n_seqs_for[model_name], args.n_refs_for[model_name], case.length)
    run_seqlift(case, X[:1], R[:1], args.batch_size, args.device)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    run_seqlift(case, X, R, args.batch_size, args.device)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(30)
    print(f"\n### cProfile of one seqlift run ({model_name}), top 30 by cumulative time\n")
    print("```\n" + stream.getvalue().strip() + "\n```")
    activities = [ProfilerActivity.CPU]
    if args.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as torch_profile:
        run_seqlift(case, X, R, args.batch_size, args.device)
    print(f"\n### torch.profiler of one seqlift run ({model_name}), top 20 ops by self CPU time\n")
    print("```\n" + torch_profile.key_averages().table(sort_by="self_cpu_time_total",
                                                        row_limit=20) + "\n```")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["beluga", "bpnet", "small", "transformer", "all"],
                        default="all")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per pass (default 32)")
    parser.add_argument("--seqlift-batch-size", type=int, default=None,
                        help="seqlift's (and the floor's) pairs per pass, if not --batch-size; "
                        "seqlift fills a pass with whole examples, so a multiple of --n-refs "
                        "suits it")
    parser.add_argument("--n-seqs", type=int, default=None,
                        help="sequences (default 8; 2 for beluga, ~0.5 s per pair on 2 cores)")
    parser.add_argument("--n-refs", type=int, default=None, help="references per sequence (20)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--targets", type=int, choices=[1, 3], default=1,
                        help="1, or 3: seqlift's target list vs 3 separate tangermeme calls")
    parser.add_argument("--skip", nargs="*", default=[], choices=list(IMPLEMENTATIONS),
                        help="implementations to leave out, e.g. --skip captum")
    parser.add_argument("--isolate", action="store_true",
                        help="also measure each implementation's peak RSS in a fresh process")
    parser.add_argument("--profile", action="store_true",
                        help="after timing, profile one seqlift run (cProfile + torch.profiler)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--only", choices=list(IMPLEMENTATIONS), default=None,
                        help=argparse.SUPPRESS)  # internal: one run for --isolate
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda asked for but torch.cuda.is_available() is False")
    models = ["beluga", "bpnet", "small"] if args.model == "all" else [args.model]
    args.models = models
    args.n_seqs_for = {m: args.n_seqs or DEFAULT_SIZES[m][0] for m in models}
    args.n_refs_for = {m: args.n_refs or DEFAULT_SIZES[m][1] for m in models}
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.only is not None:
        # Child of --isolate: one run of one implementation, then report ru_maxrss.
        model = args.models[0]
        case = build_case(model, args.targets)
        X, R = make_inputs(args.n_seqs_for[model], args.n_refs_for[model], case.length)
        # Every child pays the same imports before "before", whichever library it runs.
        for module in ("captum.attr", "tangermeme.deep_lift_shap", "seqlift"):
            importlib.import_module(module)

        before = own_peak_rss_mib()
        RUNNERS[args.only](case, X, R, args.batch_size, args.device)
        print("ISOLATED " + json.dumps({"before_mib": before, "peak_mib": own_peak_rss_mib()}))
        return
    print("\n".join(f"- {line}" for line in environment_lines(args.threads, args.device)))
    print(f"- command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    figures = [benchmark_model(args, model) for model in args.models]
    if args.profile:
        for model in args.models:
            profile_seqlift(args, model)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=_jsonable))


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value)


if __name__ == "__main__":
    main()

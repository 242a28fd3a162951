"""Benchmark MAML's single-call adaptation against a naive fine-tuning loop, and meta-training steps, on CPU.

Default network (143 inputs, hidden 128), K=32 support samples, 5 SGD steps,
``torch.set_num_threads(1)`` for the headline measurement:

1. single-call ``adapt`` (the live / drop-in path), interleaved with the same
   adaptation done naively (``copy.deepcopy(model)`` + ``torch.optim.SGD`` +
   ``loss.backward()``) on the same net and data: ``--repeats`` rounds, each
   timing ``--calls`` calls of one then of the other (their order alternates),
   so that both see the same machine load. The last line is ``ratio=R``:
   R = the median over the rounds of adapt time / naive time (<= 1: adapt is
   no slower); the range of the per-round ratios is printed above it.
   For reference, the same round also times ``inner_loop`` (``torch.func.grad``,
   what meta-training runs) under ``no_grad``, ``adapt`` with the ``"head"`` and
   ``"bias"`` scopes, and ``adapt_batch`` of 8 tasks (per task).
2. one meta-step (forward + backward) of 8 tasks x 5 inner steps, K=32, Q=16, with
   ``torch.set_num_threads(n)`` for each ``--threads`` entry (``--reps`` repetitions, median):
   second-order with ``vmap`` (``MAML.meta_loss``), second-order as a Python loop over tasks,
   first-order with ``vmap``. ``--reps 0`` skips this part.

Usage::

    PYTHONPATH=. python benchmarks/bench_maml.py [--repeats 9] [--calls 20] [--reps 10] [--threads 1 2] [--json out.json]

Example:
    >>> main(["--repeats", "7", "--calls", "2", "--reps", "0"])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from maml_strategy.cli import make_parser, non_negative_int, positive_int, run_main

if TYPE_CHECKING:  # torch is imported inside the functions, after the arguments are validated
    from maml_strategy.tasks import TaskBatch

__all__ = ["main", "adapt_vs_naive", "meta_steps"]


def _median_ms(fn: Callable[[], object], reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _per_call_ms(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return 1000.0 * (time.perf_counter() - t0) / calls


def _batch(n: int, k: int, q: int, d: int) -> TaskBatch:
    import torch

    from maml_strategy.tasks import TaskBatch

    g = torch.Generator().manual_seed(0)
    return TaskBatch(
        torch.randn(n, k, d, generator=g),
        torch.randn(n, k, generator=g),
        torch.randn(n, q, d, generator=g),
        torch.randn(n, q, generator=g),
        ["t"] * n,
        np.zeros((n, k), np.int64),
        np.zeros((n, q), np.int64),
        [0] * n,
    )


def adapt_vs_naive(repeats: int = 9, calls: int = 20) -> dict[str, Any]:
    """Interleaved single-call timings (ms per call, one thread); ``ratio`` = median of adapt / naive per round.

    Returns:
        ``{"ms": {name: [per-round ms]}, "ratios": [...], "ratio": median}``.
    """
    import torch

    from maml_strategy.learners.inner import inner_loop
    from maml_strategy.learners.maml import MAML, MAMLConfig
    from maml_strategy.model import HierarchicalTimeframeNet

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = MAMLConfig(num_threads=None)
    maml = MAML(HierarchicalTimeframeNet(), cfg)
    head = MAML(copy.deepcopy(maml.model), MAMLConfig(num_threads=None, adapt_scope="head"))
    bias = MAML(copy.deepcopy(maml.model), MAMLConfig(num_threads=None, adapt_scope="bias"))
    model, d = maml.model, maml.input_dim
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, d, generator=g), torch.randn(32, generator=g)
    bx, by = torch.randn(8, 32, d, generator=g), torch.randn(8, 32, generator=g)
    lrs = [cfg.inner_lr] * cfg.inner_steps

    def naive() -> None:
        clone = copy.deepcopy(model)
        opt = torch.optim.SGD(clone.parameters(), lr=cfg.inner_lr)
        for _ in range(cfg.inner_steps):
            opt.zero_grad()
            maml.loss_fn(clone(x), y).backward()
            opt.step()

    def func_loop() -> None:
        with torch.no_grad():
            inner_loop(model, maml.parameters_dict(), x, y, maml.loss_fn, lrs)

    fns: dict[str, Callable[[], object]] = {
        "adapt": lambda: maml.adapt(x, y),
        "naive": naive,
        "inner_loop (torch.func)": func_loop,
        "adapt, scope head": lambda: head.adapt(x, y),
        "adapt, scope bias": lambda: bias.adapt(x, y),
    }
    for fn in fns.values():
        for _ in range(5):
            fn()
    ms: dict[str, list[float]] = {name: [] for name in fns}
    ms["adapt_batch of 8, per task"] = []
    for r in range(repeats):
        first, second = ("adapt", "naive") if r % 2 == 0 else ("naive", "adapt")
        for name in (first, second):
            ms[name].append(_per_call_ms(fns[name], calls))
        for name in list(fns)[2:]:
            ms[name].append(_per_call_ms(fns[name], calls))
        ms["adapt_batch of 8, per task"].append(_per_call_ms(lambda: maml.adapt_batch(bx, by), max(1, calls // 4)) / 8)
    ratios = [a / b for a, b in zip(ms["adapt"], ms["naive"])]
    return {"ms": ms, "ratios": ratios, "ratio": statistics.median(ratios)}


def meta_steps(reps: int = 10, threads: tuple[int, ...] = (1, 2)) -> dict[str, dict[str, float]]:
    """Median ms of one meta-step per thread count: ``{f"threads={n}": {name: ms}}``."""
    import torch

    from maml_strategy.learners.maml import MAML, MAMLConfig
    from maml_strategy.model import HierarchicalTimeframeNet

    torch.manual_seed(0)
    cfg = MAMLConfig(num_threads=None)  # we set threads ourselves
    maml = MAML(HierarchicalTimeframeNet(), cfg)
    model = maml.model
    batch = _batch(cfg.num_tasks_per_batch, cfg.support_size, cfg.query_size, maml.input_dim)

    def meta_vmap(first_order: bool) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            maml.meta_loss(batch, first_order=first_order).backward()

        return run

    def meta_loop() -> None:
        model.zero_grad(set_to_none=True)
        params = dict(model.named_parameters())
        losses = [
            maml._task_query_loss(params, None, batch.support_x[i], batch.support_y[i], batch.query_x[i], batch.query_y[i], cfg.inner_steps, False)
            for i in range(len(batch))
        ]
        torch.stack(losses).mean().backward()

    results: dict[str, dict[str, float]] = {}
    old = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            results[f"threads={n}"] = {
                "meta-step 2nd order, vmap": _median_ms(meta_vmap(False), reps),
                "meta-step 2nd order, task loop": _median_ms(meta_loop, reps),
                "meta-step 1st order, vmap": _median_ms(meta_vmap(True), reps),
            }
    finally:
        torch.set_num_threads(old)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """CLI entry point: prints both tables; the last line is ``ratio=R`` (adapt / naive, median)."""
    ap = make_parser(__doc__)
    ap.add_argument("--repeats", type=positive_int, default=9, help="interleaved rounds of adapt vs naive (>= 7 for the ratio)")
    ap.add_argument("--calls", type=positive_int, default=20, help="calls timed per round and function")
    ap.add_argument("--reps", type=non_negative_int, default=10, help="repetitions per meta-step measurement; 0 = skip")
    ap.add_argument("--threads", type=positive_int, nargs="+", default=[1, 2], help="torch thread counts for the meta-steps")
    ap.add_argument("--json", default=None, help="write results to this JSON file; unset: print only")
    args = ap.parse_args(argv)
    import torch

    from maml_strategy.model import HierarchicalTimeframeNet

    net = HierarchicalTimeframeNet()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"default net: {sum(p.numel() for p in net.parameters())} parameters, input {net.input_dim}\n")
    meta = meta_steps(args.reps, tuple(args.threads)) if args.reps else {}
    if meta:
        cols = list(meta)
        print("| median ms | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for name in meta[cols[0]]:
            print(f"| {name} | " + " | ".join(f"{meta[c][name]:.2f}" for c in cols) + " |")
        print()
    single = adapt_vs_naive(args.repeats, args.calls)
    print(f"single-call adaptation, K=32, 5 steps, 1 thread, {args.repeats} interleaved rounds x {args.calls} calls (ms per call)")
    print("| | median | min | max |")
    print("|---|---:|---:|---:|")
    for name, v in single["ms"].items():
        print(f"| {name} | {statistics.median(v):.3f} | {min(v):.3f} | {max(v):.3f} |")
    r = single["ratios"]
    print(f"adapt / naive per round: median {single['ratio']:.3f}, range {min(r):.3f} .. {max(r):.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta_steps": meta, **single}, fh, indent=2)
    print(f"ratio={single['ratio']:.3f}")
    return {"meta_steps": meta, **single}


if __name__ == "__main__":
    sys.exit(run_main(main))

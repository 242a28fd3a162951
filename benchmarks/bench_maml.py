"""Benchmark adaptation and meta-training steps of MAML on CPU.

Measures (median wall-clock ms over ``--reps`` repetitions, after warm-up),
with ``torch.set_num_threads(1)`` and ``(2)``, default network (143 inputs):

1. ``adapt``: 5 SGD steps on K=32 support samples
   - ``MAML.adapt`` (the shared ``torch.func`` inner loop, ``learner.inner_loop``, without a graph)
   - naive ``copy.deepcopy(model)`` + ``torch.optim.SGD`` loop
2. one meta-step (forward + backward) of 8 tasks x 5 inner steps, K=32, Q=16
   - second-order, tasks batched with ``vmap`` (``MAML.meta_loss``)
   - second-order, plain Python loop over tasks
   - first-order with ``vmap``

Usage::

    PYTHONPATH=. python benchmarks/bench_maml.py [--reps 30] [--json out.json]   # or after pip install -e .

Goals: adapt <= 5 ms, second-order meta-step <= 100 ms.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from maml_strategy.maml import MAML, MAMLConfig
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.tasks import TaskBatch

__all__ = ["main", "run_benchmarks"]


def _median_ms(fn: Callable[[], object], reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _batch(n: int, k: int, q: int, d: int) -> TaskBatch:
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


def run_benchmarks(reps: int = 30, threads: tuple[int, ...] = (1, 2)) -> dict[str, dict[str, float]]:
    """Run all benchmarks; returns ``{f"threads={n}": {name: median_ms}}``."""
    torch.manual_seed(0)
    cfg = MAMLConfig(num_threads=None)  # we set threads ourselves
    maml = MAML(HierarchicalTimeframeNet(), cfg)
    model = maml.model
    d = maml.input_dim
    x, y = torch.randn(32, d), torch.randn(32)
    batch = _batch(cfg.num_tasks_per_batch, cfg.support_size, cfg.query_size, d)

    def naive_adapt() -> None:
        clone = copy.deepcopy(model)
        opt = torch.optim.SGD(clone.parameters(), lr=cfg.inner_lr)
        for _ in range(cfg.inner_steps):
            opt.zero_grad()
            maml.loss_fn(clone(x), y).backward()
            opt.step()

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
            r: dict[str, float] = {}
            r["adapt (MAML.adapt, torch.func inner loop)"] = _median_ms(lambda: maml.adapt(x, y), reps * 4)
            r["adapt (deepcopy + SGD)"] = _median_ms(naive_adapt, reps * 4)
            r["meta-step 2nd order, vmap"] = _median_ms(meta_vmap(False), reps)
            r["meta-step 2nd order, task loop"] = _median_ms(meta_loop, reps)
            r["meta-step 1st order, vmap"] = _median_ms(meta_vmap(True), reps)
            results[f"threads={n}"] = r
    finally:
        torch.set_num_threads(old)
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """CLI entry point: prints a markdown table (and writes JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="repetitions per measurement (adapt uses 4x)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", default=None, help="write results to this JSON file")
    args = ap.parse_args(argv)
    res = run_benchmarks(args.reps, tuple(args.threads))
    cols = list(res)
    net = HierarchicalTimeframeNet()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"default net: {sum(p.numel() for p in net.parameters())} parameters, input {net.input_dim}\n")
    print("| median ms | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name in res[cols[0]]:
        print(f"| {name} | " + " | ".join(f"{res[c][name]:.2f}" for c in cols) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Scaling of the Ray walk-forward: the same small run on a local Ray with 1 and with 2 workers, in one process.

    python benchmarks/bench_ray.py                                   # 4 symbols, 2019-2020, 2 seeds, small config
    python benchmarks/bench_ray.py --symbols XLF,JPM,CVX,WMT,AIG,AFL --seeds 1 --config strategies/maml_regime.yaml

Each run starts from an empty cache (so every feature, training and backtest task
computes) and uses the same frames, loaded once; the workers are started (and have
imported the package) before the clock runs. Prints each stage's seconds per
worker count, then one line per stage::

    stage=train tasks=4 1 worker 41.0 s, 2 workers 24.3 s, speedup=1.69; ...
    stage=backtest ...

and where the time beyond the ideal (half the 1-worker time) goes: contention (the
same tasks, timed inside the workers, run longer side by side: shared cores,
hyper-threads, other load; ``machine ceiling`` measures it for pure Python), the tail
(an odd number of tasks leaves one worker idle), the driver's share inside the stage
(``put`` of handles, cache writes as results arrive) and the rest (Ray's scheduling and
serialisation, the stage's serial part).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SMALL = {  # ~10 s per training task: long against Ray's per-task costs, short enough to run twice
    "model": {"hidden_dim": 32},
    "maml": {"meta_epochs": 8, "steps_per_epoch": 10, "inner_steps": 2, "num_tasks_per_batch": 8, "val_tasks": 16,
             "support_size": 32, "query_size": 16, "patience": None},
    "static": {"epochs": 8, "batch_size": 64, "patience": None},
}


def _timed_call(fn: Any, *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` and the seconds it ran inside the worker."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _burn(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def machine_ceiling(n: int = 10_000_000) -> float:
    """Speedup of pure Python work in 2 processes over 1 on this machine now (shared cores, other load)."""
    import multiprocessing as mp

    one = _burn(n)
    with mp.get_context("spawn").Pool(2) as pool:
        two = max(pool.map(_burn, [n, n]))
    return 2 * one / two


def _warm(seconds: float) -> int:
    """Import what the tasks import, then hold the worker a moment (so each worker gets one)."""
    import maml_strategy.backtest.suite  # noqa: F401
    import maml_strategy.backtest.walkforward  # noqa: F401

    time.sleep(seconds)
    return os.getpid()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from maml_strategy.cli import make_parser, positive_int

    p = make_parser(__doc__)
    p.add_argument("--universe", default=str(HERE.parent.parent / "shared" / "data" / "universe"))
    p.add_argument("--symbols", default="XLF,JPM,CVX,WMT", help="comma-separated symbols of the universe")
    p.add_argument("--first", type=int, default=2019)
    p.add_argument("--last", type=int, default=2020)
    p.add_argument("--train-years", type=positive_int, default=5)
    p.add_argument("--seeds", type=positive_int, default=2, help="seeds 0..N-1 (training tasks = years x seeds)")
    p.add_argument("--config", help="strategy config (default: a small built-in one)")
    return p.parse_args(argv)


class TimedRayExecutor:
    """A :class:`~maml_strategy.backtest.executors.RayExecutor` that counts the driver's seconds per stage."""

    def __init__(self, workers: int) -> None:
        from maml_strategy.backtest.executors import RayExecutor

        self.inner = RayExecutor(workers=workers)
        # start every worker process before the clock runs: a worker's start (Python, torch, the shipped
        # package) is paid once per run, not per stage, and would otherwise land in whichever stage comes first
        self.inner.map(_warm, [(2.0,)] * workers, progress=False)
        self.driver: dict[str, float] = {}
        self.tasks: dict[str, int] = {}
        self.task_s: dict[str, float] = {}  # seconds the tasks ran inside the workers, summed
        self._stage = "load"

    def put(self, value: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner.put(value)
        finally:
            self.driver[self._stage] = self.driver.get(self._stage, 0.0) + time.perf_counter() - t0

    def map(self, fn: Any, args: Any, *, on_result: Any = None, **kw: Any) -> list[Any]:
        stage = {"feature_task": "features", "train_task": "train", "backtest_task": "backtest"}[fn.__name__]
        self._stage, self.tasks[stage] = stage, len(args)

        def timed(i: int, r: tuple[Any, float]) -> None:
            t0 = time.perf_counter()
            self.task_s[stage] = self.task_s.get(stage, 0.0) + r[1]
            if on_result is not None:
                on_result(i, r[0])
            self.driver[stage] = self.driver.get(stage, 0.0) + time.perf_counter() - t0

        return [v for v, _ in self.inner.map(_timed_call, [(fn, *a) for a in args], on_result=timed, **kw)]

    def close(self) -> None:
        self.inner.close()


def main(argv: list[str] | None = None) -> int:
    from maml_strategy.backtest.walkforward import WalkForwardPlan, run_walk_forward
    from maml_strategy.cli import quiet_third_party
    from maml_strategy.config import load_config
    from maml_strategy.data import load_universe
    from maml_strategy.data.universe import resolve_universe

    args = parse_args(argv)
    quiet_third_party()
    cfg = load_config(args.config) if args.config else load_config(None, **SMALL)
    uni = resolve_universe(args.universe).subset(args.symbols.split(","), flag="--symbols")
    frames = load_universe(uni, None, f"{args.last}-12-31", adjust="total")
    refs = [(s, uni.path_of(s)) for s in frames]
    plan = WalkForwardPlan(refs, refs, args.first, args.last, args.train_years, list(range(args.seeds)), "total")
    print(f"{len(refs)} symbols, {args.first}-{args.last}, {args.seeds} seed(s); {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f} before", flush=True)
    runs: dict[int, dict[str, Any]] = {}
    for workers in (1, 2):
        ex = TimedRayExecutor(workers)
        try:
            with tempfile.TemporaryDirectory(prefix="bench_ray.") as cache:
                t0 = time.perf_counter()
                res = run_walk_forward(plan, cfg, executor=ex, cache_dir=cache, progress=False, frames=frames)
                total = time.perf_counter() - t0
        finally:
            ex.close()
        runs[workers] = {"stages": res["stages"], "driver": ex.driver, "tasks": ex.tasks, "task_s": ex.task_s,
                         "rows": res["rows"]}
        print(f"workers={workers} " + " ".join(f"{k}={v:.1f}s" for k, v in res["stages"].items())
              + f" total={total:.1f}s", flush=True)
    if runs[1]["rows"] != runs[2]["rows"]:
        print("error: 1 and 2 workers gave different results", file=sys.stderr)
        return 1
    print(f"machine ceiling: 2 processes of pure Python run {machine_ceiling():.2f}x one (shared cores, other load)")
    for stage in ("train", "backtest"):
        t1, t2 = runs[1]["stages"][stage], runs[2]["stages"][stage]
        n = runs[2]["tasks"].get(stage, 0)
        work1, work2 = runs[1]["task_s"].get(stage, 0.0), runs[2]["task_s"].get(stage, 0.0)
        ideal = t1 / min(2, max(n, 1))
        slower = (work2 - work1) / 2  # the same tasks ran longer side by side: contention for the cores
        tail = work2 / n * (-(-n // 2)) - work2 / 2 if n else 0.0  # an odd task count leaves one worker idle
        drv = runs[2]["driver"].get(stage, 0.0)
        rest = t2 - ideal - slower - tail - drv
        print(f"stage={stage} tasks={n} 1 worker {t1:.1f} s, 2 workers {t2:.1f} s, speedup={t1 / t2:.2f}; tasks ran "
              f"{work1:.1f} s (1 worker) and {work2:.1f} s (2 workers) in all; beyond the ideal {ideal:.1f} s: "
              f"contention {slower:+.1f} s, tail {tail:.1f} s, driver {drv:.1f} s, Ray scheduling/serialisation and "
              f"the serial part {rest:+.1f} s", flush=True)
    print(f"load {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

"""``backtests/walk_forward.py --mode portfolio``: load, check, run, and write summary.json, results.csv, equity.png.

:func:`check_portfolio_universe` rejects what a portfolio cannot be built from (one symbol, a
``top_k`` above the universe, no date on which two symbols trade) before anything is trained or
written; :func:`run_portfolio_mode` is the whole command after argument parsing. Outputs are
written atomically, ``summary.json`` last, so a failed run leaves no half-written file.

Example:
    >>> check_portfolio_universe({"A": pd.DataFrame(index=pd.bdate_range("2012-01-02", periods=3))}, 1, 2012, 2012)
    Traceback (most recent call last):
    ...
    maml_strategy.cli.UsageError: --mode: portfolio mode needs at least 2 symbols, got 1 (A); add symbols with --universe/--symbols
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.backtest.portfolio_stats import BENCHMARK, BootstrapConfig, active_stats, portfolio_section

__all__ = ["check_portfolio_universe", "portfolio_rows", "plot_portfolio_equity", "format_portfolio",
           "run_portfolio_mode"]


def check_portfolio_universe(frames: Mapping[str, pd.DataFrame], top_k: int, first: int, last: int) -> None:
    """Reject a universe a top-k portfolio cannot be built from (raises ``UsageError`` / ``DataError``).

    Needs at least two symbols, ``1 <= top_k <= len(frames)``, and at least one date in the test
    years ``first..last`` on which two or more symbols have a bar.
    """
    from maml_strategy.cli import error
    from maml_strategy.errors import DataError

    syms = sorted(frames)
    if len(syms) < 2:
        error(f"portfolio mode needs at least 2 symbols, got {len(syms)} ({', '.join(syms)}); "
              "add symbols with --universe/--symbols", flag="--mode")
    if not 1 <= top_k <= len(syms):
        error(f"must be in [1, {len(syms)}] (the universe's symbols), got {top_k}", flag="--top-k")
    lo, hi = pd.Timestamp(f"{first}-01-01"), pd.Timestamp(f"{last}-12-31")
    counts = pd.Series(np.concatenate([np.asarray(f.index[(f.index >= lo) & (f.index <= hi)].asi8)
                                       for f in frames.values()])).value_counts()
    if not len(counts) or int(counts.max()) < 2:
        spans = "; ".join(f"{s} {f.index[0].date()}..{f.index[-1].date()}" for s, f in frames.items() if len(f))
        raise DataError(f"the universe's symbols share no trading date in {first}-{last} ({spans}); a portfolio "
                        "needs symbols that trade on the same days: pick overlapping symbols or test years")


def _series(run: Mapping[str, Any]) -> pd.Series:
    return pd.Series(np.asarray(run["returns"], dtype=np.float64), index=pd.DatetimeIndex(run["dates"]))


def portfolio_rows(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (year, seed, entry): returns, excess over equal weight, IR, beta, turnover, drawdown.

    Example:
        >>> run = {"year": 2012, "seed": 0, "dates": ["2012-01-03", "2012-01-04", "2012-01-05"], "turnover": 1.0,
        ...        "max_drawdown": 0.0, "trades": 3, "commission": 1.5, "rejected": 0, "rebalances": 1,
        ...        "mean_names": 3.0}
        >>> rows = portfolio_rows([{**run, "kind": "equal_weight", "returns": [0.0, 0.01, 0.0], "total_return": 0.01},
        ...                        {**run, "kind": "maml", "returns": [0.0, 0.02, 0.0], "total_return": 0.02}])
        >>> rows["strategy"].tolist(), round(float(rows["excess_return"].iloc[1]), 2)
        (['equal_weight', 'maml'], 0.84)
    """
    bench = {r["year"]: r for r in runs if r["kind"] == BENCHMARK}
    rows = []
    for r in runs:
        b = bench.get(r["year"])
        st = active_stats(_series(r), _series(b)) if b is not None else {}
        rows.append({"year": r["year"], "seed": r["seed"], "strategy": r["kind"], "total_return": r["total_return"],
                     "benchmark_total_return": None if b is None else b["total_return"],
                     "excess_return": st.get("excess_return"), "information_ratio": st.get("information_ratio"),
                     "beta": st.get("beta"), "turnover": r["turnover"], "max_drawdown": r["max_drawdown"],
                     "trades": r["trades"], "commission": r["commission"], "rejected_orders": r["rejected"],
                     "rebalances": r["rebalances"], "mean_names": r["mean_names"]})
    return pd.DataFrame(rows)


def _chained(runs: Sequence[Mapping[str, Any]], kind: str) -> pd.Series:
    by_year: dict[int, list[pd.Series]] = {}
    for r in runs:
        if r["kind"] == kind:
            by_year.setdefault(int(r["year"]), []).append(_series(r))
    if not by_year:
        return pd.Series(dtype=float)
    rets = pd.concat([pd.concat(v, axis=1).mean(axis=1) for _, v in sorted(by_year.items())])
    return (1.0 + rets).cumprod()


def plot_portfolio_equity(runs: Sequence[Mapping[str, Any]], path: str | Path) -> bool:
    """Growth of 1 of every portfolio (seed mean, years chained) against equal weight, and their ratio.

    Returns:
        False when there is nothing to plot.

    Example:
        >>> plot_portfolio_equity([], "equity.png")  # no equal-weight run: nothing drawn
        False
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["kind"] for r in runs))
    bench = _chained(runs, BENCHMARK)
    if bench.empty:
        return False
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for k in kinds:
        eq = _chained(runs, k)
        if k == BENCHMARK:
            ax.plot(eq.index, eq.to_numpy(), color="black", lw=2.2, label="equal weight (benchmark)")
            continue
        line = ax.plot(eq.index, eq.to_numpy(), lw=1.2, label=k)[0]
        rel = eq / bench.reindex(eq.index)
        ax2.plot(rel.index, rel.to_numpy(), lw=1.2, color=line.get_color(), label=k)
    ax2.axhline(1.0, color="black", lw=1)
    ax.set_ylabel("growth of 1")
    ax2.set_ylabel("relative to equal weight")
    ax.set_title("Top-k portfolios against the equal-weight universe (next-open fills, costs included)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    ax.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return True


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{100 * v:+.1f}%" if pct else f"{v:+.2f}"


def _ci(v: Any, pct: bool = False) -> str:
    return "-" if not v else f"[{_fmt(v[0], pct)}, {_fmt(v[1], pct)}]"


def format_portfolio(section: Mapping[str, Mapping[str, Any]]) -> str:
    """The portfolio table: one line per entry (excess return and IR with their 95 % intervals).

    Example:
        >>> print(format_portfolio({"maml": {"excess_return": 0.05, "excess_ci95": [-0.01, 0.1],
        ...                                  "information_ratio": 0.5, "beta": 1.0, "turnover": 12.0,
        ...                                  "max_drawdown": 0.1, "total_return": 0.2}}).splitlines()[-1])
        maml                +5.0%    [-1.0%, +10.0%]  +0.50               -  +1.00     12.0x   10.0%   +20.0%
    """
    head = (f"{'entry':<15}{'excess/yr':>10} {'95% CI':>18} {'IR':>6} {'95% CI':>15} {'beta':>6} "
            f"{'turnover':>9} {'maxDD':>7} {'return':>8}")
    lines = [head, "-" * len(head)]
    for k, e in section.items():
        lines.append(f"{k:<15}{_fmt(e.get('excess_return'), True):>10} {_ci(e.get('excess_ci95'), True):>18} "
                     f"{_fmt(e.get('information_ratio')):>6} {_ci(e.get('information_ratio_ci95')):>15} "
                     f"{_fmt(e.get('beta')):>6} {e.get('turnover', 0):>8.1f}x {100 * e.get('max_drawdown', 0):>6.1f}% "
                     f"{_fmt(e.get('total_return'), True):>8}")
    return "\n".join(lines)


def run_portfolio_mode(args: argparse.Namespace, say: Callable[[str], None], t0: float) -> int:
    """``walk_forward.py --mode portfolio`` after argument parsing: the whole run, outputs, printed table.

    Args:
        args: ``backtests/walk_forward.py``'s parsed arguments (``cfg``, ``test_uni``, ``train_uni`` resolved).
        say: stage-line callback.
        t0: the run's start (``time.perf_counter()``), for the recorded seconds.

    Returns:
        The exit status (0); bad input raises a ``MamlStrategyError`` before anything is written.

    Example:
        >>> run_portfolio_mode(parse_args(["--mode", "portfolio", "--top-k", "3"]), print, 0.0)  # doctest: +SKIP
    """
    from maml_strategy.atomic import atomic_path, atomic_write, output_errors
    from maml_strategy.backtest.executors import check_ray_address, make_executor
    from maml_strategy.backtest.portfolio_wf import portfolio_kinds, run_portfolio_walk_forward
    from maml_strategy.backtest.walkforward import WalkForwardPlan, load_universes
    from maml_strategy.errors import DataError
    from maml_strategy.topk import TopkConfig

    if args.ray_address:
        check_ray_address(args.ray_address)
    cfg, test_uni, train_uni = args.cfg, args.test_uni, args.train_uni
    good_test, good_train = load_universes(test_uni, train_uni, args.last, price_basis=args.price_basis,
                                           skip_bad=args.skip_bad_symbols, say=say)
    check_portfolio_universe(good_test, args.top_k, args.first, args.last)
    test_refs = [(s, test_uni.path_of(s)) for s in good_test]
    train_refs = [(s, train_uni.path_of(s)) for s in good_train]
    del good_test, good_train
    topk = TopkConfig(top_k=args.top_k, n_drop=args.n_drop, rebalance=args.rebalance,
                      allow_short=cfg.trading.allow_short, max_exposure=min(cfg.trading.max_exposure, 1.0))
    boot = BootstrapConfig()
    plan = WalkForwardPlan(test_refs, train_refs, args.first, args.last, args.train_years, list(range(args.seeds)),
                           args.price_basis)
    executor = make_executor(args.executor, workers=args.workers, address=args.ray_address)
    try:
        res = run_portfolio_walk_forward(plan, cfg, topk, executor=executor, cache_dir=args.cache_dir,
                                         progress=not args.quiet, say=say)
    finally:
        executor.close()
    if not any(r["kind"] == BENCHMARK for r in res["runs"]):
        raise DataError("no test year could be backtested as a portfolio: " + "; ".join(
            f"{s['kind']} {s['year']}: {s['reason']}" for s in res["skipped"][:5]))
    kinds = portfolio_kinds()
    section = portfolio_section(res["runs"], boot, ci_for=[k for k in kinds if k != BENCHMARK])
    rows = portfolio_rows(res["runs"])
    summary = {
        "mode": "portfolio", "price_basis": args.price_basis, "universe": test_uni.source,
        "symbols": [r[0] for r in test_refs], "train_universe": train_uni.source,
        "train_symbols": [r[0] for r in train_refs], "years": plan.years, "train_years": args.train_years,
        "seeds": plan.seeds, "executor": args.executor, "workers": args.workers, "seconds": None,
        "tasks": res["tasks"], "portfolio_settings": dataclasses.asdict(topk), "bootstrap": dataclasses.asdict(boot),
        "commission_bps": cfg.trading.commission_bps,
        "survivorship_note": "stocks in the shared universe are 2024 S&P 500 members: equal weight is flattered",
        "portfolio": section, "training": res["training"], "skipped": res["skipped"],
        "results": rows.to_dict(orient="records"),
    }
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    with output_errors("the walk-forward outputs"):
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "results.csv") as tmp:
            rows.to_csv(tmp, index=False)
        with atomic_path(out / "equity.png", skip_empty=True) as tmp:
            plot = out / "equity.png" if plot_portfolio_equity(res["runs"], tmp) else None
        atomic_write(out / "summary.json", json.dumps(summary, indent=1, default=float))
    t = res["tasks"]
    print(f"\nPortfolio walk-forward {args.first}-{args.last}: {len(test_refs)} symbols, top {topk.top_k} "
          f"(n_drop {topk.drop}, {topk.rebalance}, {'long-short' if topk.allow_short else 'long-only'}), "
          f"seeds {plan.seeds}, executor {args.executor}; {summary['seconds']:.0f}s "
          f"({t['portfolio_cached']}/{t['portfolio']} portfolios and {t['train_cached']}/{t['train']} trainings "
          "from the cache)\n")
    print(format_portfolio(section))
    if res["skipped"]:
        print(f"\nskipped {len(res['skipped'])} task(s), e.g. {res['skipped'][0]}")
    print(f"\nwrote {out / 'summary.json'}, {out / 'results.csv'}" + (f", {plot}" if plot else ""))
    return 0

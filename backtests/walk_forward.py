#!/usr/bin/env python
"""Universe walk-forward: for each test year Y, train one model on the N years before Y, test every symbol on Y.

    python backtests/walk_forward.py --universe ../shared/data/universe --first 2008 --last 2023 --train-years 10
    python backtests/walk_forward.py --universe SPY --first 2008 --last 2023            # one symbol
    python backtests/walk_forward.py --universe DIR --train-universe OTHER_DIR ...      # test on unseen symbols
    python backtests/walk_forward.py ... --executor ray --workers 2                      # scale out (pip install -e ".[scale]")
    python backtests/walk_forward.py ... --mode portfolio --top-k 10 --n-drop 2          # top-k portfolios vs equal weight

Per (training window, seed) one universe model is trained (cached); per (symbol,
year, seed) every strategy is backtested (cached, so a killed run resumes):
maml, maml_unadapted (the same model, adaptation off), static, naive_finetune,
gbdt, the factors reversal and momentum, and the no-net controls regime_rule,
sma200, exposure_matched (a diagnostic) and buy_and_hold, on the total-return
basis. Writes OUT/summary.json, OUT/results.csv, OUT/heatmap.png and
OUT/equity_mean.png, and prints the aggregate table (with alpha and beta against
buy-and-hold), paired differences with 95 % bootstrap intervals (resampling
symbols and years), each model's skill on the tradable label (IC beyond the
factors, cross-sectional / timing / selection IC) and the adaptation gain.

Note: every stock in the shared universe is a 2024 S&P 500 member (survivorship
bias): buy-and-hold over it looks better than it would have in real time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from maml_strategy.cli import error, make_parser, positive_int

    p = make_parser(__doc__)
    p.add_argument("--universe", default="SPY", help="test universe: a directory of CSVs, a YAML list, or 'SPY,QQQ'")
    p.add_argument("--symbols", help="restrict the test universe to these comma-separated symbols")
    p.add_argument("--train-universe", help="training universe (default: the test universe)")
    p.add_argument("--first", type=int, default=2008, help="first test year")
    p.add_argument("--last", type=int, default=2023, help="last test year (needs full-year data)")
    p.add_argument("--train-years", type=positive_int, default=10, help="training years before each test year")
    p.add_argument("--seeds", type=positive_int, default=1, help="training seeds 0..N-1")
    p.add_argument("--price-basis", choices=("total", "close"), default="total",
                   help="total: dividends credited via Adj Close; close: prices as in the files")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="where tasks run")
    p.add_argument("--workers", type=positive_int, default=None, help="Ray: CPUs of the local Ray (None = all)")
    p.add_argument("--ray-address", help="Ray: join the cluster at HOST:PORT instead of starting a local Ray")
    p.add_argument("--skip-bad-symbols", action="store_true", help="continue without symbols that fail to load")
    p.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"), help="strategy config")
    p.add_argument("--cache-dir", default=str(HERE / "cache"), help="model/feature/result cache")
    p.add_argument("--out", default=str(HERE / "results" / "walk_forward"), help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage lines")
    p.add_argument("--mode", choices=("symbol", "portfolio"), default="symbol",
                   help="symbol: every strategy per symbol; portfolio: top-k portfolios over the universe")
    p.add_argument("--top-k", type=int, default=5, help="portfolio: names held (1..universe size)")
    p.add_argument("--n-drop", type=int, default=None, help="portfolio: most names replaced per rebalance (None = top-k)")
    p.add_argument("--rebalance", choices=("daily", "weekly", "monthly"), default="weekly", help="portfolio: when to re-rank")
    a = p.parse_args(argv)
    if a.first > a.last:
        error(f"{a.first} is after --last {a.last}; swap them", flag="--first")
    if a.train_years < 3:
        error(f"must be >= 3 (2 validation years + at least 1 training year), got {a.train_years}", flag="--train-years")
    if a.executor == "local" and (a.workers or a.ray_address):
        error("--workers and --ray-address need --executor ray", flag="--executor")
    # config and symbols are checked here, before torch loads (both modules are torch-free)
    from maml_strategy.config import load_config
    from maml_strategy.data.universe import resolve_universe

    a.cfg = load_config(a.config)
    a.test_uni = resolve_universe(a.universe)
    if a.symbols:
        a.test_uni = a.test_uni.subset(a.symbols.split(","), flag="--symbols")
    a.train_uni = resolve_universe(a.train_universe) if a.train_universe else a.test_uni
    if a.mode == "portfolio":  # universe size and top-k checked before torch loads; dates once the data is read
        n = len(a.test_uni.symbols)
        if n < 2:
            error(f"portfolio mode needs at least 2 symbols, got {n}; add symbols with --universe/--symbols", flag="--mode")
        if not 1 <= a.top_k <= n:
            error(f"must be in [1, {n}] (the universe's symbols), got {a.top_k}", flag="--top-k")
        if a.n_drop is not None and not 0 <= a.n_drop <= a.top_k:
            error(f"must be in [0, --top-k {a.top_k}], got {a.n_drop}", flag="--n-drop")
    return a


def main(argv: list[str] | None = None) -> int:
    from maml_strategy.cli import quiet_third_party

    args = parse_args(argv)
    quiet_third_party()
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    return _run(args, say, t0)


def _run(args: argparse.Namespace, say, t0: float) -> int:  # noqa: ANN001
    if args.mode == "portfolio":
        from maml_strategy.backtest.portfolio_report import run_portfolio_mode

        return run_portfolio_mode(args, say, t0)

    import pandas as pd

    from maml_strategy.atomic import atomic_path, atomic_write, output_errors
    from maml_strategy.backtest.executors import check_ray_address, make_executor
    from maml_strategy.backtest.walkforward import WalkForwardPlan, load_universes, run_walk_forward
    from maml_strategy.backtest.wf_report import (aggregate, comparisons, format_walk_forward, full_skill,
                                                   plot_heatmap, plot_mean_equity)

    if args.ray_address:
        check_ray_address(args.ray_address)
    cfg, test_uni, train_uni = args.cfg, args.test_uni, args.train_uni
    say(f"data: checking {len(set(test_uni.symbols) | set(train_uni.symbols))} symbol(s) up to {args.last}-12-31 "
        f"({args.price_basis} price basis)")
    good_test, good_train = load_universes(test_uni, train_uni, args.last, price_basis=args.price_basis,
                                           skip_bad=args.skip_bad_symbols, say=say)
    test_refs = [(s, test_uni.path_of(s)) for s in good_test]
    train_refs = [(s, train_uni.path_of(s)) for s in good_train]
    frames = {**good_train, **good_test}  # loaded and validated once: the tasks get them through the executor
    del good_test, good_train
    plan = WalkForwardPlan(test_refs, train_refs, args.first, args.last, args.train_years,
                           list(range(args.seeds)), args.price_basis)
    executor = make_executor(args.executor, workers=args.workers, address=args.ray_address)
    try:
        res = run_walk_forward(plan, cfg, executor=executor, cache_dir=args.cache_dir, progress=not args.quiet, say=say,
                               frames=frames)
    finally:
        executor.close()
    rows = pd.DataFrame(res["rows"])
    if rows.empty:
        from maml_strategy.errors import DataError

        raise DataError("no symbol-year could be backtested: " + "; ".join(
            f"{s['symbol']} {s['year']}: {s['reason']}" for s in res["skipped"][:5]))
    skill = pd.DataFrame(res["skill"])
    summary = {
        "price_basis": args.price_basis, "universe": test_uni.source, "symbols": [r[0] for r in test_refs],
        "train_universe": train_uni.source, "train_symbols": [r[0] for r in train_refs],
        "years": plan.years, "train_years": args.train_years, "seeds": plan.seeds, "executor": args.executor,
        "workers": args.workers, "seconds": None, "tasks": res["tasks"],
        "survivorship_note": "stocks in the shared universe are 2024 S&P 500 members: buy-and-hold is flattered",
        "aggregate": aggregate(rows), "comparisons": comparisons(rows),
        "skill": full_skill(skill, rows, res.get("panels", []), cfg.features.horizon),
        "training": res["training"], "skipped": res["skipped"], "results": res["rows"],
    }
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    with output_errors("the walk-forward outputs"):  # OSError -> one error: line, exit 2
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "results.csv") as tmp:  # every file atomic; summary.json last
            rows.to_csv(tmp, index=False)
        with atomic_path(out / "heatmap.png", skip_empty=True) as tmp:
            heat = out / "heatmap.png" if plot_heatmap(rows, tmp) else None
        with atomic_path(out / "equity_mean.png", skip_empty=True) as tmp:
            curves = out / "equity_mean.png" if plot_mean_equity(res.get("panels", []), tmp) else None
        atomic_write(out / "summary.json", json.dumps(summary, indent=1, default=float))
    print(f"\nWalk-forward {args.first}-{args.last}: {len(test_refs)} test symbol(s), trained on {len(train_refs)} "
          f"symbol(s) over the {args.train_years} years before each test year, seeds {plan.seeds}, "
          f"{args.price_basis} price basis, executor {args.executor}; {summary['seconds']:.0f}s "
          f"({res['tasks']['backtest_cached']}/{res['tasks']['backtest']} backtests and "
          f"{res['tasks']['train_cached']}/{res['tasks']['train']} trainings from the cache)\n")
    print(format_walk_forward(summary))
    if res["skipped"]:
        print(f"\nskipped {len(res['skipped'])} symbol-year(s), e.g. {res['skipped'][0]}")
    print(f"\nwrote {out / 'summary.json'}, {out / 'results.csv'}" + (f", {heat}" if heat else "")
          + (f", {curves}" if curves else ""))
    return 0


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

#!/usr/bin/env python
"""Walk-forward comparison: for each test year Y, train on the N years before Y, test on Y.

    python backtests/walk_forward.py --first 2008 --last 2023 --train-years 10 --seeds 1

Two test years (2008, 2020) say little about a strategy; this runs the same
experiment as ``backtests/run.py`` for every year and reports, per year and
overall, each strategy's return and Sharpe and in how many years MAML beat
each baseline. Models are cached like run.py's, so reruns are fast.

Note: the product defaults were chosen on validation data up to 2007-12-31
(see README), so test years from 2008 on are out of sample for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first", type=int, default=2008, help="first test year")
    ap.add_argument("--last", type=int, default=2023, help="last test year (needs full-year data)")
    ap.add_argument("--train-years", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--symbol", default="SPY")
    ap.add_argument("--data", help="Yahoo-format CSV instead of the automatic search")
    ap.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"))
    ap.add_argument("--cache-dir", default=str(HERE / "cache"))
    ap.add_argument("--out", default=str(HERE / "results" / "walk_forward"))
    args = ap.parse_args(argv)

    from maml_strategy.backtest import custom_period, run_experiment
    from maml_strategy.config import load_config
    from maml_strategy.data import load_ohlcv
    from maml_strategy.errors import MamlStrategyError

    if args.first > args.last or args.train_years < 3 or args.seeds < 1:
        print("error: need --first <= --last, --train-years >= 3 and --seeds >= 1", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
        df = load_ohlcv(args.symbol, None, f"{args.last}-12-31", path=args.data)
        rows = []
        for year in range(args.first, args.last + 1):
            t0 = time.perf_counter()
            period = custom_period(f"{year - args.train_years}-01-01", f"{year - 1}-12-31",
                                   f"{year}-01-01", f"{year}-12-31", name=str(year))
            res = run_experiment(df, cfg, period, symbol=args.symbol.upper(), seeds=list(range(args.seeds)),
                                 cache_dir=args.cache_dir or None, progress=False)
            summary = res.summary()
            row = {"year": year}
            for name, s in summary["strategies"].items():
                row[f"{name}_return"] = s["total_return"]
                row[f"{name}_sharpe"] = s["sharpe"]
                row[f"{name}_maxdd"] = s["max_drawdown"]
            rows.append(row)
            print(f"{year}: " + "  ".join(f"{n} {row[f'{n}_return'] * 100:+6.1f}%" for n in summary["strategies"])
                  + f"  ({time.perf_counter() - t0:.0f}s)", flush=True)
    except MamlStrategyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    table = pd.DataFrame(rows).set_index("year")
    names = ["maml", "static", "naive_finetune", "buy_and_hold"]
    overall = {}
    for n in names:
        overall[n] = {
            "mean_return": float(table[f"{n}_return"].mean()),
            "median_return": float(table[f"{n}_return"].median()),
            "mean_sharpe": float(table[f"{n}_sharpe"].dropna().mean()),
            "worst_maxdd": float(table[f"{n}_maxdd"].max()),
            "compounded": float(np.prod(1 + table[f"{n}_return"]) - 1),
        }
    wins = {f"maml_vs_{n}": int((table["maml_return"] > table[f"{n}_return"]).sum()) for n in names[1:]}
    print(f"\n{args.symbol.upper()} walk-forward {args.first}-{args.last}, train {args.train_years}y, "
          f"seeds {args.seeds} (mean of seeds per year)\n")
    print("| strategy | mean yearly return | median | mean Sharpe | worst max DD | compounded |")
    print("|---|---|---|---|---|---|")
    for n, o in overall.items():
        print(f"| {n} | {o['mean_return'] * 100:+.1f}% | {o['median_return'] * 100:+.1f}% | {o['mean_sharpe']:.2f} | "
              f"{o['worst_maxdd'] * 100:.1f}% | {o['compounded'] * 100:+.0f}% |")
    years = len(table)
    print("\nYears in which MAML's return beat: " + ", ".join(f"{k.removeprefix('maml_vs_')} {v}/{years}" for k, v in wins.items()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "years.csv")
    (out / "summary.json").write_text(json.dumps({"args": vars(args), "overall": overall, "maml_wins": wins,
                                                  "years": rows}, indent=1))
    print(f"wrote {out / 'years.csv'} and {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

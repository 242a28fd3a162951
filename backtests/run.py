#!/usr/bin/env python
"""Backtest MAML vs the static Phase-1 model vs naive fine-tuning vs buy-and-hold.

    python backtests/run.py --period 2008
    python backtests/run.py --period 2020 --seeds 5
    python backtests/run.py --data my.csv --symbol XYZ --train-start 2005-01-01 --train-end 2015-12-31 \
        --test-start 2016-01-01 --test-end 2016-12-31

Trains on the training window only (cached under backtests/cache/), backtests
every strategy over the test window, prints a table and writes summary.json,
equity.csv, trades.csv, adaptations.csv and report.png to --out.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--period", help="named period from backtests/periods.yaml (2008, 2020)")
    p.add_argument("--train-start")
    p.add_argument("--train-end")
    p.add_argument("--test-start")
    p.add_argument("--test-end")
    p.add_argument("--symbol", default="SPY")
    p.add_argument("--data", help="Yahoo-format CSV to use instead of the automatic search")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0..N-1) for the learned models")
    p.add_argument("--out", help="output folder (default backtests/results/<period>/)")
    p.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"))
    p.add_argument("--periods", default=str(HERE / "periods.yaml"))
    p.add_argument("--cache-dir", default=str(HERE / "cache"), help="trained-model cache ('' disables)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from maml_strategy.backtest import (
        custom_period,
        format_comparisons,
        format_table,
        load_periods,
        run_experiment,
        write_outputs,
    )
    from maml_strategy.config import load_config
    from maml_strategy.data import DataWarning, load_ohlcv
    from maml_strategy.errors import MamlStrategyError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    try:
        custom = [args.train_start, args.train_end, args.test_start, args.test_end]
        if any(custom):
            if not all(custom):
                raise SystemExit("custom windows need all of --train-start --train-end --test-start --test-end")
            period = custom_period(*custom, name=args.period or "custom")
        elif args.period:
            periods = load_periods(args.periods)
            if args.period not in periods:
                raise SystemExit(f"unknown --period {args.period!r}; choose one of {', '.join(periods)} "
                                 "or give --train-start/--train-end/--test-start/--test-end")
            period = periods[args.period]
        else:
            raise SystemExit("give --period NAME (e.g. 2008) or a custom window")
        if args.seeds < 1:
            raise SystemExit("--seeds must be >= 1")
        cfg = load_config(args.config)
        with warnings.catch_warnings():
            warnings.simplefilter("always", DataWarning)
            df = load_ohlcv(args.symbol, None, period.test_end, path=args.data)
        out = Path(args.out) if args.out else HERE / "results" / period.name
        res = run_experiment(df, cfg, period, symbol=args.symbol.upper(), seeds=list(range(args.seeds)),
                             cache_dir=args.cache_dir or None, progress=not args.quiet)
        paths = write_outputs(res, out)
    except MamlStrategyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = res.summary()
    print(f"\n{args.symbol.upper()} test {period.test_start.date()}..{period.test_end.date()}, "
          f"trained {period.train_start.date()}..{period.train_end.date()} "
          f"(validation from {period.val_start.date()}), seeds {res.seeds}\n")
    print(format_table(summary))
    print("\nPaired by seed, MAML minus baseline:")
    print(format_comparisons(summary))
    cached = all(t["cached"] for t in res.training)
    print(f"\nmodels: {'cache' if cached else 'trained'} ({', '.join(t['cache_key'] for t in res.training)}); "
          f"total {time.perf_counter() - t0:.1f}s")
    for path in paths.values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

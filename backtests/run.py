#!/usr/bin/env python
"""Backtest MAML against the static Phase-1 model, naive fine-tuning and controls with no net.

    python backtests/run.py --period 2008
    python backtests/run.py --period 2020 --seeds 5
    python backtests/run.py --data my.csv --symbol XYZ --train-start 2005-01-01 --train-end 2015-12-31 \
        --test-start 2016-01-01 --test-end 2016-12-31

Trains on the training window only (cached under backtests/cache/), backtests
every strategy over the test window (maml, static, naive_finetune, and the no-net
controls regime_rule, sma200, exposure_matched, buy_and_hold) on the total-return
price basis (dividends credited; --price-basis close for raw closes), prints a
table and each model's skill, and writes summary.json, equity.csv, trades.csv,
adaptations.csv and report.png to --out.
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
    from maml_strategy.cli import error, iso_date, make_parser, positive_int

    p = make_parser(__doc__)
    p.add_argument("--period", help="named period from --periods (2008, 2020)")
    p.add_argument("--train-start", type=iso_date, help="custom window: first training day")
    p.add_argument("--train-end", type=iso_date, help="custom window: last training day")
    p.add_argument("--test-start", type=iso_date, help="custom window: first test day")
    p.add_argument("--test-end", type=iso_date, help="custom window: last test day")
    p.add_argument("--symbol", default="SPY", help="test symbol")
    p.add_argument("--data", help="Yahoo-format CSV to use instead of the automatic search")
    p.add_argument("--seeds", type=positive_int, default=5, help="number of seeds (0..N-1) for the learned models")
    p.add_argument("--out", help="output folder (default backtests/results/<period>/)")
    p.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"), help="strategy config")
    p.add_argument("--periods", default=str(HERE / "periods.yaml"), help="named periods file")
    p.add_argument("--cache-dir", default=str(HERE / "cache"), help="trained-model cache ('' disables)")
    p.add_argument("--price-basis", choices=("total", "close"), default="total",
                   help="total: OHLC scaled by Adj Close/Close (dividends credited); close: prices as in the file")
    p.add_argument("--train-universe", help="train on these symbols instead of --symbol: a directory of CSVs, "
                   "a YAML list or 'SPY,QQQ' (the test symbol may be outside it)")
    p.add_argument("--skip-bad-symbols", action="store_true", help="continue without training symbols that fail to load")
    p.add_argument("--tearsheet", action="store_true",
                   help='also write tearsheet.html (MAML vs buy-and-hold on the table\'s dates, price basis and seeds: '
                        'the mean equity over seeds; needs pip install -e ".[report]")')
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage lines")
    args = p.parse_args(argv)
    custom = [args.train_start, args.train_end, args.test_start, args.test_end]
    if any(custom) and not all(custom):
        error("custom windows need all of --train-start --train-end --test-start --test-end", flag="--train-start")
    if not any(custom) and not args.period:
        error("give a named period (e.g. --period 2008) or a custom window (--train-start ... --test-end)",
              flag="--period")
    if args.period and not any(custom):
        from maml_strategy.backtest.periods import load_periods  # no torch here

        periods = load_periods(args.periods)
        if args.period not in periods:
            error(f"unknown period {args.period!r}; choose one of {', '.join(periods)} or give "
                  "--train-start/--train-end/--test-start/--test-end", flag="--period")
        args.period_obj = periods[args.period]
    else:
        from maml_strategy.backtest.periods import custom_period

        args.period_obj = custom_period(*custom, name=args.period or "custom")
    from maml_strategy.config import load_config  # torch-free: a bad config is rejected before torch loads

    args.cfg = load_config(args.config)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    period = args.period_obj
    from maml_strategy.backtest import (
        TABLE_LEGEND,
        format_comparisons,
        format_skill,
        format_table,
        run_experiment,
        write_outputs,
    )
    from maml_strategy.data import DataWarning, load_ohlcv, load_universe

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = args.cfg
    adjust = "total" if args.price_basis == "total" else "none"
    say(f"data: {args.symbol.upper()} up to {period.test_end.date()} ({args.price_basis} price basis)")
    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)
        df = load_ohlcv(args.symbol, None, period.test_end, path=args.data, adjust=adjust)
        train_frames = None
        if args.train_universe:
            train_frames = load_universe(args.train_universe, None, period.train_end, adjust=adjust,
                                         skip_bad=args.skip_bad_symbols)
            say(f"data: training universe of {len(train_frames)} symbols")
    out = Path(args.out) if args.out else HERE / "results" / period.name
    res = run_experiment(df, cfg, period, symbol=args.symbol.upper(), seeds=list(range(args.seeds)),
                         cache_dir=args.cache_dir or None, progress=not args.quiet, train_frames=train_frames,
                         price_basis=args.price_basis, say=say)
    say("writing outputs")
    tearsheet = {}
    if args.tearsheet:  # before summary.json, which is written last: a failed tearsheet leaves no new summary
        from maml_strategy.backtest.tearsheet import write_experiment_tearsheet

        tearsheet["tearsheet"] = write_experiment_tearsheet(res, out / "tearsheet.html")
    paths = {**write_outputs(res, out), **tearsheet}
    summary = res.summary()
    trained_on = args.symbol.upper() if not args.train_universe else f"{len(res.train_symbols)} symbols"
    print(f"\n{args.symbol.upper()} test {period.test_start.date()}..{period.test_end.date()}, "
          f"trained on {trained_on} {period.train_start.date()}..{period.train_end.date()} "
          f"(validation from {period.val_start.date()}), seeds {res.seeds}, {args.price_basis} price basis\n")
    print(format_table(summary))
    print("\n" + TABLE_LEGEND)
    print("\nSkill of each model on the test bars (IC = Spearman correlation of prediction with the realised "
          "5-day vol-scaled return; an interval that straddles 0 means no measurable skill):\n")
    print(format_skill(summary))
    print("\nPaired by seed, MAML minus each other strategy:")
    print(format_comparisons(summary))
    cached = all(t["cached"] for t in res.training)
    print(f"\nmodels: {'cache' if cached else 'trained'} ({', '.join(t['cache_key'] for t in res.training)}); "
          f"total {time.perf_counter() - t0:.1f}s")
    for path in paths.values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

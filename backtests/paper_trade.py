#!/usr/bin/env python
"""Paper-trade (default) or live-trade the MAML regime strategy on Robinhood.

    # offline: replay historical bars through the same live loop (always paper)
    python backtests/paper_trade.py --symbol SPY --config strategies/maml_regime.yaml \
        --replay ../shared/data/SPY.csv --start 2020-01-01 --end 2020-12-31 --speed 0

    # paper trading on live Robinhood quotes (needs ROBINHOOD_USERNAME/_PASSWORD/_MFA_SECRET)
    python backtests/paper_trade.py --symbol SPY --config strategies/maml_regime.yaml --model maml.pt

    # REAL orders: --live AND `live: {allow_real_orders: true}` in the config AND a confirmation
    python backtests/paper_trade.py --symbol SPY --config my_live.yaml --model maml.pt --live

    # replay the test year of a named period with the model `backtests/run.py --period 2008` cached
    python backtests/paper_trade.py --replay ../shared/data/SPY.csv --symbol SPY --period 2008

In replay, bars before --start are the backfill / warm-up and --speed N
delivers N bars per second (0 = as fast as possible). Without --model, a model
is trained (and cached under backtests/cache/) on the --train-years years before
--start, or on the training window of --period; when run.py already trained it
(same symbol, data, config, window and seed) the cached model is loaded, else
the script says that it is training and about how long that takes. The summary
gives fills, adaptations, return and maximum drawdown, beside buy-and-hold over
the same bars. Every fill and the final value are printed; the broker journal
(--journal, default ``live.journal_path``) lets an interrupted session resume.
Replays use the total-return price basis (dividends credited through Adj Close)
unless --price-basis close is given.

Exit codes: 0 the session ran to its end; 2 bad input or a broker error; 3 a
safety rail (daily loss limit, repeated feed failures) stopped the session, the
reason being the last line printed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

logger = logging.getLogger("paper_trade")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    from maml_strategy.cli import error, make_parser

    p = make_parser(__doc__)
    p.add_argument("--symbol", default=None, help="ticker (default: the config's symbol)")
    p.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"))
    p.add_argument("--model", help="saved MAML model (.pt); trained on the years before --start when omitted")
    p.add_argument("--live", action="store_true", help="send REAL orders (also needs allow_real_orders + confirmation)")
    p.add_argument("--yes-real-money", action="store_true", help="skip the interactive real-money confirmation")
    p.add_argument("--replay", metavar="CSV", help="replay historical daily bars offline (paper only)")
    p.add_argument("--speed", type=float, default=0.0, help="replay bars per second (0 = as fast as possible)")
    p.add_argument("--start", help="first traded bar (replay: bars before it are warm-up); default today, "
                                   "or 2020-01-01 with --replay and no --end")
    p.add_argument("--end", help="last replayed bar (default: end of the CSV, or 2020-12-31 with --replay "
                                 "and no --start)")
    p.add_argument("--journal", help="broker journal file (replay default: in memory only)")
    p.add_argument("--train-years", type=int, default=10, help="training window before --start when --model is omitted")
    p.add_argument("--period", help="replay the test window of a named period from --periods (e.g. 2008) and train "
                                    "on its training window: the model `backtests/run.py --period NAME` caches")
    p.add_argument("--periods", default=str(HERE / "periods.yaml"), help="named periods file")
    p.add_argument("--price-basis", choices=("total", "close"), default="total",
                   help="replay prices: 'total' (dividends credited via Adj Close, the default) or 'close' (as traded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--daily-loss-limit", type=float, metavar="FRACTION",
                   help="paper only: stop (flatten, exit 3) once the day's loss reaches this fraction "
                        "(default: live.daily_loss_limit of the config, 0.05); with --live the rails come "
                        "only from the config")
    p.add_argument("--cache-dir", default=str(HERE / "cache"), help="trained-model cache ('' disables)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if args.replay and args.live:
        p.error("--replay always paper-trades; drop --live")
    if args.yes_real_money and not args.live:
        p.error("--yes-real-money only makes sense with --live")
    if args.speed < 0:
        p.error("--speed must be >= 0")
    if args.daily_loss_limit is not None and args.live:
        error("real-money rails come only from the config (live.daily_loss_limit); drop it or --live",
              flag="--daily-loss-limit")
    if args.train_years < 1:
        error("must be >= 1", flag="--train-years")
    args.period_obj = None
    if args.period:
        if not args.replay:
            error("replays a named test window: it needs --replay CSV", flag="--period")
        if args.start or args.end:
            error("sets the window; drop --start/--end (or drop --period)", flag="--period")
        from maml_strategy.backtest.periods import load_periods  # no torch here

        periods = load_periods(args.periods)  # a ConfigError is one error: line (run_main)
        if args.period not in periods:
            error(f"unknown period {args.period!r}; choose one of {', '.join(periods)} or give --start/--end",
                  flag="--period")
        args.period_obj = periods[args.period]
        args.start, args.end = str(args.period_obj.test_start.date()), str(args.period_obj.test_end.date())
    return args


# training time of one seed (MAML, static, LightGBM) per training year with the default config: 22.5 s for
# SPY 1995-2007 (13 years) on this project's 2-core machine, busy; the range allows for a slower or busier one
_TRAIN_SECONDS_PER_YEAR = (1.5, 3.5)


def _train_model(df: Any, cfg: Any, start: Any, args: argparse.Namespace, symbol: str) -> Any:
    """Loads from the cache, or trains, the MAML model of the years before ``start`` (or of ``--period``).

    The cache key is ``backtests/run.py``'s: the same ``{symbol: bars}``, config, window and seed give
    the model that run.py trained.
    """
    import time

    import pandas as pd

    from maml_strategy.backtest.periods import custom_period
    from maml_strategy.backtest.train import cache_key, train_models

    if args.period_obj is not None:
        period = args.period_obj
        train_start, train_end = period.train_start, period.train_end
    else:
        train_end = pd.Timestamp(start) - pd.Timedelta(days=1)
        train_start = train_end - pd.DateOffset(years=args.train_years) + pd.Timedelta(days=1)
        period = custom_period(str(train_start.date()), str(train_end.date()), str(pd.Timestamp(start).date()),
                               str((df.index[-1] if len(df) else train_end).date()), name="paper_trade")
    frames = {symbol: df.loc[:train_end]}
    window = f"{train_start.date()}..{train_end.date()}"
    key = cache_key(frames, cfg, period, args.seed)
    if args.cache_dir and (Path(args.cache_dir) / key / "manifest.json").is_file():
        print(f"model: loading {symbol} {window} seed {args.seed} from the cache ({key}, "
              "the entry backtests/run.py trains for the same symbol, data, window, config and seed)")
    else:
        years = max(1.0, (train_end - train_start).days / 365.25)
        low, high = (round(years * r / 5) * 5 for r in _TRAIN_SECONDS_PER_YEAR)
        print(f"model: training MAML (with the static and LightGBM models of the same cache entry) on {symbol} "
              f"{window}, seed {args.seed}: about {max(low, 5)}-{max(high, 10)} s on a 2-core CPU "
              f"(cache: {args.cache_dir or 'off'}; `backtests/run.py` with the same window and config "
              "trains the same entry)", flush=True)
    t0 = time.perf_counter()
    models = train_models(frames, cfg, period, seed=args.seed, cache_dir=args.cache_dir or None)
    print(f"model {models.key}: {'loaded from the cache' if models.cached else 'trained'} "
          f"in {time.perf_counter() - t0:.1f} s")
    return models.maml


def _strategy_class() -> Any:
    import backtrader as bt

    from maml_strategy.strategy import MAMLRegimeStrategy

    class PrintingStrategy(MAMLRegimeStrategy):
        """MAMLRegimeStrategy that prints fills, rejections, feed and store status."""

        def notify_store(self, msg: str, *args: Any, **kwargs: Any) -> None:
            logger.info("store: %s %s", msg, " ".join(str(a) for a in args))

        def notify_order(self, order: bt.Order) -> None:
            super().notify_order(order)
            if order.status in (order.Completed, order.Partial) and order.executed.exbits:
                bit = order.executed.exbits[-1]
                when = bt.num2date(order.executed.dt).strftime("%Y-%m-%d %H:%M")
                print(f"FILL {when} {'BUY ' if bit.size > 0 else 'SELL'} {abs(bit.size):g} {self.data._name} "
                      f"@ {bit.price:.2f} (commission {order.executed.comm:.2f}) "
                      f"value {self.broker.getvalue():.2f}")
            elif order.status in (order.Rejected, order.Margin):
                reason = order.info.get("reject_reason") or order.getstatusname()
                if "warm-up" not in str(reason):
                    print(f"ORDER {order.getstatusname()}: {reason}")

        def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
            logger.info("feed %s: %s", data._name, data._getstatusname(status))

    return PrintingStrategy


def _counts(strat: Any, start: Any) -> tuple[int, int]:
    """Adaptations and fills from ``start`` on (the warm-up's are not counted)."""
    import pandas as pd

    adaptations = sum(1 for a in strat.adaptations if pd.Timestamp(a.date) >= start)
    fills = sum(1 for f in strat.analyzers.fills.get_analysis() if pd.Timestamp(f["date"]).normalize() >= start)
    return adaptations, fills


def _print_summary(strat: Any, bars: Any, start: Any, start_value: float, final_value: float, fills: int,
                   adaptations: int) -> None:
    """Fills, adaptations, return and drawdown beside buy-and-hold on the same bars (replay only)."""
    import pandas as pd

    from maml_strategy.live.summary import format_session_summary, session_summary

    traded = [d for d in strat.analyzers.decisions.get_analysis() if pd.Timestamp(d["date"]).normalize() >= start]
    if bars is None or not traded:
        return
    values = pd.Series([d["value"] for d in traded], index=pd.DatetimeIndex([d["date"] for d in traded]))
    print(format_session_summary(session_summary(values, bars, start_value, final_value), fills=fills,
                                 adaptations=adaptations, name="paper MAML"))


def main(argv: list[str] | None = None) -> int:
    """Runs the session; returns the process exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import backtrader as bt
    import pandas as pd

    from maml_strategy.analyzers import add_recorders
    from maml_strategy.config import load_config
    from maml_strategy.errors import MamlStrategyError
    from maml_strategy.data import apply_price_basis, read_csv_ohlcv
    from maml_strategy.live import LiveConfig, ReplayClient, RobinhoodClient, RobinhoodStore, authorize_real_orders
    from maml_strategy.live.calendar import NEW_YORK

    try:
        cfg = load_config(args.config)
        live_section = dict(cfg.live or {})
        live_section.setdefault("commission_bps", cfg.trading.commission_bps)
        live_section.setdefault("paper_cash", cfg.trading.cash)
        if not args.live:
            # paper money: unless the config says otherwise, size the notional rails to the paper
            # account (the LiveConfig defaults are deliberately small for real money)
            live_section.setdefault("max_order_notional", 1.1 * live_section["paper_cash"])
            live_section.setdefault("max_position_notional", 1.1 * live_section["paper_cash"])
            if args.daily_loss_limit is not None:
                live_section["daily_loss_limit"] = args.daily_loss_limit
        live_cfg = LiveConfig.from_mapping(live_section)
        symbol = (args.symbol or cfg.symbol).upper()
        replay = bool(args.replay)

        if replay and args.start is None and args.end is None:
            # the replay default is the COVID year, the same window as `backtests/run.py --period 2020`
            args.start, args.end = "2020-01-01", "2020-12-31"
        if replay:
            history = apply_price_basis(read_csv_ohlcv(args.replay, source=f"{symbol}:{args.replay}"),
                                        "total" if args.price_basis == "total" else "none", args.replay)
            client: Any = ReplayClient(history, symbol=symbol, start=args.start, end=args.end, speed=args.speed)
            bars = client.replay_bars
            if bars.empty:
                print(f"no bars to replay between {args.start} and {args.end}", file=sys.stderr)
                return 2
            start = pd.Timestamp(args.start) if args.start else bars.index[0]
            auth = None
            store = RobinhoodStore(client, live_cfg)
        else:
            if args.live and not live_cfg.allow_real_orders:  # fail before touching the network
                authorize_real_orders(live_cfg, live_flag=True)
            client = RobinhoodClient(live_cfg)
            store = RobinhoodStore(client, live_cfg)
            store.login()
            last4 = client.get_account().last4 if args.live else ""
            auth = authorize_real_orders(live_cfg, live_flag=args.live, yes_real_money=args.yes_real_money,
                                         account_last4=last4)
            start = pd.Timestamp(args.start) if args.start else pd.Timestamp(datetime.now(NEW_YORK).date())
            history = None

        if args.model:
            from maml_strategy.learners import load_learner

            model = load_learner(args.model)
        else:
            if not replay:
                from maml_strategy.live import load_robinhood_ohlcv

                history = load_robinhood_ohlcv(symbol, None, start - pd.Timedelta(days=1), client=client)
            model = _train_model(history, cfg, start, args, symbol)

        journal = args.journal or (None if replay else (live_cfg.journal_path or
                                   str(HERE / "results" / f"journal_{'live' if auth else 'paper'}_{symbol}.json")))
        cerebro = bt.Cerebro(stdstats=False, quicknotify=True)  # print the last fills too
        data = store.getdata(symbol)
        cerebro.adddata(data, name=symbol)
        extra = {"authorization": auth} if auth else {}
        broker = store.getbroker("live" if auth else "paper", journal=journal, **extra)
        cerebro.setbroker(broker)
        cerebro.addstrategy(_strategy_class(), model=model, config=cfg, trade_start=start)
        add_recorders(cerebro)
        mode = "LIVE (REAL MONEY)" if auth else "paper"
        print(f"rails: max order {live_cfg.max_order_notional:.0f}, max position {live_cfg.max_position_notional:.0f}, "
              f"{live_cfg.max_orders_per_day} orders/day, daily loss limit {live_cfg.daily_loss_limit * 100:g} %, "
              f"market hours {'off (replay)' if replay else 'on' if live_cfg.check_market_hours else 'off'}")
        basis = f", price basis {args.price_basis}" if replay else ""
        print(f"{mode} trading {symbol} from {start.date()} "
              f"({'replay of ' + args.replay if replay else 'Robinhood quotes'}{basis}); journal: {journal or 'in memory'}")
        try:
            strat = cerebro.run()[0]
        except KeyboardInterrupt:
            print("interrupted; the journal holds the state, run again to resume", file=sys.stderr)
            return 130
        finally:
            store.stop()
        status = broker.status()
        adaptations, fills = _counts(strat, start)
        print(f"final value {broker.getvalue():.2f}  cash {broker.getcash():.2f}  "
              f"position {broker.getposition(data).size:g} {symbol}  fills {fills}  adaptations {adaptations} "
              f"(from {start.date()}; warm-up excluded)" + (f"  price_basis {args.price_basis}" if replay else ""))
        _print_summary(strat, bars if replay else None, start, live_cfg.paper_cash, broker.getvalue(), fills,
                       adaptations)
        if store.stop_reason:
            print(f"STOPPED by a safety rail (exit code 3): {store.stop_reason}")
            return 3
        if status["blocked"]:
            print(f"orders blocked: {status['blocked']}")
        return 0
    except MamlStrategyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

"""Speed of the MAML strategy against bare backtrader on the same bars (benchmark, not a test).

    python benchmarks/bench_engine.py [--symbol SPY] [--start 2003-01-01] [--end 2008-12-31] [--repeat 7]

Prints per-bar costs and ONE line ``ratio=R range=LO-HI runs=N``: the MAML strategy's
bars per second, set up as ``run_backtest`` runs it (features and regimes precomputed
once; model prediction and adaptation per bar; its ``ArrayFeed``, broker costs and
decision/fill recorders) divided by bare backtrader's (a two-SMA crossover strategy on
the same bars in a ``PandasData`` feed, next mode). The two strategies run interleaved (bare, MAML,
bare, MAML, ...; the order alternates every pair) so that a noisy neighbour slows both
alike; ``R`` is the median of the ``N`` pairwise ratios, ``LO-HI`` their range.

A second line, ``same_feed_ratio=...``, divides by bare backtrader on the project's
``ArrayFeed`` too (run in the same rotation): the engine's own cost, with the feed's
speed-up taken out.
"""

from __future__ import annotations

import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from maml_strategy.cli import iso_date, make_parser, positive_int

    ap = make_parser(__doc__)
    ap.add_argument("--symbol", default="SPY", help="symbol (usual data search order)")
    ap.add_argument("--start", type=iso_date, default="2003-01-01", help="first bar")
    ap.add_argument("--end", type=iso_date, default="2008-12-31", help="last bar")
    ap.add_argument("--repeat", type=positive_int, default=7, help="interleaved pairs of runs (>= 5 for a median)")
    args = ap.parse_args(argv)
    if args.repeat < 5:
        ap.error("--repeat must be >= 5: the ratio is the median of the interleaved pairs")

    import backtrader as bt
    import torch

    from maml_strategy.analyzers import add_recorders
    from maml_strategy.backtest.feed import ArrayFeed
    from maml_strategy.config import load_config
    from maml_strategy.data import load_ohlcv
    from maml_strategy.dataset import symbol_features
    from maml_strategy.engine import Precomputed, SignalEngine
    from maml_strategy.features import FeatureScaler
    from maml_strategy.learners.maml import MAML
    from maml_strategy.model import HierarchicalTimeframeNet
    from maml_strategy.strategy import MAMLRegimeStrategy

    torch.set_num_threads(1)
    cfg = load_config()
    df = load_ohlcv(args.symbol, args.start, args.end, adjust="total")
    t0 = time.perf_counter()
    sf = symbol_features(df, cfg, args.symbol)
    t_pre = time.perf_counter() - t0
    pre = Precomputed.from_symbol_features(sf)
    ok = sf.x[~(sf.x != sf.x).any(axis=1)]
    maml = MAML(HierarchicalTimeframeNet(hidden_dim=cfg.model.hidden_dim), cfg.maml, scaler=FeatureScaler().fit(ok))
    feed = df[["open", "high", "low", "close", "volume"]]

    class TwoSMA(bt.Strategy):
        def __init__(self) -> None:
            self.fast = bt.indicators.SMA(self.data.close, period=20)
            self.slow = bt.indicators.SMA(self.data.close, period=50)

        def next(self) -> None:
            self.order_target_percent(target=0.98 if self.fast[0] > self.slow[0] else 0.0)

    def timed(strategy: type, array_feed: bool = False, **kw: object) -> tuple[float, object]:
        cerebro = bt.Cerebro(stdstats=False)
        if strategy is TwoSMA:  # the reference: bare backtrader, PandasData (ArrayFeed for the same-feed line)
            cerebro.adddata(ArrayFeed(dataname=feed) if array_feed else bt.feeds.PandasData(dataname=feed))
        else:  # as run_backtest sets it up: its feed, broker costs and recorders
            cerebro.broker.setcash(cfg.trading.cash)
            cerebro.broker.setcommission(commission=cfg.trading.commission_bps / 1e4)
            cerebro.adddata(ArrayFeed(dataname=feed))
            add_recorders(cerebro)
            kw = {**kw, "precomputed": pre.window(feed.index[0], feed.index[-1])}  # run_backtest windows it per run
        cerebro.addstrategy(strategy, **kw)
        t = time.perf_counter()
        strat = cerebro.run(runonce=False)[0]
        return time.perf_counter() - t, strat

    n = len(feed)
    maml_kw = {"model": maml, "config": cfg}
    timed(TwoSMA), timed(MAMLRegimeStrategy, **maml_kw)  # warm both (imports, torch kernels)
    t_bare, t_maml, ratios, same_feed = [], [], [], []
    runs = {"bare": lambda: timed(TwoSMA), "maml": lambda: timed(MAMLRegimeStrategy, **maml_kw),
            "bare_array": lambda: timed(TwoSMA, array_feed=True)}
    for k in range(args.repeat):  # one of each per repeat, the order rotating
        names = list(runs)[k % 3:] + list(runs)[: k % 3]
        got = {name: runs[name]() for name in names}
        (tb, _), (tm, strat), (ta, _) = got["bare"], got["maml"], got["bare_array"]
        t_bare.append(tb), t_maml.append(tm), ratios.append(tb / tm)  # = (n / tm) / (n / tb)
        same_feed.append(ta / tm)
    adapt_ms = [a.ms for a in strat.adaptations]

    engine = SignalEngine(maml, adapt=True, regime=cfg.regime, features=cfg.features, trading=cfg.trading)
    per_bar = []
    for row in df.itertuples():
        t = time.perf_counter()
        engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        per_bar.append((time.perf_counter() - t) * 1e3)
    steady = per_bar[engine.extractor.window:]

    print(f"{args.symbol} {n} bars, torch threads 1")
    print(f"precompute features + regimes once: {t_pre * 1e3:.0f} ms ({t_pre / n * 1e6:.0f} us/bar)")
    tb, tm = statistics.median(t_bare), statistics.median(t_maml)
    print(f"bare backtrader (two SMAs, next mode): median {tb / n * 1e3:.3f} ms/bar, {n / tb:.0f} bars/s")
    print(f"MAML strategy, precomputed: median {tm / n * 1e3:.3f} ms/bar, {n / tm:.0f} bars/s, "
          f"{len(adapt_ms)} adaptations (median {statistics.median(adapt_ms) if adapt_ms else 0:.1f} ms)")
    print(f"streaming engine.on_bar (drop-in / live path): median {statistics.median(steady):.3f} ms")
    print("pairwise ratios: " + " ".join(f"{r:.2f}" for r in ratios))
    print(f"ratio={statistics.median(ratios):.2f} range={min(ratios):.2f}-{max(ratios):.2f} runs={len(ratios)}")
    print(f"same_feed_ratio={statistics.median(same_feed):.2f} range={min(same_feed):.2f}-{max(same_feed):.2f} "
          "(bare backtrader on ArrayFeed too)")
    return 0


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

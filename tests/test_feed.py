"""ArrayFeed gives backtrader exactly PandasData's bars, so swapping it in changes no result."""

from __future__ import annotations

import backtrader as bt
import numpy as np

from maml_strategy.backtest.feed import ArrayFeed
from maml_strategy.data import synthetic_ohlcv


class _Record(bt.Strategy):
    def __init__(self) -> None:
        self.bars: list[tuple[float, ...]] = []

    def next(self) -> None:
        d = self.datas[0]
        self.bars.append((d.datetime[0], d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0]))
        if len(self) % 7 == 0:
            self.order_target_percent(target=0.5 if len(self) % 14 else 0.0)


def _run(feed: bt.feed.DataBase) -> tuple[list[tuple[float, ...]], float]:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcommission(commission=5e-4)
    cerebro.adddata(feed)
    cerebro.addstrategy(_Record)
    strat = cerebro.run(runonce=False)[0]
    return strat.bars, cerebro.broker.getvalue()


def test_array_feed_equals_pandas_data_bar_for_bar() -> None:
    df = synthetic_ohlcv(300, seed=3).drop(columns=["regime"])
    df = df.drop(df.index[[10, 11, 50]])  # skipped days
    a, va = _run(bt.feeds.PandasData(dataname=df))
    b, vb = _run(ArrayFeed(dataname=df))
    assert len(a) == len(b) == len(df)
    np.testing.assert_array_equal(np.array(a), np.array(b))  # bit-identical dates and prices
    assert va == vb  # the same fills and costs
    c, _ = _run(ArrayFeed(dataname=df.iloc[:-1]))
    assert len(c) == len(df) - 1

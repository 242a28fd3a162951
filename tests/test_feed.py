"""ArrayFeed gives backtrader exactly PandasData's bars, so swapping it in changes no result."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
from backtrader.utils import date2num

from maml_strategy.backtest.feed import ArrayFeed, date_numbers
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


def _lines_after_preload(feed: ArrayFeed, bulk: bool) -> list[bytes]:
    """Every line's buffer (bytes, NaN included) after preload, bulk or one load() a bar."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    feed.setenvironment(cerebro)
    feed._start()
    if bulk:
        feed.preload()
    else:
        bt.feed.DataBase.preload(feed)
    lines = [feed.lines[k] for k in range(feed.lines.fullsize())]
    return [(ln.array.tobytes(), ln.idx, len(ln)) for ln in lines]


def test_bulk_preload_fills_the_lines_as_one_load_per_bar() -> None:
    df = synthetic_ohlcv(120, seed=5).drop(columns=["regime"])
    assert _lines_after_preload(ArrayFeed(dataname=df), True) == _lines_after_preload(ArrayFeed(dataname=df), False)
    dates = {"fromdate": df.index[10].to_pydatetime(), "todate": df.index[90].to_pydatetime()}
    a = _lines_after_preload(ArrayFeed(dataname=df, **dates), True)
    assert a == _lines_after_preload(ArrayFeed(dataname=df, **dates), False)
    assert len(a[0][0]) == 8 * 81  # bars 10..90: both bounds are inclusive


def test_array_feed_equals_pandas_data_without_preload_and_with_date_bounds() -> None:
    df = synthetic_ohlcv(200, seed=4).drop(columns=["regime"])
    for kw in ({"fromdate": df.index[20].to_pydatetime()}, {"todate": df.index[150].to_pydatetime()}):
        a, va = _run(bt.feeds.PandasData(dataname=df, **kw))
        b, vb = _run(ArrayFeed(dataname=df, **kw))
        assert len(a) == len(b) < len(df)
        np.testing.assert_array_equal(np.array(a), np.array(b))
        assert va == vb
    cerebro = bt.Cerebro(stdstats=False, preload=False)
    cerebro.adddata(ArrayFeed(dataname=df))
    cerebro.addstrategy(_Record)
    c = cerebro.run(runonce=False)[0].bars
    np.testing.assert_array_equal(np.array(c), np.array(_run(bt.feeds.PandasData(dataname=df))[0]))


def test_date_numbers_are_date2num() -> None:
    daily = synthetic_ohlcv(50, seed=1).index
    rng = np.random.default_rng(0)
    intraday = pd.DatetimeIndex(daily.asi8 + rng.integers(0, 86_400 * 10**6, len(daily)) * 1000)
    for index in (daily, intraday, intraday.tz_localize("UTC")):
        want = [date2num(ts.to_pydatetime()) for ts in index]
        assert date_numbers(index).tobytes() == np.array(want, dtype=np.float64).tobytes()


def test_the_strategies_bar_date_is_num2date() -> None:
    from maml_strategy.strategy_base import _bar_date

    rng = np.random.default_rng(2)
    for num in [*np.arange(730_000.0, 740_000.0, 37.0), *rng.uniform(730_000, 740_000, 2000), 733_000 + 5 / 86_400]:
        assert type(_bar_date(num)) is type(bt.num2date(num)) and _bar_date(num) == bt.num2date(num)

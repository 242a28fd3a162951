"""The strategies work with backtrader's own analyzers, and their numbers agree with ours.

Windows: backtrader's analyzers see every bar of the run, including the warm-up
bars before ``trade_start`` (flat at the starting cash, so zero returns and no
drawdown); our metrics see the test window only. So

* bt's SharpeRatio and DrawDown are compared with ``performance`` computed on the
  SAME bars (the whole run, start value = starting cash);
* the PyFolio analyzer's daily returns, cut to the test window, are compared with
  ``performance`` on the test window (what ``run_backtest`` reports).

Tolerance: both sides compute the same formulas on the same broker values (mean /
sample std x sqrt(252), rf = 0; peak-to-trough on end-of-bar values), so they agree
to float rounding (rel 1e-9). With SharpeRatio's default ``stddev_sample=False``
(population std) bt's Sharpe would be sqrt((n-1)/n) smaller, about 0.1 % for a
2-year run — we pass ``stddev_sample=True``.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from maml_strategy import BuyAndHoldStrategy, StaticModelStrategy
from maml_strategy.analyzers import add_recorders
from maml_strategy.backtest import custom_period, train_models, warmup_bars
from maml_strategy.backtest.metrics import max_drawdown, performance
from maml_strategy.data import synthetic_ohlcv
from tests.helpers import tiny_config

PERIOD = custom_period("2001-01-01", "2005-12-31", "2006-01-01", "2006-12-31", name="analyzers")
CASH = 100_000.0


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return synthetic_ohlcv(1800, seed=11).drop(columns=["regime"])


@pytest.fixture(scope="module")
def cfg():
    return tiny_config()


@pytest.fixture(scope="module")
def static_model(df, cfg):
    return train_models(df, cfg, PERIOD, seed=0, cache_dir=None).static


def _run(data: pd.DataFrame, strategy: type, **kwargs):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=0.0005)
    cerebro.adddata(bt.feeds.PandasData(dataname=data))
    cerebro.addstrategy(strategy, trade_start=PERIOD.test_start, **kwargs)
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days, annualize=True,
                        riskfreerate=0.0, stddev_sample=True)
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(bt.analyzers.PyFolio, _name="pyfolio")
    add_recorders(cerebro)
    return cerebro.run(runonce=False)[0]


def _equity(strat) -> pd.Series:
    dec = pd.DataFrame(strat.analyzers.decisions.get_analysis()).set_index("date")
    return dec["value"].set_axis(pd.DatetimeIndex(dec.index).normalize()).astype(float)


def _opened_trades(strat) -> int:
    """Fills that open a position from flat (what TradeAnalyzer counts as a trade)."""
    position, opened = 0.0, 0
    for fill in strat.analyzers.fills.get_analysis():
        signed = fill["size"]  # executed size is signed in backtrader (sells negative)
        opened += position == 0.0 and signed != 0.0
        position = round(position + signed, 9)
    return opened


def _check_against_ours(strat, equity: pd.Series) -> None:
    ours_all = performance(equity, start_value=CASH)
    sharpe_bt = strat.analyzers.sharpe.get_analysis()["sharperatio"]
    assert sharpe_bt == pytest.approx(ours_all["sharpe"], rel=1e-9)
    dd_bt = strat.analyzers.drawdown.get_analysis()["max"]["drawdown"] / 100.0
    assert dd_bt == pytest.approx(ours_all["max_drawdown"], rel=1e-9)
    assert dd_bt == pytest.approx(max_drawdown(np.r_[CASH, equity.to_numpy()]), rel=1e-9)

    returns, positions, transactions, _ = strat.analyzers.pyfolio.get_pf_items()
    returns.index = returns.index.tz_localize(None).normalize()
    test_returns = returns.loc[PERIOD.test_start:]
    test_equity = equity.loc[PERIOD.test_start:]
    start_value = float(equity.loc[: PERIOD.test_start - pd.Timedelta(days=1)].iloc[-1]) \
        if (equity.index < PERIOD.test_start).any() else CASH
    ours_test = performance(test_equity, start_value=start_value)
    sharpe_pf = test_returns.mean() / test_returns.std(ddof=1) * np.sqrt(252)
    assert sharpe_pf == pytest.approx(ours_test["sharpe"], rel=1e-9)
    assert (1 + test_returns).prod() - 1 == pytest.approx(ours_test["total_return"], rel=1e-9)
    assert len(transactions) == len(strat.analyzers.fills.get_analysis())

    trades = strat.analyzers.trades.get_analysis()
    assert trades["total"]["total"] == _opened_trades(strat)


def test_buy_and_hold_with_analyzers(df) -> None:
    data = df.loc[PERIOD.test_start: PERIOD.test_end]  # no model, no warm-up needed
    strat = _run(data, BuyAndHoldStrategy)
    equity = _equity(strat)
    assert len(strat.analyzers.fills.get_analysis()) == 1 and len(equity) == len(data)
    _check_against_ours(strat, equity)
    trades = strat.analyzers.trades.get_analysis()
    assert trades["total"]["open"] == 1  # bought once and held


def test_static_model_with_analyzers(df, cfg, static_model) -> None:
    n_warm = warmup_bars(cfg)
    before = df.loc[: PERIOD.test_start - pd.Timedelta(days=1)].iloc[-n_warm:]
    data = pd.concat([before, df.loc[PERIOD.test_start: PERIOD.test_end]])
    strat = _run(data, StaticModelStrategy, model=static_model, config=cfg)
    equity = _equity(strat)
    assert len(strat.analyzers.fills.get_analysis()) >= 2, "the test needs a strategy that trades"
    assert (equity.loc[: PERIOD.test_start - pd.Timedelta(days=1)] == CASH).all()  # warm-up: flat
    _check_against_ours(strat, equity)

"""backtrader analyzers that record what a strategy decided and what the broker filled.

* :class:`DecisionRecorder` — one row per bar of an :class:`~maml_strategy.strategy_base.EngineStrategy`:
  regime, transition, prediction, target, whether it adapted, portfolio value and position value
  at the bar's close.
* :class:`FillRecorder` — one row per completed order of any strategy: date, symbol, side, size,
  price, value, commission.
* :func:`add_recorders` adds both to a cerebro under the names ``decisions`` and ``fills``.

Strategies only decide and order; recording is the analyzers' job, so a user's own cerebro
gets the same records the backtests read (``strat.analyzers.decisions.get_analysis()``).

Example:
    >>> import backtrader as bt
    >>> from maml_strategy.analyzers import add_recorders
    >>> from maml_strategy.controls import BuyAndHoldStrategy
    >>> from maml_strategy.data import synthetic_ohlcv
    >>> cerebro = bt.Cerebro(stdstats=False)
    >>> _ = cerebro.adddata(bt.feeds.PandasData(dataname=synthetic_ohlcv(300, seed=0)))
    >>> _ = cerebro.addstrategy(BuyAndHoldStrategy)
    >>> add_recorders(cerebro)
    >>> strat = cerebro.run()[0]
    >>> len(strat.analyzers.decisions.get_analysis()) > 0, strat.analyzers.fills.get_analysis()[0]["side"]
    (True, 'buy')
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import pandas as pd

__all__ = ["DecisionRecorder", "FillRecorder", "FILL_COLUMNS", "add_recorders"]

FILL_COLUMNS = ("date", "symbol", "side", "size", "price", "value", "commission")


class DecisionRecorder(bt.Analyzer):
    """Each bar's decision of an ``EngineStrategy`` (after its ``next``), as a list of dicts.

    Keys: date, regime (value or None), transition, prediction, target (0 before
    ``trade_start``), adapted, value (broker value at the close) and position_value
    (position size x close).
    """

    def start(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def next(self) -> None:
        strat = self.strategy
        dec = strat.decision
        if dec is None:
            return
        data = strat.datas[0]
        self.rows.append({
            "date": dec.date, "regime": None if dec.regime is None else dec.regime.value,
            "transition": dec.transition, "prediction": dec.prediction, "target": strat.bar_target,
            "adapted": dec.adaptation is not None, "value": strat.broker.getvalue(),
            "position_value": strat.getposition(data).size * data.close[0],
        })

    def get_analysis(self) -> list[dict[str, Any]]:
        return self.rows


class FillRecorder(bt.Analyzer):
    """Every completed order, as a list of dicts with the keys of :data:`FILL_COLUMNS`."""

    def start(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def notify_order(self, order: bt.Order) -> None:
        if order.status != order.Completed:
            return
        ex = order.executed
        self.rows.append({
            "date": pd.Timestamp(bt.num2date(ex.dt)), "symbol": order.data._name,
            "side": "buy" if order.isbuy() else "sell", "size": float(ex.size), "price": float(ex.price),
            "value": float(ex.value), "commission": float(ex.comm),
        })

    def get_analysis(self) -> list[dict[str, Any]]:
        return self.rows


def add_recorders(cerebro: bt.Cerebro, *, decisions: bool = True) -> None:
    """Add :class:`FillRecorder` as ``fills`` and (if ``decisions``) :class:`DecisionRecorder` as ``decisions``."""
    cerebro.addanalyzer(FillRecorder, _name="fills")
    if decisions:
        cerebro.addanalyzer(DecisionRecorder, _name="decisions")

"""One backtrader strategy over a universe: rank the symbols, hold the top k (the thin adapter).

:class:`PortfolioStrategy` takes one data feed per symbol (``cerebro.adddata(feed, name=symbol)``).
On every bar of a symbol it updates that symbol's score:

* ``model=`` a learner: the symbol's own :class:`~maml_strategy.engine.SignalEngine` (its own
  regime detector and adaptation state, adapted on its confirmed transitions when ``adapt``);
  the score is the engine's prediction;
* ``factor="reversal"`` / ``"momentum"``: :func:`~maml_strategy.features.factors.factor_signal`
  on the closes seen so far;
* ``scores=`` a ``DataFrame`` (dates x symbols): the value of row ``t``, to be known at ``t``'s close;
* ``equal_weight=True``: every symbol with a bar scores 0 (the benchmark: hold them all).

At the close of each rebalance bar (:func:`~maml_strategy.topk.rebalance_days`; weekly by
default) the symbols that have a bar that day and a finite score are ranked by
:func:`~maml_strategy.topk.select_portfolio` (top ``top_k``, at most ``n_drop`` replaced), the
book is re-weighted to :func:`~maml_strategy.topk.target_weights`, and the orders fill at each
symbol's next open: decreases first, then increases, so sells free the cash that buys use. A
held symbol with no bar that day is frozen (kept, not traded). Commission is
``trading.commission_bps`` of traded value (set on the broker by :func:`run_portfolio`).

Example:
    >>> import backtrader as bt
    >>> cerebro = bt.Cerebro()
    >>> for sym, df in frames.items():  # doctest: +SKIP
    ...     cerebro.adddata(bt.feeds.PandasData(dataname=df), name=sym)
    >>> cerebro.addstrategy(PortfolioStrategy, factor="reversal", top_k=3)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from maml_strategy.analyzers import FILL_COLUMNS, add_recorders
from maml_strategy.config import StrategyConfig
from maml_strategy.errors import ConfigError, DataError
from maml_strategy.features.factors import FACTORS, factor_history, factor_signal
from maml_strategy.topk import TopkConfig, select_portfolio, target_weights

__all__ = ["PortfolioStrategy", "PortfolioResult", "run_portfolio"]


def _iso_week(d: pd.Timestamp) -> tuple[int, int]:
    y, w, _ = d.isocalendar()
    return int(y), int(w)


class PortfolioStrategy(bt.Strategy):
    """Rank a universe by a model's prediction or a factor and hold the top k (long-only by default).

    Params (``maml_strategy.cli.strategy_params(PortfolioStrategy)`` lists them):
        model (None): a loaded learner shared by every symbol (each symbol adapts its own copy of the parameters).
        model_path (None): path of a saved model file (used when ``model`` is None).
        config (None): a StrategyConfig, a YAML path or None = defaults (regime, features, trading costs).
        adapt (True): adapt each symbol's model on its confirmed regime transitions (False = never).
        factor (None): rank by ``reversal`` or ``momentum`` instead of a model.
        scores (None): a DataFrame (dates x symbols) of scores known at each date's close; overrides model/factor.
        equal_weight (False): the benchmark: every symbol with a bar, equal weights.
        top_k (5): names held per side.
        n_drop (None): most names replaced per rebalance and side; None = top_k (no cap).
        rebalance ('weekly'): ``daily``, ``weekly`` (each week's first bar) or ``monthly``.
        weighting ('equal'): ``equal`` or ``score`` (proportional to the cross-sectional percentile).
        allow_short (None): long top k and short bottom k; None = ``config.trading.allow_short`` (False).
        max_exposure (None): gross exposure; None = ``config.trading.max_exposure`` (0.98).
        adapt_steps (None): SGD steps per adaptation; None = ``config.trading.adapt_steps`` or the model's.
        adapt_lr (None): adaptation learning rate; None = ``config.trading.adapt_lr`` or the model's.
        trade_start (None): first date with orders; earlier bars only warm up scores.
        precomputed (None): ``{symbol: engine.Precomputed}`` to look features up by date (backtests).

    Example:
        >>> cerebro.addstrategy(PortfolioStrategy, model_path="maml.pt", top_k=10, n_drop=2)  # doctest: +SKIP
    """

    params = (
        ("model", None), ("model_path", None), ("config", None), ("adapt", True), ("factor", None),
        ("scores", None), ("equal_weight", False), ("top_k", 5), ("n_drop", None), ("rebalance", "weekly"),
        ("weighting", "equal"), ("allow_short", None), ("max_exposure", None), ("adapt_steps", None),
        ("adapt_lr", None), ("trade_start", None), ("precomputed", None),
    )

    def __init__(self) -> None:
        from maml_strategy.strategy_base import resolve_config

        cfg = resolve_config(self.p.config)
        over = {k: getattr(self.p, k) for k in ("allow_short", "max_exposure", "adapt_steps", "adapt_lr")
                if getattr(self.p, k) is not None}
        self.cfg = cfg
        self.trading = dataclasses.replace(cfg.trading, **over)
        self.names = [d._name or f"data{i}" for i, d in enumerate(self.datas)]
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"PortfolioStrategy needs one distinct name per data (adddata(feed, name=SYM)): {self.names}")
        k = int(self.p.top_k)
        n_drop = self.p.n_drop
        if self.p.equal_weight:
            k, n_drop = len(self.datas), len(self.datas)
        self.topk = TopkConfig(top_k=k, n_drop=n_drop, rebalance=self.p.rebalance, weighting=self.p.weighting,
                               allow_short=self.trading.allow_short, max_exposure=min(self.trading.max_exposure, 1.0))
        if self.p.factor is not None and self.p.factor not in FACTORS:
            raise ConfigError(f"factor must be one of {', '.join(FACTORS)}, got {self.p.factor!r}")
        learner = self.p.model
        if learner is None and self.p.model_path is not None:
            from maml_strategy.learners import load_learner

            learner = load_learner(self.p.model_path)
        if self.p.scores is None and sum([learner is not None, self.p.factor is not None,
                                          bool(self.p.equal_weight)]) != 1:
            raise ConfigError("PortfolioStrategy needs exactly one score source: model=, model_path=, factor=, "
                              "scores= or equal_weight=True")
        self.source = ("scores" if self.p.scores is not None else "equal" if self.p.equal_weight
                       else "factor" if self.p.factor is not None else "model")
        self.engines: dict[str, Any] = {}
        if self.source == "model":
            from maml_strategy.engine import SignalEngine

            pre = self.p.precomputed or {}
            for s in self.names:
                self.engines[s] = SignalEngine(learner, adapt=bool(self.p.adapt), regime=cfg.regime,
                                               features=cfg.features, trading=self.trading,
                                               support_size=cfg.maml.support_size, precomputed=pre.get(s))
        f = cfg.features
        self._need = factor_history(self.p.factor, f.horizon, f.vol_window) if self.source == "factor" else 0
        self.trade_start = None if self.p.trade_start is None else pd.Timestamp(self.p.trade_start)
        self._seen = [0] * len(self.datas)
        self.score: dict[str, float] = {}
        self.longs: list[str] = []
        self.shorts: list[str] = []
        self._last_period: tuple[int, int] | None = None
        self.records: list[dict[str, Any]] = []  # per bar in the trading window: date, value, cash, gross, long value
        self.rebalances: list[dict[str, Any]] = []  # per rebalance: date, longs, shorts, weights, scores
        self.rejected: list[dict[str, Any]] = []  # orders the broker refused (margin: not enough cash at the open)

    # --------------------------------------------------------------- scores
    def _score_of(self, i: int, sym: str, date: pd.Timestamp) -> float:
        d = self.datas[i]
        if self.source == "equal":
            return 0.0
        if self.source == "scores":
            table = self.p.scores
            if sym in table.columns and date in table.index:
                v = table.at[date, sym]
                return float(v) if v is not None and np.isfinite(v) else math.nan
            return math.nan
        if self.source == "factor":
            if len(d) < self._need:
                return math.nan
            f = self.cfg.features
            return float(factor_signal(self.p.factor, np.asarray(d.close.get(size=self._need)), f.horizon,
                                       f.vol_window)[-1])
        dec = self.engines[sym].on_bar(date, d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0])
        return float(dec.prediction)

    def _period(self, date: pd.Timestamp) -> tuple[int, int]:
        rule = self.topk.rebalance
        if rule == "daily":
            return (int(date.toordinal()), 0)
        if rule == "weekly":
            return _iso_week(date)
        return (date.year, date.month)

    # ----------------------------------------------------------------- loop
    def prenext(self) -> None:  # some symbols not listed yet: trade the others
        self.next()

    def next(self) -> None:
        fresh: dict[str, int] = {}
        for i, d in enumerate(self.datas):
            n = len(d)
            if n > self._seen[i]:
                self._seen[i] = n
                fresh[self.names[i]] = i
        if not fresh:
            return
        date = max(pd.Timestamp(bt.num2date(self.datas[i].datetime[0])).normalize() for i in fresh.values())
        for sym, i in fresh.items():
            v = self._score_of(i, sym, date)
            self.score[sym] = v if math.isfinite(v) else math.nan
        active = self.trade_start is None or date >= self.trade_start
        if not active:
            return
        period = self._period(date)
        if period != self._last_period:
            self._last_period = period
            self._rebalance(date, fresh)
        self._record(date)

    def _rebalance(self, date: pd.Timestamp, fresh: Mapping[str, int]) -> None:
        ranked = {s: self.score[s] for s in fresh if math.isfinite(self.score.get(s, math.nan))}
        old = set(self.longs) | set(self.shorts)
        self.longs, self.shorts = select_portfolio(ranked, self.longs, self.shorts, self.topk)
        weights = target_weights(self.longs, self.shorts, ranked, self.topk)
        value = self.broker.getvalue()
        orders = []
        for sym in sorted(old | set(weights)):
            if sym not in fresh:
                continue  # no bar today: frozen (a held name keeps its position)
            d = self.datas[fresh[sym]]
            now = self.getposition(d).size * d.close[0]
            target = weights.get(sym, 0.0) * value
            if abs(target - now) > 1e-9 * value:
                orders.append((target - now, sym, d, target))
        for delta, sym, d, target in sorted(orders, key=lambda o: (o[0], o[1])):  # decreases first
            if target == 0.0:
                self.order_target_size(data=d, target=0)
            else:
                self.order_target_value(data=d, target=target)
        self.rebalances.append({"date": date, "longs": list(self.longs), "shorts": list(self.shorts),
                                "weights": weights, "scores": ranked})

    def _record(self, date: pd.Timestamp) -> None:
        long_v = short_v = 0.0
        for d in self.datas:
            if len(d):
                pv = self.getposition(d).size * d.close[0]
                long_v += max(pv, 0.0)
                short_v += min(pv, 0.0)
        self.records.append({"date": date, "value": self.broker.getvalue(), "cash": self.broker.getcash(),
                             "long_value": long_v, "short_value": short_v,
                             "n_long": len(self.longs), "n_short": len(self.shorts)})

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Margin, order.Rejected):
            self.rejected.append({"symbol": order.data._name, "size": float(order.created.size),
                                  "status": order.getstatusname()})


@dataclass
class PortfolioResult:
    """Equity, fills and rebalances of one portfolio backtest."""

    name: str
    equity: pd.Series  # value at each test bar's close
    records: pd.DataFrame  # per test bar: value, cash, long_value, short_value, n_long, n_short
    fills: pd.DataFrame  # date, symbol, side, size, price, value, commission
    rebalances: list[dict[str, Any]]
    start_value: float
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def daily_returns(self) -> pd.Series:
        """Daily returns over the test window (the first against the starting value)."""
        prev = self.equity.shift(1)
        prev.iloc[0] = self.start_value
        return (self.equity / prev - 1.0).fillna(0.0)

    @property
    def traded_value(self) -> float:
        """Sum of |size x price| over every fill in the test window."""
        return float((self.fills["size"].abs() * self.fills["price"]).sum()) if len(self.fills) else 0.0


def run_portfolio(frames: Mapping[str, pd.DataFrame], cfg: StrategyConfig, test_start: Any, test_end: Any, *,
                  name: str = "portfolio", warmup: int | Mapping[str, int] = 0, **params: Any) -> PortfolioResult:
    """Backtest :class:`PortfolioStrategy` over ``[test_start, test_end]`` on a ``{symbol: OHLCV frame}`` universe.

    Each symbol feeds its last ``warmup`` bars before ``test_start`` (an int, or per symbol) and
    its bars of the window; a symbol listed later simply starts later, one with missing days
    skips them. The broker starts with ``cfg.trading.cash`` and charges ``commission_bps``.

    Args:
        frames: one OHLCV frame per symbol.
        cfg: strategy configuration.
        test_start, test_end: the trading window (inclusive).
        name: label of the result.
        warmup: bars before ``test_start`` fed to update scores only.
        **params: :class:`PortfolioStrategy` params (``model``, ``factor``, ``top_k``, ...).

    Example:
        >>> from maml_strategy.data import synthetic_ohlcv
        >>> frames = {f"S{i}": synthetic_ohlcv(400, seed=i).drop(columns="regime") for i in range(4)}
        >>> from maml_strategy.config import StrategyConfig
        >>> r = run_portfolio(frames, StrategyConfig(), "2001-01-01", "2001-06-29", warmup=30,
        ...                   factor="reversal", top_k=2)
        >>> len(r.rebalances) > 20, bool((r.records["cash"] >= 0).all())
        (True, True)
    """
    start, end = pd.Timestamp(test_start), pd.Timestamp(test_end)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cfg.trading.cash)
    cerebro.broker.setcommission(commission=cfg.trading.commission_bps / 1e4)
    n_feeds = 0
    for sym, df in frames.items():
        n_warm = warmup.get(sym, 0) if isinstance(warmup, Mapping) else int(warmup)
        before = df.loc[: start - pd.Timedelta(days=1)]
        window = pd.concat([before.iloc[len(before) - min(n_warm, len(before)):], df.loc[start:end]])
        window = window[["open", "high", "low", "close", "volume"]]
        if not len(window.loc[start:end]):
            continue  # not listed in the window
        cerebro.adddata(bt.feeds.PandasData(dataname=window), name=sym)
        n_feeds += 1
    if n_feeds == 0:
        raise DataError(f"no symbol has bars in {start.date()}..{end.date()}")
    cerebro.addstrategy(PortfolioStrategy, config=cfg, trade_start=start, **params)
    add_recorders(cerebro, decisions=False)
    strat = cerebro.run(runonce=False)[0]
    rec = pd.DataFrame(strat.records)
    if rec.empty:
        raise DataError(f"no bars in the test window {start.date()}..{end.date()}")
    rec = rec.set_index("date")
    fills = pd.DataFrame(strat.analyzers.fills.get_analysis(), columns=list(FILL_COLUMNS))
    if len(fills):
        fills["date"] = pd.DatetimeIndex(fills["date"]).normalize()
        fills = fills[fills["date"] >= start].reset_index(drop=True)
    return PortfolioResult(name, rec["value"].astype(float), rec, fills, strat.rebalances, float(cfg.trading.cash),
                           strat.rejected)

"""Run one strategy over a test window in backtrader and collect its results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from maml_strategy.analyzers import FILL_COLUMNS, add_recorders
from maml_strategy.backtest.feed import ArrayFeed
from maml_strategy.backtest.metrics import daily_returns, exposure_by_regime, performance, post_transition_stats
from maml_strategy.config import KINDS, StrategyConfig
from maml_strategy.engine import Precomputed
from maml_strategy.errors import DataError
from maml_strategy.regime import RegimeDetector
from maml_strategy.strategy import STRATEGIES

__all__ = ["BacktestResult", "run_backtest", "warmup_bars"]


@dataclass
class BacktestResult:
    """Equity, decisions, fills and metrics of one strategy run."""

    kind: str
    equity: pd.Series  # portfolio value at each test bar's close
    decisions: pd.DataFrame  # per bar: regime, transition, prediction, target, position, value
    fills: pd.DataFrame  # date, side, size, price, value, commission
    adaptations: list[dict[str, Any]]  # adaptations made inside the test window
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def daily_returns(self) -> pd.Series:
        """Daily returns of the test window (the first against the value before it)."""
        return daily_returns(self.equity, self.metrics.get("start_value"))


def warmup_bars(cfg: StrategyConfig, kind: str | None = None, *, precomputed: bool = False, **params: Any) -> int:
    """Bars fed before the test start: what the strategy's parts declare they need (all kinds if None).

    ``params`` are the strategy's parameters (e.g. ``period=50`` for ``sma200``).
    """
    kinds = list(KINDS) if kind is None else [kind]
    return max(STRATEGIES[k].warmup_bars(cfg, precomputed, **params) for k in kinds)


def _engine_warmup(cfg: StrategyConfig, precomputed: bool) -> int:
    """The engine's own warm-up (no strategy extras): the least any strategy may start with."""
    return STRATEGIES["buy_and_hold"].warmup_bars(cfg, precomputed)


def _adaptive_warmup(before: pd.DataFrame, cfg: StrategyConfig, n_warm: int,
                     precomputed: Precomputed | None) -> int:
    """Warm-up that also covers the last confirmed transition before the test window.

    An adapting strategy enters the window with the parameters of its last
    adaptation, as a live session after its backfill does; so the warm-up starts
    ``n_warm`` bars before that transition (or stays ``n_warm`` when there is none).
    Only bars before the window are read.
    """
    if not len(before):
        return n_warm
    if precomputed is not None:
        end = int(np.searchsorted(precomputed.dates, np.datetime64(before.index[-1].value, "ns"), side="right"))
        flags = precomputed.transition[:end]
    else:
        flags = RegimeDetector(cfg.regime).label_codes(before)[1]
    hits = np.flatnonzero(flags)
    if not len(hits):
        return n_warm
    back = len(flags) - int(hits[-1])  # bars from the last transition to the window start
    return min(len(before), max(n_warm, back + n_warm - 1))


def run_backtest(
    df: pd.DataFrame,
    kind: str,
    cfg: StrategyConfig,
    test_start: pd.Timestamp,
    test_end: pd.Timestamp,
    *,
    model: Any = None,
    adapt_steps: int | None = None,
    adapt_lr: float | None = None,
    precomputed: Precomputed | None = None,
    **strategy_params: Any,
) -> BacktestResult:
    """Backtest ``kind`` (a key of :data:`~maml_strategy.config.kinds.KINDS`) over ``[test_start, test_end]``.

    Warm-up history before ``test_start`` updates regimes and features but no
    order is placed before ``test_start``. Adapting kinds warm up from before the
    last confirmed transition, so they enter the window adapted to the current
    regime, exactly as a live session after its backfill. Orders decided at a close fill at the
    next open; commission is ``cfg.trading.commission_bps`` of traded value.

    Args:
        df: OHLCV frame reaching back far enough for the warm-up.
        kind: strategy kind.
        cfg: strategy configuration.
        test_start, test_end: the test window (inclusive).
        model: the learner for learned kinds (the kind's spec names which slot it trades).
        adapt_steps, adapt_lr: adaptation overrides.
        precomputed: features/regimes of ``df`` computed once (see
            :class:`~maml_strategy.engine.Precomputed`); shortens the warm-up.
        **strategy_params: extra strategy parameters (e.g. ``exposure=`` for ``exposure_matched``;
            ``adapt=`` overrides the kind's spec).
    """
    if kind not in KINDS:
        raise DataError(f"unknown strategy {kind!r}; use one of {', '.join(KINDS)}")
    adapt = bool(strategy_params.pop("adapt", KINDS[kind].adapts))
    test_start, test_end = pd.Timestamp(test_start), pd.Timestamp(test_end)
    n_warm = warmup_bars(cfg, kind, precomputed=precomputed is not None, **strategy_params)
    before = df.loc[: test_start - pd.Timedelta(days=1)]
    if len(before) < n_warm and STRATEGIES[kind].short_history_ok:
        n_warm = max(len(before), _engine_warmup(cfg, precomputed is not None))
    if len(before) < n_warm:
        raise DataError(
            f"{len(before)} bars before {test_start.date()}, but {n_warm} are needed for warm-up; "
            "load more history before the test window"
        )
    if adapt:
        n_warm = _adaptive_warmup(before, cfg, n_warm, precomputed)
    window = pd.concat([before.iloc[-n_warm:], df.loc[test_start:test_end]])
    window = window[["open", "high", "low", "close", "volume"]]
    if window.index[-1] < test_start:
        raise DataError(f"no bars in the test window {test_start.date()}..{test_end.date()}")

    if precomputed is not None:  # only the fed bars: batched adaptations stop at the window's end
        precomputed = precomputed.window(window.index[0], window.index[-1])

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cfg.trading.cash)
    cerebro.broker.setcommission(commission=cfg.trading.commission_bps / 1e4)
    cerebro.adddata(ArrayFeed(dataname=window))  # PandasData's bars, read from arrays
    cerebro.addstrategy(
        STRATEGIES[kind], model=model, config=cfg, trade_start=test_start,
        adapt_steps=adapt_steps, adapt_lr=adapt_lr, adapt=adapt, precomputed=precomputed, **strategy_params,
    )
    add_recorders(cerebro)
    strat = cerebro.run(runonce=False)[0]

    dec = pd.DataFrame(strat.analyzers.decisions.get_analysis()).set_index("date")
    dec.index = pd.DatetimeIndex(dec.index).normalize()
    test = dec.loc[test_start:]
    equity = test["value"].astype(float)
    start_value = float(dec["value"].loc[: test_start - pd.Timedelta(days=1)].iloc[-1]) if (dec.index < test_start).any() else cfg.trading.cash
    fills = pd.DataFrame(strat.analyzers.fills.get_analysis(), columns=list(FILL_COLUMNS)).drop(columns="symbol")
    if len(fills):
        fills["date"] = pd.DatetimeIndex(fills["date"]).normalize()
    adaptations = [a.to_dict() for a in strat.adaptations if pd.Timestamp(a.date) >= test_start]
    traded = float((fills["size"].abs() * fills["price"]).sum()) if len(fills) else 0.0
    metrics = performance(
        equity, start_value=start_value, position_value=test["position_value"].astype(float),
        traded_value=traded, trades=len(fills), adaptations=len(adaptations),
    )
    metrics.update(exposure_by_regime(test["position_value"].abs() / equity, test["regime"]))
    transitions = list(test.index[test["transition"].astype(bool)])
    metrics.update(post_transition_stats(equity, transitions))
    metrics["start_value"] = start_value
    return BacktestResult(kind, equity, dec, fills, adaptations, metrics)

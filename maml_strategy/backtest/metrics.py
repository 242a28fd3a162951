"""Performance metrics from a daily equity curve (no backtrader here).

All returns and drawdowns are fractions (``max_drawdown`` is positive, e.g. 0.33).
Sharpe and Sortino use daily returns annualised with sqrt(252) and rf = 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["TRADING_DAYS", "daily_returns", "max_drawdown", "performance", "post_transition_stats", "exposure_by_regime", "METRIC_KEYS",
           "RISK_OFF_REGIMES"]

TRADING_DAYS = 252
METRIC_KEYS = (
    "total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trades", "exposure",
    "turnover", "adaptations", "post_transition_return", "post_transition_worst_drawdown",
    "exposure_bear_high_vol", "exposure_other_regimes",
)
RISK_OFF_REGIMES = ("bear_high_vol",)  # the regime whose exposure the audit asked about


def max_drawdown(equity: np.ndarray | pd.Series) -> float:
    """Largest peak-to-trough fall as a positive fraction.

    Example:
        >>> round(max_drawdown([100, 120, 90, 130]), 4)
        0.25
    """
    v = np.asarray(equity, dtype=np.float64)
    if len(v) == 0:
        return 0.0
    peak = np.maximum.accumulate(v)
    return float(np.max(1.0 - v / peak))


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def performance(
    equity: pd.Series,
    *,
    start_value: float,
    position_value: pd.Series | None = None,
    traded_value: float = 0.0,
    trades: int = 0,
    adaptations: int = 0,
) -> dict[str, float | int | None]:
    """Headline metrics of one backtest.

    Args:
        equity: portfolio value at each bar's close over the test window.
        start_value: value before the first test bar (the return base).
        position_value: |position value| per bar, for the average exposure.
        traded_value: sum of |traded value| over the window (turnover numerator).
        trades: number of fills.
        adaptations: number of model adaptations inside the window.

    Returns:
        Dict with keys ``total_return, cagr, sharpe, sortino, max_drawdown, calmar,
        trades, exposure, turnover, adaptations`` (undefined ratios are None).

    Example:
        >>> eq = pd.Series([101.0, 102.0, 101.5])
        >>> round(performance(eq, start_value=100.0)["total_return"], 3)
        0.015
    """
    v = np.concatenate([[start_value], equity.to_numpy(dtype=np.float64)])
    rets = v[1:] / v[:-1] - 1.0
    n = len(rets)
    total = float(v[-1] / v[0] - 1.0)
    cagr = float((v[-1] / v[0]) ** (TRADING_DAYS / n) - 1.0) if n else 0.0
    sd = float(np.std(rets, ddof=1)) if n > 1 else float("nan")
    sharpe = float(np.mean(rets) / sd * math.sqrt(TRADING_DAYS)) if sd and sd > 0 else float("nan")
    downside = float(np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))) if n else float("nan")
    sortino = float(np.mean(rets) / downside * math.sqrt(TRADING_DAYS)) if downside > 0 else float("nan")
    mdd = max_drawdown(v)
    calmar = cagr / mdd if mdd > 0 else float("nan")
    exposure = float("nan")
    if position_value is not None and len(position_value):
        exposure = float(np.mean(np.abs(position_value.to_numpy()) / equity.to_numpy()))
    turnover = float(traded_value / np.mean(v)) if n else 0.0
    return {
        "total_return": total,
        "cagr": cagr,
        "sharpe": _nan_to_none(sharpe),
        "sortino": _nan_to_none(sortino),
        "max_drawdown": mdd,
        "calmar": _nan_to_none(calmar),
        "trades": int(trades),
        "exposure": _nan_to_none(exposure),
        "turnover": turnover,
        "adaptations": int(adaptations),
    }


def post_transition_stats(equity: pd.Series, transition_dates: Sequence[pd.Timestamp], bars: int = 20) -> dict[str, float | None]:
    """Mean return and worst drawdown over the ``bars`` bars after each confirmed transition.

    The window starts at the close of the transition bar (the first moment the
    strategy could act on it) and spans the next ``bars`` closes.

    Returns:
        ``{"post_transition_return": mean, "post_transition_worst_drawdown": worst,
        "transitions": count}``; None when no transition falls in the window.
    """
    rets, dds = [], []
    idx = equity.index
    for d in transition_dates:
        pos = idx.searchsorted(pd.Timestamp(d))
        if pos >= len(idx):
            continue
        window = equity.to_numpy()[pos : pos + bars + 1]
        if len(window) < 2:
            continue
        rets.append(window[-1] / window[0] - 1.0)
        dds.append(max_drawdown(window))
    return {
        "post_transition_return": float(np.mean(rets)) if rets else None,
        "post_transition_worst_drawdown": float(np.max(dds)) if dds else None,
        "transitions": len(rets),
    }


def exposure_by_regime(exposure: pd.Series, regimes: pd.Series) -> dict[str, float | None]:
    """Mean exposure on bear/high-vol bars and on every other (labelled) bar.

    Args:
        exposure: |position value| / portfolio value per bar.
        regimes: the confirmed regime name per bar (None/NaN in warm-up).

    Example:
        >>> e = pd.Series([1.0, 0.0, 1.0]); r = pd.Series(["bear_high_vol", "bear_high_vol", "bull_low_vol"])
        >>> exposure_by_regime(e, r)
        {'exposure_bear_high_vol': 0.5, 'exposure_other_regimes': 1.0}
    """
    r = regimes.astype(object).to_numpy()
    e = exposure.to_numpy(dtype=np.float64)
    risk_off = np.isin(r, RISK_OFF_REGIMES)
    labelled = pd.notna(r)
    other = labelled & ~risk_off
    return {
        "exposure_bear_high_vol": float(e[risk_off].mean()) if risk_off.any() else None,
        "exposure_other_regimes": float(e[other].mean()) if other.any() else None,
    }


def daily_returns(equity: pd.DataFrame | pd.Series, start_value: float | Mapping[str, float] | None = None) -> pd.DataFrame | pd.Series:
    """Daily simple returns of equity curves; the first bar's return is taken against ``start_value``.

    Args:
        equity: portfolio value per bar (one column per strategy, or one series).
        start_value: value before the first bar (e.g. the starting cash); None = the first bar
            has no return (0.0).

    Example:
        >>> eq = pd.Series([101.0, 102.01], index=pd.bdate_range("2020-01-01", periods=2))
        >>> daily_returns(eq, 100.0).round(4).tolist()
        [0.01, 0.01]
    """
    prev = equity.shift(1)
    if start_value is not None:
        prev.iloc[0] = pd.Series(start_value) if isinstance(start_value, Mapping) else start_value
    return (equity / prev - 1.0).fillna(0.0)

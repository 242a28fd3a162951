"""Prediction targets. THE ONE PLACE IN THE LIBRARY THAT LOOKS AHEAD.

The label of row ``i`` ends ``lag`` bars later (:func:`label_lag`: ``horizon`` for the
close label, ``horizon + 1`` for the tradable one): it is *known* only at bar
``i + lag``. Every causal gap of the library is that one rule, :func:`known_at`:

- at trading time a sample's label may be used once ``i + lag <= t`` (the support
  window, ``maml_strategy.precompute.support_positions``);
- a window keeps the labels known by its last bar (``maml_strategy.dataset``);
- a training row precedes the validation rows iff its label is known by the last
  bar before them (:func:`before_validation`).

:func:`support_history` is the history one support window needs (the warm-up).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.config import FeatureConfig
from maml_strategy.errors import DataError

__all__ = ["forward_returns", "tradable_returns", "trailing_vol", "label_lag", "make_labels", "LABELS",
           "known_at", "before_validation", "support_history"]

#: label kinds: ``close`` = close(t) -> close(t+h); ``tradable`` = open(t+1) -> open(t+1+h), what a
#: next-open fill can earn. Both are scaled by the volatility known at t.
LABELS = ("close", "tradable")


def label_lag(label: str, horizon: int) -> int:
    """Bars after which the label of row ``i`` is known: row ``i`` is usable at ``t`` iff ``i + lag <= t``.

    Example:
        >>> label_lag("close", 5), label_lag("tradable", 5)
        (5, 6)
    """
    if label not in LABELS:
        raise DataError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    return FeatureConfig(horizon=int(horizon), label=label).lag  # the rule's one home: FeatureConfig.lag


def trailing_vol(close: np.ndarray, vol_window: int = 20) -> np.ndarray:
    """Standard deviation (ddof=1) of the ``vol_window`` daily close returns ending at each bar (causal).

    Example:
        >>> v = trailing_vol(np.array([100.0, 101, 100, 102, 101]), vol_window=3)
        >>> bool(np.isnan(v[2])), round(float(v[3]), 4)
        (True, 0.0152)
    """
    close = np.asarray(close, dtype=np.float64)
    ret1 = np.full_like(close, np.nan)
    ret1[1:] = close[1:] / close[:-1] - 1.0
    return pd.Series(ret1).rolling(vol_window, min_periods=vol_window).std(ddof=1).to_numpy()


def tradable_returns(df: pd.DataFrame, horizon: int = 5, vol_window: int = 20, *, scaled: bool = True) -> pd.Series:
    """The tradable label: the return from the next open to the open ``horizon`` bars later.

    ``y[i] = (open[i+1+h] / open[i+1] - 1) / (sigma_i * sqrt(h))``: an order decided at the
    close of bar ``i`` fills at ``open[i+1]``; ``sigma_i`` is the volatility known at ``i``
    (as in :func:`forward_returns`). Known at bar ``i + h + 1`` (:func:`label_lag`).
    NaN for the last ``h + 1`` rows and during warm-up.

    Args:
        df: OHLCV frame with ``open`` and ``close`` columns.
        horizon: bars held (``h``), >= 1.
        vol_window: bars of trailing daily returns for ``sigma``, >= 2.
        scaled: False gives the raw open-to-open return (no volatility scaling).

    Returns:
        float64 Series aligned with ``df.index``.

    Example:
        >>> df = pd.DataFrame({"open": [10.0, 11, 12, 13, 14], "close": [10.0, 11, 12, 13, 14]})
        >>> tradable_returns(df, horizon=2, vol_window=2, scaled=False).round(4).tolist()[:2]
        [0.1818, 0.1667]
    """
    _check(df, horizon, vol_window, ("open", "close"))
    opn = df["open"].to_numpy(dtype=np.float64)
    fwd = np.full_like(opn, np.nan)
    if len(opn) > horizon + 1:
        fwd[: -(horizon + 1)] = opn[horizon + 1:] / opn[1 : -horizon] - 1.0
    if scaled:
        sigma = trailing_vol(df["close"].to_numpy(dtype=np.float64), vol_window)
        with np.errstate(divide="ignore", invalid="ignore"):
            fwd = fwd / (sigma * np.sqrt(horizon))
    fwd[~np.isfinite(fwd)] = np.nan
    return pd.Series(fwd, index=df.index, name=f"tradable_ret_{horizon}")


def _check(df: pd.DataFrame, horizon: Any, vol_window: Any, cols: tuple[str, ...]) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise DataError(f"horizon must be an integer >= 1, got {horizon!r}")
    if not isinstance(vol_window, (int, np.integer)) or vol_window < 2:
        raise DataError(f"vol_window must be an integer >= 2, got {vol_window!r}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"the label needs column(s) {', '.join(missing)}")


def forward_returns(df: pd.DataFrame, horizon: int = 5, vol_window: int = 20) -> pd.Series:
    """Volatility-scaled forward return: the prediction target.

    ``y[i] = (close[i+h] / close[i] - 1) / (sigma_i * sqrt(h))`` where ``sigma_i`` is the
    standard deviation (ddof=1) of the ``vol_window`` daily close-to-close returns
    ending at bar ``i`` (causal). NaN for the last ``h`` rows and during warm-up.

    Args:
        df: OHLCV frame with a ``close`` column.
        horizon: bars ahead (``h``), >= 1.
        vol_window: bars of trailing daily returns for ``sigma``, >= 2.

    Returns:
        float64 Series aligned with ``df.index``.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"close": [float(100 + i % 3) for i in range(40)]})
        >>> y = forward_returns(df, horizon=5, vol_window=20)
        >>> bool(y.iloc[-5:].isna().all())
        True
    """
    _check(df, horizon, vol_window, ("close",))
    close = df["close"].to_numpy(dtype=np.float64)
    sigma = trailing_vol(close, vol_window)
    fwd = np.full_like(close, np.nan)
    if len(close) > horizon:
        fwd[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        y = fwd / (sigma * np.sqrt(horizon))
    y[~np.isfinite(y)] = np.nan
    return pd.Series(y, index=df.index, name=f"fwd_ret_{horizon}")


def make_labels(df: pd.DataFrame, features: Any) -> pd.Series:
    """The training label chosen by ``features.label`` (``close`` or ``tradable``).

    Args:
        df: OHLCV frame (``open`` and ``close`` columns).
        features: a :class:`~maml_strategy.config.FeatureConfig` (``label``, ``horizon``, ``vol_window``).

    Returns:
        float64 Series aligned with ``df.index``; row ``i`` is known at bar
        ``i + label_lag(features.label, features.horizon)``.

    Example:
        >>> from maml_strategy.config import FeatureConfig
        >>> px = [float(100 + i % 3) for i in range(40)]
        >>> df = pd.DataFrame({"open": px, "close": px})
        >>> y = make_labels(df, FeatureConfig(label="tradable", horizon=2, vol_window=20))
        >>> y.iloc[-4:].isna().tolist()  # the last h + 1 = 3 rows are not known inside the frame
        [False, True, True, True]
    """
    label_lag(features.label, features.horizon)  # validates the kind
    if features.label == "tradable":
        return tradable_returns(df, features.horizon, features.vol_window)
    return forward_returns(df, features.horizon, features.vol_window)


def known_at(i: Any, t: Any, lag: int) -> Any:
    """Whether the label of row ``i`` is known at the close of bar ``t``: ``i + lag <= t``.

    The one causal rule (``i`` and ``t`` may be arrays).

    Example:
        >>> known_at(np.arange(93, 97), 100, lag=5).tolist()
        [True, True, True, False]
    """
    return np.asarray(i) + lag <= t


def before_validation(i: Any, first_val: int, lag: int) -> Any:
    """Whether training row ``i`` may train a model validated from row ``first_val`` on.

    Its label must be known by the last bar before the validation rows
    (``known_at(i, first_val - 1, lag)``), as a window's labels are known by its last
    bar (``maml_strategy.dataset``): no training label reaches a validation bar.

    Example:
        >>> before_validation(np.arange(3, 7), first_val=10, lag=5).tolist()
        [True, True, False, False]
    """
    return known_at(i, first_val - 1, lag)


def support_history(support_size: int, lag: int, vol_window: int) -> int:
    """Bars of history a support window needs: ``support_size`` samples whose labels
    (``lag`` bars) and volatility (``vol_window`` returns, one more close) are known, plus one.

    Used by the engine's bar buffer and by every strategy's warm-up.

    Example:
        >>> support_history(32, 5, 20)
        59
    """
    return int(support_size) + int(lag) + int(vol_window) + 2

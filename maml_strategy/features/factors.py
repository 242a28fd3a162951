"""Known factors with no net: the signals every learned model is measured against.

* :func:`reversal` — short-term reversal, ``-(h-day return) / (volatility * sqrt(h))``: the
  one-liner a sceptical reviewer found MAML's prediction to lean on.
* :func:`momentum` — 12-month return skipping the last month (``close[t-21] / close[t-252] - 1``).

Both are causal (row ``t`` uses closes up to ``t`` only), vectorised over a close array, NaN
where the history is too short. The backtest controls (``reversal`` and ``momentum`` in
:mod:`maml_strategy.strategy`) call the same functions on the bars they have seen, so the
skill tables and the traded controls cannot disagree.

Example:
    >>> import numpy as np
    >>> close = np.array([100.0, 102, 101, 103, 99, 98, 100, 104, 103])
    >>> r = reversal(close, horizon=2, vol_window=3)
    >>> bool(np.isnan(r[2])), round(float(r[4]), 3)
    (True, 0.478)
"""

from __future__ import annotations

import numpy as np

from maml_strategy.errors import DataError
from maml_strategy.features.labels import trailing_vol

__all__ = ["FACTORS", "reversal", "momentum", "factor_signal", "factor_last", "factor_history"]

#: the factor controls, in report order
FACTORS = ("reversal", "momentum")


def reversal(close: np.ndarray, horizon: int = 5, vol_window: int = 20) -> np.ndarray:
    """``-(close[t] / close[t-h] - 1) / (sigma_t * sqrt(h))``, sigma_t as in the label (causal).

    Args:
        close: closes, oldest first.
        horizon: look-back ``h`` in bars (the label's horizon).
        vol_window: bars of daily returns for ``sigma_t``.

    Example:
        >>> import numpy as np
        >>> bool(np.isnan(reversal(np.ones(3), 5, 20)).all())
        True
    """
    c = np.asarray(close, dtype=np.float64)
    past = np.full_like(c, np.nan)
    if len(c) > horizon:
        past[horizon:] = c[horizon:] / c[:-horizon] - 1.0
    sigma = trailing_vol(c, vol_window)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -past / (sigma * np.sqrt(horizon))
    out[~np.isfinite(out)] = np.nan
    return out


#: momentum's look-back and skip in bars (12 months, skipping the last one)
MOMENTUM_LOOKBACK, MOMENTUM_SKIP = 252, 21


def momentum(close: np.ndarray, lookback: int = MOMENTUM_LOOKBACK, skip: int = MOMENTUM_SKIP) -> np.ndarray:
    """``close[t - skip] / close[t - lookback] - 1`` (12-1 momentum with the defaults; causal).

    Example:
        >>> import numpy as np
        >>> m = momentum(np.arange(1.0, 31.0), lookback=10, skip=2)
        >>> bool(np.isnan(m[9])), round(float(m[10]), 4)
        (True, 8.0)
    """
    if not 0 <= skip < lookback:
        raise DataError(f"momentum needs 0 <= skip < lookback, got skip={skip}, lookback={lookback}")
    c = np.asarray(close, dtype=np.float64)
    out = np.full_like(c, np.nan)
    if len(c) > lookback:
        out[lookback:] = c[lookback - skip : len(c) - skip] / c[: len(c) - lookback] - 1.0
    out[~np.isfinite(out)] = np.nan
    return out


def factor_history(name: str, horizon: int = 5, vol_window: int = 20) -> int:
    """Closes a factor needs for its first value at the last bar.

    Example:
        >>> factor_history("reversal"), factor_history("momentum")
        (21, 253)
    """
    if name == "reversal":
        return max(horizon, vol_window) + 1
    if name == "momentum":
        return MOMENTUM_LOOKBACK + 1
    raise DataError(f"unknown factor {name!r}; use one of {', '.join(FACTORS)}")


def factor_signal(name: str, close: np.ndarray, horizon: int = 5, vol_window: int = 20) -> np.ndarray:
    """The factor ``name`` (one of :data:`FACTORS`) of every bar of ``close``.

    Example:
        >>> import numpy as np
        >>> bool(factor_signal("momentum", np.arange(1.0, 300.0))[-1] > 0)
        True
    """
    if name == "reversal":
        return reversal(close, horizon, vol_window)
    if name == "momentum":
        return momentum(close)
    raise DataError(f"unknown factor {name!r}; use one of {', '.join(FACTORS)}")


def factor_last(name: str, close: np.ndarray, horizon: int = 5, vol_window: int = 20) -> float:
    """The factor ``name`` at the last bar of ``close`` only: :func:`factor_signal`'s last value,
    in O(vol_window) instead of O(len(close)) (what the traded controls call on every bar).

    Example:
        >>> import numpy as np
        >>> c = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 300)))
        >>> bool(np.isclose(factor_last("reversal", c), factor_signal("reversal", c)[-1], rtol=1e-12))
        True
        >>> bool(np.isnan(factor_last("momentum", c[:100])))
        True
    """
    c = np.asarray(close, dtype=np.float64)
    n = len(c)
    if name == "reversal":
        if n <= max(horizon, vol_window):
            return float("nan")
        rets = c[n - vol_window :] / c[n - vol_window - 1 : n - 1] - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -(c[-1] / c[-1 - horizon] - 1.0) / (np.std(rets, ddof=1) * np.sqrt(horizon))
    elif name == "momentum":
        if n <= MOMENTUM_LOOKBACK:
            return float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            out = c[-1 - MOMENTUM_SKIP] / c[-1 - MOMENTUM_LOOKBACK] - 1.0
    else:
        raise DataError(f"unknown factor {name!r}; use one of {', '.join(FACTORS)}")
    return float(out) if np.isfinite(out) else float("nan")

"""Prediction targets. THE ONE PLACE IN THE LIBRARY THAT LOOKS AHEAD.

The label of row ``i`` uses ``close[i + horizon]``: it is *known* only at bar
``i + horizon``. Training uses labels of past rows; at trading time a sample's
label may be used only once ``i + horizon <= t`` (see :func:`known_label_positions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from maml_strategy.errors import DataError

__all__ = ["forward_returns", "known_label_positions"]


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
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise DataError(f"horizon must be an integer >= 1, got {horizon!r}")
    if not isinstance(vol_window, (int, np.integer)) or vol_window < 2:
        raise DataError(f"vol_window must be an integer >= 2, got {vol_window!r}")
    if "close" not in df.columns:
        raise DataError("forward_returns needs a 'close' column")
    close = df["close"].to_numpy(dtype=np.float64)
    ret1 = np.full_like(close, np.nan)
    ret1[1:] = close[1:] / close[:-1] - 1.0
    sigma = pd.Series(ret1).rolling(vol_window, min_periods=vol_window).std(ddof=1).to_numpy()
    fwd = np.full_like(close, np.nan)
    if len(close) > horizon:
        fwd[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        y = fwd / (sigma * np.sqrt(horizon))
    y[~np.isfinite(y)] = np.nan
    return pd.Series(y, index=df.index, name=f"fwd_ret_{horizon}")


def known_label_positions(t: int, horizon: int, k: int) -> np.ndarray:
    """Row positions of the last ``k`` samples whose labels are known at bar ``t``.

    Sample ``i`` is known at ``t`` iff ``i + horizon <= t``.

    Example:
        >>> known_label_positions(t=100, horizon=5, k=3).tolist()
        [93, 94, 95]
    """
    last = t - horizon
    first = max(0, last - k + 1)
    return np.arange(first, last + 1) if last >= 0 else np.arange(0)

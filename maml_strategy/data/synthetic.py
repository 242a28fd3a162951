"""Synthetic regime-switching OHLCV for tests and examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from maml_strategy.errors import DataError

__all__ = ["synthetic_ohlcv", "REGIME_PARAMS"]

# regime value -> (daily drift, daily volatility). Values mirror maml_strategy.regime.Regime.
REGIME_PARAMS: dict[str, tuple[float, float]] = {
    "bull_low_vol": (0.0015, 0.006),
    "bull_high_vol": (0.0020, 0.020),
    "bear_low_vol": (-0.0015, 0.006),
    "bear_high_vol": (-0.0020, 0.020),
    "sideways_low_vol": (0.0, 0.006),
    "sideways_high_vol": (0.0, 0.020),
}


def synthetic_ohlcv(
    n: int,
    *,
    regimes: Sequence[tuple[str, int]] | None = None,
    seed: int = 0,
    start: str = "2000-01-03",
    start_price: float = 100.0,
    style: Literal["planted", "random_walk"] = "planted",
) -> pd.DataFrame:
    """Generate regime-switching daily OHLCV with the planted regime per bar.

    Args:
        n: number of business-day bars.
        regimes: optional ``[(regime_value, length), ...]`` plan, repeated until
            ``n`` bars are filled; by default random segments of 60–160 bars
            cycling through all six regimes.
        seed: random seed (same seed, same data).
        start: first date.
        start_price: first close.
        style: ``"planted"`` (default) makes regimes identifiable by the
            detector's rules: close = exp(cumulative drift ±0.15 %/day or 0 plus
            non-accumulating 0.2 % noise), volatility planted in the bar range
            (1 % low, 3 % high), default segments 60–100 bars with high-volatility
            segments of ~60 bars (so they never fill half of the 252-bar median
            window). ``"random_walk"``: returns = drift + vol * N(0, 1) with the
            drift/vol of :data:`REGIME_PARAMS` (realistic, but the ±0.02 %/day trend
            band is then buried in noise).

    Returns:
        Frame with float64 ``open, high, low, close, volume`` and a ``regime``
        column holding the planted regime's string value (e.g. ``"bull_low_vol"``).

    Example:
        >>> df = synthetic_ohlcv(300, seed=1)
        >>> sorted(df.columns)
        ['close', 'high', 'low', 'open', 'regime', 'volume']
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise DataError(f"n must be an integer >= 2, got {n!r}")
    if style not in ("planted", "random_walk"):
        raise DataError(f"style must be 'planted' or 'random_walk', got {style!r}")
    rng = np.random.default_rng(seed)
    plan: list[tuple[str, int]] = []
    if regimes is None:
        names = list(REGIME_PARAMS)
        total = 0
        prev = None
        while total < n:
            prev_high = (prev or "").endswith("high_vol")
            choices = [r for r in names if r != prev and (r.endswith("low_vol") or not prev_high)]
            r = choices[int(rng.integers(len(choices)))]
            length = int(rng.integers(55, 66)) if r.endswith("high_vol") else int(rng.integers(60, 101))
            plan.append((r, length))
            total += length
            prev = r
    else:
        for name, length in regimes:
            if name not in REGIME_PARAMS:
                raise DataError(f"unknown regime {name!r}; use one of {sorted(REGIME_PARAMS)}")
            if int(length) < 1:
                raise DataError(f"segment length must be >= 1, got {length}")
        while sum(l for _, l in plan) < n:
            plan.extend((name, int(length)) for name, length in regimes)
    labels = np.concatenate([np.full(length, name, dtype=object) for name, length in plan])[:n]
    idx = pd.bdate_range(start=start, periods=n, name="date")
    if style == "planted":
        drift = np.array([REGIME_PARAMS[r][0] if r.endswith("low_vol") else np.sign(REGIME_PARAMS[r][0]) * 0.0015
                          for r in labels])
        width = np.where([r.endswith("high_vol") for r in labels], 0.03, 0.01) * rng.uniform(0.8, 1.2, n)
        close = start_price * np.exp(np.cumsum(drift) + 0.002 * rng.standard_normal(n))
        u = rng.uniform(0.2, 0.8, n)
        high, low = close * np.exp(width * u), close * np.exp(-width * (1 - u))
        open_ = low * np.exp(np.log(high / low) * rng.uniform(0, 1, n))
        volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(n) + 20 * width))
        return pd.DataFrame(
            {"open": open_, "high": high, "low": low, "close": close, "volume": volume.astype("float64"),
             "regime": labels},
            index=idx,
        )
    drift = np.array([REGIME_PARAMS[r][0] for r in labels])
    vol = np.array([REGIME_PARAMS[r][1] for r in labels])
    rets = drift + vol * rng.standard_normal(n)
    close = start_price * np.exp(np.cumsum(rets))
    prev_close = np.concatenate([[start_price], close[:-1]])
    open_ = prev_close * np.exp(0.25 * vol * rng.standard_normal(n))
    span = np.abs(rng.standard_normal(n)) * vol * 0.6 + 0.1 * vol
    high = np.maximum(open_, close) * np.exp(span * rng.uniform(0.3, 1.0, n))
    low = np.minimum(open_, close) * np.exp(-span * rng.uniform(0.3, 1.0, n))
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(n) + 20 * vol))
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume.astype("float64"),
         "regime": labels},
        index=idx,
    )

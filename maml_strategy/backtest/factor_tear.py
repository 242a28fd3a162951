"""Cross-sectional factor statistics by alphalens-reloaded (the ``[report]`` extra).

The skill tables (:mod:`maml_strategy.backtest.skill`) compute the IC and quantile
returns themselves, because the timing/selection split, the IC beyond the factors and the
cluster bootstrap are not alphalens'. Where alphalens fits — the per-date IC across symbols,
mean forward return by factor quintile (demeaned per date), the top-minus-bottom spread and
quintile turnover — this module asks alphalens, on the same panel and the same tradable
forward return (next open -> open ``horizon`` bars later), so the numbers can be checked
against a maintained implementation. Without alphalens it returns None (one note upstream).

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.bdate_range("2012-01-02", periods=60)
    >>> p = pd.DataFrame([(s, t) for t in d for s in "ABCDEFGH"], columns=["symbol", "date"])
    >>> p["ret"] = rng.normal(0, 0.02, len(p)); p["pred"] = p["ret"] + rng.normal(0, 0.02, len(p))
    >>> p["model"], p["seed"] = "m", 0
    >>> out = factor_tear(p, horizon=5)
    >>> out is None or out["m"]["cs_ic"] > 0.3  # None where the [report] extra is not installed
    True
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["alphalens_available", "factor_tear"]

QUANTILES = 5


def alphalens_available() -> bool:
    """True when alphalens-reloaded (the ``[report]`` extra) is installed."""
    return importlib.util.find_spec("alphalens") is not None


def factor_tear(panel: pd.DataFrame, horizon: int = 5, *, column: str = "ret") -> dict[str, Any] | None:
    """alphalens' cross-sectional statistics of every model's prediction (first seed only).

    Args:
        panel: long panel of :func:`~maml_strategy.backtest.suite.panel_frame` (``symbol``,
            ``date``, ``model``, ``seed``, ``pred`` and the forward return ``column``).
        horizon: bars of the forward return (its alphalens column is ``f"{horizon}D"``).
        column: the forward return: ``ret`` (raw tradable return) or ``label`` (vol-scaled).

    Returns:
        ``{model: {"cs_ic", "cs_ic_dates", "quantile_mean_bp", "top_minus_bottom_bp",
        "turnover_top", "turnover_bottom", "dates"}}``, or None when alphalens is missing.
        Quintile returns are demeaned per date, in basis points over ``horizon`` bars;
        turnover is the share of the top (bottom) quintile that changed since ``horizon``
        dates earlier.
    """
    if not alphalens_available() or panel.empty:
        return None
    import alphalens as al

    logging.getLogger("alphalens").setLevel(logging.ERROR)
    first = panel["seed"].min()
    out: dict[str, Any] = {}
    for model, g in panel[panel["seed"] == first].groupby("model", sort=False):
        g = g[np.isfinite(g["pred"]) & np.isfinite(g[column])]
        g = g[g.groupby("date")["symbol"].transform("size") >= QUANTILES]  # a cross-section to split
        if g.empty:
            continue
        idx = pd.MultiIndex.from_arrays([pd.DatetimeIndex(g["date"]), g["symbol"].astype(str)],
                                        names=["date", "asset"])
        factor = pd.Series(g["pred"].to_numpy(), index=idx)
        fwd = pd.DataFrame({f"{horizon}D": g[column].to_numpy()}, index=idx)
        try:
            fd = _quiet(al.utils.get_clean_factor, factor, fwd, quantiles=QUANTILES, max_loss=1.0)
        except (ValueError, al.utils.MaxLossExceededError):  # e.g. too few distinct values to bin
            continue
        ic = al.performance.factor_information_coefficient(fd)[f"{horizon}D"]
        q = al.performance.mean_return_by_quantile(fd, demeaned=True)[0][f"{horizon}D"]
        turn = {k: al.performance.quantile_turnover(fd["factor_quantile"], k, period=horizon).mean()
                for k in (1, QUANTILES)}
        out[str(model)] = {
            "cs_ic": float(ic.mean()), "cs_ic_dates": int(ic.notna().sum()),
            "quantile_mean_bp": [float(1e4 * v) for v in q.to_numpy()],
            "top_minus_bottom_bp": float(1e4 * (q.iloc[-1] - q.iloc[0])),
            "turnover_top": _num(turn[QUANTILES]), "turnover_bottom": _num(turn[1]),
            "dates": int(fd.index.get_level_values("date").nunique()),
        }
    return out


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """alphalens prints its drop statistics; keep them off the run's output."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _num(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None

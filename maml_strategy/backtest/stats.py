"""Skill and comparison statistics: IC, directional accuracy, relative MSE, cluster-bootstrap intervals.

Example:
    >>> import numpy as np
    >>> d = np.array([[0.1, 0.2], [0.0, 0.3]])  # symbols x years
    >>> lo, hi = bootstrap_mean_ci(d, n_boot=200, seed=0)
    >>> bool(lo <= d.mean() <= hi)
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.config import kinds

__all__ = ["alpha_beta", "skill_scores", "bootstrap_mean_ci", "paired_comparison", "mean_ci"]


def skill_scores(pred: np.ndarray, label: np.ndarray) -> dict[str, float | int | None]:
    """Information coefficient, directional accuracy and MSE relative to predicting zero.

    Args:
        pred: predictions, one per bar.
        label: realised labels (vol-scaled forward returns) of the same bars; NaN = unknown.

    Returns:
        ``ic`` (Spearman correlation), ``hit_rate`` (sign agreement over all bars with
        a non-zero label), ``rel_mse`` (MSE / mean(label²); below 1 beats predicting 0)
        and ``n`` (bars used). None where undefined.

    Example:
        >>> s = skill_scores(np.array([1.0, -1.0, 2.0]), np.array([0.5, -0.2, 1.0]))
        >>> s["ic"], s["hit_rate"]
        (1.0, 1.0)
    """
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(y)
    p, y = p[ok], y[ok]
    n = int(len(y))
    out: dict[str, float | int | None] = {"ic": None, "hit_rate": None, "rel_mse": None, "n": n}
    if n < 3:
        return out
    if np.std(p) > 0 and np.std(y) > 0:
        out["ic"] = float(pd.Series(p).rank().corr(pd.Series(y).rank()))
    nz = y != 0
    if nz.any():
        out["hit_rate"] = float(np.mean(np.sign(p[nz]) == np.sign(y[nz])))
    denom = float(np.mean(y * y))
    if denom > 0:
        out["rel_mse"] = float(np.mean((p - y) ** 2) / denom)
    return out


def alpha_beta(returns: pd.Series, benchmark: pd.Series, periods: int = 252) -> dict[str, float | None]:
    """OLS of daily ``returns`` on ``benchmark`` returns (same dates): annualised ``alpha`` and ``beta``.

    Example:
        >>> r = pd.Series([0.01, -0.02, 0.03, 0.0])
        >>> ab = alpha_beta(r, r)
        >>> round(ab["alpha"], 12), round(ab["beta"], 12)
        (0.0, 1.0)
    """
    j = pd.concat([pd.Series(returns).rename("r"), pd.Series(benchmark).rename("b")], axis=1, join="inner").dropna()
    if len(j) < 3 or j["b"].var() == 0:
        return {"alpha": None, "beta": None}
    b = j["b"].to_numpy()
    beta = float(np.cov(j["r"].to_numpy(), b, ddof=1)[0, 1] / np.var(b, ddof=1))
    alpha = float((j["r"].mean() - beta * b.mean()) * periods)
    return {"alpha": alpha, "beta": beta}


def _cell_matrix(cells: pd.DataFrame, value: str) -> np.ndarray:
    """``symbol x year`` matrix of the mean of ``value`` per cell (NaN where missing)."""
    return cells.pivot_table(index="symbol", columns="year", values=value, aggfunc="mean").to_numpy(dtype=np.float64)


def bootstrap_mean_ci(matrix: np.ndarray, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of a ``symbols x years`` matrix, resampling symbols AND years.

    Symbols and years are drawn with replacement independently, so neither one
    crash year nor one symbol can carry the interval. Missing cells (NaN) are skipped.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[:, None]
    mask = np.isfinite(m)
    if not mask.any():
        return (math.nan, math.nan)
    vals = np.where(mask, m, 0.0)
    rng = np.random.default_rng(seed)
    ns, ny = m.shape
    cs = rng.multinomial(ns, np.full(ns, 1.0 / ns), size=n_boot).astype(np.float64)  # [B, ns] counts
    cy = rng.multinomial(ny, np.full(ny, 1.0 / ny), size=n_boot).astype(np.float64)  # [B, ny]
    num = np.einsum("bs,sy,by->b", cs, vals, cy)
    den = np.einsum("bs,sy,by->b", cs, mask.astype(np.float64), cy)
    stats = num[den > 0] / den[den > 0]
    a = (1.0 - level) / 2.0
    return float(np.quantile(stats, a)), float(np.quantile(stats, 1.0 - a))


def mean_ci(cells: pd.DataFrame, value: str, **kw: Any) -> dict[str, float | None]:
    """Mean of ``value`` over (symbol, year) cells with its cluster-bootstrap 95 % interval."""
    sub = cells.dropna(subset=[value])
    if sub.empty:
        return {"mean": None, "ci95": None, "cells": 0}
    mat = _cell_matrix(sub, value)
    lo, hi = bootstrap_mean_ci(mat, **kw)
    return {"mean": float(np.nanmean(mat)), "ci95": [lo, hi], "cells": int(np.isfinite(mat).sum())}


def paired_comparison(rows: pd.DataFrame, a: str, b: str, metric: str, **kw: Any) -> dict[str, Any] | None:
    """``a`` minus ``b`` on ``metric``, paired by (symbol, year, seed), then averaged per (symbol, year).

    Args:
        rows: one row per (symbol, year, seed, strategy) with the metric.
        a, b: strategy names.
        metric: column, e.g. ``"sharpe"`` or ``"total_return"``.

    Returns:
        ``mean_diff``, ``share_ahead`` (share of symbol-years where ``a`` is ahead),
        ``ci95`` (cluster bootstrap over symbols and years) and ``cells``; None if no pairs.
    """
    key = ["symbol", "year", "seed"]
    left = rows[rows["strategy"] == a].set_index(key)[metric]
    right = rows[rows["strategy"] == b].set_index(key)[metric]
    if b in kinds(seedless=True):  # seed-independent controls: pair with every seed
        right = right.droplevel("seed")
        left_cells = left.reset_index()
        right_map = right.to_dict()
        diffs = [(s, y, v - right_map[(s, y)]) for s, y, _, v in left_cells.itertuples(index=False)
                 if (s, y) in right_map and pd.notna(v) and pd.notna(right_map[(s, y)])]
        d = pd.DataFrame(diffs, columns=["symbol", "year", "d"])
    else:
        j = pd.concat([left.rename("a"), right.rename("b")], axis=1, join="inner").dropna()
        d = (j["a"] - j["b"]).rename("d").reset_index()[["symbol", "year", "d"]]
    if d.empty:
        return None
    cell = d.groupby(["symbol", "year"], as_index=False)["d"].mean()
    ci = mean_ci(cell, "d", **kw)
    return {"mean_diff": ci["mean"], "share_ahead": float((cell["d"] > 0).mean()), "ci95": ci["ci95"],
            "cells": ci["cells"]}

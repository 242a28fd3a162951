"""Portfolio against the equal-weight universe: active return, information ratio, beta, block-bootstrap CIs.

No backtrader here. Every statistic is computed on *daily active returns*
``a_t = r_t - r^{ew}_t`` (the portfolio's daily return minus the equal-weight universe
rebalanced on the same days), pooled over the test years; with several seeds the
seeds' active returns are averaged per date first (seeds are not independent samples).

* ``excess_return``: ``mean(a) x 252`` (annualised arithmetic active return);
* ``information_ratio``: ``mean(a) / std(a) x sqrt(252)``;
* ``beta``: OLS slope of the daily returns on the equal-weight returns;
* the 95 % intervals come from a two-level block bootstrap (:func:`block_bootstrap_ci`):
  years are drawn with replacement (``arch.bootstrap.IIDBootstrap``), and within each drawn
  year its weeks are drawn in circular blocks of ``block_weeks`` weeks
  (``arch.bootstrap.CircularBlockBootstrap``); a replicate's statistic is computed on the
  daily returns of the drawn weeks, so the interval brackets the point estimate's own
  definition.

Example:
    >>> import numpy as np, pandas as pd
    >>> d = pd.bdate_range("2012-01-02", periods=250)
    >>> a = pd.Series(np.random.default_rng(0).normal(0.001, 0.01, 250), index=d)
    >>> ci = block_bootstrap_ci({2012: a}, BootstrapConfig(n_boot=200))
    >>> ci["excess_ci95"][0] < 0.252 < ci["excess_ci95"][1]
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.backtest.metrics import TRADING_DAYS, max_drawdown
from maml_strategy.backtest.stats import alpha_beta

__all__ = ["BootstrapConfig", "active_stats", "block_bootstrap_ci", "portfolio_section", "yearly_metrics", "BENCHMARK"]

BENCHMARK = "equal_weight"


@dataclass(frozen=True)
class BootstrapConfig:
    """The block bootstrap of the portfolio CIs."""

    block_weeks: int = 4  # weeks per circular block within a year (keeps a month's autocorrelation)
    n_boot: int = 2000  # bootstrap replicates
    seed: int = 0  # random seed of the replicates (deterministic intervals)
    level: float = 0.95  # coverage of the percentile interval


def _none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def active_stats(returns: pd.Series, bench: pd.Series) -> dict[str, float | None]:
    """``excess_return``, ``information_ratio``, ``tracking_error`` and ``beta`` of daily returns vs a benchmark.

    Example:
        >>> r = pd.Series([0.01, 0.0, 0.02, -0.01]); b = pd.Series([0.0, 0.0, 0.01, -0.01])
        >>> s = active_stats(r, b)
        >>> round(s["excess_return"], 3), round(s["beta"], 3)
        (1.26, 1.5)
    """
    j = pd.concat([returns.rename("r"), bench.rename("b")], axis=1, join="inner").dropna()
    a = (j["r"] - j["b"]).to_numpy(dtype=np.float64)
    if not len(a):
        return {"excess_return": None, "information_ratio": None, "tracking_error": None, "beta": None}
    sd = float(np.std(a, ddof=1)) if len(a) > 1 else math.nan
    ir = float(np.mean(a) / sd * math.sqrt(TRADING_DAYS)) if sd > 0 else (0.0 if np.all(a == 0) else math.nan)
    return {"excess_return": float(np.mean(a) * TRADING_DAYS), "information_ratio": _none(ir),
            "tracking_error": _none(sd * math.sqrt(TRADING_DAYS)), "beta": alpha_beta(j["r"], j["b"])["beta"]}


def _weekly_moments(active: pd.Series) -> np.ndarray:
    """``[weeks, 3]``: days, sum and sum of squares of the daily active returns of each ISO week."""
    a = active.dropna()
    iso = pd.DatetimeIndex(a.index).isocalendar()
    key = iso["year"].to_numpy().astype(np.int64) * 100 + iso["week"].to_numpy().astype(np.int64)
    v = a.to_numpy(dtype=np.float64)
    g = pd.DataFrame({"k": key, "n": 1.0, "s": v, "ss": v * v}).groupby("k", sort=True)[["n", "s", "ss"]].sum()
    return g.to_numpy(dtype=np.float64)


def block_bootstrap_ci(active_by_year: Mapping[int, pd.Series], cfg: BootstrapConfig | None = None) -> dict[str, Any]:
    """95 % intervals of ``excess_return`` and ``information_ratio`` from daily active returns per test year.

    Years are resampled with replacement (``arch`` ``IIDBootstrap``); each drawn year's weeks are
    resampled in circular blocks of ``cfg.block_weeks`` (``arch`` ``CircularBlockBootstrap``),
    independently for each draw of it. With one year only the weeks are resampled.

    Returns:
        ``{"excess_ci95": [lo, hi], "information_ratio_ci95": [lo, hi], "weeks": n, "years": n}``
        (intervals None with fewer than 4 weeks).
    """
    from arch.bootstrap import CircularBlockBootstrap, IIDBootstrap

    cfg = cfg or BootstrapConfig()
    years = [y for y in sorted(active_by_year) if len(active_by_year[y].dropna())]
    moments = [_weekly_moments(active_by_year[y]) for y in years]
    n_weeks = sum(len(m) for m in moments)
    out: dict[str, Any] = {"excess_ci95": None, "information_ratio_ci95": None, "weeks": int(n_weeks),
                           "years": len(years)}
    if n_weeks < 4:
        return out
    rng = np.random.default_rng(cfg.seed)
    year_bs = IIDBootstrap(np.arange(len(years)), seed=rng)
    week_bs = [CircularBlockBootstrap(max(1, min(cfg.block_weeks, len(m))), np.arange(len(m)), seed=rng)
               for m in moments]
    ex, ir = np.empty(cfg.n_boot), np.empty(cfg.n_boot)
    for b in range(cfg.n_boot):
        drawn = np.asarray(year_bs.update_indices()).ravel() if len(years) > 1 else np.zeros(1, dtype=np.int64)
        tot = np.zeros(3)
        for j in drawn:
            idx = np.asarray(week_bs[j].update_indices()).ravel()
            tot += moments[j][idx].sum(axis=0)
        n, s, ss = tot
        mean = s / n
        var = (ss - n * mean * mean) / (n - 1) if n > 1 else math.nan
        ex[b] = mean * TRADING_DAYS
        ir[b] = mean / math.sqrt(var) * math.sqrt(TRADING_DAYS) if var > 0 else math.nan
    lo_q, hi_q = (1.0 - cfg.level) / 2.0, 1.0 - (1.0 - cfg.level) / 2.0
    out["excess_ci95"] = [float(np.quantile(ex, lo_q)), float(np.quantile(ex, hi_q))]
    ir = ir[np.isfinite(ir)]
    if len(ir):
        out["information_ratio_ci95"] = [float(np.quantile(ir, lo_q)), float(np.quantile(ir, hi_q))]
    return out


def _series(run: Mapping[str, Any]) -> pd.Series:
    return pd.Series(np.asarray(run["returns"], dtype=np.float64), index=pd.DatetimeIndex(run["dates"]))


def portfolio_section(runs: Sequence[Mapping[str, Any]], boot: BootstrapConfig | None = None,
                      ci_for: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The ``summary.json`` ``portfolio`` section from portfolio runs (one per year, seed and entry).

    Args:
        runs: dicts with ``kind``, ``year``, ``seed``, ``dates``, ``returns``, ``equity``, ``turnover``,
            ``total_return``, ``max_drawdown``; the benchmark's kind is ``equal_weight``.
        boot: bootstrap settings.
        ci_for: entries that get ``excess_ci95`` and ``information_ratio_ci95`` (None = every non-benchmark).

    Returns:
        ``{entry: {excess_return, information_ratio, tracking_error, beta, turnover, max_drawdown,
        total_return, benchmark_total_return, excess_total_return, ...}}``; the benchmark's excess return
        and information ratio are 0 by definition.
    """
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        if r.get("returns") is not None:
            by_kind.setdefault(r["kind"], []).append(r)
    bench = {r["year"]: _series(r) for r in by_kind.get(BENCHMARK, [])}
    bench_total = {r["year"]: float(r["total_return"]) for r in by_kind.get(BENCHMARK, [])}
    out: dict[str, dict[str, Any]] = {}
    for kind, rs in by_kind.items():
        per_year: dict[int, list[pd.Series]] = {}
        for r in rs:
            per_year.setdefault(int(r["year"]), []).append(_series(r))
        ret_by_year = {y: pd.concat(v, axis=1).mean(axis=1) for y, v in per_year.items() if y in bench}
        if not ret_by_year:
            continue
        active = {y: (ret_by_year[y] - bench[y].reindex(ret_by_year[y].index)).dropna() for y in ret_by_year}
        r_all = pd.concat([ret_by_year[y] for y in sorted(ret_by_year)])
        b_all = pd.concat([bench[y].reindex(ret_by_year[y].index) for y in sorted(ret_by_year)])
        entry: dict[str, Any] = {"benchmark": kind == BENCHMARK, **active_stats(r_all, b_all)}
        if kind == BENCHMARK:
            entry.update(excess_return=0.0, information_ratio=0.0, beta=1.0)
        entry["turnover"] = float(np.mean([r["turnover"] for r in rs]))  # traded value / mean equity per year
        entry["max_drawdown"] = float(np.mean([r["max_drawdown"] for r in rs]))  # mean of yearly maxima
        entry["total_return"] = float(np.mean([r["total_return"] for r in rs]))
        entry["benchmark_total_return"] = float(np.mean([bench_total[int(r["year"])] for r in rs]))
        entry["excess_total_return"] = entry["total_return"] - entry["benchmark_total_return"]
        entry["years"] = sorted(ret_by_year)
        entry["seeds"] = sorted({int(r["seed"]) for r in rs})
        entry["days"] = int(len(r_all))
        if kind != BENCHMARK and (ci_for is None or kind in ci_for):
            entry.update(block_bootstrap_ci(active, boot))
        out[kind] = entry
    return out


def yearly_metrics(returns: pd.Series, equity: pd.Series, start_value: float, traded: float) -> dict[str, float]:
    """``total_return``, ``max_drawdown`` and ``turnover`` (traded value / mean equity) of one test year.

    Example:
        >>> eq = pd.Series([101.0, 99.0, 102.0])
        >>> m = yearly_metrics(eq.pct_change().fillna(0.01), eq, 100.0, 50.0)
        >>> round(m["total_return"], 3), round(m["max_drawdown"], 4)
        (0.02, 0.0198)
    """
    v = np.concatenate([[start_value], equity.to_numpy(dtype=np.float64)])
    return {"total_return": float(v[-1] / v[0] - 1.0), "max_drawdown": max_drawdown(v),
            "turnover": float(traded / np.mean(v))}

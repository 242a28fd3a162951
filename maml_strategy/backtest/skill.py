"""Skill beyond known factors: time-series and cross-sectional IC, timing vs selection, residual IC.

Every score runs on a long *panel*: one row per (symbol, year, seed, model, date) with the
model's prediction ``pred`` made at that bar's close, the **tradable label** ``label``
(next open -> open ``h`` bars later, scaled by the volatility known at t; see
:func:`~maml_strategy.features.labels.tradable_returns`), its raw return ``ret``, the
close-to-close label ``label_close`` (the label the models train on), the confirmed
``regime`` code and the two no-net factors ``reversal`` and ``momentum`` of the same bar.

Definitions (all Spearman rank correlations, on the tradable label unless named):

* ``ts_ic``: per symbol-year, over its dates; mean over symbol-years with a cluster
  bootstrap 95 % interval over symbols and years (:func:`~maml_strategy.backtest.stats.mean_ci`).
* ``cs_ic``: per date, across the symbols of that date (>= ``MIN_CS`` of them); mean over
  dates, with a Newey-West t-statistic (``cs_ic_t``, HAC with ``horizon`` lags, because
  consecutive dates share ``h - 1`` days of their labels) and interval.
* ``timing_ic``: per year, the IC over dates of the cross-sectional mean prediction against
  the cross-sectional mean label (market timing); mean over years, interval over years.
* ``selection_ic``: per symbol-year, the IC of the prediction minus its date mean against
  the label minus its date mean (stock selection); cluster interval.
* ``resid_ic``: per symbol-year, the IC of the residual of a rank regression of the
  prediction on the ranks of reversal and momentum (0 when the factors explain it all).
* ``per_regime``: ``ts_ic`` per confirmed regime (cells with >= ``MIN_N`` bars).
* ``quantiles``: mean raw forward return (bp) per prediction quintile, within symbol-year
  and within date.
* ``hit_rate_demeaned``: sign agreement of the prediction and the label, both demeaned
  within their symbol-year, so a constant bias scores 50 %; ``hit_rate`` is the raw one.
* ``ic``, ``hit_rate``, ``rel_mse`` keep their earlier meaning: on the close-to-close label.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 300
    >>> y = rng.normal(size=n)
    >>> p = pd.DataFrame({"symbol": "A", "year": 2012, "seed": 0, "model": "m", "date": pd.bdate_range("2012-01-02", periods=n),
    ...                   "pred": y + rng.normal(size=n), "label": y, "ret": y / 100, "label_close": y, "regime": 0,
    ...                   "reversal": rng.normal(size=n), "momentum": rng.normal(size=n)})
    >>> s = skill_report(p, horizon=5, n_boot=100)["m"]
    >>> s["ts_ic"]["mean"] > 0.5, s["cs_ic"] is None
    (True, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.backtest.stats import bootstrap_mean_ci, mean_ci

__all__ = ["MIN_N", "MIN_CS", "PANEL_COLUMNS", "cell_scores", "cross_section", "skill_report",
           "adaptation_gain", "newey_west_mean"]

MIN_N = 20  # bars a (symbol-year or regime) cell needs for an IC
MIN_CS = 5  # symbols a date needs for a cross-sectional IC
PANEL_COLUMNS = ("symbol", "year", "seed", "model", "date", "pred", "label", "ret", "label_close", "regime",
                 "reversal", "momentum")
_CELL = ["symbol", "year", "seed", "model"]


def _spearman(x: np.ndarray, y: np.ndarray, min_n: int = MIN_N) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < min_n:
        return math.nan
    rx, ry = pd.Series(x[ok]).rank().to_numpy(), pd.Series(y[ok]).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def _grouped_spearman(df: pd.DataFrame, keys: list[str], x: str, y: str, min_n: int) -> pd.Series:
    """Spearman correlation of ``x`` and ``y`` within each group of ``keys`` (vectorised)."""
    d = df[keys + [x, y]].dropna()
    if d.empty:
        return pd.Series(dtype=np.float64)
    g = d.groupby(keys, sort=False)
    rx, ry = g[x].rank(), g[y].rank()
    t = pd.DataFrame({k: d[k] for k in keys}).assign(rx=rx, ry=ry, rxy=rx * ry, rxx=rx * rx, ryy=ry * ry)
    s = t.groupby(keys, sort=True).agg(n=("rx", "size"), rx=("rx", "mean"), ry=("ry", "mean"), rxy=("rxy", "mean"),
                                       rxx=("rxx", "mean"), ryy=("ryy", "mean"))
    cov = s["rxy"] - s["rx"] * s["ry"]
    var = (s["rxx"] - s["rx"] ** 2) * (s["ryy"] - s["ry"] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ic = cov / np.sqrt(var)
    ic[(s["n"] < min_n) | ~(var > 1e-18)] = np.nan
    return ic


def _resid_ic(g: pd.DataFrame) -> float:
    """IC of the prediction's rank residual after regressing on the factors' ranks."""
    cols = [c for c in ("reversal", "momentum") if g[c].notna().sum() >= MIN_N]
    d = g[["pred", "label", *cols]].dropna()
    if len(d) < MIN_N or d["pred"].std() == 0:
        return math.nan
    r = d[["pred", *cols]].rank().to_numpy(dtype=np.float64)
    a = np.column_stack([np.ones(len(d)), r[:, 1:]])
    beta, *_ = np.linalg.lstsq(a, r[:, 0], rcond=None)
    e = r[:, 0] - a @ beta
    if e.var() < 1e-9 * r[:, 0].var():
        return 0.0  # the factors explain the prediction's ranks entirely
    return _spearman(e, d["label"].to_numpy(), MIN_N)


def cell_scores(panel: pd.DataFrame) -> pd.DataFrame:
    """Per (symbol, year, seed, model): ts_ic, resid_ic, selection_ic, hit rates, bias, close-label scores.

    Example:
        >>> cell_scores(pd.DataFrame(columns=list(PANEL_COLUMNS))).empty
        True
    """
    if panel.empty:
        return pd.DataFrame(columns=_CELL)
    p = panel.copy()
    g = p.groupby(_CELL, sort=True)
    out = pd.DataFrame({"ts_ic": _grouped_spearman(p, _CELL, "pred", "label", MIN_N),
                        "ic": _grouped_spearman(p, _CELL, "pred", "label_close", 3)})
    out["resid_ic"] = g[["pred", "label", "reversal", "momentum"]].apply(_resid_ic)
    # selection: demeaned per date across symbols (dates with >= MIN_CS symbols)
    by_date = p.groupby(["seed", "model", "date"])
    size = by_date["pred"].transform("count")
    p["pred_dm"] = (p["pred"] - by_date["pred"].transform("mean")).where(size >= MIN_CS)
    p["label_dm"] = (p["label"] - by_date["label"].transform("mean")).where(size >= MIN_CS)
    out["selection_ic"] = _grouped_spearman(p, _CELL, "pred_dm", "label_dm", MIN_N)
    ok = p["pred"].notna() & p["label"].notna()
    q = p[ok]
    gq = q.groupby(_CELL, sort=True)
    pm, ym = gq["pred"].transform("mean"), gq["label"].transform("mean")
    nz = q["label"] != 0
    hit = (np.sign(q["pred"]) == np.sign(q["label"])).where(nz)
    hit_dm = (np.sign(q["pred"] - pm) == np.sign(q["label"] - ym)).astype(float)
    out["hit_rate"] = hit.groupby([q[k] for k in _CELL]).mean()
    out["hit_rate_demeaned"] = hit_dm.groupby([q[k] for k in _CELL]).mean()
    out["bias"] = (gq["pred"].mean() - gq["label"].mean()).abs()
    out["up_share"] = (q["pred"] > 0).groupby([q[k] for k in _CELL]).mean()
    c = p[p["pred"].notna() & p["label_close"].notna()]
    gc = c.groupby(_CELL, sort=True)
    denom = gc["label_close"].apply(lambda s: float(np.mean(s * s)))
    out["rel_mse"] = ((c["pred"] - c["label_close"]) ** 2).groupby([c[k] for k in _CELL]).mean() / denom
    out["n"] = gq["pred"].size()
    return out.reset_index()


def newey_west_mean(x: np.ndarray, lags: int) -> tuple[float, float]:
    """Mean of a series and its Newey-West (HAC) standard error with ``lags`` lags (statsmodels).

    Example:
        >>> m, se = newey_west_mean(np.array([0.1, 0.2, 0.0, 0.1, 0.15, 0.05]), lags=1)
        >>> round(m, 3), se > 0
        (0.1, True)
    """
    import statsmodels.api as sm

    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 3:
        return (float(np.mean(x)) if len(x) else math.nan, math.nan)
    fit = sm.OLS(x, np.ones((len(x), 1))).fit(cov_type="HAC", cov_kwds={"maxlags": int(lags)})
    return float(fit.params[0]), float(fit.bse[0])


def cross_section(panel: pd.DataFrame, horizon: int) -> dict[str, dict[str, Any]]:
    """Per model: ``cs_ic`` (+ ``cs_ic_t``, interval, dates), ``timing_ic`` and the within-date quintiles."""
    out: dict[str, dict[str, Any]] = {}
    for model, g in panel.groupby("model", sort=False):
        entry: dict[str, Any] = {"cs_ic": None, "cs_ic_t": None, "cs_ic_ci95": None, "cs_dates": 0}
        cs = _grouped_spearman(g, ["seed", "date"], "pred", "label", MIN_CS)
        cs = cs.dropna()
        if len(cs) >= 3:
            daily = cs.groupby(level="date").mean().sort_index()  # mean over seeds per date
            m, se = newey_west_mean(daily.to_numpy(), horizon)
            entry.update(cs_ic=m, cs_ic_t=m / se if se > 0 else None, cs_ic_ci95=[m - 1.96 * se, m + 1.96 * se],
                         cs_dates=int(len(daily)))
            years = pd.DatetimeIndex(daily.index).year
            entry["cs_ic_per_year"] = {int(y): float(v) for y, v in daily.groupby(years).mean().items()}
        mean = g.groupby(["seed", "year", "date"])[["pred", "label"]].mean()
        timing = _grouped_spearman(mean.reset_index(), ["seed", "year"], "pred", "label", MIN_N).dropna()
        if len(timing):
            per_year = timing.groupby(level="year").mean()
            lo, hi = bootstrap_mean_ci(per_year.to_numpy()[None, :], n_boot=1000)
            entry.update(timing_ic={"mean": float(per_year.mean()), "ci95": [lo, hi], "years": int(len(per_year))},
                         timing_ic_per_year={int(y): float(v) for y, v in per_year.items()})
        else:
            entry["timing_ic"] = {"mean": None, "ci95": None, "years": 0}
        entry["quantiles_within_date"] = _quantiles(g, ["seed", "date"], MIN_CS)
        out[str(model)] = entry
    return out


def _quantiles(g: pd.DataFrame, keys: list[str], min_n: int, q: int = 5) -> list[float | None] | None:
    """Mean raw forward return in basis points per prediction quintile, ranked within ``keys`` groups."""
    d = g.dropna(subset=["pred", "ret"])
    if d.empty:
        return None
    grp = d.groupby(keys, sort=False)["pred"]
    n = grp.transform("size")
    pct = grp.rank(method="first", pct=True)
    d = d.assign(qn=np.minimum((pct * q).apply(math.ceil), q)).loc[n >= min_n]
    if d.empty:
        return None
    means = d.groupby("qn")["ret"].mean() * 1e4
    return [None if k not in means.index else round(float(means[k]), 2) for k in range(1, q + 1)]


def _per_regime(panel: pd.DataFrame, n_boot: int) -> dict[str, dict[str, Any]]:
    from maml_strategy.regime import Regime

    out: dict[str, dict[str, Any]] = {}
    d = panel[panel["regime"] >= 0]
    ic = _grouped_spearman(d, ["symbol", "year", "seed", "regime"], "pred", "label", MIN_N).dropna()
    if ic.empty:
        return out
    cells = ic.rename("ic").reset_index()
    for code, g in cells.groupby("regime"):
        c = g.groupby(["symbol", "year"], as_index=False)["ic"].mean()
        out[Regime.from_code(int(code)).value] = mean_ci(c, "ic", n_boot=n_boot)
    return out


def skill_report(panel: pd.DataFrame, *, horizon: int, n_boot: int = 2000) -> dict[str, dict[str, Any]]:
    """Every skill score per model (see the module docstring); intervals over symbols and years.

    Args:
        panel: long frame with :data:`PANEL_COLUMNS`.
        horizon: the label horizon (Newey-West lags).
        n_boot: bootstrap draws.

    Returns:
        ``{model: {ts_ic, ic, hit_rate, hit_rate_demeaned, rel_mse, resid_ic, selection_ic, bias,
        up_share: {mean, ci95, cells}, cs_ic, cs_ic_t, cs_ic_ci95, timing_ic, per_regime,
        quantiles_within_symbol_year, quantiles_within_date, per_year}}``.
    """
    if panel.empty:
        return {}
    cells = cell_scores(panel)
    cross = cross_section(panel, horizon)
    out: dict[str, dict[str, Any]] = {}
    keys = ("ts_ic", "resid_ic", "selection_ic", "ic", "hit_rate", "hit_rate_demeaned", "rel_mse", "bias", "up_share")
    for model, g in panel.groupby("model", sort=False):
        c = cells[cells["model"] == model].groupby(["symbol", "year"], as_index=False)[list(keys)].mean()
        entry: dict[str, Any] = {k: mean_ci(c, k, n_boot=n_boot) for k in keys}
        ci = entry["ts_ic"]["ci95"]
        entry["measurable_skill"] = bool(ci is not None and (ci[0] > 0 or ci[1] < 0))
        entry.update(cross.get(str(model), {}))
        entry["per_regime"] = _per_regime(g, n_boot)
        entry["quantiles_within_symbol_year"] = _quantiles(g, ["symbol", "year", "seed"], MIN_N)
        entry["per_year"] = {}
        for year, gy in c.groupby("year"):
            v = gy["ts_ic"].dropna()
            se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else math.nan
            entry["per_year"][int(year)] = {
                "ts_ic": float(v.mean()) if len(v) else None,
                "ts_ic_ci95": [float(v.mean() - 1.96 * se), float(v.mean() + 1.96 * se)] if np.isfinite(se) else None,
                "resid_ic": _nanmean(gy["resid_ic"]), "ic": _nanmean(gy["ic"]),
                "hit_rate": _nanmean(gy["hit_rate"]), "up_share": _nanmean(gy["up_share"]), "symbols": int(len(v))}
        out[str(model)] = entry
    return out


def _nanmean(s: pd.Series) -> float | None:
    v = s.dropna()
    return float(v.mean()) if len(v) else None


def adaptation_gain(panel: pd.DataFrame, rows: pd.DataFrame | None, adapted: str, unadapted: str, *,
                    n_boot: int = 2000) -> dict[str, Any] | None:
    """What adapting adds: ``adapted`` minus ``unadapted`` in IC, in bias, and in alpha of the traded strategy.

    * ``ic``: ts_ic(adapted) - ts_ic(unadapted) per symbol-year (tradable label);
    * ``bias``: |mean pred - mean label| unadapted minus adapted (> 0: adaptation fixed the level);
    * ``alpha``: annualised alpha against buy-and-hold, adapted strategy minus the same strategy
      with adaptation off (``rows``: one row per symbol, year, seed, strategy with ``alpha``);
    * each with its cluster-bootstrap 95 % interval, and ``ic`` per regime.

    Returns None when either model is missing from the panel.
    """
    models = set(panel["model"].unique()) if not panel.empty else set()
    if adapted not in models or unadapted not in models:
        return None
    sub = panel[panel["model"].isin([adapted, unadapted])]
    cells = cell_scores(sub).set_index(_CELL)
    a = cells.xs(adapted, level="model")
    b = cells.xs(unadapted, level="model")
    d = pd.DataFrame({"ic": a["ts_ic"] - b["ts_ic"], "bias": b["bias"] - a["bias"]}).dropna(how="all")
    d = d.reset_index().groupby(["symbol", "year"], as_index=False)[["ic", "bias"]].mean()
    out: dict[str, Any] = {"ic": mean_ci(d, "ic", n_boot=n_boot), "bias": mean_ci(d, "bias", n_boot=n_boot),
                           "alpha": {"mean": None, "ci95": None, "cells": 0}}
    if rows is not None and not rows.empty and "alpha" in rows:
        key = ["symbol", "year", "seed"]
        ra = rows[rows["strategy"] == adapted].set_index(key)["alpha"]
        rb = rows[rows["strategy"] == unadapted].set_index(key)["alpha"]
        j = pd.concat([ra.rename("a"), rb.rename("b")], axis=1, join="inner").dropna()
        if len(j):
            da = (j["a"] - j["b"]).rename("alpha").reset_index().groupby(["symbol", "year"], as_index=False)["alpha"].mean()
            out["alpha"] = mean_ci(da, "alpha", n_boot=n_boot)
    regs = {}
    for name in ("adapted", "unadapted"):
        m = adapted if name == "adapted" else unadapted
        regs[name] = _grouped_spearman(sub[(sub["model"] == m) & (sub["regime"] >= 0)],
                                       ["symbol", "year", "seed", "regime"], "pred", "label", MIN_N)
    diff = (regs["adapted"] - regs["unadapted"]).dropna().rename("d").reset_index()
    from maml_strategy.regime import Regime

    out["per_regime"] = {Regime.from_code(int(code)).value:
                         mean_ci(g.groupby(["symbol", "year"], as_index=False)["d"].mean(), "d", n_boot=n_boot)
                         for code, g in diff.groupby("regime")}
    return out

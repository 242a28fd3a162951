"""Summaries of a universe walk-forward: aggregate table, paired intervals, skill, heat map.

Example:
    >>> rows = pd.DataFrame({"symbol": ["A", "A"], "year": [2008, 2008], "seed": [0, 0],
    ...                      "strategy": ["maml", "buy_and_hold"], "total_return": [0.1, 0.0],
    ...                      "sharpe": [1.0, 0.0], "max_drawdown": [0.1, 0.2], "exposure": [0.5, 1.0]})
    >>> aggregate(rows)["maml"]["mean_return"]
    0.1
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.backtest.stats import mean_ci, paired_comparison
from maml_strategy.config import kinds, unadapted_twin

__all__ = ["aggregate", "full_skill", "comparisons", "skill_table", "format_walk_forward", "plot_heatmap"]



def aggregate(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per strategy: mean/median Sharpe, mean return, worst drawdown, mean exposure (over symbol-year-seed rows)."""
    out: dict[str, dict[str, Any]] = {}
    for name, g in rows.groupby("strategy", sort=False):
        out[str(name)] = {
            "mean_sharpe": float(g["sharpe"].mean()), "median_sharpe": float(g["sharpe"].median()),
            "mean_return": float(g["total_return"].mean()), "median_return": float(g["total_return"].median()),
            "worst_drawdown": float(g["max_drawdown"].max()), "mean_exposure": float(g["exposure"].mean()),
            "mean_exposure_bear_high_vol": _mean(g.get("exposure_bear_high_vol")),
            "mean_exposure_other_regimes": _mean(g.get("exposure_other_regimes")),
            "rows": int(len(g)),
        }
        if "alpha" in g and g["alpha"].notna().any():
            cells = g.groupby(["symbol", "year"], as_index=False)[["alpha", "beta"]].mean()
            ci = mean_ci(cells, "alpha")
            out[str(name)].update(alpha=ci["mean"], alpha_ci95=ci["ci95"], beta=_mean(cells["beta"]))
    return out


def full_skill(skill: pd.DataFrame, rows: pd.DataFrame, panels: list[dict[str, Any]], horizon: int, *,
               n_boot: int = 2000) -> dict[str, Any]:
    """The skill section: :func:`skill_table`'s keys plus the factor-aware scores of
    :func:`~maml_strategy.backtest.skill.skill_report` (ts_ic, cs_ic, timing_ic, selection_ic,
    resid_ic, per_regime, ...), ``adaptation_gain`` for the adapting models and, with the
    ``[report]`` extra, ``alphalens`` (:func:`~maml_strategy.backtest.factor_tear.factor_tear`)."""
    from maml_strategy.backtest.factor_tear import factor_tear
    from maml_strategy.backtest.skill import adaptation_gain, skill_report
    from maml_strategy.backtest.suite import panel_frame

    out = skill_table(skill, n_boot=n_boot)
    panel = panel_frame(panels)
    for model, extra in skill_report(panel, horizon=horizon, n_boot=n_boot).items():
        entry = out.setdefault(model, {})
        entry.update({k: v for k, v in extra.items() if k not in entry or k in ("per_year",)} | {
            "per_year_factor": extra.get("per_year")})
    tear = factor_tear(panel, horizon)  # alphalens' cross-sectional statistics; None without the [report] extra
    for model, t in (tear or {}).items():
        out.setdefault(model, {})["alphalens"] = t
    for adapted in kinds(adapts=True):
        gain = adaptation_gain(panel, rows, adapted, unadapted_twin(adapted), n_boot=n_boot)
        if gain is not None and adapted in out:
            out[adapted]["adaptation_gain"] = gain
    return out


def _mean(s: pd.Series | None) -> float | None:
    if s is None:
        return None
    v = pd.to_numeric(s, errors="coerce").dropna()
    return float(v.mean()) if len(v) else None


def comparisons(rows: pd.DataFrame, learner: str = "maml", *, n_boot: int = 2000) -> dict[str, Any]:
    """``learner`` minus every other strategy, for Sharpe and total return, with cluster-bootstrap CIs."""
    out: dict[str, Any] = {}
    for other in rows["strategy"].unique():
        if other == learner:
            continue
        metrics = ("sharpe", "total_return") + (("alpha",) if "alpha" in rows else ())
        out[f"{learner}_vs_{other}"] = {m: paired_comparison(rows, learner, str(other), m, n_boot=n_boot)
                                        for m in metrics}
    return out


def skill_table(skill: pd.DataFrame, *, n_boot: int = 2000) -> dict[str, Any]:
    """Per model: IC, hit rate and relative MSE with intervals over symbol-years, overall and per year."""
    out: dict[str, Any] = {}
    if skill.empty:
        return out
    for model, g in skill.groupby("model", sort=False):
        cells = g.groupby(["symbol", "year"], as_index=False)[["ic", "hit_rate", "rel_mse"]].mean()
        entry: dict[str, Any] = {k: mean_ci(cells, k, n_boot=n_boot) for k in ("ic", "hit_rate", "rel_mse")}
        ci = entry["ic"]["ci95"]
        entry["measurable_skill"] = bool(ci is not None and (ci[0] > 0 or ci[1] < 0))
        entry["per_year"] = {}
        for year, gy in cells.groupby("year"):
            ic = gy["ic"].dropna()
            se = float(ic.std(ddof=1) / np.sqrt(len(ic))) if len(ic) > 1 else float("nan")
            entry["per_year"][int(year)] = {"ic": float(ic.mean()) if len(ic) else None,
                                            "ic_ci95": [float(ic.mean() - 1.96 * se), float(ic.mean() + 1.96 * se)]
                                            if np.isfinite(se) else None,
                                            "hit_rate": float(gy["hit_rate"].mean()), "symbols": int(len(ic))}
        out[str(model)] = entry
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 100:+.1f}%"


def _ci(c: dict[str, Any] | None, scale: float = 1.0, unit: str = "") -> str:
    if not c or c.get("mean_diff") is None:
        return "n/a"
    lo, hi = c["ci95"]
    return f"{c['mean_diff'] * scale:+.2f}{unit} ({lo * scale:+.2f}, {hi * scale:+.2f}), ahead in {c['share_ahead'] * 100:.0f}%"


def format_walk_forward(summary: dict[str, Any]) -> str:
    """Readable tables: aggregate per strategy, paired comparisons with CIs, skill per model."""
    lines = ["| strategy | mean Sharpe | median Sharpe | mean return | median return | alpha vs B&H (95% CI) | beta | "
             "worst DD | mean exposure | exp. bear-hv | exp. other |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, a in summary["aggregate"].items():
        ci = a.get("alpha_ci95")
        alpha = _pct(a.get("alpha")) + (f" ({_pct(ci[0])}, {_pct(ci[1])})" if ci else "")
        beta = "n/a" if a.get("beta") is None else f"{a['beta']:.2f}"
        lines.append(f"| {name} | {a['mean_sharpe']:.2f} | {a['median_sharpe']:.2f} | {_pct(a['mean_return'])} | "
                     f"{_pct(a['median_return'])} | {alpha} | {beta} | {a['worst_drawdown'] * 100:.1f}% | "
                     f"{a['mean_exposure'] * 100:.0f}% | {_pct(a['mean_exposure_bear_high_vol'])} | "
                     f"{_pct(a['mean_exposure_other_regimes'])} |")
    lines += ["", "Paired differences, mean over symbol-years (95% CI: bootstrap resampling symbols and years):", "",
              "| comparison | Sharpe diff | return diff (pp) |", "|---|---|---|"]
    for name, c in summary["comparisons"].items():
        lines.append(f"| {name} | {_ci(c.get('sharpe'))} | {_ci(c.get('total_return'), 100.0)} |")
    rows = pd.DataFrame(summary.get("results", []))
    if not rows.empty:
        years = rows.groupby(["year", "strategy"], sort=False)["total_return"].mean().unstack("strategy")
        names = list(summary["aggregate"])
        lines += ["", "Mean total return per test year (over symbols and seeds):", "",
                  "| year | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for year, r in years.iterrows():
            lines.append(f"| {year} | " + " | ".join(_pct(r.get(n)) for n in names) + " |")
    if summary.get("skill"):
        lines += ["", "Skill on the test bars (mean over symbol-years, 95% CI):", "",
                  "| model | IC | hit rate | MSE / MSE(0) | skill |", "|---|---|---|---|---|"]
        for model, s in summary["skill"].items():
            ic, hit, rel = s["ic"], s["hit_rate"], s["rel_mse"]
            fmt = lambda d, k=1.0, p=3: "n/a" if d["mean"] is None else (  # noqa: E731
                f"{d['mean'] * k:.{p}f} ({d['ci95'][0] * k:.{p}f}, {d['ci95'][1] * k:.{p}f})")
            lines.append(f"| {model} | {fmt(ic)} | {fmt(hit, 100.0, 1)}% | {fmt(rel)} | "
                         f"{'measurable' if s['measurable_skill'] else 'none measurable'} |")
        models = list(summary["skill"])
        years = sorted({y for m in models for y in summary["skill"][m]["per_year"]})
        lines += ["", "IC per test year, mean over symbols (95% CI from the spread across symbols):", "",
                  "| year | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
        for y in years:
            cells = []
            for m in models:
                e = summary["skill"][m]["per_year"].get(y) or summary["skill"][m]["per_year"].get(str(y))
                if not e or e.get("ic") is None:
                    cells.append("n/a")
                else:
                    ci = e.get("ic_ci95")
                    cells.append(f"{e['ic']:+.3f}" + (f" ({ci[0]:+.3f}, {ci[1]:+.3f})" if ci else ""))
            lines.append(f"| {y} | " + " | ".join(cells) + " |")
        lines += _factor_skill_lines(summary["skill"])
    return "\n".join(lines)


def _mci(d: Any, p: int = 3) -> str:
    """``+0.012 (-0.003, +0.027)`` from ``{"mean", "ci95"}`` (or a bare number)."""
    if isinstance(d, dict):
        m, ci = d.get("mean"), d.get("ci95")
    else:
        m, ci = d, None
    if m is None or not np.isfinite(m):
        return "n/a"
    return f"{m:+.{p}f}" + (f" ({ci[0]:+.{p}f}, {ci[1]:+.{p}f})" if ci and None not in ci else "")


def _factor_skill_lines(skill: dict[str, Any]) -> list[str]:
    """The factor-aware skill table (tradable label) and the adaptation gain, with its per-regime split."""
    lines = ["", "Skill beyond the factors (tradable label: next open -> open 5 bars later; ts = per symbol-year, "
             "cs = per date across symbols, Newey-West t):", "",
             "| model | ts IC | cs IC (95% CI, t) | timing IC | selection IC | IC beyond reversal+momentum | "
             "hit rate, demeaned | up share |", "|---|---|---|---|---|---|---|---|"]
    for model, s in skill.items():
        if "ts_ic" not in s:
            continue
        t = s.get("cs_ic_t")
        cs = _mci({"mean": s.get("cs_ic"), "ci95": s.get("cs_ic_ci95")}) + ("" if t is None else f", t {t:+.1f}")
        hit, up = s.get("hit_rate_demeaned") or {}, s.get("up_share") or {}
        share = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        lines.append(f"| {model} | {_mci(s['ts_ic'])} | {cs} | {_mci(s.get('timing_ic'))} | "
                     f"{_mci(s.get('selection_ic'))} | {_mci(s.get('resid_ic'))} | {share(hit.get('mean'))} | "
                     f"{share(up.get('mean'))} |")
    tears = {m: s["alphalens"] for m, s in skill.items() if s.get("alphalens")}
    if tears:
        lines += ["", "alphalens (cross-section per date, raw tradable 5-bar return; quintiles demeaned per date, bp):",
                  "", "| model | cs IC | Q1 | Q2 | Q3 | Q4 | Q5 | Q5 - Q1 | turnover Q5 |", "|---" * 9 + "|"]
        for model, t in tears.items():
            q = " | ".join(f"{v:+.1f}" for v in t["quantile_mean_bp"])
            turn = "n/a" if t.get("turnover_top") is None else f"{100 * t['turnover_top']:.0f}%"
            lines.append(f"| {model} | {t['cs_ic']:+.3f} | {q} | {t['top_minus_bottom_bp']:+.1f} | {turn} |")
    gains = {m: s["adaptation_gain"] for m, s in skill.items() if s.get("adaptation_gain")}
    if gains:
        regimes = sorted({r for g in gains.values() for r in (g.get("per_regime") or {})})
        lines += ["", "Adaptation gain (adapted minus the same model with adaptation off, paired by symbol-year; "
                  "alpha in pp a year; IC on the tradable label):", "",
                  "| model | alpha gain | IC gain | bias reduction | " + " | ".join(f"IC gain {r}" for r in regimes)
                  + " |", "|---" * (4 + len(regimes)) + "|"]
        for model, g in gains.items():
            a = g.get("alpha") or {}
            alpha = "n/a" if a.get("mean") is None else (
                f"{100 * a['mean']:+.2f}" + (f" ({100 * a['ci95'][0]:+.2f}, {100 * a['ci95'][1]:+.2f})"
                                             if a.get("ci95") else ""))
            per = g.get("per_regime") or {}
            lines.append(f"| {model} | {alpha} | {_mci(g.get('ic'))} | {_mci(g.get('bias'))} | "
                         + " | ".join(_mci(per.get(r)) for r in regimes) + " |")
    return lines


_HEATMAP_DPI = 110
_HEATMAP_MIN_WIDTH_PX = 800


def _fit_suptitle(fig: Any, text: str, fontsize: float = 10.0) -> Any:
    """Set ``text`` as the figure title, wrapped on words until it fits inside the figure's width."""
    import textwrap

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    limit = 0.96 * fig.bbox.width
    width = len(text)
    while True:
        title = fig.suptitle(textwrap.fill(text, width), fontsize=fontsize)
        if title.get_window_extent(renderer).width <= limit or width <= 20:
            return title
        width = int(width * 0.85)


def _heatmap_figure(diff: pd.DataFrame, title: str) -> Any:
    """The figure of :func:`plot_heatmap`, sized from the grid: 0.55 in per year, 0.17 in per symbol.

    At least 800 px wide at the saved dpi; tick labels keep a fixed legible size
    (years 8 pt, symbols 7 pt) because the cells grow with the labels, not the reverse.
    """
    import matplotlib.pyplot as plt

    n_sym, n_year = diff.shape
    width = max(_HEATMAP_MIN_WIDTH_PX / _HEATMAP_DPI + 0.1, 2.6 + 0.55 * n_year)
    height = max(3.2, 1.9 + 0.17 * n_sym)
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    values = diff.to_numpy(dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    lim = float(np.percentile(finite, 95)) if finite.size else 1.0
    im = ax.imshow(values, aspect="auto", cmap="RdBu", vmin=-(lim or 1.0), vmax=lim or 1.0, interpolation="nearest")
    ax.set_xticks(range(n_year), [str(c) for c in diff.columns], fontsize=8, rotation=90 if n_year > 24 else 0)
    ax.set_yticks(range(n_sym), [str(i) for i in diff.index], fontsize=7)
    ax.set_xlabel("test year", fontsize=9)
    ax.set_ylabel("symbol", fontsize=9)
    fig.colorbar(im, ax=ax, label="percentage points", shrink=min(0.8, 0.45 + 0.05 * n_sym),
                 aspect=max(12.0, min(40.0, 0.45 * n_sym)))
    _fit_suptitle(fig, title)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at the report dpi and close it, also when saving fails."""
    import matplotlib.pyplot as plt

    out = Path(path)
    try:
        fig.savefig(out, dpi=_HEATMAP_DPI)
    finally:
        plt.close(fig)
    return out


def plot_heatmap(rows: pd.DataFrame, path: str | Path, learner: str = "maml") -> Path | None:
    """Heat map of symbols x years: ``learner``'s return minus the best no-net control's return in that cell.

    The figure is sized from the number of symbols and years (1 x 1 up to 89 x 16
    and beyond): at least 800 px wide, the title wrapped to fit, labels at a fixed size.

    Args:
        rows: one row per (symbol, year, strategy) with ``total_return`` (the walk-forward's results).
        path: where the PNG goes.
        learner: the strategy compared with the controls.

    Returns:
        ``path``, or None when ``rows`` lack ``learner`` or every no-net control.

    Example:
        >>> rows = pd.DataFrame({"symbol": "SPY", "year": 2008, "strategy": ["maml", "sma200"],
        ...                      "total_return": [-0.1, -0.04]})
        >>> plot_heatmap(rows, "heatmap.png")  # doctest: +SKIP
        PosixPath('heatmap.png')
    """
    import matplotlib

    matplotlib.use("Agg")

    cell = rows.groupby(["symbol", "year", "strategy"])["total_return"].mean().unstack("strategy")
    controls = [c for c in kinds(seedless=True) if c in cell.columns]  # the tradable no-net controls
    if learner not in cell.columns or not controls:
        return None
    diff = (cell[learner] - cell[controls].max(axis=1)).unstack("year") * 100.0
    title = f"{learner} return minus the best no-net control ({', '.join(controls)}) per symbol and test year, " \
            "percentage points (blue: {learner} better)".replace("{learner}", learner)
    fig = _heatmap_figure(diff, title)
    return _save(fig, path)


def mean_equity(panels: list[dict[str, Any]]) -> pd.DataFrame:
    """Growth of 1 for every strategy: per date the mean daily return over the symbols (first seed),
    compounded over the test years (dates x strategies).

    Example:
        >>> p = [{"symbol": s, "seed": 0, "dates": ["2012-01-03", "2012-01-04"],
        ...       "strategy_ret": {"maml": [0.01, r], "buy_and_hold": [0.0, 0.02]}} for s, r in (("A", 0.0), ("B", 0.02))]
        >>> mean_equity(p).round(4).to_dict("list")
        {'maml': [1.01, 1.0201], 'buy_and_hold': [1.0, 1.02]}
    """
    first = min((int(p.get("seed", 0)) for p in panels if p.get("dates")), default=0)
    parts = [pd.DataFrame(p["strategy_ret"], index=pd.DatetimeIndex(p["dates"]), dtype=float).assign(_sym=p["symbol"])
             for p in panels if p.get("dates") and p.get("strategy_ret") and int(p.get("seed", 0)) == first]
    if not parts:
        return pd.DataFrame()
    daily = pd.concat(parts).drop(columns="_sym").groupby(level=0, sort=True).mean()
    return (1.0 + daily.fillna(0.0)).cumprod()


def _equity_figure(curves: pd.DataFrame, title: str) -> Any:
    """One line per strategy (log scale), the legend outside the axes on the right."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11.0, 5.0), layout="constrained")
    for name in curves.columns:
        ax.plot(curves.index, curves[name], lw=2.0 if name in ("maml", "buy_and_hold") else 1.0, label=name)
    ax.set_yscale("log")
    ax.set_ylabel("growth of 1 (log scale)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _fit_suptitle(fig, title)
    return fig


def plot_mean_equity(panels: list[dict[str, Any]], path: str | Path) -> Path | None:
    """The mean equity curve of every strategy over the walk-forward (:func:`mean_equity`) as a PNG.

    Args:
        panels: the backtest tasks' panels (``dates``, ``symbol``, ``seed``, ``strategy_ret``).
        path: where the PNG goes.

    Returns:
        ``path``, or None when no panel carries strategy returns.

    Example:
        >>> plot_mean_equity(res["panels"], "equity_mean.png")  # doctest: +SKIP
        PosixPath('equity_mean.png')
    """
    import matplotlib

    matplotlib.use("Agg")

    curves = mean_equity(panels)
    if curves.empty:
        return None
    n = len({p["symbol"] for p in panels if p.get("dates")})
    fig = _equity_figure(curves, f"Mean equity of every strategy over {n} symbol(s): each day the mean daily "
                                 "return over the symbols, compounded across the test years (first seed)")
    return _save(fig, path)

"""Headless backtest report a trader can read (matplotlib Agg, one PNG per call).

* :func:`plot_report` — cumulative return in % per strategy over regime shading,
  with a drawdown panel in %, markers at each model adaptation and the
  legends outside the data.
* :func:`plot_monthly_heatmap` — monthly returns in %, one heat map per strategy.
* :func:`daily_returns` — daily simple returns from equity curves (input of the heat map
  and of :func:`maml_strategy.backtest.tearsheet.write_tearsheet`).

Regimes are shaded in pale blues (bull), ambers (bear) and greys (sideways),
darker for high volatility; strategy lines use strong colours, distinct line
styles and sparse markers, so a line lying under another one stays visible.
No torch or backtrader import here.

Example:
    >>> import pandas as pd
    >>> idx = pd.bdate_range("2020-01-01", periods=60)
    >>> eq = pd.DataFrame({"maml": range(100, 160), "buy_and_hold": range(100, 160)}, index=idx, dtype=float)
    >>> regimes = pd.Series(["bull_low_vol"] * 30 + ["bear_high_vol"] * 30, index=idx)
    >>> plot_report(eq, regimes, "report.png", "demo",
    ...             adaptations={"maml": [idx[30]]})  # doctest: +SKIP
    >>> plot_monthly_heatmap(daily_returns(eq), "monthly.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # backtrader's cerebro.plot() forces TkAgg and fails headless; draw ourselves
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from maml_strategy.backtest.metrics import daily_returns  # noqa: E402  (re-exported)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from maml_strategy.errors import DataError  # noqa: E402

__all__ = ["plot_report", "report_figure", "plot_monthly_heatmap", "daily_returns", "REGIME_COLORS", "STRATEGY_STYLES"]

# Pale fills: blue = bull, amber = bear, grey = sideways; the darker shade = high volatility.
REGIME_COLORS: dict[str, str] = {
    "bull_low_vol": "#e8f0f9", "bull_high_vol": "#c9dcef",
    "bear_low_vol": "#fdf3de", "bear_high_vol": "#fae0b4",
    "sideways_low_vol": "#f2f2f2", "sideways_high_vol": "#d4d4d4",
}

# Strong colours, each with its own line style and marker (markers every few bars),
# so identical curves (e.g. static == buy-and-hold) remain distinguishable.
STRATEGY_STYLES: dict[str, dict[str, Any]] = {
    "maml": {"color": "#c1121f", "ls": "-", "lw": 2.2, "marker": None, "z": 6},
    "static": {"color": "#1d4ed8", "ls": (0, (5, 2)), "lw": 1.7, "marker": "s", "z": 5},
    "naive_finetune": {"color": "#15803d", "ls": "-.", "lw": 1.7, "marker": "^", "z": 5},
    "buy_and_hold": {"color": "#111111", "ls": "-", "lw": 3.0, "marker": None, "z": 3, "alpha": 0.55},
}
_EXTRA_STYLES: tuple[dict[str, Any], ...] = (
    {"color": "#7b2cbf", "ls": (0, (1, 1.5)), "lw": 2.0, "marker": "o"},
    {"color": "#b45309", "ls": (0, (6, 2, 1, 2)), "lw": 1.7, "marker": "D"},
    {"color": "#0f766e", "ls": (0, (3, 1, 1, 1, 1, 1)), "lw": 1.7, "marker": "v"},
    {"color": "#be185d", "ls": "--", "lw": 1.7, "marker": "P"},
    {"color": "#4d7c0f", "ls": ":", "lw": 2.2, "marker": "X"},
    {"color": "#334155", "ls": (0, (8, 3)), "lw": 1.5, "marker": "*"},
)


def _styles(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    out, k = {}, 0
    for name in names:
        if name in STRATEGY_STYLES:
            out[name] = dict(STRATEGY_STYLES[name])
        else:
            out[name] = {**_EXTRA_STYLES[k % len(_EXTRA_STYLES)], "z": 4}
            k += 1
    return out


def _as_frame(data: pd.DataFrame | Mapping[str, pd.Series], what: str) -> pd.DataFrame:
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
    if frame.empty or frame.shape[1] == 0:
        raise DataError(f"{what} is empty; pass one column per strategy")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{what} needs a DatetimeIndex (dates of the test bars), got {type(frame.index).__name__}")
    return frame.astype("float64")


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
    return path


def _regime_spans(regimes: pd.Series, index: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    """``(start, end, regime)`` runs; each run ends where the next begins (no gaps)."""
    values = [getattr(r, "value", r) for r in regimes.reindex(index).tolist()]
    spans, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        if isinstance(values[i], str) and values[i] in REGIME_COLORS:
            end = index[j + 1] if j + 1 < len(index) else index[j] + pd.Timedelta(days=1)
            spans.append((index[i], end, values[i]))
        i = j + 1
    return spans


def report_figure(
    equity: pd.DataFrame,
    regimes: pd.Series,
    title: str = "",
    *,
    adaptations: Mapping[str, Iterable[Any]] | None = None,
    drawdown: bool = True,
    start_value: float | None = None,
) -> Figure:
    """The figure of :func:`plot_report` (for notebooks); close it with ``plt.close(fig)``."""
    eq = _as_frame(equity, "equity")
    base = float(start_value) if start_value is not None else eq.iloc[0]
    ret = (eq / base - 1.0) * 100.0
    dd = (eq / eq.cummax() - 1.0) * 100.0
    styles = _styles(eq.columns)
    n = len(eq)
    mark_every = max(1, n // 12)

    fig = plt.figure(figsize=(13, 7.8 if drawdown else 5.6))
    grid = fig.add_gridspec(2 if drawdown else 1, 1, height_ratios=[3, 1.35] if drawdown else [1], hspace=0.08,
                            left=0.07, right=0.78, top=0.93, bottom=0.08)
    ax1 = fig.add_subplot(grid[0])
    axes = [ax1]
    if drawdown:
        axes.append(fig.add_subplot(grid[1], sharex=ax1))
    seen_regimes: list[str] = []
    for start, end, reg in _regime_spans(regimes, eq.index):
        for ax in axes:
            ax.axvspan(start, end, color=REGIME_COLORS[reg], lw=0, zorder=0)
        if reg not in seen_regimes:
            seen_regimes.append(reg)

    for k, col in enumerate(eq.columns):
        st = styles[col]
        common = dict(color=st["color"], ls=st["ls"], lw=st["lw"], zorder=st["z"], alpha=st.get("alpha", 1.0))
        if st["marker"]:
            common.update(marker=st["marker"], markersize=5, markevery=(k * max(1, mark_every // 4) % mark_every, mark_every),
                          markerfacecolor="white", markeredgecolor=st["color"], markeredgewidth=1.2)
        ax1.plot(ret.index, ret[col], label=col, **common)
        if drawdown:
            axes[1].plot(dd.index, dd[col], **common)

    adapt_handle = None
    for col, dates in (adaptations or {}).items():
        if col not in ret.columns:
            continue
        ts = pd.DatetimeIndex(pd.to_datetime(list(dates)))
        pos = ret.index.searchsorted(ts)
        pos = pos[(pos < n) & (ts >= ret.index[0])]
        if len(pos) == 0:
            continue
        color = styles[col]["color"]
        adapt_handle = ax1.scatter(ret.index[pos], ret[col].to_numpy()[pos], marker="v", s=64, color=color,
                                   edgecolor="black", linewidth=0.8, zorder=10)

    ax1.axhline(0.0, color="#555555", lw=0.8, zorder=1)
    ax1.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax1.set_ylabel("cumulative return")
    ax1.grid(True, color="white", lw=0.8, alpha=0.9, zorder=1)
    ax1.set_title(title, fontsize=12, loc="left")
    ax1.set_xlim(eq.index[0], eq.index[-1])
    handles, labels = ax1.get_legend_handles_labels()
    labels = [f"{lab}  {ret[lab].iloc[-1]:+.1f}%" for lab in labels]
    if adapt_handle is not None:
        handles.append(Line2D([], [], marker="v", ls="", color="#777777", markeredgecolor="black", markersize=8))
        labels.append("model adaptation")
    strategy_legend = ax1.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                                 frameon=False, title="strategy (total return)", title_fontsize=9, alignment="left")
    last = axes[-1]
    if drawdown:
        ax2 = axes[1]
        ax2.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax2.set_ylabel("drawdown")
        ax2.grid(True, color="white", lw=0.8, alpha=0.9, zorder=1)
        plt.setp(ax1.get_xticklabels(), visible=False)
        ax1.xaxis.get_offset_text().set_visible(False)
    if seen_regimes:
        order = [r for r in REGIME_COLORS if r in seen_regimes]
        reg_handles = [Patch(facecolor=REGIME_COLORS[r], edgecolor="#999999", lw=0.5) for r in order]
        if last is ax1:  # one panel: a second legend() would replace the strategies' legend
            ax1.add_artist(strategy_legend)
        last.legend(reg_handles, [r.replace("_", " ") for r in order], loc="lower left", bbox_to_anchor=(1.01, 0.0),
                    fontsize=9, frameon=False, title="regime (shading)", title_fontsize=9, alignment="left")
    locator = mdates.AutoDateLocator()
    last.xaxis.set_major_locator(locator)
    last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return fig


def plot_report(
    equity: pd.DataFrame,
    regimes: pd.Series,
    path: str | Path,
    title: str = "",
    *,
    adaptations: Mapping[str, Iterable[Any]] | None = None,
    drawdown: bool = True,
    start_value: float | None = None,
    dpi: int = 120,
) -> Path:
    """Draw cumulative return (%) and drawdown (%) per strategy over regime shading; write one PNG.

    Args:
        equity: one column per strategy, portfolio value per test bar (up to ~10 strategies).
        regimes: confirmed regime per bar (``Regime`` or its string value; None/NaN = not shaded).
        path: PNG to write (folders are created).
        title: figure title.
        adaptations: strategy name -> dates of its model adaptations, marked on that line
            (e.g. ``{"maml": [...], "naive_finetune": [...]}``); dates between bars snap to
            the next bar.
        drawdown: add the drawdown panel.
        start_value: value before the first bar (returns start at 0 % from it); None = the first bar.
        dpi: resolution.

    Returns:
        The written path.

    Raises:
        DataError: empty equity or no DatetimeIndex.
    """
    fig = report_figure(equity, regimes, title, adaptations=adaptations, drawdown=drawdown, start_value=start_value)
    return _save(fig, path, dpi)


def _monthly(returns: pd.Series) -> pd.DataFrame:
    """Years x 12 months table of compounded monthly returns in %."""
    monthly = (1.0 + returns.fillna(0.0)).groupby([returns.index.year, returns.index.month]).prod() - 1.0
    table = monthly.unstack(level=1).reindex(columns=range(1, 13)) * 100.0
    table.index.name, table.columns.name = "year", "month"
    return table


def plot_monthly_heatmap(
    returns_by_strategy: pd.DataFrame | Mapping[str, pd.Series],
    path: str | Path,
    title: str = "Monthly returns",
    *,
    dpi: int = 120,
) -> Path:
    """One monthly-returns heat map (years x months, in %) per strategy, stacked in one PNG.

    Args:
        returns_by_strategy: daily simple returns, one column (or dict entry) per strategy
            (see :func:`daily_returns`).
        path: PNG to write.
        title: figure title.
        dpi: resolution.

    Returns:
        The written path.

    Raises:
        DataError: empty input or no DatetimeIndex.
    """
    rets = _as_frame(returns_by_strategy, "returns_by_strategy")
    tables = {name: _monthly(rets[name]) for name in rets.columns}
    finite = np.concatenate([t.to_numpy().ravel() for t in tables.values()])
    finite = finite[np.isfinite(finite)]
    lim = max(1.0, float(np.nanpercentile(np.abs(finite), 98))) if len(finite) else 1.0
    n_years = max(len(t) for t in tables.values())
    total_rows = sum(len(t) for t in tables.values())
    row_h = min(0.42, 30.0 / total_rows)  # keep the figure under ~40 inches for many strategies x years
    heights = [row_h * len(t) + 0.55 for t in tables.values()]
    fig, axes = plt.subplots(len(tables), 1, figsize=(11, sum(heights) + 1.0), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    cmap = plt.get_cmap("RdYlGn")
    image = None
    for ax, (name, table) in zip(axes[:, 0], tables.items()):
        values = table.to_numpy()
        image = ax.imshow(values, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                label = f"{v:+.1f}"
                ax.text(j, i, "0.0" if label in ("+0.0", "-0.0") else label, ha="center", va="center", fontsize=8,
                        color="white" if abs(v) > 0.65 * lim else "black")
        ax.set_yticks(range(len(table)), [str(y) for y in table.index], fontsize=8)
        ax.set_xticks(range(12), ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
                      fontsize=8)
        total = (1.0 + rets[name].fillna(0.0)).prod() - 1.0
        ax.set_title(f"{name}  (total {100 * total:+.1f}%)", fontsize=10, loc="left")
        ax.tick_params(length=0)
    fig.suptitle(title, fontsize=12, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 0.92, 0.98 if n_years > 1 else 0.97))
    if image is not None:
        cax = fig.add_axes((0.93, 0.15, 0.015, 0.7))
        cbar = fig.colorbar(image, cax=cax)
        cbar.ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        cbar.ax.tick_params(labelsize=8)
    return _save(fig, path, dpi)

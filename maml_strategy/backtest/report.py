"""Headless report: equity of every strategy, drawdown, regime shading (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # backtrader's cerebro.plot() forces TkAgg and fails headless; draw ourselves
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["plot_report", "REGIME_COLORS"]

REGIME_COLORS = {
    "bull_low_vol": "#c7e9c0", "bull_high_vol": "#74c476", "bear_low_vol": "#fcbba1",
    "bear_high_vol": "#ef3b2c", "sideways_low_vol": "#deebf7", "sideways_high_vol": "#9ecae1",
}


def plot_report(equity: pd.DataFrame, regimes: pd.Series, path: str | Path, title: str = "") -> Path:
    """Draw equity (normalised to 1) and drawdown per strategy over regime shading.

    Args:
        equity: one column per strategy, portfolio value per test bar.
        regimes: confirmed regime value per test bar (strings or None).
        path: PNG to write.
        title: figure title.

    Returns:
        The written path.
    """
    path = Path(path)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    norm = equity / equity.iloc[0]
    reg = regimes.reindex(equity.index)
    start = None
    for i, (d, r) in enumerate(reg.items()):
        nxt = reg.iloc[i + 1] if i + 1 < len(reg) else object()
        if start is None:
            start = d
        if nxt != r:
            if isinstance(r, str) and r in REGIME_COLORS:
                end = reg.index[i + 1] if i + 1 < len(reg) else d
                for ax in (ax1, ax2):
                    ax.axvspan(start, end, color=REGIME_COLORS[r], alpha=0.35, lw=0)
            start = None
    for col in norm.columns:
        ax1.plot(norm.index, norm[col], label=col, lw=1.6 if col in ("maml", "buy_and_hold") else 1.1)
        dd = norm[col] / norm[col].cummax() - 1.0
        ax2.plot(dd.index, dd, lw=1.0)
    ax1.set_ylabel("equity (start = 1)")
    ax1.legend(loc="best", fontsize=8)
    ax2.set_ylabel("drawdown")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in REGIME_COLORS.values()]
    ax2.legend(handles, list(REGIME_COLORS), loc="lower left", fontsize=6, ncol=3)
    ax1.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

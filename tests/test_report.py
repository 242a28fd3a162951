"""Backtest report PNGs: percent axes, drawdown panel, adaptation markers, legends outside the data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from maml_strategy.backtest.report import (
    REGIME_COLORS,
    daily_returns,
    plot_monthly_heatmap,
    plot_report,
    report_figure,
)
from maml_strategy.errors import DataError

NAMES = ["maml", "static", "naive_finetune", "buy_and_hold", "regime_rule", "sma200", "exposure_matched", "gbdt",
         "extra1", "extra2"]


@pytest.fixture(scope="module")
def equity() -> pd.DataFrame:
    idx = pd.bdate_range("2020-01-01", "2020-12-31")
    rng = np.random.default_rng(0)
    r = rng.normal(0.0004, 0.012, size=(len(idx), len(NAMES)))
    r[:, 1] = r[:, 3]  # static identical to buy-and-hold: the case where one line hides another
    return pd.DataFrame(100_000 * np.cumprod(1 + r, axis=0), index=idx, columns=NAMES)


@pytest.fixture(scope="module")
def regimes(equity) -> pd.Series:
    names = list(REGIME_COLORS)
    return pd.Series([names[(i // 40) % len(names)] for i in range(len(equity))], index=equity.index).mask(
        equity.index < "2020-01-10")


def test_plot_report_writes_one_png(equity, regimes, tmp_path: Path) -> None:
    path = plot_report(equity, regimes, tmp_path / "sub" / "report.png", "demo")  # the old call still works
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.rglob("*.png")) == [path]


def test_report_figure_layout(equity, regimes) -> None:
    adapt = list(equity.index[[30, 90, 150]]) + [pd.Timestamp("2019-06-01")]  # one before the window: dropped
    fig = report_figure(equity, regimes, "demo", adaptations={"maml": adapt, "unknown": adapt}, start_value=100_000)
    try:
        ax1, ax2 = fig.axes[:2]
        assert ax1.yaxis.get_major_formatter().__class__.__name__ == "PercentFormatter"
        assert ax2.get_ylabel() == "drawdown" and max(max(line.get_ydata()) for line in ax2.get_lines()) <= 0.0
        maml_line = next(line for line in ax1.get_lines() if line.get_label() == "maml")
        expected = (equity["maml"] / 100_000 - 1) * 100
        np.testing.assert_allclose(maml_line.get_ydata(), expected.to_numpy())
        markers = [c for c in ax1.collections if c.get_offsets().shape[0] == 3]
        assert len(markers) == 1  # three adaptation dates inside the window, none for an unknown strategy
        styles = {(line.get_color(), str(line.get_linestyle()), line.get_marker()) for line in ax1.get_lines()
                  if line.get_label() in NAMES}
        assert len(styles) == len(NAMES)  # every strategy distinguishable
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        data_right = ax1.get_window_extent(renderer).x1
        for ax in (ax1, ax2):
            legend = ax.get_legend()
            assert legend is not None and legend.get_window_extent(renderer).x0 > data_right
        line_colors = {line.get_color() for line in ax1.get_lines()}
        assert not line_colors & set(REGIME_COLORS.values())
    finally:
        plt.close(fig)


def test_monthly_heatmap(equity, tmp_path: Path) -> None:
    rets = daily_returns(equity, 100_000)
    assert rets.iloc[0, 0] == pytest.approx(equity.iloc[0, 0] / 100_000 - 1)
    path = plot_monthly_heatmap(rets, tmp_path / "monthly.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    from maml_strategy.backtest.report import _monthly

    table = _monthly(rets["maml"])
    jan = equity["maml"].loc["2020-01"].iloc[-1] / 100_000 - 1
    assert table.loc[2020, 1] == pytest.approx(100 * jan)
    assert table.shape == (1, 12)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="DatetimeIndex"):
        plot_report(pd.DataFrame({"a": [1.0, 2.0]}), pd.Series(dtype=object), tmp_path / "x.png")
    with pytest.raises(DataError, match="empty"):
        plot_monthly_heatmap({}, tmp_path / "y.png")


def test_report_legends_sit_outside_the_axes_but_inside_the_figure(equity, regimes) -> None:
    fig = report_figure(equity, regimes, "demo", start_value=100_000)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes[:2]:
            legend = ax.get_legend()
            if legend is None:
                continue
            box = legend.get_window_extent(renderer)
            assert box.x0 > ax.get_window_extent(renderer).x1  # never over the data
            assert box.x1 <= fig.bbox.x1 + 1  # and not cut off
    finally:
        plt.close(fig)

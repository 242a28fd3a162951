"""The walk-forward heat map is sized from its grid: >= 800 px wide, title inside the figure, labels legible."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from maml_strategy.backtest.wf_report import _heatmap_figure, plot_heatmap  # noqa: E402


def _rows(n_sym: int, n_year: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    recs = [{"symbol": f"S{i:02d}", "year": 2008 + y, "strategy": k, "total_return": float(rng.normal(0.05, 0.2))}
            for i in range(n_sym) for y in range(n_year) for k in ("maml", "regime_rule", "sma200")]
    return pd.DataFrame(recs)


@pytest.mark.parametrize("n_sym, n_year", [(1, 1), (3, 2), (89, 16)])
def test_heatmap_size_title_and_labels(n_sym: int, n_year: int, tmp_path: Path) -> None:
    path = plot_heatmap(_rows(n_sym, n_year), tmp_path / "heatmap.png")
    height_px, width_px = mpimg.imread(path).shape[:2]
    assert width_px >= 800
    assert height_px >= 300
    rows = _rows(n_sym, n_year)
    cell = rows.groupby(["symbol", "year", "strategy"])["total_return"].mean().unstack("strategy")
    diff = (cell["maml"] - cell[["regime_rule", "sma200"]].max(axis=1)).unstack("year") * 100
    fig = _heatmap_figure(diff, "maml return minus the best no-net control (regime_rule, sma200) per symbol and "
                                "test year, percentage points (blue: maml better)")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        box = fig.bbox
        title = fig.get_suptitle()
        extent = fig._suptitle.get_window_extent(renderer)
        assert title.replace("\n", " ").startswith("maml return minus")
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and extent.y1 <= box.y1, (extent, box)
        ax = fig.axes[0]
        ylabels = [t for t in ax.get_yticklabels() if t.get_text()]
        assert len(ylabels) == n_sym and min(t.get_fontsize() for t in ylabels) >= 7
        spans = sorted((t.get_window_extent(renderer).y0, t.get_window_extent(renderer).y1) for t in ylabels)
        assert all(a[1] <= b[0] + 0.5 for a, b in zip(spans, spans[1:])), "symbol labels overlap"
        xlabels = sorted((t.get_window_extent(renderer).x0, t.get_window_extent(renderer).x1)
                         for t in ax.get_xticklabels() if t.get_text())
        assert all(a[1] <= b[0] for a, b in zip(xlabels, xlabels[1:])), "year labels overlap"
        for t in [*ylabels, *ax.get_xticklabels()]:
            e = t.get_window_extent(renderer)
            assert box.x0 <= e.x0 and e.x1 <= box.x1 and box.y0 <= e.y0, "a label is cut off"
    finally:
        plt.close(fig)


def test_heatmap_without_controls_is_none(tmp_path: Path) -> None:
    rows = _rows(2, 2)
    assert plot_heatmap(rows[rows.strategy == "maml"], tmp_path / "h.png") is None


def _panels(kinds: tuple[str, ...], n_sym: int = 3, n_days: int = 300) -> list[dict]:
    rng = np.random.default_rng(0)
    dates = [str(d.date()) for d in pd.bdate_range("2012-01-02", periods=n_days)]
    return [{"symbol": f"S{s}", "seed": 0, "year": 2012, "dates": dates,
             "strategy_ret": {k: list(rng.normal(0.0005 * i, 0.01, n_days)) for i, k in enumerate(kinds)}}
            for s in range(n_sym)]


def test_mean_equity_compounds_the_mean_daily_return_and_ignores_other_seeds() -> None:
    from maml_strategy.backtest.wf_report import mean_equity

    panels = _panels(("maml", "buy_and_hold"))
    other = {**panels[0], "seed": 1, "strategy_ret": {"maml": [0.5] * 300, "buy_and_hold": [0.5] * 300}}
    curves = mean_equity(panels + [other])
    mean = np.mean([p["strategy_ret"]["maml"] for p in panels], axis=0)
    np.testing.assert_allclose(curves["maml"].to_numpy(), np.cumprod(1 + mean))
    assert list(curves.columns) == ["maml", "buy_and_hold"]


def test_mean_equity_plot_reads_with_the_legend_outside_every_line(tmp_path: Path) -> None:
    from maml_strategy.backtest.wf_report import _equity_figure, mean_equity, plot_mean_equity

    kinds = ("maml", "maml_unadapted", "static", "naive_finetune", "gbdt", "reversal", "momentum", "regime_rule",
             "sma200", "exposure_matched", "buy_and_hold")
    out = plot_mean_equity(_panels(kinds), tmp_path / "equity_mean.png")
    h, w = mpimg.imread(out).shape[:2]
    assert w >= 800 and h >= 400
    fig = _equity_figure(mean_equity(_panels(kinds)), "title")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert len(ax.get_legend().get_texts()) == len(kinds)
    assert legend.x0 >= ax.get_window_extent().x1  # outside the axes: it covers no line
    assert legend.x1 <= fig.bbox.x1 + 1  # and inside the figure
    plt.close(fig)
    assert plot_mean_equity([], tmp_path / "none.png") is None

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

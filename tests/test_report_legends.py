"""report.png with every strategy and adaptation markers: no legend covers data, none is cut off or overlaps another."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.legend import Legend

from maml_strategy.backtest.report import REGIME_COLORS, report_figure
from maml_strategy.config import KINDS


@pytest.mark.parametrize("drawdown", [True, False])
def test_legends_never_cover_data_with_every_strategy_and_markers(drawdown: bool) -> None:
    idx = pd.bdate_range("2008-01-01", "2008-12-31")
    rng = np.random.default_rng(3)
    names = list(KINDS)
    equity = pd.DataFrame(100_000 * np.cumprod(1 + rng.normal(0.0, 0.02, (len(idx), len(names))), axis=0),
                          index=idx, columns=names)
    regimes = pd.Series([list(REGIME_COLORS)[(i // 15) % len(REGIME_COLORS)] for i in range(len(idx))], index=idx)
    adaptations = {name: list(idx[5::17]) for name in ("maml", "naive_finetune", "maml_unadapted")}
    fig = report_figure(equity, regimes, "SPY 2008 (trained 1995..2007, seeds=5), total return",
                        adaptations=adaptations, drawdown=drawdown, start_value=100_000)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        data_boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
        legends = [a for ax in fig.axes for a in ax.get_children() if isinstance(a, Legend)]
        assert len(legends) == 2  # strategies (with the adaptation marker) and regimes, on one panel too
        labels = [t.get_text() for t in legends[0].get_texts()]
        assert "model adaptation" in labels and len(labels) == len(names) + 1
        boxes = [leg.get_window_extent(renderer) for leg in legends]
        for box in boxes:
            assert all(not box.overlaps(data) for data in data_boxes)  # never over the lines or markers
            assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1  # nor cut off
            assert fig.bbox.y0 - 1 <= box.y0 and box.y1 <= fig.bbox.y1 + 1
        assert not boxes[0].overlaps(boxes[1])  # nor over each other
    finally:
        plt.close(fig)

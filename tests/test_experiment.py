"""backtest.experiment: the IC interval counts overlapping labels once per the configured horizon."""

from __future__ import annotations

import pytest

from maml_strategy.backtest import custom_period
from maml_strategy.backtest.experiment import ExperimentResult

PERIOD = custom_period("2002-01-01", "2007-12-31", "2008-01-01", "2008-12-31")


def _ci(horizon: int) -> list[float]:
    skill = {"maml": [{"ic": 0.05, "hit_rate": 0.52, "rel_mse": 0.99, "n": 1000}]}
    res = ExperimentResult("SYN", PERIOD, [0], runs={}, skill=skill, horizon=horizon)
    return res.summary()["skill"]["maml"]["ic_ci95"]


def test_ic_interval_uses_the_label_horizon() -> None:
    lo5, hi5 = _ci(5)
    lo20, hi20 = _ci(20)
    assert hi20 - lo20 > hi5 - lo5  # 1000 bars of 20-bar labels are 50 independent ones, not 200
    lo1, hi1 = _ci(1)
    assert hi1 - lo1 < hi5 - lo5
    assert lo5 < 0.05 < hi5
    assert hi5 - lo5 == pytest.approx(2 * 1.96 / (1000 / 5 - 3) ** 0.5, rel=0.05)

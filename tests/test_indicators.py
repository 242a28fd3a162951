"""Tests of maml_strategy.indicators.RegimeIndicator (backtrader layer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from maml_strategy.errors import ConfigError
from maml_strategy.indicators import RegimeIndicator
from maml_strategy.regime import Regime, RegimeConfig, RegimeDetector

@pytest.fixture(scope="module")
def spy95(spy: pd.DataFrame) -> pd.DataFrame:
    return spy.loc["1995-01-01":]


class _Record(bt.Strategy):
    params = (("config", None),)

    def __init__(self) -> None:
        self.ind = RegimeIndicator(self.data, config=self.p.config)
        self.seen: list[tuple[float, float, Regime | None]] = []

    def next(self) -> None:
        self.seen.append((self.ind.regime[0], self.ind.transition[0], self.ind.current))


def _run(df: pd.DataFrame, runonce: bool, config: RegimeConfig | None = None) -> _Record:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df[["open", "high", "low", "close", "volume"]]))
    cerebro.addstrategy(_Record, config=config)
    return cerebro.run(runonce=runonce)[0]


def _expected(df: pd.DataFrame, config: RegimeConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    codes, trans = RegimeDetector(config).label_codes(df)
    return np.where(codes < 0, np.nan, codes.astype(float)), trans.astype(float)


def _check(strat: _Record, df: pd.DataFrame, config: RegimeConfig | None = None) -> None:
    regime, trans = _expected(df, config)
    got_r = np.array(strat.ind.lines.regime.array)
    got_t = np.array(strat.ind.lines.transition.array)
    assert len(got_r) == len(df)
    np.testing.assert_array_equal(got_r, regime)  # NaN == NaN here
    np.testing.assert_array_equal(got_t, trans)
    # values seen by the strategy bar by bar agree with the lines
    seen_r = np.array([s[0] for s in strat.seen])
    np.testing.assert_array_equal(seen_r, regime)
    labels = RegimeDetector(config).label(df)
    assert [s[2] for s in strat.seen] == list(labels)


@pytest.mark.parametrize("runonce", [True, False])
def test_indicator_matches_detector_on_spy95(spy95: pd.DataFrame, runonce: bool) -> None:
    strat = _run(spy95, runonce)
    _check(strat, spy95)
    assert np.isnan(strat.ind.lines.regime.array[:264]).all()
    assert strat.ind.lines.transition.array[264] == 1.0


@pytest.mark.parametrize("runonce", [True, False])
def test_indicator_synthetic_with_config(runonce: bool) -> None:
    from maml_strategy.data import synthetic_ohlcv

    df = synthetic_ohlcv(700, seed=4)
    cfg = RegimeConfig(min_dwell=2, vol_median_window=100)
    _check(_run(df, runonce, cfg), df, cfg)


def test_indicator_rejects_bad_config() -> None:
    from maml_strategy.data import synthetic_ohlcv

    with pytest.raises(ConfigError):
        _run(synthetic_ohlcv(50, seed=0), True, config={"min_dwell": 2})  # type: ignore[arg-type]


def test_core_does_not_import_backtrader() -> None:
    code = (
        "import sys; import maml_strategy.regime, maml_strategy.features.extractor; "
        "assert 'backtrader' not in sys.modules, 'core imported backtrader'"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)

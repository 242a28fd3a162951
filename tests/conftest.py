"""Shared pytest fixtures: deterministic seeds and paths to the shared real data."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# The real-data tests need SPY.csv and GSPC.csv. A missing folder fails the run (CI must not pass
# on skipped tests) unless MAML_STRATEGY_ALLOW_NO_DATA=1 says that skipping them is intended.
DATA_ENV = "MAML_STRATEGY_DATA"  # same variable as maml_strategy.data.load_ohlcv's first search place
ALLOW_NO_DATA_ENV = "MAML_STRATEGY_ALLOW_NO_DATA"


def real_data_dir() -> Path:
    """``$MAML_STRATEGY_DATA`` if set, else ``../shared/data`` next to the repository."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else SHARED_DATA


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def spy_csv() -> Path:
    path = real_data_dir() / "SPY.csv"
    if not path.is_file():
        msg = (
            f"real data not found: {path} does not exist. Put SPY.csv and GSPC.csv in {SHARED_DATA} or point "
            f"${DATA_ENV} at a folder holding them; to skip the real-data tests on purpose set {ALLOW_NO_DATA_ENV}=1"
        )
        if os.environ.get(ALLOW_NO_DATA_ENV) == "1":
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)
    return path


@pytest.fixture(scope="session")
def spy(spy_csv: Path):
    from maml_strategy.data import read_csv_ohlcv

    return read_csv_ohlcv(spy_csv)


@pytest.fixture
def no_report_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run.py``/``write_outputs`` write ``report.png`` and ``monthly_returns.png`` empty, not drawn (~3 s a run).

    For tests that read only the run's tables; tests/test_backtest.py::test_real_spy_end_to_end_cli draws them
    through the CLI and tests/test_report.py checks the figures themselves.
    """
    import maml_strategy.backtest.experiment as experiment

    monkeypatch.setattr(experiment, "plot_report", lambda *args, **kwargs: None)
    monkeypatch.setattr(experiment, "plot_monthly_heatmap", lambda *args, **kwargs: None)

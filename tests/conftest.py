"""Shared pytest fixtures: deterministic seeds and paths to the shared real data."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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
    path = SHARED_DATA / "SPY.csv"
    if not path.is_file():
        pytest.skip(f"real data not available at {path}")
    return path


@pytest.fixture(scope="session")
def spy(spy_csv: Path):
    from maml_strategy.data import read_csv_ohlcv

    return read_csv_ohlcv(spy_csv)

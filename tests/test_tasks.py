"""Tests of TaskSampler / TaskBatch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from maml_strategy.errors import ConfigError, DataError
from maml_strategy.tasks import TaskSampler


@dataclass
class Seg:
    regime: str
    start_pos: int
    end_pos: int


def _data(n: int = 600, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.normal(size=n)
    X[[10, 50, 51, 130], 2] = np.nan
    y[[70, 200]] = np.nan
    y[-5:] = np.nan
    return X, y


def _segments() -> list[Seg]:
    return [Seg("bull", 0, 149), Seg("bear", 150, 299), Seg("side", 300, 449), Seg("bull", 450, 599)]


def test_shapes_and_values() -> None:
    X, y = _data()
    s = TaskSampler(_segments(), X, y, support_size=16, query_size=8, horizon=5, seed=1)
    b = s.sample(6)
    assert b.support_x.shape == (6, 16, 5) and b.support_y.shape == (6, 16)
    assert b.query_x.shape == (6, 8, 5) and b.query_y.shape == (6, 8)
    assert b.support_x.dtype == torch.float32 and len(b) == 6 and len(b.regimes) == 6
    np.testing.assert_array_equal(b.support_x.numpy(), X[b.support_pos])
    np.testing.assert_allclose(b.query_y.numpy(), y[b.query_pos].astype(np.float32))
    for t in (b.support_x, b.support_y, b.query_x, b.query_y):
        assert torch.isfinite(t).all()


@pytest.mark.parametrize("replace", [False, True])
def test_support_precedes_query_with_gap(replace: bool) -> None:
    X, y = _data()
    segs = _segments()
    s = TaskSampler(segs, X, y, support_size=16, query_size=8, horizon=5, replace=replace, seed=3)
    b = s.sample(40)
    for i in range(len(b)):
        sp, qp = b.support_pos[i], b.query_pos[i]
        assert qp.min() - sp.max() >= 5, "a support label overlaps the query window"
        seg = segs[b.segment_ids[i]]
        assert seg.start_pos <= sp.min() and qp.max() <= seg.end_pos
        assert b.regimes[i] == seg.regime
        if not replace:
            assert len(set(sp) | set(qp)) == 16 + 8, "sample reused within a task"
            assert np.all(np.diff(sp) > 0) and np.all(np.diff(qp) > 0)


def test_balanced_round_robin() -> None:
    X, y = _data()
    s = TaskSampler(_segments(), X, y, support_size=16, query_size=8, seed=0)
    b = s.sample(12)
    assert Counter(b.regimes) == {"bull": 4, "bear": 4, "side": 4}
    # the cycle continues across calls
    b1, b2 = s.sample(2), s.sample(1)
    assert Counter(b1.regimes + b2.regimes) == {"bull": 1, "bear": 1, "side": 1}


def test_deterministic_given_seed() -> None:
    X, y = _data()
    a = TaskSampler(_segments(), X, y, support_size=16, query_size=8, seed=7).sample(9)
    b = TaskSampler(_segments(), X, y, support_size=16, query_size=8, seed=7).sample(9)
    c = TaskSampler(_segments(), X, y, support_size=16, query_size=8, seed=8).sample(9)
    np.testing.assert_array_equal(a.support_pos, b.support_pos)
    assert torch.equal(a.query_x, b.query_x)
    assert not np.array_equal(a.support_pos, c.support_pos)


def test_short_segments_dropped_and_counted() -> None:
    X, y = _data()
    segs = _segments() + [Seg("bear", 0, 20), Seg("crash", 100, 120)]
    s = TaskSampler(segs, X, y, support_size=16, query_size=8, horizon=5)
    assert s.dropped_segments == 2
    summ = s.summary()
    assert summ["bear"]["dropped"] == 1 and summ["crash"]["eligible"] == 0
    assert "crash" not in s.tasks_available and s.tasks_available["bull"] > 0
    assert all(r != "crash" for r in s.sample(12).regimes)


def test_too_few_samples_raises_with_numbers() -> None:
    X, y = _data()
    with pytest.raises(DataError, match=r"support 64 \+ gap 5 \+ query 100"):
        TaskSampler(_segments(), X, y, support_size=64, query_size=100, horizon=5)


def test_replace_allows_short_segments() -> None:
    X, y = _data()
    s = TaskSampler([Seg("bull", 0, 30)], X, y, support_size=32, query_size=16, horizon=5, replace=True)
    b = s.sample(3)
    assert b.support_x.shape == (3, 32, 5)
    assert (b.query_pos.min(axis=1) - b.support_pos.max(axis=1) >= 5).all()


def test_bad_inputs() -> None:
    X, y = _data()
    with pytest.raises(DataError, match="labels"):
        TaskSampler(_segments(), X, y[:-1])
    with pytest.raises(DataError, match="outside"):
        TaskSampler([Seg("bull", 500, 700)], X, y)
    with pytest.raises(ConfigError):
        TaskSampler(_segments(), X, y, support_size=0)
    s = TaskSampler(_segments(), X, y, support_size=8, query_size=4)
    with pytest.raises(ConfigError):
        s.sample(0)


def test_real_regime_segments() -> None:
    import maml_strategy.regime as regime
    import pandas as pd

    X, y = _data()
    idx = pd.bdate_range("2000-01-03", periods=len(X))
    segs = [
        regime.RegimeSegment(regime.Regime.BULL_LOW_VOL, idx[0], idx[299], 300, 0, 299),
        regime.RegimeSegment(regime.Regime.BEAR_HIGH_VOL, idx[300], idx[599], 300, 300, 599),
    ]
    b = TaskSampler(segs, X, y, support_size=16, query_size=8).sample(4)
    assert set(b.regimes) == {regime.Regime.BULL_LOW_VOL, regime.Regime.BEAR_HIGH_VOL}


def test_enumerate_tasks_deterministic_and_gapped() -> None:
    X, y = _data()
    s = TaskSampler(_segments(), X, y, support_size=16, query_size=8, horizon=5)
    a, b = s.enumerate_tasks(), s.enumerate_tasks()
    assert len(a) > 10 and np.array_equal(a.support_pos, b.support_pos)
    assert (a.query_pos.min(axis=1) - a.support_pos.max(axis=1) >= 5).all()
    assert len(s.enumerate_tasks(stride=1)) == sum(s.tasks_available.values())
    with pytest.raises(ConfigError):
        s.enumerate_tasks(stride=0)

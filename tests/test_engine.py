"""SignalEngine: support windows use only known labels and match the batch computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from maml_strategy.config import FeatureConfig, TradingConfig
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.engine import SignalEngine, exposure_from_prediction
from maml_strategy.features import FeatureScaler, MultiTimeframeExtractor, forward_returns, tradable_returns


class LinearLearner:
    """A tiny learner with the Learner surface, for engine tests."""

    def __init__(self, d: int, scaler: FeatureScaler) -> None:
        g = torch.Generator().manual_seed(0)
        self.w = {"w": torch.randn(d, generator=g) * 0.01}
        self.scaler = scaler
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def predict(self, x, params=None):
        return x @ (params or self.w)["w"]

    def support_loss(self, x, y, params=None):
        return float(((self.predict(x, params) - y) ** 2).mean())

    def adapt(self, x, y, steps=None, lr=None):
        self.calls.append((x.clone(), y.clone()))
        w = self.w["w"].clone()
        for _ in range(steps or 3):
            grad = 2 * x.T @ (x @ w - y) / len(y)
            w = w - (lr or 1e-3) * grad
        return {"w": w}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_ohlcv(1400, seed=5).drop(columns=["regime"])


@pytest.fixture(scope="module")
def batch(frame):
    ex = MultiTimeframeExtractor()
    feats = ex.transform(frame)
    x = feats.flat()
    scaler = FeatureScaler().fit(x[feats.valid][:400])
    return x, feats.valid, scaler


def test_support_window_matches_batch_labels_and_features(frame, batch) -> None:
    x, valid, scaler = batch
    learner = LinearLearner(x.shape[1], scaler)
    engine = SignalEngine(learner, adapt=True, support_size=16)
    y_batch = forward_returns(frame, 5, 20).to_numpy()
    adapted_at = []
    for i, row in enumerate(frame.itertuples()):
        dec = engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        if dec.adaptation is not None:
            adapted_at.append(i)
            sx, sy = learner.calls[-1]
            # the support samples are the (up to 16) rows ending `horizon` bars before the decision bar
            assert 8 <= len(sy) <= 16
            pos = np.arange(i - 5 - len(sy) + 1, i - 5 + 1)
            np.testing.assert_allclose(sy.numpy(), y_batch[pos], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(sx.numpy(), scaler.transform(x[pos]), rtol=1e-5, atol=1e-5)
            assert dec.transition or engine.trading.readapt_every
            rec = dec.adaptation
            assert pd.Timestamp(rec.support_end) == frame.index[i - 5]
            assert rec.loss_after <= rec.loss_before
    assert adapted_at, "synthetic data with planted regimes must produce transitions"


def test_tradable_label_support_ends_one_bar_earlier(frame, batch) -> None:
    """features.label = tradable: support labels are open(i+1) -> open(i+1+h), and the newest
    support row is t - h - 1 (its label ends at today's open), never t - h."""
    x, valid, scaler = batch
    learner = LinearLearner(x.shape[1], scaler)
    engine = SignalEngine(learner, adapt=True, support_size=16, features=FeatureConfig(label="tradable"))
    y_batch = tradable_returns(frame, 5, 20).to_numpy()
    n = 0
    for i, row in enumerate(frame.itertuples()):
        dec = engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        if dec.adaptation is not None:
            n += 1
            sx, sy = learner.calls[-1]
            pos = np.arange(i - 6 - len(sy) + 1, i - 6 + 1)
            np.testing.assert_allclose(sy.numpy(), y_batch[pos], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(sx.numpy(), scaler.transform(x[pos]), rtol=1e-5, atol=1e-5)
            assert pd.Timestamp(dec.adaptation.support_end) == frame.index[i - 6]
    assert n > 3


def test_no_adaptation_without_transition(frame, batch) -> None:
    _, _, scaler = batch
    learner = LinearLearner(scaler.n_features, scaler)
    engine = SignalEngine(learner, adapt=True, support_size=16)
    for row in frame.itertuples():
        dec = engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        assert (dec.adaptation is not None) <= dec.transition
    assert all(a.reason == "transition" for a in engine.adaptations)


def test_readapt_every(frame, batch) -> None:
    _, _, scaler = batch
    learner = LinearLearner(scaler.n_features, scaler)
    engine = SignalEngine(learner, adapt=True, support_size=16, trading=TradingConfig(readapt_every=50))
    for row in frame.iloc[:1000].itertuples():
        engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
    assert any(a.reason == "readapt" for a in engine.adaptations)


def test_static_engine_never_adapts(frame, batch) -> None:
    _, _, scaler = batch
    learner = LinearLearner(scaler.n_features, scaler)
    engine = SignalEngine(learner, adapt=False, support_size=16)
    for row in frame.iloc[:900].itertuples():
        engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
    assert not learner.calls and not engine.adaptations


def test_exposure_mapping() -> None:
    long_only = TradingConfig(max_exposure=0.5)
    assert exposure_from_prediction(0.3, long_only, 1.0) == 0.5
    assert exposure_from_prediction(-0.3, long_only, 1.0) == 0.0
    assert exposure_from_prediction(float("nan"), long_only, 1.0) == 0.0
    short = TradingConfig(max_exposure=0.5, allow_short=True)
    assert exposure_from_prediction(-0.3, short, 1.0) == -0.5
    linear = TradingConfig(max_exposure=1.0, position_mode="linear", signal_scale=2.0)
    assert exposure_from_prediction(1.0, linear, 2.0) == 0.5
    assert exposure_from_prediction(9.0, linear, 2.0) == 1.0


def test_flat_regimes_override_the_prediction(frame, batch) -> None:
    """trading.flat_regimes: flat in those confirmed regimes, the prediction's target elsewhere."""
    from maml_strategy.errors import ConfigError

    _, _, scaler = batch
    learner = LinearLearner(scaler.n_features, scaler)
    learner.predict = lambda x, params=None: torch.ones(x.shape[0])  # always long unless gated
    flat = ("bear_low_vol", "bear_high_vol")
    plain = SignalEngine(learner, adapt=False, support_size=16)
    gated = SignalEngine(learner, adapt=False, support_size=16, trading=TradingConfig(flat_regimes=flat))
    seen = set()
    for row in frame.itertuples():
        a = plain.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        b = gated.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        in_flat = a.regime is not None and a.regime.value in flat
        assert b.target == (0.0 if in_flat else a.target)
        seen.add((in_flat, a.target > 0))
    assert {(True, True), (False, True)} <= seen  # both branches were exercised
    with pytest.raises(ConfigError, match="not regimes"):
        TradingConfig(flat_regimes=("bearish",))

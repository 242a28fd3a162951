"""Tests of the static (Phase-1) baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from maml_strategy.errors import ConfigError, DataError, ModelError
from maml_strategy.learners import load_learner
from maml_strategy.learners.static import StaticConfig, StaticModel, time_split, train_static

SMALL = dict(num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=16)  # D = 7


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 7)).astype(np.float32)
    y = X[:, 0] - 0.5 * X[:, 3] + 0.1 * rng.normal(size=n)
    X[5, 2] = np.nan
    y[-5:] = np.nan
    return X, y


def _fit(**cfg) -> StaticModel:
    X, y = _data()
    return train_static(X, y, StaticConfig(epochs=cfg.pop("epochs", 15), **cfg), model_kwargs=SMALL)


def test_time_split_has_gap() -> None:
    pos = np.array([0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    train, val = time_split(13, pos, 0.25, horizon=3)
    assert list(val) == [10, 11, 12]
    assert train.max() + 3 < val.min()  # the last training label ends before the first validation row
    assert list(train) == [0, 1, 2, 4, 5, 6]


def test_train_static_learns_and_records_history() -> None:
    m = _fit(epochs=40, lr=0.005, batch_size=64)
    h = m.history
    assert h["val_loss"][h["best_epoch"] - 1] == h["best_val_loss"] == min(h["val_loss"])
    assert h["best_val_loss"] < 0.25 * h["val_loss"][0], (h["val_loss"][0], h["best_val_loss"])
    assert h["n_train"] + h["n_val"] <= 600 - 6 and h["n_val"] == int(np.ceil(0.2 * 594))
    X, y = _data()
    assert m.predict(X[10:20]).shape == (10,)


def test_train_static_deterministic() -> None:
    a, b = _fit(epochs=3), _fit(epochs=3)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_early_stopping() -> None:
    m = _fit(epochs=50, patience=2, min_delta=1e9)
    assert m.history["stopped_early"] and len(m.history["epoch"]) == 3


def test_static_adapt_is_fine_tuning_and_pure() -> None:
    m = _fit(epochs=2)
    before = [p.detach().clone() for p in m.model.parameters()]
    x, y = torch.randn(32, 7), torch.randn(32)
    p = m.adapt(x, y, steps=5, lr=0.05)
    assert m.support_loss(x, y, p) < m.support_loss(x, y)
    assert all(torch.equal(a, b) for a, b in zip(before, m.model.parameters()))
    # default steps/lr come from the config
    p_default = m.adapt(x, y)
    p_explicit = m.adapt(x, y, steps=m.config.finetune_steps, lr=m.config.finetune_lr)
    assert all(torch.equal(p_default[k], p_explicit[k]) for k in p_default)


def test_static_save_load_roundtrip(tmp_path: Path) -> None:
    from maml_strategy.features.scaler import FeatureScaler

    m = _fit(epochs=2)
    m.scaler = FeatureScaler().fit(np.random.default_rng(1).normal(size=(30, 7)))
    m.feature_names = list("abcdefg")
    path = tmp_path / "s.pt"
    m.save(path)
    loaded = StaticModel.load(path)
    x = torch.randn(9, 7)
    assert torch.equal(loaded.predict(x), m.predict(x))
    assert loaded.config == m.config and loaded.feature_names == list("abcdefg")
    assert loaded.history["best_epoch"] == m.history["best_epoch"]
    assert isinstance(load_learner(path), StaticModel)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(ModelError):
        StaticModel.load(path)


def test_bad_inputs() -> None:
    X, y = _data()
    with pytest.raises(ConfigError, match="columns"):
        train_static(X, y, StaticConfig(epochs=1))  # default net expects 143 columns
    with pytest.raises(DataError):
        train_static(X, y[:-1], StaticConfig(epochs=1), model_kwargs=SMALL)
    with pytest.raises(DataError, match="usable samples"):
        train_static(X[:2], y[:2], StaticConfig(epochs=1), model_kwargs=SMALL)
    with pytest.raises(ConfigError):
        StaticConfig(val_fraction=1.5)
    with pytest.raises(ConfigError, match="unknown"):
        StaticConfig.from_dict({"learning_rate": 1.0})

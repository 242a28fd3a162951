"""maml_strategy.positions: every position mode against a hand computation, causality, volatility scaling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from maml_strategy.config import TradingConfig
from maml_strategy.errors import ConfigError
from maml_strategy.positions import PositionMapper, exposure_from_prediction
from tests.helpers import TINY, load_script


def _run(cfg: TradingConfig, preds, closes=None) -> list[float]:
    m = PositionMapper(cfg)
    closes = [100.0] * len(preds) if closes is None else closes
    return [m.update(p, c) for p, c in zip(preds, closes)]


def test_sign_and_linear_unchanged() -> None:
    assert _run(TradingConfig(max_exposure=1.0), [0.2, -0.1, float("nan")]) == [1.0, 0.0, 0.0]
    assert _run(TradingConfig(max_exposure=1.0, allow_short=True), [0.2, -0.1]) == [1.0, -1.0]
    lin = TradingConfig(max_exposure=1.0, position_mode="linear", signal_scale=2.0)
    assert _run(lin, [1.0, 9.0, -1.0]) == [0.5, 1.0, 0.0]
    assert exposure_from_prediction(1.0, lin, 2.0) == 0.5
    with pytest.raises(ConfigError, match="PositionMapper"):
        exposure_from_prediction(1.0, TradingConfig(position_mode="rank"), 1.0)


def test_rank_by_hand() -> None:
    cfg = TradingConfig(position_mode="rank", rank_min_history=2, rank_window=3, max_exposure=1.0)
    preds = [0.1, 0.3, 0.2, 0.5, 0.3, 0.0]
    # bar 0, 1: fewer than 2 past predictions -> flat
    # bar 2: past [0.1, 0.3], 0.2 above one of two -> p = 0.5
    # bar 3: past [0.1, 0.3, 0.2] -> p = 1
    # bar 4: past [0.3, 0.2, 0.5] (window 3), 0.3 above 0.2, ties 0.3 -> (1 + 0.5) / 3
    # bar 5: past [0.2, 0.5, 0.3], 0.0 below all -> 0
    assert _run(cfg, preds) == pytest.approx([0.0, 0.0, 0.5, 1.0, 0.5, 0.0])
    short = TradingConfig(position_mode="rank", rank_min_history=2, rank_window=3, max_exposure=1.0, allow_short=True)
    assert _run(short, preds) == pytest.approx([0.0, 0.0, 0.0, 1.0, 0.0, -1.0])


def test_overlay_by_hand() -> None:
    cfg = TradingConfig(position_mode="overlay", rank_min_history=3, overlay_base=0.5, overlay_k=0.2, max_exposure=1.0)
    preds = [1.0, 2.0, 3.0, 4.0, -2.0]
    # bar 3: past [1, 2, 3]: mean 2, sd 1, z = 2 -> 0.5 + 0.4 = 0.9
    # bar 4: past [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3), z = -4.5 / 1.291 = -3.486 -> 0.5 - 0.697 -> clipped to 0
    assert _run(cfg, preds) == pytest.approx([0.0, 0.0, 0.0, 0.9, 0.0])
    short = TradingConfig(position_mode="overlay", rank_min_history=3, overlay_base=0.5, overlay_k=0.2,
                          max_exposure=1.0, allow_short=True)
    z = -4.5 / math.sqrt(5 / 3)
    assert _run(short, preds)[-1] == pytest.approx(0.5 + 0.2 * z)
    flat = TradingConfig(position_mode="overlay", rank_min_history=2, overlay_base=0.5)
    assert _run(flat, [1.0, 1.0, 1.0]) == [0.0, 0.0, 0.5]  # equal past predictions: z = 0 -> base


def test_vol_target_by_hand() -> None:
    cfg = TradingConfig(position_mode="vol_target", vol_target=0.1, vol_target_window=2, max_exposure=1.0)
    closes = [100.0, 101.0, 100.0, 102.0]
    out = _run(cfg, [1.0, 1.0, 1.0, -1.0], closes)
    r = [101 / 100 - 1, 100 / 101 - 1, 102 / 100 - 1]
    sig2 = np.std(r[:2], ddof=1) * math.sqrt(252)
    assert out[:3] == pytest.approx([0.0, 0.0, 0.1 / sig2])  # two returns needed; then sign x target / vol
    assert out[3] == 0.0  # sign base is flat on a negative prediction (long-only)
    on_rank = TradingConfig(position_mode="vol_target", vol_target_base="rank", vol_target=0.1, vol_target_window=2,
                            rank_min_history=2, max_exposure=1.0)
    out = _run(on_rank, [0.1, 0.3, 0.2, 0.5], closes)
    sig3 = np.std(r[1:], ddof=1) * math.sqrt(252)
    assert out == pytest.approx([0.0, 0.0, 0.5 * 0.1 / sig2, 1.0 * 0.1 / sig3])


def test_vol_target_scales_down_when_volatility_doubles() -> None:
    cfg = TradingConfig(position_mode="vol_target", vol_target=0.05, vol_target_window=20, max_exposure=1.0)
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 60)

    def last_exposure(scale: float) -> float:
        closes = 100 * np.cumprod(1 + scale * r)
        return _run(cfg, [1.0] * len(r), list(closes))[-1]

    e1, e2 = last_exposure(1.0), last_exposure(2.0)
    assert 0 < e1 < 1.0
    assert e2 == pytest.approx(e1 / 2, rel=0.02)  # the simple returns double exactly, so the vol does too


@pytest.mark.parametrize("mode", ["rank", "overlay", "vol_target"])
def test_uses_only_past_predictions(mode: str) -> None:
    cfg = TradingConfig(position_mode=mode, vol_target_base="rank", rank_window=30, rank_min_history=5)
    rng = np.random.default_rng(1)
    preds = list(rng.normal(size=80))
    closes = list(100 * np.cumprod(1 + rng.normal(0, 0.01, 80)))
    base = _run(cfg, preds, closes)
    for t in (10, 40, 79):
        changed = list(preds)
        changed[t] = 50.0
        moved_close = list(closes)
        moved_close[t] *= 1.3
        for p, c in ((changed, closes), (preds, moved_close)):
            out = _run(cfg, p, c)
            assert out[:t] == base[:t]  # nothing before t depends on bar t
    assert any(e != 0 for e in base)


@pytest.mark.parametrize("mode,base", [("sign", "sign"), ("linear", "sign"), ("rank", "sign"), ("overlay", "sign"),
                                       ("vol_target", "sign"), ("vol_target", "rank"), ("vol_target", "overlay")])
def test_long_only_never_negative_and_never_above_max(mode: str, base: str) -> None:
    rng = np.random.default_rng(2)
    cfg = TradingConfig(position_mode=mode, vol_target_base=base, overlay_k=2.0, vol_target=1.5)
    out = _run(cfg, list(rng.normal(size=300)), list(100 * np.cumprod(1 + rng.normal(0, 0.02, 300))))
    assert min(out) >= 0.0 and max(out) <= cfg.max_exposure
    short = TradingConfig(position_mode=mode, vol_target_base=base, overlay_k=2.0, vol_target=1.5, allow_short=True)
    out = _run(short, list(rng.normal(size=300)), list(100 * np.cumprod(1 + rng.normal(0, 0.02, 300))))
    assert min(out) >= -cfg.max_exposure and max(out) <= cfg.max_exposure
    if mode != "linear":
        assert min(out) < 0


@pytest.mark.parametrize("bad,match", [
    ({"rank_window": 1}, "rank_window"), ({"rank_min_history": 300}, "rank_min_history"),
    ({"overlay_base": 1.5}, "overlay_base"), ({"overlay_k": -1}, "overlay_k"), ({"vol_target": 0}, "vol_target"),
    ({"vol_target_window": 1}, "vol_target_window"), ({"position_mode": "ranks"}, "position_mode"),
    ({"vol_target_base": "linear"}, "vol_target_base"),
])
def test_config_range_checks(bad: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TradingConfig(**bad)


@pytest.mark.usefixtures("no_report_plots")
def test_run_py_with_rank_and_overlay(spy_csv, tmp_path) -> None:
    """`backtests/run.py --config <yaml>` with position_mode rank and overlay (tiny net, half a year, in-process)."""
    main = load_script("run.py").main
    exposures = {}
    for mode in ("rank", "overlay"):
        cfg = tmp_path / f"{mode}.yaml"
        cfg.write_text(yaml.safe_dump({**TINY, "trading": {"position_mode": mode, "rank_min_history": 20}}))
        out = tmp_path / mode
        rc = main(["--symbol", "SPY", "--data", str(spy_csv), "--train-start", "2001-01-01", "--train-end",
                   "2006-12-31", "--test-start", "2007-01-01", "--test-end", "2007-06-30", "--seeds", "1",
                   "--config", str(cfg), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
        assert rc == 0
        summary = json.loads((out / "summary.json").read_text())
        exposures[mode] = summary["strategies"]["maml"]["exposure"]
    for e in exposures.values():
        e = e["mean"] if isinstance(e, dict) else e
        assert 0.0 < e < 0.98  # a graded exposure, neither always flat nor always full

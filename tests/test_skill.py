"""Skill beyond factors: tradable label, factor signals, cross-sectional vs timing IC, residual IC, alpha/beta."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from maml_strategy.backtest.skill import adaptation_gain, cell_scores, skill_report
from maml_strategy.backtest.stats import alpha_beta
from maml_strategy.features import momentum, reversal, tradable_returns


def test_tradable_label_matches_independent_computation():
    rng = np.random.default_rng(3)
    n = 60
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opn = close * (1 + rng.normal(0, 0.003, n))
    df = pd.DataFrame({"open": opn, "close": close})
    h, vw = 5, 20
    y = tradable_returns(df, h, vw).to_numpy()
    for i in (vw, 30, n - h - 2):
        rets = [close[j] / close[j - 1] - 1 for j in range(i - vw + 1, i + 1)]
        sigma = np.std(rets, ddof=1)
        expect = (opn[i + 1 + h] / opn[i + 1] - 1) / (sigma * np.sqrt(h))
        assert y[i] == pytest.approx(expect, rel=1e-12)
    assert np.isnan(y[n - h - 1:]).all()  # needs open[i+1+h]
    assert np.isnan(y[: vw - 1]).all()


def test_factor_signals_against_hand_values():
    close = np.array([100.0, 102, 101, 103, 99, 98, 100, 104, 103, 105])
    r = reversal(close, horizon=2, vol_window=3)
    rets = [close[j] / close[j - 1] - 1 for j in (4, 5, 6)]
    expect = -(close[6] / close[4] - 1) / (np.std(rets, ddof=1) * np.sqrt(2))
    assert r[6] == pytest.approx(expect, rel=1e-12)
    assert np.isnan(r[:3]).all()
    m = momentum(close, lookback=6, skip=2)
    assert m[8] == pytest.approx(close[6] / close[2] - 1)
    assert np.isnan(m[:6]).all()


def _panel(kind: str, n_sym: int = 20, n_days: int = 250, seed: int = 0) -> pd.DataFrame:
    """Synthetic panel: label = market_t + idio_{s,t}; the prediction sees one part only."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2012-01-02", periods=n_days)
    market = rng.normal(size=n_days)
    parts = []
    for s in range(n_sym):
        idio = rng.normal(size=n_days)
        label = market + idio
        if kind == "selection":
            pred = idio + rng.normal(size=n_days)
        elif kind == "timing":
            pred = market + rng.normal(0, 0.5, n_days)
        else:
            pred = rng.normal(size=n_days)
        parts.append(pd.DataFrame({"symbol": f"S{s}", "year": 2012, "seed": 0, "model": "m", "date": dates,
                                   "pred": pred, "label": label, "ret": label / 100, "label_close": label,
                                   "regime": s % 6, "reversal": rng.normal(size=n_days),
                                   "momentum": rng.normal(size=n_days)}))
    return pd.concat(parts, ignore_index=True)


def test_cs_ic_finds_planted_selection_skill():
    s = skill_report(_panel("selection"), horizon=1, n_boot=200)["m"]
    assert s["cs_ic"] > 0.2 and s["cs_ic_t"] > 5
    assert s["selection_ic"]["mean"] > 0.2
    q = s["quantiles_within_date"]
    assert q[4] > q[0]


def test_pure_timing_has_no_cs_ic_but_timing_ic():
    s = skill_report(_panel("timing"), horizon=1, n_boot=200)["m"]
    assert abs(s["cs_ic"]) < 0.03
    assert s["timing_ic"]["mean"] > 0.5
    assert s["ts_ic"]["mean"] > 0.3


def test_noise_has_no_skill():
    s = skill_report(_panel("noise"), horizon=1, n_boot=200)["m"]
    lo, hi = s["ts_ic"]["ci95"]
    assert lo < 0 < hi
    assert abs(s["cs_ic"]) < 0.05


def test_model_equal_to_reversal_has_zero_residual_ic():
    p = _panel("selection")
    p["reversal"] = p["pred"] * 2.0 + 1.0  # the model IS the factor (a monotone copy)
    cells = cell_scores(p)
    assert cells["resid_ic"].abs().max() < 1e-9
    p2 = _panel("selection")
    assert cell_scores(p2)["resid_ic"].mean() > 0.2  # unrelated factors leave the skill in place


def test_bias_free_hit_rate_ignores_a_constant_bias():
    p = _panel("selection")
    p["pred"] = p["pred"] + 100.0  # always "up"
    c = cell_scores(p)
    assert c["up_share"].min() == 1.0
    assert c["hit_rate_demeaned"].mean() > 0.55


def test_buy_and_hold_against_itself_has_zero_alpha_unit_beta():
    r = pd.Series(np.random.default_rng(1).normal(0, 0.01, 250))
    ab = alpha_beta(r, r)
    assert ab["alpha"] == pytest.approx(0.0, abs=1e-12) and ab["beta"] == pytest.approx(1.0)
    half = alpha_beta(0.5 * r + 0.0001, r)
    assert half["beta"] == pytest.approx(0.5) and half["alpha"] == pytest.approx(0.0252)


def test_adaptation_gain_is_zero_when_adaptation_is_off():
    p = _panel("selection")
    both = pd.concat([p, p.assign(model="m_unadapted")], ignore_index=True)
    rows = pd.DataFrame({"symbol": ["S0", "S0"], "year": [2012, 2012], "seed": [0, 0],
                         "strategy": ["m", "m_unadapted"], "alpha": [0.03, 0.03]})
    g = adaptation_gain(both, rows, "m", "m_unadapted", n_boot=200)
    assert g["ic"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert g["bias"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert g["alpha"]["mean"] == pytest.approx(0.0, abs=1e-12)
    g2 = adaptation_gain(pd.concat([p, p.assign(model="m_unadapted", pred=p["pred"] + 3.0)]),
                         None, "m", "m_unadapted", n_boot=200)
    assert g2["bias"]["mean"] > 2.0  # the adapted model removed a level error of 3


def test_alphalens_agrees_with_the_cross_sectional_ic_and_finds_the_spread():
    """The [report] extra's alphalens statistics match skill.cross_section on the same panel."""
    pytest.importorskip("alphalens")
    from maml_strategy.backtest.factor_tear import factor_tear
    from maml_strategy.backtest.skill import cross_section

    sel, noise = _panel("selection"), _panel("noise", seed=1)
    ours = cross_section(sel, horizon=5)["m"]["cs_ic"]
    tear = factor_tear(sel, horizon=5, column="label")["m"]
    assert tear["cs_ic"] == pytest.approx(ours, abs=1e-9)  # per-date Spearman, averaged
    assert tear["cs_ic"] > 0.3 and tear["top_minus_bottom_bp"] > 0
    q = tear["quantile_mean_bp"]
    assert len(q) == 5 and q == sorted(q)  # monotone in the planted skill
    assert abs(factor_tear(noise, horizon=5, column="label")["m"]["cs_ic"]) < 0.03

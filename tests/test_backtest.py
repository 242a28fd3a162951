"""Strategies in backtrader and the backtest pipeline: no look-ahead, drop-in use, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
import torch

from maml_strategy.analyzers import add_recorders
from maml_strategy.backtest import custom_period, run_backtest, run_experiment, train_models, write_outputs
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.strategy import MAMLRegimeStrategy, StaticModelStrategy
from tests.helpers import run_script, tiny_config, tiny_config_file

PERIOD = custom_period("2002-01-01", "2007-12-31", "2008-01-01", "2008-12-31", name="synthetic")


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return synthetic_ohlcv(2500, seed=11).drop(columns=["regime"])


@pytest.fixture(scope="module")
def cfg():
    return tiny_config()


@pytest.fixture(scope="module")
def models(df, cfg):
    return train_models(df, cfg, PERIOD, seed=0, cache_dir=None)


def _perturb_after(df: pd.DataFrame, date: str, seed: int = 1) -> pd.DataFrame:
    out = df.copy()
    after = out.index > pd.Timestamp(date)
    rng = np.random.default_rng(seed)
    factor = np.exp(np.cumsum(rng.normal(0, 0.03, after.sum())))
    for col in ("open", "high", "low", "close"):
        out.loc[after, col] = out.loc[after, col].to_numpy() * factor
    out.loc[after, "volume"] = out.loc[after, "volume"].to_numpy() * 3
    return out


def _params(learner) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in learner.model.state_dict().items()}


def test_test_window_prices_do_not_touch_training(df, cfg, models) -> None:
    other = train_models(_perturb_after(df, "2007-12-31"), cfg, PERIOD, seed=0, cache_dir=None)
    for a, b in ((models.maml, other.maml), (models.static, other.static)):
        pa, pb = _params(a), _params(b)
        assert pa.keys() == pb.keys()
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
        np.testing.assert_array_equal(a.scaler.center, b.scaler.center)


def test_tradable_label_training_stops_before_the_test_window(df, cfg, models) -> None:
    """features.label = tradable (known one bar later): test-window opens do not touch training,
    and the label does change the model (so the check can fail)."""
    import dataclasses

    tcfg = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, label="tradable"))
    a = train_models(df, tcfg, PERIOD, seed=0, cache_dir=None)
    b = train_models(_perturb_after(df, "2007-12-31"), tcfg, PERIOD, seed=0, cache_dir=None)
    pa, pb = _params(a.maml), _params(b.maml)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    close = _params(models.maml)
    assert any(not torch.equal(pa[k], close[k]) for k in pa)


def test_training_data_change_changes_weights(df, cfg, models) -> None:
    """The check above can fail: perturbing *training* prices does change the weights."""
    other = train_models(_perturb_after(df, "2006-06-30"), cfg, PERIOD, seed=0, cache_dir=None)
    pa, pb = _params(models.maml), _params(other.maml)
    assert any(not torch.equal(pa[k], pb[k]) for k in pa)


@pytest.mark.parametrize("kind", ["maml", "naive_finetune"])
def test_no_lookahead_in_decisions(df, cfg, models, kind) -> None:
    model = models.maml if kind == "maml" else models.static
    cut = "2008-06-30"
    a = run_backtest(df, kind, cfg, PERIOD.test_start, PERIOD.test_end, model=model)
    b = run_backtest(_perturb_after(df, cut), kind, cfg, PERIOD.test_start, PERIOD.test_end, model=model)
    upto = pd.Timestamp(cut)
    da, db = a.decisions.loc[:upto], b.decisions.loc[:upto]
    pd.testing.assert_frame_equal(da[["regime", "transition", "prediction", "target", "adapted"]],
                                  db[["regime", "transition", "prediction", "target", "adapted"]])
    adapt_a = [{k: v for k, v in x.items() if k != "ms"} for x in a.adaptations if pd.Timestamp(x["date"]) <= upto]
    adapt_b = [{k: v for k, v in x.items() if k != "ms"} for x in b.adaptations if pd.Timestamp(x["date"]) <= upto]
    assert adapt_a == adapt_b
    fa = a.fills[a.fills["date"] <= upto].reset_index(drop=True)
    fb = b.fills[b.fills["date"] <= upto].reset_index(drop=True)
    pd.testing.assert_frame_equal(fa, fb)
    # and the perturbation is real: decisions after the cut differ
    assert not a.decisions.loc[upto:, "prediction"].equals(b.decisions.loc[upto:, "prediction"])


def test_adaptations_only_on_transitions_with_known_labels(df, cfg, models) -> None:
    res = run_backtest(df, "maml", cfg, PERIOD.test_start, PERIOD.test_end, model=models.maml)
    dec = res.decisions
    assert res.adaptations, "the synthetic test year has regime transitions"
    for rec in res.adaptations:
        d = pd.Timestamp(rec["date"])
        assert bool(dec.loc[d, "transition"]) and bool(dec.loc[d, "adapted"])
        # the last support sample's label ends at or before the decision bar
        pos_end = dec.index.get_loc(pd.Timestamp(rec["support_end"]))
        assert pos_end + cfg.features.horizon <= dec.index.get_loc(d)
        assert rec["loss_after"] <= rec["loss_before"] + 1e-9
    assert dec["adapted"].sum() >= len(res.adaptations)
    assert not dec.loc[~dec["transition"].astype(bool), "adapted"].any()


def test_no_orders_before_trade_start(df, cfg, models) -> None:
    res = run_backtest(df, "static", cfg, PERIOD.test_start, PERIOD.test_end, model=models.static)
    assert len(res.fills) > 0, "the static model trades in the synthetic test year; no fills means nothing was checked"
    assert res.fills["date"].min() > PERIOD.test_start - pd.Timedelta(days=1)
    assert (res.decisions.loc[: PERIOD.test_start - pd.Timedelta(days=1), "target"] == 0).all()


def _yahoo_csv(df: pd.DataFrame, path: Path) -> Path:
    out = df.rename(columns=str.title).assign(**{"Adj Close": df["close"]})
    out.index.name = "Date"
    out[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(path)
    return path


@pytest.mark.parametrize("runonce,preload", [(True, True), (False, False)])
def test_drop_in_yahoo_csv_feed(df, cfg, models, tmp_path, runonce, preload) -> None:
    path = _yahoo_csv(df.loc["2005-01-01":"2008-12-31"], tmp_path / "X.csv")
    model_path = tmp_path / "maml.pt"
    models.maml.save(model_path)
    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.YahooFinanceCSVData(dataname=str(path), adjclose=False))
    cerebro.addstrategy(MAMLRegimeStrategy, model_path=str(model_path), config=cfg, trade_start="2008-01-01")
    add_recorders(cerebro)
    strat = cerebro.run(runonce=runonce, preload=preload)[0]
    assert len(strat.analyzers.decisions.get_analysis()) == len(df.loc["2005-01-01":"2008-12-31"])
    assert strat.adaptations and strat.analyzers.fills.get_analysis()
    assert cerebro.broker.getvalue() != cfg.trading.cash


def test_drop_in_pandas_feed_and_optstrategy(df, cfg, models) -> None:
    cerebro = bt.Cerebro(maxcpus=1, optreturn=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df.loc["2005-01-01":"2008-12-31"]))
    cerebro.optstrategy(StaticModelStrategy, model=[models.static], config=[cfg], max_exposure=[0.5, 0.9],
                        trade_start=["2008-01-01"])
    add_recorders(cerebro)
    runs = cerebro.run()
    assert len(runs) == 2
    values = sorted(r[0].analyzers.decisions.get_analysis()[-1]["value"] for r in runs)  # the broker object is shared across runs
    assert values[0] != values[1]


def test_buy_and_hold_needs_no_model(df, cfg) -> None:
    res = run_backtest(df, "buy_and_hold", cfg, PERIOD.test_start, PERIOD.test_end)
    assert len(res.fills) == 1 and res.metrics["exposure"] > 0.9


def test_missing_model_is_a_clear_error(df, cfg) -> None:
    from maml_strategy.errors import ModelError

    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.PandasData(dataname=df.iloc[:300]))
    cerebro.addstrategy(MAMLRegimeStrategy, config=cfg)
    with pytest.raises(ModelError, match="needs a model"):
        cerebro.run()


def test_fixed_seed_reproduces_summary(df, cfg, tmp_path) -> None:
    runs = []
    for i in range(2):
        res = run_experiment(df, cfg, PERIOD, symbol="SYN", seeds=[0], cache_dir=tmp_path / f"cache{i}",
                             progress=False)
        s = res.summary()
        for t in s["training"]:
            t.pop("seconds")
        runs.append(s)
        if i == 1:
            paths = write_outputs(res, tmp_path / "out")
    assert json.dumps(runs[0], sort_keys=True, default=str) == json.dumps(runs[1], sort_keys=True, default=str)
    summary = json.loads(paths["summary"].read_text())
    assert set(summary["strategies"]) == {"maml", "maml_unadapted", "static", "naive_finetune", "gbdt", "reversal",
                                          "momentum", "regime_rule", "sma200", "exposure_matched", "buy_and_hold"}
    assert summary["strategies"]["buy_and_hold"]["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert summary["strategies"]["buy_and_hold"]["beta"] == pytest.approx(1.0)
    assert summary["strategies"]["reversal"]["alpha"] is not None
    assert summary["price_basis"] == "total" and set(summary["skill"]) >= {"maml", "maml_unadapted", "static", "gbdt"}
    for key in ("period", "symbol", "train", "test", "seeds"):
        assert key in summary
    assert summary["strategies"]["maml"]["per_seed"][0]["adaptations"] >= 1
    cmp = summary["comparisons"]["maml_vs_static"]["total_return"]
    per = summary["strategies"]
    assert cmp["mean_diff"] == pytest.approx(per["maml"]["total_return"] - per["static"]["total_return"])
    for name in ("equity", "trades", "report", "monthly", "maml_model", "static_model"):
        assert paths[name].stat().st_size > 0
    from maml_strategy.learners import load_learner

    assert load_learner(paths["maml_model"]).kind == "maml"


def test_cache_reuses_models(df, cfg, tmp_path) -> None:
    a = train_models(df, cfg, PERIOD, seed=0, cache_dir=tmp_path)
    b = train_models(df, cfg, PERIOD, seed=0, cache_dir=tmp_path)
    assert not a.cached and b.cached and a.key == b.key
    x = torch.zeros(2, a.maml.model.input_dim)
    assert torch.equal(a.maml.predict(x), b.maml.predict(x))


def test_real_spy_end_to_end_cli(spy_csv, tmp_path) -> None:
    """The real CLI on real SPY bars (short windows, tiny net): table printed, four files written."""
    out = tmp_path / "out"
    proc = run_script(
        "run.py", "--symbol", "SPY", "--data", str(spy_csv),
        "--train-start", "2001-01-01", "--train-end", "2006-12-31", "--test-start", "2007-01-01",
        "--test-end", "2007-06-30", "--config", str(tiny_config_file(tmp_path)), "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--quiet", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| maml |" in proc.stdout and "| buy_and_hold |" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"] == {"start": "2007-01-01", "end": "2007-06-30"}
    bh = summary["strategies"]["buy_and_hold"]
    # SPY rose about 6 % in H1 2007 (unadjusted closes 141.62 -> 150.43; 0.98 exposure, 5 bps)
    assert 0.03 < bh["total_return"] < 0.09
    for name in ("equity.csv", "trades.csv", "report.png"):
        assert (out / name).stat().st_size > 0


def test_cli_bad_input_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1,10\n2020-01-03,0,0,0,0,10\n")
    proc = run_script(
        "run.py", "--data", str(bad), "--symbol", "BAD", "--train-start", "2019-01-01",
        "--train-end", "2019-12-31", "--test-start", "2020-01-01", "--test-end", "2020-12-31", "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "zero or negative prices" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name, bh_return", [("2008", -0.37), ("2020", 0.158)])
def test_full_period_default_config(spy_csv, tmp_path, name, bh_return) -> None:
    """`run.py --period NAME` with the product defaults (about a minute each on 2 cores)."""
    from maml_strategy.backtest import load_periods
    from maml_strategy.config import load_config
    from maml_strategy.data import load_ohlcv

    repo = Path(__file__).resolve().parents[1]
    period = load_periods(repo / "backtests" / "periods.yaml")[name]
    df = load_ohlcv("SPY", None, period.test_end, path=spy_csv)
    res = run_experiment(df, load_config(repo / "strategies" / "maml_regime.yaml"), period, symbol="SPY",
                         seeds=[0], cache_dir=tmp_path, progress=False)
    s = res.summary()["strategies"]
    assert abs(s["buy_and_hold"]["total_return"] - bh_return) < 0.01
    assert s["maml"]["adaptations"] >= 1 and s["naive_finetune"]["adaptations"] == s["maml"]["adaptations"]
    assert s["static"]["adaptations"] == 0
    for strat in s.values():
        assert 0 <= strat["max_drawdown"] < 1


@pytest.mark.slow  # tests/test_walkforward.py runs the same CLI on a synthetic universe in the default suite
def test_walk_forward_cli_one_year(spy_csv, tmp_path) -> None:
    proc = run_script(
        "walk_forward.py", "--first", "2007", "--last", "2007", "--train-years", "5", "--universe", "SPY",
        "--config", str(tiny_config_file(tmp_path)), "--cache-dir", str(tmp_path / "cache"),
        "--out", str(tmp_path / "wf"), cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "wf" / "summary.json").read_text())
    assert summary["years"] == [2007] and summary["symbols"] == ["SPY"] and summary["price_basis"] == "total"
    assert {"maml_vs_static", "maml_vs_naive_finetune", "maml_vs_gbdt", "maml_vs_regime_rule", "maml_vs_sma200",
            "maml_vs_buy_and_hold"} <= set(summary["comparisons"])


def test_orders_fill_at_next_open_with_costs(df, cfg, models) -> None:
    """An order decided at bar t's close fills at bar t+1's open and pays commission_bps."""
    res = run_backtest(df, "maml", cfg, PERIOD.test_start, PERIOD.test_end, model=models.maml)
    assert len(res.fills) >= 2
    targets = res.decisions["target"]
    changed = targets.ne(targets.shift(1, fill_value=0.0))  # sign mode: targets are 0 or max_exposure
    decided = list(targets.index[changed])
    for fill in res.fills.itertuples():
        assert fill.price == pytest.approx(df.loc[fill.date, "open"])
        decision_bar = targets.index[targets.index.get_loc(fill.date) - 1]
        assert decision_bar in decided
        assert fill.commission == pytest.approx(abs(fill.size) * fill.price * cfg.trading.commission_bps / 1e4)


def test_window_starts_adapted_at_last_transition(df, cfg, models) -> None:
    """An adapting backtest enters the window with the last pre-window transition's adaptation,
    as a live session after its backfill does, whether features are precomputed or streamed."""
    from maml_strategy.dataset import symbol_features
    from maml_strategy.engine import Precomputed

    pre = Precomputed.from_symbol_features(symbol_features(df, cfg, "SYN"))
    start = np.datetime64(PERIOD.test_start.value, "ns")
    last = pd.Timestamp(pre.dates[np.flatnonzero(pre.transition & (pre.dates < start))[-1]])
    fast = run_backtest(df, "maml", cfg, PERIOD.test_start, PERIOD.test_end, model=models.maml, precomputed=pre)
    slow = run_backtest(df, "maml", cfg, PERIOD.test_start, PERIOD.test_end, model=models.maml)
    for res in (fast, slow):
        warm = res.decisions.loc[: PERIOD.test_start - pd.Timedelta(days=1)]
        assert bool(warm.loc[last, "adapted"]), "no adaptation at the last transition before the window"
        assert not warm.loc[last:].iloc[1:]["adapted"].any()
    a, b = fast.decisions.loc[PERIOD.test_start:], slow.decisions.loc[PERIOD.test_start:]
    np.testing.assert_allclose(a["prediction"], b["prediction"], atol=1e-5)
    assert (a["target"] == b["target"]).mean() > 0.99
    # the batched adaptations (precomputed) use the same support windows as the streaming ones
    assert len(fast.adaptations) == len(slow.adaptations) > 3
    for x, y in zip(fast.adaptations, slow.adaptations):
        for key in ("date", "from_regime", "to_regime", "support_start", "support_end", "n_support"):
            assert x[key] == y[key], key
        assert x["loss_after"] == pytest.approx(y["loss_after"], rel=1e-4)
        assert x["loss_after"] < x["loss_before"]


@pytest.mark.parametrize("kind", ["maml", "naive_finetune"])
def test_no_lookahead_in_precomputed_decisions(df, cfg, models, kind) -> None:
    """The fast path (features precomputed over the whole series, adaptations batched)
    decides nothing differently before a date when prices after it change."""
    from maml_strategy.dataset import symbol_features
    from maml_strategy.engine import Precomputed

    model = models.maml if kind == "maml" else models.static
    cut = "2008-06-30"
    runs = []
    for frame in (df, _perturb_after(df, cut)):
        pre = Precomputed.from_symbol_features(symbol_features(frame, cfg, "SYN"))
        runs.append(run_backtest(frame, kind, cfg, PERIOD.test_start, PERIOD.test_end, model=model, precomputed=pre))
    a, b = runs
    upto = pd.Timestamp(cut)
    cols = ["regime", "transition", "prediction", "target", "adapted"]
    pd.testing.assert_frame_equal(a.decisions.loc[:upto, cols], b.decisions.loc[:upto, cols])
    assert not a.decisions.loc[upto:, "prediction"].equals(b.decisions.loc[upto:, "prediction"])


@pytest.mark.parametrize("kind", ["reversal", "momentum"])
def test_no_lookahead_in_factor_controls(df, cfg, kind) -> None:
    """The factor controls decide nothing differently before a date when prices after it change,
    and do change later decisions (so the check can fail)."""
    cut = "2008-06-30"
    a = run_backtest(df, kind, cfg, PERIOD.test_start, PERIOD.test_end)
    b = run_backtest(_perturb_after(df, cut), kind, cfg, PERIOD.test_start, PERIOD.test_end)
    upto = pd.Timestamp(cut)
    cols = ["prediction", "target"]
    assert a.decisions.loc[PERIOD.test_start:upto, "prediction"].notna().all()  # momentum has its 253 bars
    pd.testing.assert_frame_equal(a.decisions.loc[:upto, cols], b.decisions.loc[:upto, cols])
    later = a.decisions.loc[upto + pd.Timedelta(days=1):, "prediction"]
    assert not np.allclose(later, b.decisions.loc[upto + pd.Timedelta(days=1):, "prediction"])

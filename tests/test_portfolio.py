"""The universe portfolio (issue 20): the top-k/n_drop rule, planted skill vs noise, causality,
late listings and missing days, cash and costs, the walk-forward's portfolio mode and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maml_strategy.backtest.portfolio_stats import BootstrapConfig, portfolio_section, yearly_metrics
from maml_strategy.config import StrategyConfig
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.portfolio import run_portfolio
from maml_strategy.topk import TopkConfig, select_portfolio, target_weights, topk_dropout
from tests.helpers import run_script, tiny_config_file

CFG = StrategyConfig()


# ------------------------------------------------------------------------------------------ the rule
def _qlib_topk_dropout(scores: dict[str, float], held: list[str], k: int, n_drop: int) -> list[str]:
    """qlib's TopkDropoutStrategy (method_sell="bottom", method_buy="top"), transcribed on plain lists."""
    s = pd.Series(scores)
    last = list(s.reindex(held).sort_values(ascending=False).index)
    rest = s[~s.index.isin(last)].sort_values(ascending=False)
    today = list(rest.index[: max(n_drop + k - len(last), 0)])
    comb = list(s.reindex(last + today).sort_values(ascending=False).index)
    bottom = comb[len(comb) - n_drop:] if n_drop else []
    sell = [x for x in last if x in bottom]
    buy = today[: len(sell) + k - len(last)]
    return [x for x in last if x not in sell] + buy


def test_topk_dropout_by_hand() -> None:
    sc = {"A": 0.9, "B": 0.1, "C": 0.5, "D": 0.8, "E": 0.7, "F": 0.2}
    # ideal top 3 = A, D, E; held B and C are outside it, B is the worst
    assert topk_dropout(sc, ["A", "B", "C"], 3, 1) == ["A", "C", "D"]  # one replacement: sell B, buy D
    assert topk_dropout(sc, ["A", "B", "C"], 3, 2) == ["A", "D", "E"]  # two: sell B and C, buy D and E
    assert topk_dropout(sc, ["A", "B", "C"], 3, 0) == ["A", "C", "B"]  # no replacement allowed
    assert topk_dropout(sc, [], 3, 1) == ["A", "D", "E"]  # empty slots are filled whatever n_drop
    assert topk_dropout(sc, ["B"], 3, 0) == ["B", "A", "D"]  # two empty slots filled, B may not go
    assert topk_dropout({**sc, "X": float("nan")}, ["X", "B"], 2, 2) == ["X", "A"]  # X frozen: kept, one slot
    assert topk_dropout({"A": 1.0, "B": 2.0, "C": 3.0}, ["A", "B", "C"], 3, 3) == ["C", "B", "A"]  # nothing better


def test_topk_dropout_equals_qlib_when_candidates_suffice() -> None:
    rng = np.random.default_rng(0)
    names = [f"S{i:02d}" for i in range(14)]
    for _ in range(300):
        k = int(rng.integers(1, 6))
        n_drop = int(rng.integers(0, k + 1))
        sc = dict(zip(names, rng.normal(size=len(names)).round(3)))
        held = list(rng.choice(names, size=int(rng.integers(0, k + 1)), replace=False))
        mine = topk_dropout(sc, held, k, n_drop)
        assert sorted(mine) == sorted(_qlib_topk_dropout(sc, held, k, n_drop)), (sc, held, k, n_drop)
        assert len(mine) == k and len(set(mine) - set(held)) <= n_drop + k - len(held)


def test_long_short_books_and_weights() -> None:
    sc = {"A": 3.0, "B": 2.0, "C": 1.0, "D": 0.0}
    cfg = TopkConfig(top_k=1, allow_short=True, max_exposure=1.0)
    longs, shorts = select_portfolio(sc, [], [], cfg)
    assert (longs, shorts) == (["A"], ["D"])
    assert target_weights(longs, shorts, sc, cfg) == {"A": 0.5, "D": -0.5}
    w = target_weights(["A", "B"], [], sc, TopkConfig(top_k=2, max_exposure=0.98))
    assert sum(w.values()) == pytest.approx(0.98) and w["A"] == pytest.approx(0.49)
    with pytest.raises(Exception, match="top_k"):
        TopkConfig(top_k=0)


# ------------------------------------------------------------------------------------ synthetic panel
def _panel(n_sym: int = 10, n_days: int = 520, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2011-01-03", periods=n_days)
    frames = {}
    for i in range(n_sym):
        r = rng.normal(0.0003, 0.015, n_days)
        close = 50.0 * np.exp(np.cumsum(r))
        opn = close * np.exp(rng.normal(0.0, 0.004, n_days))
        frames[f"S{i}"] = pd.DataFrame({"open": opn, "high": np.maximum(opn, close) * 1.003,
                                        "low": np.minimum(opn, close) * 0.997, "close": close,
                                        "volume": 1e6}, index=idx)
    return frames


def _forward_open_returns(frames: dict[str, pd.DataFrame], h: int = 5) -> pd.DataFrame:
    """Return from the next open to the open ``h`` bars later (what a weekly next-open book earns)."""
    o = pd.DataFrame({s: f["open"] for s, f in frames.items()})
    return o.shift(-1 - h) / o.shift(-1) - 1.0


def _yearly_run(frames: dict[str, pd.DataFrame], kind: str, year: int, **params) -> dict:
    r = run_portfolio(frames, CFG, f"{year}-01-01", f"{year}-12-31", **params)
    rets = r.daily_returns
    return {"kind": kind, "year": year, "seed": 0, "dates": list(rets.index), "returns": list(rets),
            **yearly_metrics(rets, r.equity, r.start_value, r.traded_value)}


def test_planted_skill_beats_equal_weight_and_noise_does_not() -> None:
    frames = _panel()
    fwd = _forward_open_returns(frames)
    rng = np.random.default_rng(1)
    noise = pd.DataFrame(rng.normal(size=fwd.shape), index=fwd.index, columns=fwd.columns)
    boot = BootstrapConfig(n_boot=400)
    years = (2011, 2012)
    bench = [_yearly_run(frames, "equal_weight", year, equal_weight=True) for year in years]  # scores play no part

    def model(scores: pd.DataFrame) -> dict:
        runs = [run for year, eq in zip(years, bench)
                for run in (_yearly_run(frames, "model", year, scores=scores, top_k=3), eq)]
        return portfolio_section(runs, boot)["model"]

    skilled = model(fwd + 0.03 * noise)  # planted, noisy
    assert skilled["excess_ci95"][0] > 0 and skilled["information_ratio_ci95"][0] > 0, skilled
    pure = model(noise)
    lo, hi = pure["excess_ci95"]
    assert lo < 0 < hi, pure
    assert pure["information_ratio_ci95"][0] < 0 < pure["information_ratio_ci95"][1]
    assert skilled["excess_return"] > pure["excess_return"]


def test_prices_after_a_date_change_no_earlier_decision() -> None:
    frames = _panel(6, 300)
    cut = pd.Timestamp("2011-08-15")
    changed = {}
    rng = np.random.default_rng(5)
    for s, f in frames.items():
        g = f.copy()
        late = g.index > cut
        g.loc[late, ["open", "high", "low", "close"]] *= rng.uniform(0.5, 1.5, (int(late.sum()), 1))
        changed[s] = g
    kw = {"factor": "reversal", "top_k": 2, "n_drop": 1, "warmup": 30}
    a = run_portfolio(frames, CFG, "2011-03-01", "2011-12-30", **kw)
    b = run_portfolio(changed, CFG, "2011-03-01", "2011-12-30", **kw)
    early_a = [r for r in a.rebalances if r["date"] <= cut]
    early_b = [r for r in b.rebalances if r["date"] <= cut]
    assert len(early_a) > 10 and early_a == early_b
    assert a.fills[a.fills["date"] <= cut].equals(b.fills[b.fills["date"] <= cut])
    assert not a.fills.equals(b.fills)  # the change does reach later decisions


def test_model_scores_are_causal_per_symbol(tmp_path: Path) -> None:
    from maml_strategy.backtest import custom_period, train_models
    from maml_strategy.dataset import symbol_features
    from maml_strategy.engine import Precomputed
    from tests.helpers import tiny_config

    cfg = tiny_config()
    frames = {f"S{i}": synthetic_ohlcv(1700, seed=30 + i).drop(columns="regime") for i in range(3)}
    period = custom_period("2001-01-01", "2005-12-31", "2006-01-01", "2006-06-30", name="t")
    models = train_models(frames, cfg, period, seed=0, cache_dir=None)
    cut = pd.Timestamp("2006-03-15")
    changed = {}
    for s, f in frames.items():
        g = f.copy()
        g.loc[g.index > cut, ["open", "high", "low", "close"]] *= np.linspace(1.0, 1.4, int((g.index > cut).sum()))[:, None]
        changed[s] = g

    def run(fr: dict[str, pd.DataFrame]):
        pre = {s: Precomputed.from_symbol_features(symbol_features(f, cfg, s)) for s, f in fr.items()}
        return run_portfolio(fr, cfg, period.test_start, period.test_end, model=models.maml, adapt=True,
                             precomputed=pre, top_k=1, warmup=200)

    a, b = run(frames), run(changed)
    early = [(r["date"], r["longs"], r["scores"]) for r in a.rebalances if r["date"] <= cut]
    assert len(early) > 5 and early == [(r["date"], r["longs"], r["scores"]) for r in b.rebalances if r["date"] <= cut]
    assert [r["scores"] for r in a.rebalances] != [r["scores"] for r in b.rebalances]


def test_late_listing_and_missing_days() -> None:
    frames = _panel(4, 300)
    late_start = pd.Timestamp("2011-06-01")
    frames["LATE"] = frames.pop("S3").loc[late_start:]
    gappy = frames["S2"]
    drop = np.random.default_rng(2).random(len(gappy)) < 0.15
    frames["S2"] = gappy[~drop]
    r = run_portfolio(frames, CFG, "2011-02-01", "2011-12-30", equal_weight=True)
    late_fills = r.fills[r.fills["symbol"] == "LATE"]
    assert len(late_fills) and late_fills["date"].min() > late_start  # bought at an open after its first close
    held_before = [x for x in r.rebalances if x["date"] < late_start]
    assert held_before and all("LATE" not in x["longs"] for x in held_before)
    assert all("LATE" in x["longs"] for x in r.rebalances if x["date"] > late_start)
    gap_days = set(frames["S2"].index)
    assert set(r.fills.loc[r.fills["symbol"] == "S2", "date"]) <= gap_days  # fills only on its own bars
    frozen = [x for x in r.rebalances if x["date"] not in gap_days]
    assert frozen and all("S2" in x["longs"] and "S2" not in x["scores"] for x in frozen)  # kept, not ranked
    f = run_portfolio(frames, CFG, "2011-02-01", "2011-12-30", factor="reversal", top_k=2, warmup=30)
    assert all(len(x["longs"]) <= 2 for x in f.rebalances)


def test_weights_never_exceed_cash_and_costs_are_on_traded_value() -> None:
    frames = _panel(6, 260)
    for s, f in frames.items():  # a 6 % gap up at every Tuesday's open: Monday's buys would overdraw at 100 %
        tue = f.index.day_of_week == 1
        f.loc[tue, "open"] = f["close"].shift(1)[tue] * 1.06
    runs = {}
    for cap in (0.98, 1.0):
        runs[cap] = r = run_portfolio(frames, CFG, "2011-02-01", "2011-12-30", factor="reversal", top_k=3, max_exposure=cap,
                          rebalance="weekly", warmup=30)
        rec = r.records
        assert (rec["cash"] >= -1e-6).all() and (rec["short_value"] == 0).all()
        assert (rec["long_value"] <= rec["value"] + 1e-6).all()
        assert np.allclose(rec["cash"] + rec["long_value"], rec["value"])
        traded = float((r.fills["size"].abs() * r.fills["price"]).sum())
        assert r.fills["commission"].sum() == pytest.approx(traded * CFG.trading.commission_bps / 1e4, rel=1e-9)
        assert traded == pytest.approx(r.traded_value)
    assert r.rejected  # at 100 % the gap leaves too little cash: the broker refuses the order, cash stays >= 0
    from maml_strategy.config import load_config

    free = run_portfolio(frames, load_config(None, trading={"commission_bps": 0.0}), "2011-02-01", "2011-12-30",
                         factor="reversal", top_k=3, warmup=30)
    assert free.fills["commission"].sum() == 0.0 and free.equity.iloc[-1] > runs[0.98].equity.iloc[-1]


def test_long_short_holds_both_books() -> None:
    frames = _panel(6, 200)
    r = run_portfolio(frames, CFG, "2011-03-01", "2011-09-30", factor="reversal", top_k=2, allow_short=True, warmup=30)
    assert all(len(x["longs"]) == 2 and len(x["shorts"]) == 2 for x in r.rebalances[1:])
    assert (r.records["short_value"] < 0).any()
    assert all(not set(x["longs"]) & set(x["shorts"]) for x in r.rebalances)


# ------------------------------------------------------------------------------- walk_forward --mode portfolio
def _universe(folder: Path, n: int = 4, starts: tuple[str, ...] = ()) -> Path:
    d = folder / "uni"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        df = synthetic_ohlcv(2300, seed=40 + i, start=starts[i] if starts else "2000-01-03").drop(columns="regime")
        out = pd.DataFrame({"Open": df["open"], "High": df["high"], "Low": df["low"], "Close": df["close"],
                            "Adj Close": df["close"], "Volume": df["volume"]})
        out.index.name = "Date"
        out.to_csv(d / f"S{i}.csv")
    return d


def _wf(tmp: Path, uni: Path, *extra: str, cache: str = "cache", out: str = "out"):
    return run_script("walk_forward.py", "--universe", str(uni), "--first", "2008", "--last", "2008",
                      "--train-years", "5", "--config", str(tiny_config_file(tmp)), "--cache-dir", str(tmp / cache),
                      "--out", str(tmp / out), "--quiet", "--mode", "portfolio", "--top-k", "2", *extra, cwd=tmp)


@pytest.fixture(scope="module")
def portfolio_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pwf")
    uni = _universe(tmp, 3)
    r = _wf(tmp, uni)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, uni, r


def test_portfolio_mode_writes_the_portfolio_section(portfolio_run) -> None:
    tmp, _, r = portfolio_run
    s = json.loads((tmp / "out" / "summary.json").read_text())
    p = s["portfolio"]
    assert s["mode"] == "portfolio" and {"maml", "static", "naive_finetune", "reversal", "momentum",
                                         "equal_weight"} <= set(p)
    for name, e in p.items():
        assert {"excess_return", "information_ratio", "beta", "turnover", "max_drawdown"} <= set(e), name
        if name != "equal_weight":
            lo, hi = e["excess_ci95"]
            assert lo <= e["excess_return"] <= hi and len(e["information_ratio_ci95"]) == 2
    assert p["equal_weight"]["excess_return"] == 0.0 and "excess_ci95" not in p["equal_weight"]
    rows = pd.read_csv(tmp / "out" / "results.csv")
    assert set(rows["strategy"]) == set(p) and (rows["year"] == 2008).all()
    assert (tmp / "out" / "equity.png").stat().st_size > 10_000
    assert "equal_weight" in r.stdout and "excess/yr" in r.stdout


def test_portfolio_mode_resumes_from_cache(portfolio_run) -> None:
    tmp, uni, _ = portfolio_run
    r = _wf(tmp, uni, out="out2")
    assert r.returncode == 0, r.stderr[-2000:]
    a = json.loads((tmp / "out" / "summary.json").read_text())
    b = json.loads((tmp / "out2" / "summary.json").read_text())
    assert b["tasks"]["portfolio_cached"] == b["tasks"]["portfolio"] and a["portfolio"] == b["portfolio"]


@pytest.mark.slow  # starts a local Ray (~30 s); run with -m slow
def test_portfolio_ray_gives_identical_results(portfolio_run) -> None:
    pytest.importorskip("ray")
    tmp, uni, _ = portfolio_run
    r = _wf(tmp, uni, "--executor", "ray", "--workers", "2", cache="cache_ray", out="out_ray")
    assert r.returncode == 0, r.stderr[-3000:]
    a = json.loads((tmp / "out" / "summary.json").read_text())
    b = json.loads((tmp / "out_ray" / "summary.json").read_text())
    assert b["executor"] == "ray" and b["tasks"]["portfolio_cached"] == 0
    assert a["portfolio"] == b["portfolio"] and a["results"] == b["results"]


@pytest.mark.parametrize("case", ["one_symbol", "top_k_above", "top_k_zero", "n_drop_above", "no_overlap"])
def test_bad_portfolio_input_one_line_exit_2(tmp_path: Path, case: str) -> None:
    extra: list[str] = []
    if case == "one_symbol":
        uni, match = _universe(tmp_path, 1), "--mode: portfolio mode needs at least 2 symbols"
    elif case == "no_overlap":  # S0 ends in 2009, S1 starts in 2010: no date with two symbols in 2009-2010
        uni, match = _universe(tmp_path, 2, starts=("2000-01-03", "2010-01-04")), "share no trading date"
    else:
        uni = _universe(tmp_path, 3)
        extra, match = {"top_k_above": (["--top-k", "4"], "--top-k: must be in [1, 3]"),
                        "top_k_zero": (["--top-k", "0"], "--top-k: must be in [1, 3]"),
                        "n_drop_above": (["--top-k", "2", "--n-drop", "3"], "--n-drop")}[case]
    args = ["--universe", str(uni), "--mode", "portfolio", "--out", str(tmp_path / "o"), "--quiet",
            "--cache-dir", str(tmp_path / "c"), "--train-years", "5"]
    if case == "no_overlap":
        args += ["--first", "2009", "--last", "2010", "--top-k", "1"]
    elif case == "one_symbol":
        args += ["--top-k", "1"]
    r = run_script("walk_forward.py", *args, *extra, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ") and match in lines[-1], lines
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()

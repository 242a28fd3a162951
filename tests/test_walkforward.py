"""Universe walk-forward: local and Ray give identical results; a stopped run resumes from its cache; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maml_strategy.backtest.stats import bootstrap_mean_ci, paired_comparison
from maml_strategy.data import synthetic_ohlcv
from tests.helpers import run_script, tiny_config_file


def _universe(folder: Path, n: int = 3) -> Path:
    d = folder / "uni"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        df = synthetic_ohlcv(2300, seed=20 + i, start="2000-01-03").drop(columns="regime")
        out = pd.DataFrame({"Open": df["open"], "High": df["high"], "Low": df["low"], "Close": df["close"],
                            "Adj Close": df["close"] * np.linspace(0.95, 1.0, len(df)), "Volume": df["volume"]})
        out.index.name = "Date"
        out.to_csv(d / f"S{i}.csv")
    return d


def _wf(tmp: Path, uni: Path, *extra: str, cache: str = "cache", out: str = "out"):
    return run_script("walk_forward.py", "--universe", str(uni), "--first", "2007", "--last", "2008",
                      "--train-years", "5", "--config", str(tiny_config_file(tmp)), "--cache-dir", str(tmp / cache),
                      "--out", str(tmp / out), "--quiet", *extra, cwd=tmp)


def _results(tmp: Path, out: str) -> list[dict]:
    rows = json.loads((tmp / out / "summary.json").read_text())["results"]
    return sorted(rows, key=lambda r: (r["symbol"], r["year"], r["seed"], r["strategy"]))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wf")
    uni = _universe(tmp)
    r = _wf(tmp, uni)
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp, uni, r


def test_local_run_writes_summary(local_run) -> None:
    tmp, _, r = local_run
    s = json.loads((tmp / "out" / "summary.json").read_text())
    assert s["price_basis"] == "total" and s["executor"] == "local" and s["years"] == [2007, 2008]
    kinds = {row["strategy"] for row in s["results"]}
    assert kinds == {"maml", "maml_unadapted", "static", "naive_finetune", "gbdt", "reversal", "momentum",
                     "regime_rule", "sma200", "exposure_matched", "buy_and_hold"}
    assert {"reversal", "momentum"} <= set(s["aggregate"]) and "maml_vs_reversal" in s["comparisons"]
    for name, a in s["aggregate"].items():
        assert "alpha" in a and "alpha_ci95" in a and "beta" in a, name
    for model in ("maml", "reversal"):
        assert {"ts_ic", "cs_ic", "timing_ic", "selection_ic", "resid_ic", "per_regime"} <= set(s["skill"][model])
    gain = s["skill"]["maml"]["adaptation_gain"]
    assert {"ic", "bias", "alpha"} <= set(gain) and "ci95" in gain["ic"]
    assert len(s["results"]) == 3 * 2 * 11
    cmp = s["comparisons"]["maml_vs_buy_and_hold"]["sharpe"]
    assert cmp["ci95"][0] <= cmp["mean_diff"] <= cmp["ci95"][1]
    assert set(s["skill"]) >= {"maml", "maml_unadapted", "static", "naive_finetune"}
    assert (tmp / "out" / "heatmap.png").is_file() and (tmp / "out" / "equity_mean.png").is_file()
    assert "mean Sharpe" in r.stdout


@pytest.fixture(scope="module")
def damaged_run(local_run):
    """The same run again on a copy of the cache that a killed run and killed writers left behind: one result
    missing (killed before that task finished), one result and one feature array cut short, a stale temp dir."""
    import shutil

    tmp, uni, _ = local_run
    shutil.copytree(tmp / "cache", tmp / "torn")
    results = sorted((tmp / "torn" / "wf").glob("*.json"))
    assert len(results) == 6
    results[0].unlink()  # as if the run had been killed before this task finished
    results[1].write_text(results[1].read_text()[:40])  # a backtest result cut short
    feature = sorted((tmp / "torn" / "features").glob("*/x.npy"))[0]
    with open(feature, "r+b") as fh:  # a feature array cut short
        fh.truncate(feature.stat().st_size // 3)
    (tmp / "torn" / ".stale.99999999.x.tmp").mkdir()  # left by a killed writer of another entry: not ours to judge
    r = _wf(tmp, uni, cache="torn", out="out_torn")
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp, r


def test_resume_reuses_finished_tasks(damaged_run) -> None:
    tmp, _ = damaged_run
    s = json.loads((tmp / "out_torn" / "summary.json").read_text())
    # the missing and the torn result are recomputed, the 4 intact ones read; no model is retrained
    assert s["tasks"]["backtest_cached"] == 4 and s["tasks"]["train_cached"] == s["tasks"]["train"]
    assert _results(tmp, "out_torn") == _results(tmp, "out")


@pytest.mark.slow  # ~25 s (starts a local Ray); run with -m slow
def test_ray_gives_identical_results(local_run) -> None:
    pytest.importorskip("ray")
    tmp, uni, _ = local_run
    r = _wf(tmp, uni, "--executor", "ray", "--workers", "2", cache="cache_ray", out="out_ray")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((tmp / "out_ray" / "summary.json").read_text())
    assert s["executor"] == "ray" and s["tasks"]["backtest_cached"] == 0
    assert _results(tmp, "out_ray") == _results(tmp, "out")
    # the driver wrote every artifact into its cache (the tasks return them; they write nothing)
    from maml_strategy.atomic import check_entry, leftover_temp_files

    cache = tmp / "cache_ray"
    features = sorted(p.parent for p in (cache / "features").glob("*/manifest.json"))
    assert [f.name.split("-")[0] for f in features] == ["S0", "S1", "S2"]
    models = [cache / t["key"] for t in s["training"]]
    assert len(models) == 2 and all(check_entry(m) is None for m in models + features)
    assert len(list((cache / "wf").glob("*.json"))) == 6 and leftover_temp_files(cache) == []


@pytest.mark.parametrize("args, match", [
    (["--first", "2009", "--last", "2008"], "2009 is after --last 2008"),
    (["--symbols", "S0,NOPE"], "NOPE"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:9"], "does not answer"),
])
def test_bad_arguments_one_line_exit_2(tmp_path: Path, args, match) -> None:
    uni = _universe(tmp_path, 1)
    r = run_script("walk_forward.py", "--universe", str(uni), "--out", str(tmp_path / "o"), "--quiet",
                   "--cache-dir", str(tmp_path / "c"), *args, cwd=tmp_path)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and match in last
    assert not (tmp_path / "o").exists()


def test_bad_universe_files_exit_2(tmp_path: Path) -> None:
    uni = _universe(tmp_path, 2)
    (uni / "S1.csv").write_text("garbage\n1,2\n")
    (tmp_path / "empty").mkdir()
    yaml_missing = tmp_path / "u.yaml"
    yaml_missing.write_text(f"symbols: [S0, MISSING]\npath: {uni}\n")
    for spec, match in ((uni, "S1"), (tmp_path / "empty", "no .csv files"), (yaml_missing, "MISSING")):
        r = run_script("walk_forward.py", "--universe", str(spec), "--out", str(tmp_path / "o"), "--quiet",
                       "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert lines[-1].startswith("error: ") and match in lines[-1], lines
        assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_cluster_bootstrap_covers_and_resamples_years() -> None:
    rng = np.random.default_rng(0)
    d = rng.normal(0.0, 1.0, (30, 10))
    lo, hi = bootstrap_mean_ci(d, n_boot=500, seed=1)
    assert lo < d.mean() < hi
    d[:, 0] += 50.0  # one "crash year" with a huge effect must widen the interval a lot
    lo2, hi2 = bootstrap_mean_ci(d, n_boot=500, seed=1)
    assert (hi2 - lo2) > 5 * (hi - lo)


def test_paired_comparison_pairs_seedless_controls_with_every_seed() -> None:
    rows = pd.DataFrame([
        {"symbol": "A", "year": 2008, "seed": 0, "strategy": "maml", "sharpe": 1.0},
        {"symbol": "A", "year": 2008, "seed": 1, "strategy": "maml", "sharpe": 0.0},
        {"symbol": "A", "year": 2008, "seed": 0, "strategy": "buy_and_hold", "sharpe": 0.2},
    ])
    c = paired_comparison(rows, "maml", "buy_and_hold", "sharpe", n_boot=50)
    assert c["mean_diff"] == pytest.approx(0.3) and c["cells"] == 1


def test_torn_cache_entries_warn_once_each_and_are_recomputed(damaged_run) -> None:
    from maml_strategy.atomic import leftover_temp_files

    tmp, r = damaged_run
    assert r.stderr.count("incomplete or corrupt") == 2, r.stderr[-2000:]  # the torn result and feature, not the missing one
    assert _results(tmp, "out_torn") == _results(tmp, "out")
    assert [p.name for p in leftover_temp_files(tmp / "torn")] == [".stale.99999999.x.tmp"]
    assert leftover_temp_files(tmp / "out_torn") == []

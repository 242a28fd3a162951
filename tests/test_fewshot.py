"""Few-shot evaluation library (maml_strategy.backtest.fewshot) and the validate_maml CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from maml_strategy.backtest.fewshot import (
    adaptation_curve,
    evaluate_learner,
    make_test_tasks,
    prepare_fewshot_data,
    run_fewshot,
    study_config,
    train_learners,
)
from maml_strategy.config import FewShotConfig, load_config
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.errors import ConfigError, DataError
from tests.helpers import load_script

REPO_ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ("2001-01-01", "2003-06-30", "2003-07-01", "2004-12-31")
TINY = load_config(None, model={"hidden_dim": 16}, static={"epochs": 1, "patience": 1},
                   maml={"support_size": 16, "query_size": 8, "meta_epochs": 1, "steps_per_epoch": 2, "val_tasks": 4,
                         "patience": 1})
STEPS = (0, 1, 2, 5)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """~5 years of synthetic regime-switching bars (2000-01-03 .. 2004-12)."""
    return synthetic_ohlcv(1300, seed=3).drop(columns="regime")


def _perturb_after(df: pd.DataFrame, day: str, seed: int = 7) -> pd.DataFrame:
    """Multiply all prices after ``day`` by a random walk (bars stay consistent: high >= open, close >= low)."""
    out = df.copy()
    later = out.index > pd.Timestamp(day)
    factor = np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 0.02, int(later.sum()))))
    for col in ("open", "high", "low", "close"):
        out.loc[later, col] = out.loc[later, col].to_numpy() * factor
    out.loc[later, "volume"] = out.loc[later, "volume"].to_numpy() * 1.5
    return out


def test_run_fewshot_returns_curves_of_the_right_shape(frame: pd.DataFrame) -> None:
    res = run_fewshot(frame, *WINDOWS, TINY, seeds=2, steps=STEPS)
    assert len(res.runs) == 2 and res.n_test_tasks > 0
    for run in res.runs:
        for curve in (run.maml, run.static):
            assert curve.steps == list(STEPS)
            assert len(curve.loss) == len(curve.accuracy) == len(STEPS)
            assert np.isfinite(curve.loss).all()
            assert all(0.0 <= a <= 1.0 for a in curve.accuracy)
        assert run.to_dict()["maml"]["steps"] == list(STEPS)
    mean = res.mean_curve("maml")
    assert mean.loss == pytest.approx(np.mean([r.maml.loss for r in res.runs], axis=0).tolist())
    assert mean.best_steps in STEPS
    d = res.data
    assert all(s.start >= d.test_start for s in d.test_segments)
    # segments are clipped to the training window (labels inside are masked at its end; see the perturbation test)
    assert all(s.start >= d.train_start and s.end <= d.train_end for s in d.train_segments + d.val_segments)
    assert max(s.end for s in d.train_segments) <= min(s.start for s in d.val_segments)


def test_adaptation_curve_matches_fresh_adaptation(frame: pd.DataFrame) -> None:
    data = prepare_fewshot_data(frame, *WINDOWS, TINY)
    tasks, _ = make_test_tasks(data, TINY)
    trained = train_learners(data, TINY, seed=0)
    for learner in (trained.maml, trained.static):
        curve = adaptation_curve(learner, tasks, (5, 0, 2), lr=0.01)
        assert curve.steps == [0, 2, 5]
        for s in curve.steps:
            assert curve.at(s) == evaluate_learner(learner, tasks, s, 0.01)


def test_no_lookahead_after_eval_end(frame: pd.DataFrame) -> None:
    a = run_fewshot(frame, *WINDOWS[:3], "2004-06-30", TINY, seeds=1, steps=STEPS)
    b = run_fewshot(_perturb_after(frame, "2004-06-30"), *WINDOWS[:3], "2004-06-30", TINY, seeds=1, steps=STEPS)
    assert a.runs[0].maml == b.runs[0].maml and a.runs[0].static == b.runs[0].static
    assert a.zero_predictor_mse == b.zero_predictor_mse and a.n_test_tasks == b.n_test_tasks


def test_no_lookahead_after_train_end(frame: pd.DataFrame) -> None:
    train_end = WINDOWS[1]
    perturbed = _perturb_after(frame, train_end)
    da = prepare_fewshot_data(frame, *WINDOWS, TINY)
    db = prepare_fewshot_data(perturbed, *WINDOWS, TINY)
    upto = da.index <= pd.Timestamp(train_end)
    np.testing.assert_array_equal(da.X[upto], db.X[upto])
    np.testing.assert_array_equal(da.y_train, db.y_train)
    assert [(s.start_pos, s.end_pos) for s in da.train_segments + da.val_segments] == [
        (s.start_pos, s.end_pos) for s in db.train_segments + db.val_segments
    ]
    assert not np.array_equal(da.y_test, db.y_test, equal_nan=True)  # the perturbation does reach the test labels
    ta, tb = train_learners(da, TINY, seed=0), train_learners(db, TINY, seed=0)
    for la, lb in ((ta.maml, tb.maml), (ta.static, tb.static)):
        sa, sb = la.model.state_dict(), lb.model.state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k


def test_labels_do_not_cross_the_train_end(frame: pd.DataFrame) -> None:
    data = prepare_fewshot_data(frame, *WINDOWS, TINY)
    labelled = np.flatnonzero(np.isfinite(data.y_train))
    last_train = int(np.searchsorted(data.index, pd.Timestamp(WINDOWS[1]), side="right")) - 1
    assert labelled.max() + TINY.features.lag <= last_train
    assert data.index[labelled.min()] >= pd.Timestamp(WINDOWS[0])
    assert data.index[np.flatnonzero(np.isfinite(data.y_test)).min()] >= pd.Timestamp(WINDOWS[2])


@pytest.mark.parametrize(
    "windows",
    [("2003-01-01", "2002-01-01", "2003-07-01", "2004-12-31"), ("2001-01-01", "2003-06-30", "2003-01-01", "2004-12-31"),
     ("not a date", "2003-06-30", "2003-07-01", "2004-12-31")],
)
def test_bad_windows_raise_config_error(frame: pd.DataFrame, windows: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        prepare_fewshot_data(frame, *windows, TINY)


def test_too_few_segments_raise_data_error(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="regime segments"):
        prepare_fewshot_data(frame, *WINDOWS, load_config(None, model={"hidden_dim": 16}, fewshot={"min_segment": 400}))


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fewshot.min_segment"):
        FewShotConfig(min_segment=0)
    with pytest.raises(ConfigError, match="fewshot.val_fraction"):
        load_config(None, fewshot={"val_fraction": 1.5})
    with pytest.raises(ConfigError, match="StrategyConfig"):
        prepare_fewshot_data(synthetic_ohlcv(300, seed=0), *WINDOWS, {"min_segment": 20})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown flag"):
        study_config(None, epochs=3)
    (tmp_path / "s.yaml").write_text("fewshot: {min_segment: 7}\nmaml: {support_size: 12}\n")
    cfg = study_config(tmp_path / "s.yaml", query_size=4, patience=None)  # a None flag keeps the file's value
    assert (cfg.fewshot.min_segment, cfg.maml.support_size, cfg.maml.query_size) == (7, 12, 4)


def test_the_study_file_holds_the_published_settings() -> None:
    cfg = study_config(REPO_ROOT / "strategies" / "fewshot.yaml")
    assert (cfg.maml.support_size, cfg.maml.query_size, cfg.maml.meta_epochs, cfg.maml.steps_per_epoch) == (16, 8, 12, 15)
    assert (cfg.static.epochs, cfg.static.patience, cfg.maml.patience, cfg.maml.inner_lr) == (40, 5, 5, 0.01)
    assert (cfg.fewshot.min_segment, cfg.fewshot.val_fraction, cfg.features.lag) == (20, 0.2, 5)


@pytest.mark.slow  # ~30 s: a whole meta-training through the script; the library path is covered above
def test_validate_maml_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = load_script("validate_maml.py")
    df = synthetic_ohlcv(1300, seed=3).drop(columns="regime")
    csv = tmp_path / "SYN.csv"
    df.rename(columns=str.capitalize).rename_axis("Date").to_csv(csv)
    out = tmp_path / "results"
    code = cli.main([
        "--symbol", "SYN", "--data", str(csv), "--source", "csv", "--years", "2001-2004", "--meta-epochs", "1",
        "--inner-steps", "1", "--support-size", "16", "--query-size", "8", "--seeds", "1", "--save-results", str(out),
    ])
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"results.json", "curve.csv", "maml.pt", "static.pt"}
    curve = pd.read_csv(out / "curve.csv")
    assert curve["steps"].tolist() == [*range(11), 25, 50, 100]
    results = json.loads((out / "results.json").read_text())
    assert results["windows"]["train"] == ["2001-01-01", "2002-12-31"]
    assert results["windows"]["test"] == ["2003-01-01", "2004-12-31"]
    assert results["summary"]["maml"]["best_step_0_10"] in range(11)
    from maml_strategy.learners import load_learner

    assert load_learner(out / "maml.pt").kind != load_learner(out / "static.pt").kind
    assert "MAML" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra", [["--years", "2007-1995"], ["--years", "2005-2006"], ["--years", "nineties"], ["--source", "bloomberg"]]
)
def test_validate_maml_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    cli = load_script("validate_maml.py")
    code = cli.main(["--save-results", str(tmp_path / "r"), *extra])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()

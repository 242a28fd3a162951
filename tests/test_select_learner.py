"""backtests/select_learner.py: the selection rule and its table (the walk-forward itself is tested elsewhere)."""

from __future__ import annotations


import pytest

from tests.helpers import load_script, run_script


def _module():
    return load_script("select_learner.py")


def _summary(sharpes: dict[str, float], ic: float = 0.05) -> dict:
    return {"aggregate": {k: {"mean_sharpe": v, "mean_return": v / 10, "mean_exposure": 0.5} for k, v in sharpes.items()},
            "skill": {"maml": {"ic": {"mean": ic, "ci95": [ic - 0.01, ic + 0.01]}}}}


def test_margin_is_against_the_best_control() -> None:
    sel = _module()
    s = sel.score(_summary({"maml": 0.8, "static": 0.5, "naive_finetune": 0.9, "regime_rule": 0.1, "sma200": 0.2,
                            "buy_and_hold": 0.7, "exposure_matched": 5.0}))
    assert s["best_control"] == "naive_finetune"  # the diagnostic exposure_matched is not a control here
    assert s["margin"] == pytest.approx(-0.1)
    assert s["ic"] == 0.05


def test_table_marks_the_chosen_candidate() -> None:
    sel = _module()
    rows = {name: sel.score(_summary({"maml": m, "static": 0.5, "buy_and_hold": 0.6}))
            for name, m in (("default", 0.4), ("adapt_1_step", 0.7))}
    text = sel.table(rows, "adapt_1_step", "2006-2007")
    assert "| adapt_1_step **(chosen)** |" in text and "| default |" in text
    assert text.count("\n|") == 4  # header, rule, two candidates


def test_merge_changes_one_section() -> None:
    sel = _module()
    base = {"features": {"horizon": 5, "timeframes": ["D"]}, "trading": {"max_exposure": 0.98}}
    out = sel.merge(base, {"features": {"horizon": 20}})
    assert out["features"] == {"horizon": 20, "timeframes": ["D"]} and out["trading"] == base["trading"]
    assert base["features"]["horizon"] == 5


def test_bad_candidate_is_a_one_line_error(tmp_path) -> None:
    r = run_script("select_learner.py", "--only", "nonsense", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2 and "unknown candidate" in r.stderr and not (tmp_path / "o").exists()


def _row(alpha=None, gain=None, ic_gain=None, resid=None) -> dict:
    return {"alpha": alpha, "alpha_gain": gain, "ic_gain": ic_gain, "resid_ic": resid}


def test_alpha_rules_and_their_tie_breaks() -> None:
    sel = _module()
    rows = {"close": _row(alpha=0.0100, resid=0.01), "tradable": _row(alpha=0.0105, resid=0.02)}
    assert sel.choose(rows, "label") == "tradable"  # a tie on alpha, higher IC beyond factors
    rows["tradable"]["resid_ic"] = 0.0
    assert sel.choose(rows, "label") == "close"
    rows = {"a": _row(gain=0.0, ic_gain=0.0), "b": _row(gain=0.0005, ic_gain=-0.01), "c": _row(gain=-0.02, ic_gain=0.5)}
    assert sel.choose(rows, "adaptation") == "a"  # a tie between a and b: a has the higher IC gain
    rows["a"]["ic_gain"] = -0.02
    assert sel.choose(rows, "adaptation") == "b"
    rows = {"sign": _row(alpha=0.01), "rank": _row(alpha=0.0109), "overlay": _row(alpha=0.03)}
    assert sel.choose(rows, "position") == "overlay"
    rows["overlay"]["alpha"] = None
    assert sel.choose(rows, "position") == "sign"  # ties go to the earlier (simpler) row


def test_alpha_round_table_has_the_gain_columns() -> None:
    sel = _module()
    s = _summary({"maml": 0.8, "static": 0.5, "buy_and_hold": 0.7})
    s["aggregate"]["maml"].update(alpha=0.012, alpha_ci95=[-0.01, 0.03])
    s["skill"]["maml"]["adaptation_gain"] = {"alpha": {"mean": -0.004, "ci95": [-0.01, 0.002]},
                                             "ic": {"mean": -0.002, "ci95": [-0.004, 0.0]}}
    text = sel.table({"head_only": sel.score(s)}, "head_only", "2006-2007", "adaptation")
    assert "| head_only **(chosen)** |" in text and "+1.2 % (-1.0 %, +3.0 %)" in text and "-0.4 %" in text

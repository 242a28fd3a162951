"""paper_trade.py --period: replays a named test window with the model run.py cached, and summarises it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import load_script, tiny_config_file


def _setup(folder: Path) -> tuple[Path, Path, Path]:
    from maml_strategy.data import synthetic_ohlcv

    df = synthetic_ohlcv(1850, seed=11, start="2000-01-03").drop(columns="regime")
    out = df.rename(columns=str.title).assign(**{"Adj Close": df["close"]})
    out.index.name = "Date"
    csv = folder / "SYN.csv"
    out[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(csv)
    periods = folder / "periods.yaml"
    periods.write_text(yaml.safe_dump({"syn": {"train": {"start": "2000-01-01", "end": "2005-12-31"},
                                               "validation": {"start": "2004-01-01", "end": "2005-12-31"},
                                               "test": {"start": "2006-01-01", "end": "2006-06-30"}}}))
    return csv, periods, tiny_config_file(folder)


@pytest.mark.usefixtures("no_report_plots")
def test_period_replay_reuses_run_py_model_and_summarises(tmp_path: Path, capsys) -> None:
    csv, periods, cfg = _setup(tmp_path)
    cache = tmp_path / "cache"
    paper = ["--replay", str(csv), "--symbol", "SYN", "--period", "syn", "--periods", str(periods), "--config",
             str(cfg), "--cache-dir", str(cache), "--daily-loss-limit", "0.5"]
    # no cache yet: it says that it trains, and about how long
    assert load_script("paper_trade.py").main([*paper, "--cache-dir", ""]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^model: training MAML .* SYN 2000-01-01\.\.2005-12-31, seed 0: about \d+-\d+ s", out, re.M)

    rc = load_script("run.py").main(["--symbol", "SYN", "--data", str(csv), "--period", "syn", "--periods", str(periods),
                              "--seeds", "1", "--config", str(cfg), "--cache-dir", str(cache),
                              "--out", str(tmp_path / "run"), "--quiet"])
    assert rc == 0
    capsys.readouterr()
    assert load_script("paper_trade.py").main(paper) == 0
    out = capsys.readouterr().out
    assert "model: loading SYN 2000-01-01..2005-12-31 seed 0 from the cache" in out
    assert re.search(r"^model \w+: loaded from the cache", out, re.M)
    assert "daily loss limit 50 %" in out
    session = re.search(r"^session 2006-01-02\.\.2006-06-30 \((\d+) bars, warm-up excluded\): (\d+) fills, "
                        r"(\d+) adaptations$", out, re.M)
    assert session and int(session.group(1)) > 100
    final = re.search(r"^final value .*fills (\d+)  adaptations (\d+)", out, re.M)
    assert session.group(2, 3) == final.group(1, 2)
    assert re.search(r"^  paper MAML +return +[+-]\d+\.\d %  max drawdown +\d+\.\d %$", out, re.M)
    assert re.search(r"^  buy-and-hold +return +[+-]\d+\.\d %  max drawdown +\d+\.\d %  \(all in", out, re.M)


def test_period_argument_errors(tmp_path: Path, capsys) -> None:
    from maml_strategy.cli import run_main

    main = load_script("paper_trade.py").main
    for argv, text in ((["--period", "2008"], "--period: replays a named test window: it needs --replay CSV"),
                       (["--period", "1999", "--replay", "x.csv"], "unknown period '1999'; choose one of 2008, 2020"),
                       (["--period", "2008", "--replay", "x.csv", "--start", "2008-02-01"], "drop --start/--end"),
                       (["--live", "--daily-loss-limit", "0.2"], "real-money rails come only from the config")):
        assert run_main(main, argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and text in err[0], err

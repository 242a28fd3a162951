"""backtests/paper_trade.py --replay: same trades as the backtest, honest fills, exit code 3 on a rail stop."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from maml_strategy.backtest import custom_period, run_backtest, train_models
from tests.helpers import TINY, load_script, tiny_config


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, spy_csv):
    from maml_strategy.data import read_csv_ohlcv

    folder = tmp_path_factory.mktemp("paper")
    df = read_csv_ohlcv(spy_csv)
    cfg = tiny_config()
    period = custom_period("2014-01-01", "2019-12-31", "2020-01-01", "2020-06-30", name="paper_test")
    models = train_models(df, cfg, period, seed=0, cache_dir=None)
    model_path = folder / "maml.pt"
    models.maml.save(model_path)
    return folder, df, cfg, models.maml, model_path


def _replay(tiny_setup, spy_csv, live):
    """Run the paper replay of 2020 H1 on the tiny model with ``live`` settings; (exit code, stdout) via capsys."""
    folder, _, _, _, model_path = tiny_setup
    args = ["--replay", str(spy_csv), "--symbol", "SPY", "--start", "2020-01-01", "--end", "2020-06-30",
            "--model", str(model_path), "--price-basis", "close", "--config", str(_config_file(folder, live))]
    return load_script("paper_trade.py").main(args)


def _config_file(folder, live):
    path = folder / f"cfg_{len(list(folder.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump({**TINY, "live": live}))
    return path


@pytest.mark.slow
@pytest.mark.realdata
def test_replay_equals_backtest(tiny_setup, spy_csv, capsys):
    _, df, cfg, model, _ = tiny_setup
    # loose loss limit: the paper replay makes exactly the backtest's trades
    code = _replay(tiny_setup, spy_csv, {"daily_loss_limit": 0.5})
    out = capsys.readouterr().out
    assert code == 0, out
    bt_result = run_backtest(df, "maml", cfg, pd.Timestamp("2020-01-01"), pd.Timestamp("2020-06-30"), model=model)
    fills = re.findall(r"^FILL (\S+) \S+ +(BUY|SELL) +(\S+) SPY @ (\S+)", out, flags=re.M)
    assert len(fills) == len(bt_result.fills) > 0
    for (day, side, size, price), (_, row) in zip(fills, bt_result.fills.iterrows()):
        assert (day, side.lower(), float(size)) == (str(row["date"].date()), row["side"], abs(row["size"]))
        assert float(price) == pytest.approx(row["price"], abs=0.006)
    final = float(re.search(r"^final value (\S+)", out, flags=re.M).group(1))
    assert final == pytest.approx(float(bt_result.equity.iloc[-1]), abs=0.01)
    summary = re.search(r"^final value .*fills (\d+)  adaptations (\d+)", out, flags=re.M)
    assert int(summary.group(1)) == len(bt_result.fills)
    assert int(summary.group(2)) == len(bt_result.adaptations)  # warm-up adaptations excluded
    assert "price_basis close" in out


@pytest.mark.slow
@pytest.mark.realdata
def test_replay_rail_stop_exits_3(tiny_setup, spy_csv, capsys):
    # a tight loss limit stops the session: exit code 3 and the reason on the last line
    code = _replay(tiny_setup, spy_csv, {"daily_loss_limit": 0.02})
    out = capsys.readouterr().out
    assert code == 3, out
    assert out.strip().splitlines()[-1].startswith("STOPPED by a safety rail (exit code 3): daily loss")

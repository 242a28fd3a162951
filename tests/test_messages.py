"""User-facing messages name what to change (flags, config keys) and never leak ``None``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maml_strategy.data import load_ohlcv, synthetic_ohlcv
from maml_strategy.data.validate import describe_window
from maml_strategy.errors import DataError
from maml_strategy.tasks import TaskSampler


@pytest.mark.parametrize(
    "start,end,words",
    [("2008-01-01", "2008-12-31", "between 2008-01-01 and 2008-12-31"), (None, "1991-12-31", "up to 1991-12-31"),
     ("2008-01-01", None, "from 2008-01-01 on"), (None, None, "in the data")],
)
def test_describe_window(start, end, words) -> None:
    assert describe_window(start, end) == words


def test_empty_range_message_has_no_none(spy_csv: Path) -> None:
    with pytest.raises(DataError, match="no rows up to 1991-12-31") as info:
        load_ohlcv("SPY", None, "1991-12-31", path=spy_csv)
    assert "None" not in str(info.value)


def test_not_found_hint_names_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAML_STRATEGY_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"pass path=.*--data PATH on the command line"):
        load_ohlcv("NOPE", source="csv")


def test_task_sampler_hint_names_config_keys() -> None:
    from maml_strategy.regime import Regime, RegimeSegment

    df = synthetic_ohlcv(40, seed=0)
    seg = RegimeSegment(Regime.from_code(0), df.index[0], df.index[-1], 40, 0, 39)
    x, y = np.zeros((40, 4), np.float32), np.zeros(40, np.float32)
    with pytest.raises(DataError, match=r"maml\.support_size / maml\.query_size") as info:
        TaskSampler([seg], x, y, support_size=32, query_size=16, horizon=5)
    assert "replace=True" not in str(info.value)

"""Train / validation / test windows for the backtest scripts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from maml_strategy.errors import ConfigError

__all__ = ["Period", "load_periods", "custom_period"]


@dataclass(frozen=True)
class Period:
    """One experiment window. Validation lies inside the training window, at its end."""

    name: str
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    val_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def __post_init__(self) -> None:
        if not self.train_start < self.val_start <= self.train_end < self.test_start <= self.test_end:
            raise ConfigError(
                f"period {self.name!r}: need train_start < validation start <= train_end < test_start <= test_end, "
                f"got {self.train_start.date()} < {self.val_start.date()} <= {self.train_end.date()} < "
                f"{self.test_start.date()} <= {self.test_end.date()}"
            )

    def to_dict(self) -> dict[str, dict[str, str]]:
        """JSON form used in ``summary.json``."""
        d = lambda t: str(t.date())  # noqa: E731
        return {
            "train": {"start": d(self.train_start), "end": d(self.train_end)},
            "validation": {"start": d(self.val_start), "end": d(self.train_end)},
            "test": {"start": d(self.test_start), "end": d(self.test_end)},
        }


def _ts(value: object, where: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(str(value))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a date like 2008-01-31") from exc


def custom_period(
    train_start: str, train_end: str, test_start: str, test_end: str, *, val_years: float = 2.0, name: str = "custom"
) -> Period:
    """A period from explicit dates; validation = the last ``val_years`` of training.

    Example:
        >>> custom_period("1995-01-01", "2007-12-31", "2008-01-01", "2008-12-31").val_start.year
        2006
    """
    te = _ts(train_end, "train_end")
    ts = _ts(train_start, "train_start")
    vs = max(te - pd.DateOffset(years=int(val_years)) + pd.Timedelta(days=1), ts + pd.Timedelta(days=1))
    return Period(name, ts, te, vs, _ts(test_start, "test_start"), _ts(test_end, "test_end"))


def load_periods(path: str | os.PathLike) -> dict[str, Period]:
    """Read ``backtests/periods.yaml`` into named :class:`Period` objects."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"periods file not found: {p}")
    raw = yaml.safe_load(p.read_text()) or {}
    out: dict[str, Period] = {}
    for name, spec in raw.items():
        try:
            out[str(name)] = Period(
                str(name),
                _ts(spec["train"]["start"], f"{name}.train.start"),
                _ts(spec["train"]["end"], f"{name}.train.end"),
                _ts(spec["validation"]["start"], f"{name}.validation.start"),
                _ts(spec["test"]["start"], f"{name}.test.start"),
                _ts(spec["test"]["end"], f"{name}.test.end"),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{p}: period {name!r} needs train/validation/test start and end ({exc})") from exc
    return out

"""Strategy tearsheet (HTML) with quantstats, written offline.

`quantstats <https://pypi.org/project/quantstats/>`_ (>= 0.0.86, tested with
pandas 3 / numpy 2) is an optional dependency: ``pip install -e ".[report]"``.
Returns and the benchmark are passed as series, so nothing is downloaded; the
HTML embeds its charts as SVG and its only external reference (a favicon link)
is removed, so opening the file fetches nothing either.

Example:
    >>> from maml_strategy.backtest.report import daily_returns
    >>> from maml_strategy.backtest.tearsheet import write_tearsheet
    >>> write_tearsheet(daily_returns(equity["maml"], 100_000), daily_returns(equity["buy_and_hold"], 100_000),
    ...                 "tearsheet.html", "SPY 2008: MAML vs buy-and-hold")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from maml_strategy.errors import ConfigError, DataError

__all__ = ["write_tearsheet", "INSTALL_HINT"]

INSTALL_HINT = 'the tearsheet needs quantstats: pip install -e ".[report]"'
_EXTERNAL_LINK = re.compile(r"<link[^>]*href=\"https?://[^\"]*\"[^>]*>\s*", re.I)


def _import_quantstats() -> Any:
    try:
        import quantstats
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return quantstats


def _check(series: Any, what: str) -> pd.Series:
    if not isinstance(series, pd.Series):
        raise DataError(f"{what} must be a pandas Series of daily returns (no ticker download), got {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise DataError(f"{what} needs a DatetimeIndex, got {type(series.index).__name__}")
    out = series.astype("float64").dropna()
    if len(out) < 2:
        raise DataError(f"{what} has {len(out)} finite values; a tearsheet needs at least 2 days")
    if out.abs().gt(1.0).any():
        raise DataError(f"{what} looks like prices or percent, not fractional daily returns (|r| > 1); "
                        "pass e.g. maml_strategy.backtest.report.daily_returns(equity)")
    return out


def write_tearsheet(
    strategy_returns: pd.Series,
    benchmark_returns: pd.Series,
    path: str | Path,
    title: str = "Strategy tearsheet",
    *,
    strategy_name: str | None = None,
    benchmark_name: str | None = None,
) -> Path:
    """Write a quantstats HTML tearsheet of a strategy against a benchmark (rf = 0, 252 days a year).

    Args:
        strategy_returns: daily simple returns (fractions) of the strategy, DatetimeIndex.
        benchmark_returns: daily simple returns of the benchmark (e.g. buy-and-hold) on the same days.
        path: HTML file to write (folders are created).
        title: page title.
        strategy_name: column label for the strategy (default: the series name, else "strategy").
        benchmark_name: column label for the benchmark (default: the series name, else "benchmark").

    Returns:
        The written path.

    Raises:
        ConfigError: quantstats is not installed (the message says ``pip install -e ".[report]"``).
        DataError: the inputs are not daily-return series.
    """
    strat = _check(strategy_returns, "strategy_returns")
    bench = _check(benchmark_returns, "benchmark_returns")
    qs = _import_quantstats()
    strat.name = strategy_name or (str(strategy_returns.name) if strategy_returns.name is not None else "strategy")
    bench.name = benchmark_name or (str(benchmark_returns.name) if benchmark_returns.name is not None else "benchmark")
    if strat.name == bench.name:
        bench.name = f"{bench.name} (benchmark)"
    if strat.index.tz is not None:
        strat.index = strat.index.tz_localize(None)
    if bench.index.tz is not None:
        bench.index = bench.index.tz_localize(None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")  # headless: quantstats draws with pyplot
    import matplotlib.pyplot as plt

    font_log = logging.getLogger("matplotlib.font_manager")  # "findfont: Font family 'Arial' not found" x20
    old_level, open_figures = font_log.level, set(plt.get_fignums())
    font_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore")  # quantstats' own pandas/matplotlib deprecation noise
            qs.reports.html(strat, benchmark=bench, rf=0.0, title=title, output=str(path), compounded=True,
                            periods_per_year=252, match_dates=True, strategy_title=str(strat.name),
                            benchmark_title=str(bench.name))
    finally:
        font_log.setLevel(old_level)
        for num in set(plt.get_fignums()) - open_figures:
            plt.close(num)
    html = path.read_text(encoding="utf-8")
    path.write_text(_EXTERNAL_LINK.sub("", html), encoding="utf-8")
    return path

"""Strategy tearsheet (HTML) with quantstats, written offline.

`quantstats <https://pypi.org/project/quantstats/>`_ (>= 0.0.86, tested with
pandas 3 / numpy 2) is an optional dependency: ``pip install -e ".[report]"``.
Returns and the benchmark are passed as series, so nothing is downloaded; the
HTML embeds its charts as SVG and its only external reference (a favicon link)
is removed, so opening the file fetches nothing either.

The figures agree with ``run.py``'s table: both series keep every test day
(quantstats' date matching, which trims both to the first day either moved, is
off), the first day's return is taken against the starting cash, and
:func:`write_experiment_tearsheet` uses the table's price basis and the mean
equity over the table's seeds. Rows for trailing periods longer than the window
(3Y, 5Y, 10Y on one test year), which would repeat the all-time figure, are
dropped, and glyphs that common fonts lack (``CAGR﹪``, ``√``) are spelled out.

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
from typing import TYPE_CHECKING, Any

import pandas as pd

from maml_strategy.atomic import atomic_path, output_errors
from maml_strategy.backtest.metrics import daily_returns
from maml_strategy.errors import ConfigError, DataError

if TYPE_CHECKING:
    from maml_strategy.backtest.experiment import ExperimentResult

__all__ = ["write_tearsheet", "write_experiment_tearsheet", "mean_equity", "INSTALL_HINT"]

INSTALL_HINT = 'the tearsheet needs quantstats: pip install -e ".[report]"'
_EXTERNAL_LINK = re.compile(r"<link[^>]*href=\"https?://[^\"]*\"[^>]*>\s*", re.I)
# trailing-period rows of quantstats' metrics table and how far each looks back
_LOOKBACK_ROWS = {"3M": pd.DateOffset(months=3), "6M": pd.DateOffset(months=6), "1Y": pd.DateOffset(years=1),
                  "3Y (ann.)": pd.DateOffset(years=3), "5Y (ann.)": pd.DateOffset(years=5),
                  "10Y (ann.)": pd.DateOffset(years=10)}
_GLYPHS = {"CAGR\ufe6a": "CAGR", "\u221a2": "sqrt(2)"}  # SMALL PERCENT SIGN, SQUARE ROOT: missing in many fonts


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
    parameters: dict[str, str] | None = None,
) -> Path:
    """Write a quantstats HTML tearsheet of a strategy against a benchmark (rf = 0, 252 days a year).

    Args:
        strategy_returns: daily simple returns (fractions) of the strategy, DatetimeIndex.
        benchmark_returns: daily simple returns of the benchmark (e.g. buy-and-hold) on the same days.
        path: HTML file to write (folders are created).
        title: page title.
        strategy_name: column label for the strategy (default: the series name, else "strategy").
        benchmark_name: column label for the benchmark (default: the series name, else "benchmark").
        parameters: extra ``name: value`` pairs for the subtitle (e.g. the seeds and price basis).

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
            # match_dates=False: quantstats would trim both series to the first day either moved (a strategy
            # that starts flat would cut buy-and-hold's first days off); the two already share the test days
            qs.reports.html(strat, benchmark=bench, rf=0.0, title=title, output=str(path), compounded=True,
                            periods_per_year=252, match_dates=False, strategy_title=str(strat.name),
                            benchmark_title=str(bench.name), **({"parameters": parameters} if parameters else {}))
    finally:
        font_log.setLevel(old_level)
        for num in set(plt.get_fignums()) - open_figures:
            plt.close(num)
    html = _tidy(path.read_text(encoding="utf-8"), strat.index[0], strat.index[-1])
    path.write_text(html, encoding="utf-8")
    return path


def _tidy(html: str, first: pd.Timestamp, last: pd.Timestamp) -> str:
    """No external link, no row for a trailing period longer than ``first..last``, no missing glyph."""
    html = _EXTERNAL_LINK.sub("", html)
    for label, offset in _LOOKBACK_ROWS.items():
        if last - offset < first:  # the row would cover the whole window: a repeat of the all-time figure
            html = re.sub(rf"<tr><td>{re.escape(label)}</td>(?:<td>[^<]*</td>)*</tr>\s*", "", html)
    for glyph, text in _GLYPHS.items():
        html = html.replace(glyph, text)
    return html


def mean_equity(res: ExperimentResult, strategy: str) -> pd.Series:
    """The mean over seeds of one strategy's equity curves (the table's seeds, dates and price basis).

    Args:
        res: a finished :func:`~maml_strategy.backtest.experiment.run_experiment`.
        strategy: a key of ``res.runs`` (e.g. ``"maml"``).

    Returns:
        Portfolio value per test bar; its total return is the table's mean total return.

    Raises:
        DataError: ``strategy`` was not run.
    """
    if strategy not in res.runs or not res.runs[strategy]:
        raise DataError(f"no {strategy!r} runs for the tearsheet; strategies run: {', '.join(res.runs) or 'none'}")
    return pd.concat([r.equity for r in res.runs[strategy]], axis=1).mean(axis=1).rename(strategy)


@output_errors("the tearsheet")  # OSError (disk full, read-only, permission) -> one OutputError
def write_experiment_tearsheet(res: ExperimentResult, path: str | Path, strategy: str = "maml",
                               benchmark: str = "buy_and_hold") -> Path:
    """Write ``run.py``'s tearsheet: ``strategy`` against ``benchmark`` on the table's dates, prices and seeds.

    Each side is the mean equity curve over the run's seeds (labelled so; one seed: that seed's curve),
    its first return taken against the starting cash, so the tearsheet's cumulative return is the
    table's ``total_return`` and, with one seed (or a seed-independent control such as buy-and-hold),
    its Sharpe is the table's Sharpe. With several seeds the tearsheet's Sharpe is that of the mean
    curve, not the table's mean of per-seed Sharpes. The file is written atomically.

    Args:
        res: a finished :func:`~maml_strategy.backtest.experiment.run_experiment`.
        path: HTML file to write (folders are created).
        strategy: the strategy column (a key of ``res.runs``).
        benchmark: the benchmark column (a key of ``res.runs``).

    Returns:
        The written path.

    Raises:
        ConfigError: quantstats is not installed.
        DataError: a strategy was not run.
        OutputError: the file cannot be written.
    """
    curves = {name: mean_equity(res, name) for name in (strategy, benchmark)}
    start_value = res.runs[strategy][0].metrics.get("start_value")  # the cash before the first test bar
    if start_value is None:
        raise DataError(f"the {strategy!r} runs carry no start_value metric; a tearsheet needs the return base")
    seeds = res.seeds
    what = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean equity of {len(seeds)} seeds ({seeds[0]}..{seeds[-1]})"
    labels = {strategy: f"{strategy} ({what})", benchmark: benchmark}
    first, last = curves[strategy].index[0].date(), curves[strategy].index[-1].date()
    title = (f"{strategy} vs {benchmark}, {res.symbol} {first}..{last}, {res.price_basis} price basis, "
             f"{strategy}: {what}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write_tearsheet(daily_returns(curves[strategy], start_value), daily_returns(curves[benchmark], start_value),
                        tmp, title, strategy_name=labels[strategy], benchmark_name=labels[benchmark],
                        parameters={"Seeds": what, "Price basis": res.price_basis})
    return path

"""Backtest pipeline: periods, training with cache, backtrader runs, metrics and reports.

Names are imported lazily (PEP 562), so ``maml_strategy.backtest.periods``,
``.metrics`` or ``.report`` can be imported — e.g. to validate a ``--period``
on the command line — without paying for torch and backtrader.

Example:
    >>> from maml_strategy.backtest import load_periods, run_experiment  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> "module:attribute" (relative to this package).
_LAZY: dict[str, str] = {
    "ExperimentResult": "experiment:ExperimentResult",
    "TABLE_LEGEND": "experiment:TABLE_LEGEND",
    "format_skill": "experiment:format_skill",
    "format_comparisons": "experiment:format_comparisons",
    "format_table": "experiment:format_table",
    "run_experiment": "experiment:run_experiment",
    "write_outputs": "experiment:write_outputs",
    "max_drawdown": "metrics:max_drawdown",
    "performance": "metrics:performance",
    "post_transition_stats": "metrics:post_transition_stats",
    "Period": "periods:Period",
    "custom_period": "periods:custom_period",
    "load_periods": "periods:load_periods",
    "BacktestResult": "runner:BacktestResult",
    "run_backtest": "runner:run_backtest",
    "warmup_bars": "runner:warmup_bars",
    "TrainedModels": "train:TrainedModels",
    "train_models": "train:train_models",
    "build_dataset": "train:build_dataset",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

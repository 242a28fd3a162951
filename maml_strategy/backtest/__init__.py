"""Backtest pipeline: periods, training with cache, backtrader runs, metrics and reports."""

from maml_strategy.backtest.experiment import (
    TABLE_LEGEND,
    ExperimentResult,
    format_comparisons,
    format_skill,
    format_table,
    run_experiment,
    write_outputs,
)
from maml_strategy.backtest.metrics import max_drawdown, performance, post_transition_stats
from maml_strategy.backtest.periods import Period, custom_period, load_periods
from maml_strategy.backtest.runner import BacktestResult, run_backtest, warmup_bars
from maml_strategy.backtest.train import TrainedModels, train_models

__all__ = [
    "BacktestResult",
    "ExperimentResult",
    "Period",
    "TrainedModels",
    "custom_period",
    "TABLE_LEGEND",
    "format_comparisons",
    "format_skill",
    "format_table",
    "load_periods",
    "max_drawdown",
    "performance",
    "post_transition_stats",
    "run_backtest",
    "run_experiment",
    "train_models",
    "warmup_bars",
    "write_outputs",
]

"""Hyper-parameters of the boosted-trees control: :class:`GBDTConfig`, the ``gbdt:`` section of a strategy file.

Types are checked by :class:`~maml_strategy.config.base.ConfigBase`; this module
checks ranges only and never imports LightGBM (:mod:`maml_strategy.learners.gbdt` trains).

Example:
    >>> GBDTConfig(num_leaves=7).to_lgb_params()["num_leaves"]
    7
    >>> GBDTConfig.from_dict({"num_leaves": 31}).num_leaves
    31
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from maml_strategy.config.base import ConfigBase, require

__all__ = ["GBDTConfig", "GBDTObjective", "OBJECTIVES"]

#: LightGBM objectives: "l2" (MSE) or "huber"
GBDTObjective = Literal["l2", "huber"]
OBJECTIVES: tuple[str, ...] = get_args(GBDTObjective)


@dataclass
class GBDTConfig(ConfigBase):
    """LightGBM settings (validated on construction). Defaults = the validation choice of ``backtests/select_gbdt.py``.

    Example:
        >>> GBDTConfig(num_leaves=7).to_lgb_params()["num_leaves"]
        7
    """

    # num_leaves .. feature_fraction: chosen by validation IC on 45 pooled symbols, 2006-07 (select_gbdt.py);
    # the 13 candidates scored IC 0.053-0.071, i.e. the choice is within noise of its neighbours.
    num_leaves: int = 15  # leaves per tree (grid {7, 15, 31})
    learning_rate: float = 0.02  # shrinkage per round (grid {0.02, 0.05})
    n_estimators: int = 2000  # upper bound on boosting rounds; early stopping picks the count (~200 here)
    min_data_in_leaf: int = 50  # min rows per leaf (grid {50, 200})
    feature_fraction: float = 0.5  # share of features tried per tree (0.5 vs 0.8, tried on the grid winner)
    bagging_fraction: float = 0.8  # share of rows per tree (1.0 = no bagging)
    bagging_freq: int = 1  # re-draw the row sample every k rounds (0 = no bagging)
    lambda_l2: float = 1.0  # L2 penalty on leaf values
    early_stopping_rounds: int = 100  # stop after this many rounds without validation-MSE improvement
    objective: GBDTObjective = "l2"  # "l2" (MSE) or "huber"; early stopping always monitors validation MSE
    huber_delta: float = 1.0  # delta of the Huber objective
    finetune_rounds: int = 0  # adapt() default: boosting rounds on the support window (0 = adapt is a no-op)
    finetune_lr: float = 0.05  # adapt() default shrinkage of the fine-tuning rounds
    finetune_num_leaves: int = 4  # leaves of fine-tuning trees (the support window has ~32 rows)
    finetune_min_data_in_leaf: int = 8  # min rows per leaf of fine-tuning trees
    num_threads: int = 1  # LightGBM training threads (prediction always uses 1); 1: walk-forward workers run in parallel, and 2 threads were ~4x slower under load (bench_gbdt.py)
    seed: int = 0  # seed of bagging / feature sampling (deterministic mode)

    def _validate(self) -> None:
        ints = {"num_leaves": 2, "n_estimators": 1, "min_data_in_leaf": 1, "bagging_freq": 0, "early_stopping_rounds": 1,
                "finetune_rounds": 0, "finetune_num_leaves": 2, "finetune_min_data_in_leaf": 1, "num_threads": 1}
        for name, low in ints.items():
            v = getattr(self, name)
            require(v >= low, f"GBDTConfig.{name} must be an int >= {low}, got {v!r}")
        for name in ("learning_rate", "finetune_lr", "huber_delta"):
            v = getattr(self, name)
            require(v > 0, f"GBDTConfig.{name} must be a float > 0, got {v!r}")
        for name in ("feature_fraction", "bagging_fraction"):
            v = getattr(self, name)
            require(0 < v <= 1, f"GBDTConfig.{name} must be in (0, 1], got {v!r}")
        require(self.lambda_l2 >= 0, f"GBDTConfig.lambda_l2 must be >= 0, got {self.lambda_l2!r}")

    def to_lgb_params(self) -> dict[str, Any]:
        """LightGBM ``params`` for training (deterministic, quiet)."""
        p: dict[str, Any] = {
            "objective": "huber" if self.objective == "huber" else "regression", "metric": "l2",
            "num_leaves": self.num_leaves, "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf, "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction, "bagging_freq": self.bagging_freq if self.bagging_fraction < 1 else 0,
            "lambda_l2": self.lambda_l2, "num_threads": self.num_threads, "seed": self.seed,
            "deterministic": True, "force_row_wise": True, "verbosity": -1,
        }
        if self.objective == "huber":
            p["alpha"] = self.huber_delta
        return p

"""Small shared builders for tests (imported as ``from tests.helpers import ...``)."""

from __future__ import annotations

from maml_strategy.config import StrategyConfig, load_config


def tiny_config(**trading) -> StrategyConfig:
    """A config that trains in seconds: small net, few meta-steps, few epochs."""
    return load_config(
        None,
        model={"hidden_dim": 16},
        maml={"meta_epochs": 2, "steps_per_epoch": 3, "inner_steps": 2, "num_tasks_per_batch": 4,
              "val_tasks": 8, "support_size": 16, "query_size": 8, "patience": None},
        static={"epochs": 3, "batch_size": 64, "patience": None},
        trading=trading,
    )

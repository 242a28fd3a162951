"""All configuration dataclasses and the strict YAML loader (no torch, no backtrader).

``load_config(path)`` reads a strategy YAML file into :class:`StrategyConfig`,
rejecting unknown keys with a "did you mean ..." hint and wrong types naming
the field. Every config dataclass derives from
:class:`~maml_strategy.config.base.ConfigBase`, so the same type checks run
whether a config comes from a file or from code; each class adds only its
range checks.

Modules: ``base`` (type checks, dict conversion), ``sections`` (features,
model, tasks, trading), ``learners`` (MAML and static hyper-parameters),
``gbdt`` (the LightGBM control's settings, the ``gbdt:`` section),
``regime`` (regime detector), ``loader`` (StrategyConfig, load_config).

Example:
    >>> cfg = load_config(None, trading={"max_exposure": 0.5})
    >>> cfg.trading.max_exposure, cfg.maml.inner_steps
    (0.5, 5)
"""

from __future__ import annotations

from maml_strategy.config.base import ConfigBase, coerce, config_from_dict, config_to_dict
from maml_strategy.config.gbdt import GBDTConfig
from maml_strategy.config.kinds import KINDS, KindSpec, kinds, unadapted_twin
from maml_strategy.config.learners import LOSSES, MAMLConfig, StaticConfig
from maml_strategy.config.loader import StrategyConfig, load_config
from maml_strategy.config.regime import RegimeConfig
from maml_strategy.config.sections import FeatureConfig, FewShotConfig, ModelConfig, TaskConfig, TradingConfig

__all__ = [
    "ConfigBase",
    "FeatureConfig",
    "FewShotConfig",
    "GBDTConfig",
    "KINDS",
    "KindSpec",
    "LOSSES",
    "MAMLConfig",
    "ModelConfig",
    "RegimeConfig",
    "StaticConfig",
    "StrategyConfig",
    "TaskConfig",
    "TradingConfig",
    "coerce",
    "config_from_dict",
    "config_to_dict",
    "kinds",
    "unadapted_twin",
    "load_config",
]

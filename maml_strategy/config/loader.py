"""The strategy file: :class:`StrategyConfig` and the strict YAML loader :func:`load_config`.

Example:
    >>> cfg = load_config("strategies/maml_regime.yaml")  # doctest: +SKIP
    >>> cfg.trading.max_exposure  # doctest: +SKIP
    0.98
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from maml_strategy.config.base import ConfigBase, config_from_dict
from maml_strategy.config.gbdt import GBDTConfig
from maml_strategy.config.kinds import KINDS
from maml_strategy.config.learners import MAMLConfig, StaticConfig
from maml_strategy.config.regime import RegimeConfig
from maml_strategy.config.sections import FeatureConfig, FewShotConfig, ModelConfig, TaskConfig, TradingConfig
from maml_strategy.errors import ConfigError

__all__ = ["StrategyConfig", "load_config"]


@dataclass
class StrategyConfig(ConfigBase):
    """One named strategy configuration (a file in ``strategies/``)."""

    name: str = "maml_regime"  # label used in reports
    kind: str = "maml"  # which strategy: a key of config.kinds.KINDS
    symbol: str = "SPY"  # default ticker
    regime: RegimeConfig = field(default_factory=RegimeConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    maml: MAMLConfig = field(default_factory=MAMLConfig)
    static: StaticConfig = field(default_factory=StaticConfig)
    gbdt: GBDTConfig = field(default_factory=GBDTConfig)  # the boosted-trees control (LightGBM)
    trading: TradingConfig = field(default_factory=TradingConfig)
    fewshot: FewShotConfig = field(default_factory=FewShotConfig)  # the few-shot study (backtests/fewshot_eval.py)
    live: dict[str, Any] = field(default_factory=dict)  # Robinhood settings, see maml_strategy.live.LiveConfig

    def _validate(self) -> None:
        if self.kind not in KINDS:
            close = difflib.get_close_matches(self.kind, list(KINDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}{hint}")


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> StrategyConfig:
    """Read a strategy YAML file into a :class:`StrategyConfig`.

    Args:
        path: YAML file (see ``strategies/``); None gives the defaults.
        **overrides: top-level sections or fields to replace after loading.

    Raises:
        ConfigError: missing file, invalid YAML, unknown key or wrong type.

    Example:
        >>> load_config().kind
        'maml'
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}; see strategies/*.yaml for examples")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded
    data = {**data, **overrides}
    try:
        return config_from_dict(StrategyConfig, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from exc

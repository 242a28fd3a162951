"""Strict YAML config loading: unknown keys get a hint, wrong types name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from maml_strategy.config import StrategyConfig, TradingConfig, config_from_dict, config_to_dict, load_config
from maml_strategy.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["maml_regime", "static_phase1", "naive_finetune", "buy_and_hold"])
def test_shipped_strategy_files_load(name: str) -> None:
    cfg = load_config(REPO / "strategies" / f"{name}.yaml")
    assert isinstance(cfg, StrategyConfig) and cfg.name == name
    assert cfg.kind in ("maml", "static", "naive_finetune", "buy_and_hold")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_top_level_key_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'tradng'.*Did you mean 'trading'\?"):
        load_config(_write(tmp_path, "tradng: {}\n"))


def test_unknown_nested_key_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'trading.max_exposre'.*Did you mean 'max_exposure'\?"):
        load_config(_write(tmp_path, "trading:\n  max_exposre: 0.5\n"))


def test_unknown_key_in_another_module_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'maml.inner_lr_'.*Did you mean 'inner_lr'\?"):
        load_config(_write(tmp_path, "maml:\n  inner_lr_: 0.1\n"))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("trading:\n  allow_short: 'yes'\n", "trading.allow_short: expected true/false"),
        ("trading:\n  max_exposure: high\n", "trading.max_exposure: expected a number"),
        ("features:\n  horizon: 2.5\n", "features.horizon: expected an integer"),
        ("features:\n  timeframes: D\n", "features.timeframes: expected a list"),
        ("kind: mamll\n", "did you mean 'maml'"),
        ("trading: 3\n", "trading: expected a mapping"),
    ],
)
def test_wrong_types_name_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(_write(tmp_path, text))


def test_values_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_exposure must be in"):
        load_config(_write(tmp_path, "trading:\n  max_exposure: 5\n"))
    with pytest.raises(ConfigError, match="horizon must be >= 1"):
        load_config(_write(tmp_path, "features:\n  horizon: 0\n"))


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(_write(tmp_path, "trading: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(_write(tmp_path, "- a\n- b\n"))


def test_round_trip_and_int_as_float() -> None:
    cfg = config_from_dict(TradingConfig, {"max_exposure": 1, "commission_bps": 2})
    assert cfg.max_exposure == 1.0 and isinstance(cfg.max_exposure, float)
    d = config_to_dict(load_config())
    assert load_config(None, **d) == load_config()


def test_types_checked_on_construction_too() -> None:
    """The same checks run for configs built in code as for YAML files (one implementation: coerce)."""
    import numpy as np

    from maml_strategy.config import MAMLConfig, RegimeConfig, StaticConfig

    with pytest.raises(ConfigError, match=r"TradingConfig.max_exposure: expected a number"):
        TradingConfig(max_exposure="high")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"MAMLConfig.loss: must be one of \['mse', 'huber'\]"):
        MAMLConfig(loss="l1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"StaticConfig.epochs: expected an integer"):
        StaticConfig(epochs=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"RegimeConfig.vol_threshold: expected a finite number"):
        RegimeConfig(vol_threshold=float("inf"))
    cfg = MAMLConfig(inner_lr=1, seed=np.int64(3))  # ints as floats, numpy ints as ints
    assert isinstance(cfg.inner_lr, float) and type(cfg.seed) is int
    assert RegimeConfig(vol_threshold=2).vol_threshold == 2.0  # frozen dataclass normalised too
    assert StrategyConfig(trading={"max_exposure": 0.5}).trading == TradingConfig(max_exposure=0.5)  # type: ignore[arg-type]


def test_the_table_of_kinds_drives_classes_and_config() -> None:
    from maml_strategy.config import KINDS, KindSpec, StrategyConfig, kinds
    from maml_strategy.errors import ConfigError
    from maml_strategy.strategy import STRATEGIES

    for kind, spec in KINDS.items():  # each class's own defaults agree with its kind's spec
        cls = STRATEGIES[kind]
        assert cls.__name__ == spec.strategy
        assert cls.needs_model == (spec.model is not None), kind
        assert bool(cls.params.adapt) == spec.adapts or spec.model is None, kind
    assert StrategyConfig(kind="naive_finetune").kind == "naive_finetune"
    with pytest.raises(ConfigError, match="kind must be one of .*did you mean 'momentum'"):
        StrategyConfig(kind="momentum_12_1")
    with pytest.raises(ConfigError, match="no field colour"):
        kinds(colour="red")
    with pytest.raises(ConfigError, match="role must be one of"):
        KindSpec("oracle", "BuyAndHoldStrategy", None, False, True, "prophet", "")
    with pytest.raises(ConfigError, match="depends on its seed"):
        KindSpec("net", "StaticModelStrategy", "static", False, True, "learned", "")

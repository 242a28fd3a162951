"""The flat public API: every name resolves, and ``import maml_strategy`` stays cheap."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import maml_strategy


def test_import_is_cheap() -> None:
    code = (
        "import sys, maml_strategy\n"
        "heavy = sorted(m for m in ('torch', 'backtrader', 'pandas', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", [n for n in maml_strategy.__all__ if n != "__version__"])
def test_every_public_name_resolves(name: str) -> None:
    target = maml_strategy._LAZY.get(name)
    assert target is not None, f"{name} is in __all__ but has no entry in maml_strategy._LAZY"
    module_name, attr = target.split(":")
    home = importlib.import_module(module_name)
    assert hasattr(home, attr), f"{module_name} does not define {attr} (listed in maml_strategy._LAZY)"
    assert getattr(maml_strategy, name) is getattr(home, attr)


def test_every_config_section_is_public() -> None:
    from maml_strategy import (  # noqa: F401
        FeatureConfig,
        MAMLConfig,
        ModelConfig,
        RegimeConfig,
        StaticConfig,
        StrategyConfig,
        TaskConfig,
        TradingConfig,
    )

    assert StrategyConfig().regime == RegimeConfig()
    # every section of the strategy file (gbdt: included) is a public name, derived, not listed
    import dataclasses

    sections = [type(getattr(StrategyConfig(), f.name)).__name__ for f in dataclasses.fields(StrategyConfig)
                if dataclasses.is_dataclass(getattr(StrategyConfig(), f.name))]
    assert "GBDTConfig" in sections and len(sections) >= 8
    assert [s for s in sections if s not in maml_strategy.__all__] == []


def test_unknown_name_raises() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        maml_strategy.NoSuchThing  # noqa: B018


def test_help_is_one_page() -> None:
    code = (
        "import pydoc, maml_strategy\n"
        "from maml_strategy import MAMLRegimeStrategy, RegimeConfig, DataError\n"  # loaded names too
        "print(len(pydoc.render_doc(maml_strategy, renderer=pydoc.plaintext).splitlines()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 400


def test_docstring_names_every_public_name() -> None:
    doc = maml_strategy.__doc__ or ""
    missing = [n for n in maml_strategy.__all__ if n != "__version__" and n not in doc]
    assert missing == []


def test_import_from_top_level() -> None:
    from maml_strategy import MAMLConfig, Regime, load_ohlcv  # noqa: F401

    assert Regime.from_code(0) in list(Regime)

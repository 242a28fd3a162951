"""Every ```python block of README.md runs as written, on its own, in a fresh namespace.

A block preceded by ``<!-- readme-test: needs-model PATH -->`` loads a trained
model from ``PATH``; the test writes a tiny one there first (trained in a few
seconds on synthetic data). Blocks run in a temporary working directory holding
a copy of ``strategies/``; ``SPY`` comes from the shared real data when present,
else from a synthetic ``./data/SPY.csv`` (the loader's download cache).
"""

from __future__ import annotations

import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"(?:<!--\s*readme-test:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.S)


def python_blocks(text: str) -> list[tuple[str, str]]:
    """``(marker, code)`` of every python block; marker is '' without an HTML comment."""
    return [(m.group("marker") or "", m.group("code")) for m in _BLOCK.finditer(text)]


def test_readme_has_python_blocks() -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2
    assert any(marker.startswith("needs-model") for marker, _ in blocks)


def _write_tiny_model(path: Path) -> None:
    from maml_strategy.backtest import custom_period, train_models
    from maml_strategy.data import synthetic_ohlcv
    from tests.helpers import tiny_config

    df = synthetic_ohlcv(1500, seed=11).drop(columns=["regime"])
    period = custom_period("2001-01-01", "2005-12-31", "2006-01-01", "2006-12-31", name="readme")
    models = train_models(df, tiny_config(), period, seed=0, cache_dir=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    models.maml.save(path)


@pytest.fixture()
def readme_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO_ROOT / "strategies", tmp_path / "strategies")
    if (SHARED_DATA / "SPY.csv").is_file():
        monkeypatch.setenv("MAML_STRATEGY_DATA", str(SHARED_DATA))
    else:  # pragma: no cover - machines without the shared data
        from maml_strategy.data import synthetic_ohlcv

        monkeypatch.delenv("MAML_STRATEGY_DATA", raising=False)
        df = synthetic_ohlcv(2800, seed=3, start="2000-01-03").drop(columns=["regime"])
        out = df.rename(columns=str.title).assign(**{"Adj Close": df["close"]})
        out.index.name = "Date"
        (tmp_path / "data").mkdir()
        out[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(tmp_path / "data" / "SPY.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("index", range(len(python_blocks(README.read_text()))))
def test_readme_block_runs(
    index: int, readme_cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    marker, code = python_blocks(README.read_text())[index]
    if marker:
        kind, *args = marker.split()
        if kind != "needs-model" or len(args) != 1:
            pytest.fail(f"unknown readme-test marker {marker!r}; use 'needs-model PATH'")
        _write_tiny_model(readme_cwd / args[0])
    module = types.ModuleType(f"readme_block_{index}")  # backtrader looks classes' modules up in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, f"README.md python block {index}", "exec"), module.__dict__)
    assert capsys.readouterr().out.strip(), "every README example prints something"

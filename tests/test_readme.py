"""Every ```python block of README.md runs as written, on its own, in a fresh namespace, and prints what
the README shows.

A block preceded by ``<!-- readme-test: needs-model PATH -->`` loads a trained
model from ``PATH``; the test writes a tiny one there first (trained in a few
seconds on synthetic data). Blocks run in a temporary working directory holding
a copy of ``strategies/``; ``SPY`` comes from the shared real data when present,
else from a synthetic ``./data/SPY.csv`` (the loader's download cache).

A ```text block marked ``<!-- readme-test: output -->`` after a python block (before
the next fence) is that block's printed output: with the real data every line and
word must match, except numbers with a decimal point, which depend on the trained
model (the README says so) and only have to be numbers.
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


_OUTPUT = re.compile(r"(?:(?!```).)*?<!--\s*readme-test:\s*output\s*-->\s*\n```text\n(?P<out>.*?)```", re.S)
_DECIMAL = re.compile(r"[+-]?\d+\.\d+")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def python_blocks(text: str) -> list[tuple[str, str]]:
    """``(marker, code)`` of every python block; marker is '' without an HTML comment."""
    return [(m.group("marker") or "", m.group("code")) for m in _BLOCK.finditer(text)]


def expected_outputs(text: str) -> list[str | None]:
    """The marked output block after each python block (None where there is none)."""
    outs = []
    for m in _BLOCK.finditer(text):
        out = _OUTPUT.match(text, m.end())
        outs.append(out.group("out") if out else None)
    return outs


def output_mismatch(expected: str, actual: str) -> str | None:
    """Why ``actual`` differs from ``expected`` (decimal numbers are placeholders for any number), or None."""
    want, got = expected.strip().splitlines(), actual.strip().splitlines()
    if len(want) != len(got):
        return f"{len(got)} lines printed, the README shows {len(want)}:\n" + "\n".join(got)
    for k, (w, g) in enumerate(zip(want, got), 1):
        wt, gt = w.split(), g.split()
        same = len(wt) == len(gt) and all(
            a == b or (_DECIMAL.fullmatch(a) is not None and _NUMBER.fullmatch(b) is not None) for a, b in zip(wt, gt))
        if not same:
            return f"line {k}: printed {g!r}, the README shows {w!r}"
    return None


def test_output_comparison_can_fail() -> None:
    assert output_mismatch("2008-01-14 bull -> bear 0.847\n", "2008-01-14 bull -> bear 0.5") is None
    assert output_mismatch("2008-01-14 bull -> bear 0.847", "2008-01-15 bull -> bear 0.5").startswith("line 1")
    assert output_mismatch("a 0.8", "a b") is not None  # a placeholder still needs a number
    assert output_mismatch("a\nb", "a").startswith("1 lines printed")


def test_readme_has_python_blocks() -> None:
    text = README.read_text()
    blocks = python_blocks(text)
    assert len(blocks) >= 2
    assert any(marker.startswith("needs-model") for marker, _ in blocks)
    outputs = expected_outputs(text)
    assert outputs[0] is not None and outputs[1] is not None, "the drop-in examples show what they print"


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
    printed = capsys.readouterr().out
    assert printed.strip(), "every README example prints something"
    expected = expected_outputs(README.read_text())[index]
    if expected is not None and (SHARED_DATA / "SPY.csv").is_file():  # synthetic SPY: other dates, other words
        problem = output_mismatch(expected, printed)
        assert problem is None, f"README python block {index} does not print what the README shows: {problem}"

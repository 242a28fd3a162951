"""Every strategy documents its params, and ``python -m maml_strategy params`` prints them."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from maml_strategy.cli import _docstring_params, strategy_params
from maml_strategy.strategy import STRATEGIES
from tests.conftest import REPO_ROOT


def _documented_defaults(doc: str) -> dict[str, str]:
    """``{name: default text}`` of a docstring's Params section."""
    from maml_strategy.cli import _DOC_ENTRY

    out: dict[str, str] = {}
    for line in (doc or "").splitlines():
        match = _DOC_ENTRY.match(line.strip())
        if match:
            out.update({n: match.group("default") for n in match.group("names").split(", ")})
    return out


@pytest.mark.parametrize("name", sorted({cls.__name__ for cls in STRATEGIES.values()}))
def test_every_param_is_documented_in_the_class_docstring(name: str) -> None:
    """A new strategy class (added to STRATEGIES) must document each of its params, default included."""
    cls = next(c for c in STRATEGIES.values() if c.__name__ == name)
    documented = _docstring_params(cls.__doc__)
    names = [p.name for p in strategy_params(cls)]
    missing = [n for n in names if not documented.get(n)]
    assert missing == [], f"{cls.__name__}'s docstring has no 'name (default): meaning' line for {missing}"
    defaults = _documented_defaults(cls.__doc__ or "")
    for p in strategy_params(cls):
        try:
            literal = ast.literal_eval(defaults[p.name])
        except (ValueError, SyntaxError):
            continue  # a named constant, e.g. DEFAULT_LONG_REGIMES
        assert literal == p.default, f"{cls.__name__}.{p.name}: docstring says {literal!r}, params say {p.default!r}"


def test_trailing_comment_is_the_fallback_meaning() -> None:
    import backtrader as bt

    class Bare(bt.Strategy):
        params = (
            ("window", 10),  # bars in the window
        )

    assert [(p.name, p.default, p.meaning) for p in strategy_params(Bare)] == [("window", 10, "bars in the window")]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maml_strategy", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=60)


def test_cli_lists_strategies_and_prints_a_table(capsys) -> None:
    from maml_strategy.__main__ import main

    listing = _cli("params")  # once as a real `python -m maml_strategy`, the rest in-process
    assert listing.returncode == 0, listing.stderr
    for kind, cls in STRATEGIES.items():
        assert kind in listing.stdout and cls.__name__ in listing.stdout
    assert main(["params", "SMA200Strategy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["name", "default", "meaning"]
    assert any(line.split()[:2] == ["period", "200"] and "moving average" in line for line in lines)
    assert "(undocumented)" not in "\n".join(lines)
    assert main(["params", "maml"]) == 0
    assert capsys.readouterr().out.startswith("MAMLRegimeStrategy params")


def test_cli_unknown_strategy_is_one_error_line(capsys) -> None:
    from maml_strategy.__main__ import main
    from maml_strategy.cli import run_main

    assert run_main(main, ["params", "NoSuchStrategy"]) == 2  # what `python -m maml_strategy` runs
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "MAMLRegimeStrategy (maml)" in last
"""``python -m maml_strategy``: look the package up from the command line.

Commands:
    params             list the strategies (registry kind, class, one line each)
    params NAME        the params of one strategy as a table: name, default, meaning
                       (NAME is a class name or a registry kind, any case: ``maml``, ``SMA200Strategy``)

Example:
    python -m maml_strategy params MAMLRegimeStrategy
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from maml_strategy.cli import error, format_table, make_parser, run_main, strategy_params

__all__ = ["main", "find_strategy", "strategies_table", "params_table"]

# The command line sits above every layer (like backtests/*.py); the backtrader layer is
# imported by name, and only when a command needs it.
_STRATEGY_MODULE = "maml_strategy.strategy"
_PORTFOLIO_MODULE = "maml_strategy.portfolio"  # the many-datas strategy, outside the single-symbol registry


def _registry() -> dict[str, type]:
    registry = dict(importlib.import_module(_STRATEGY_MODULE).STRATEGIES)
    registry["portfolio"] = importlib.import_module(_PORTFOLIO_MODULE).PortfolioStrategy
    return registry


def find_strategy(name: str) -> type:
    """The strategy class called ``name`` (class name or registry kind, case-insensitive).

    Raises:
        UsageError: no strategy has that name; the message lists the available ones.

    Example:
        >>> find_strategy("sma200").__name__
        'SMA200Strategy'
    """
    registry = _registry()
    wanted = name.strip().lower()
    for kind, cls in registry.items():
        if wanted in (kind, cls.__name__.lower()):
            return cls
    names = ", ".join(f"{cls.__name__} ({kind})" for kind, cls in registry.items())
    error(f"no strategy named {name!r}; available: {names}", flag="params")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def strategies_table() -> str:
    """Every registered strategy: kind, class and what it does (its kind's summary, else its docstring's first line)."""
    from maml_strategy.config import KINDS

    rows = [[kind, cls.__name__, KINDS[kind].summary if kind in KINDS else _first_line(cls.__doc__).replace("``", "")]
            for kind, cls in _registry().items()]
    return format_table(["kind", "class", "what it does"], rows)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def params_table(cls: type) -> str:
    """The params of strategy class ``cls``: name, default and meaning, one row each.

    Example:
        >>> params_table(find_strategy("sma200")).splitlines()[2].split()[:2]
        ['model', 'None']
    """
    rows = [[p.name, _show(p.default), (p.meaning or "(undocumented)").replace("``", "")]
            for p in strategy_params(cls)]
    return format_table(["name", "default", "meaning"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m maml_strategy``; returns the exit status."""
    ap = make_parser(__doc__, prog="python -m maml_strategy")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("params", help="a strategy's params (name, default, meaning); without NAME, the strategies")
    p.add_argument("name", nargs="?", metavar="NAME", help="class name or registry kind, e.g. MAMLRegimeStrategy or maml")
    args = ap.parse_args(argv)
    if args.name is None:
        print(strategies_table())
        print("\nParams of one: python -m maml_strategy params NAME")
        return 0
    cls = find_strategy(args.name)
    print(f"{cls.__name__} params (cerebro.addstrategy({cls.__name__}, name=value, ...)):\n")
    print(params_table(cls))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""One command-line convention for every script (``backtests/*.py``, ``benchmarks/*.py``).

* :func:`make_parser` builds an :class:`ArgumentParser` whose ``--help`` shows
  every option's default and keeps the description's line breaks.
* Every rejection — a bad flag value, a missing data file, an invalid config —
  exits with status 2 and ends with ONE line ``error: ...`` on stderr that names
  the flag to change (argparse's own errors included: usage, then ``error: ...``).
* :func:`error` rejects a value from inside ``main``: it raises
  :class:`UsageError` (a :class:`~maml_strategy.errors.ConfigError`) carrying
  the flag; :func:`run_main` prints any
  :class:`~maml_strategy.errors.MamlStrategyError` as that one line and returns 2.
* :func:`quiet_third_party` silences yfinance's log lines and third-party
  pandas/numpy deprecation warnings, so the real error is the only output.
* Validate arguments BEFORE importing torch or backtrader (import them inside
  ``main`` after validation): a typo is then rejected in a fraction of a second.
  This module imports neither (nor pandas).

Argparse ``type=`` helpers that reject early with a clear message:
:func:`positive_int`, :func:`non_negative_int`, :func:`positive_float`,
:func:`iso_date`, and :func:`checked` to turn any validator raising
``ValueError``/``MamlStrategyError`` into one.

Example (a complete script)::

    import sys
    from maml_strategy.cli import error, iso_date, make_parser, positive_int, run_main

    def build_parser():
        ap = make_parser(__doc__)
        ap.add_argument("--symbol", default="SPY", help="ticker")
        ap.add_argument("--start", type=iso_date, default="2008-01-01", help="first test day")
        ap.add_argument("--seeds", type=positive_int, default=5, help="number of seeds")
        return ap

    def main(argv=None) -> int:
        args = build_parser().parse_args(argv)      # bad --seeds: usage + "error: argument --seeds: ..." , exit 2
        if args.start >= "2025-01-01":
            error("must be before 2025-01-01 (no data after)", flag="--start")  # -> "error: --start: must be ..."
        from maml_strategy.backtest import run_experiment   # torch/backtrader only after validation
        ...                                                  # DataError etc. -> "error: ...", status 2
        return 0

    if __name__ == "__main__":
        sys.exit(run_main(main))
"""

from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import logging
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO, TypeVar

from maml_strategy.errors import ConfigError, MamlStrategyError

__all__ = [
    "ArgumentParser",
    "HelpFormatter",
    "ParamDoc",
    "UsageError",
    "checked",
    "error",
    "format_error",
    "format_table",
    "iso_date",
    "make_parser",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "quiet_third_party",
    "run_main",
    "strategy_params",
]

T = TypeVar("T")
EXIT_USAGE = 2  # argparse's status for bad usage; also used for data/config errors


class UsageError(ConfigError):
    """A command-line value was rejected; ``flag`` names the option to change.

    Example:
        >>> str(UsageError("must be >= 1, got 0", flag="--seeds"))
        '--seeds: must be >= 1, got 0'
    """

    def __init__(self, message: str, *, flag: str | None = None) -> None:
        super().__init__(f"{flag}: {message}" if flag else message)
        self.flag = flag


def format_error(message: str | BaseException) -> str:
    """``"error: <message>"`` on one line (whitespace, newlines included, collapsed).

    Example:
        >>> format_error("no data for 'NOPE'.\\n  Tried: ./data")
        "error: no data for 'NOPE'. Tried: ./data"
    """
    return "error: " + " ".join(str(message).split())


def error(message: str, flag: str | None = None) -> NoReturn:
    """Reject a command-line value: raise :class:`UsageError` (printed by :func:`run_main`).

    Args:
        message: what is wrong and how to fix it, e.g. ``"must look like 1995-2007, got 'abc'"``.
        flag: the option to change, e.g. ``"--years"`` (prefixed to the message).

    Raises:
        UsageError: always.
    """
    raise UsageError(message, flag=flag)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show every default; keep the description's and epilog's line breaks.

    A ``None`` default is shown only for options without help text (the help
    should then say what leaving the option unset means).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None and action.help and "%(default)" not in action.help:
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors end with one ``error: ...`` line (exit status 2).

    Options added without ``help`` still show their default in ``--help``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("help") is None and any(str(a).startswith("-") for a in args):
            kwargs["help"] = "(default: %(default)s)"
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, format_error(f"{message} (see {self.prog} --help)") + "\n")


def make_parser(description: str | None = None, *, prog: str | None = None, epilog: str | None = None) -> ArgumentParser:
    """An :class:`ArgumentParser` with the project's help format and error convention.

    Args:
        description: shown above the options (line breaks kept), e.g. the script's ``__doc__``.
        prog: program name (default: the script's file name).
        epilog: shown below the options.

    Example:
        >>> ap = make_parser("Demo.")
        >>> _ = ap.add_argument("--seeds", type=positive_int, default=5)
        >>> ap.parse_args([]).seeds
        5
        >>> "(default: 5)" in ap.format_help()
        True
    """
    return ArgumentParser(description=description, prog=prog, epilog=epilog)


def checked(fn: Callable[[str], T], name: str | None = None) -> Callable[[str], T]:
    """Wrap a validator for ``type=``: its ``ValueError``/``MamlStrategyError`` message reaches the user.

    argparse replaces a plain ``ValueError``'s message with ``invalid <type> value``;
    the wrapper re-raises it as ``ArgumentTypeError`` so ``--flag: <your message>`` is shown.

    Example:
        >>> ap = make_parser()
        >>> _ = ap.add_argument("--years", type=checked(lambda s: s.split("-")))
    """

    def wrapper(text: str) -> T:
        try:
            return fn(text)
        except (ValueError, TypeError, MamlStrategyError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    wrapper.__name__ = name or getattr(fn, "__name__", "value")
    return wrapper


def _int_at_least(low: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """``type=`` for integers >= 1 (``--seeds``, ``--epochs``).

    Example:
        >>> positive_int("3")
        3
    """
    return _int_at_least(1, text)


def non_negative_int(text: str) -> int:
    """``type=`` for integers >= 0 (``--steps``, ``--readapt-every``)."""
    return _int_at_least(0, text)


def positive_float(text: str) -> float:
    """``type=`` for finite floats > 0 (learning rates).

    Example:
        >>> positive_float("0.01")
        0.01
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def iso_date(text: str) -> str:
    """``type=`` for a calendar date ``YYYY-MM-DD``; returns it normalised (no pandas import).

    Example:
        >>> iso_date("2008-1-2")
        '2008-01-02'
    """
    try:
        parts = [int(p) for p in str(text).strip().split("-")]
        if len(parts) != 3:
            raise ValueError
        return _dt.date(*parts).isoformat()
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"must be a date like 2008-01-31, got {text!r}") from None


def quiet_third_party() -> None:
    """Silence third-party noise that hides the real message.

    yfinance logs every failed download (cookie/crumb, DNS, "1 Failed download")
    before our loader raises one :class:`~maml_strategy.errors.DataError` that
    says the same thing with a fix; pandas/numpy deprecation and future warnings
    raised from inside yfinance, backtrader, pandas or matplotlib are not
    actionable by a user. Warnings from this package (e.g. ``DataWarning``) stay.
    """
    yf = logging.getLogger("yfinance")
    yf.setLevel(logging.CRITICAL + 1)
    yf.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in yf.handlers):
        yf.addHandler(logging.NullHandler())
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(yfinance|backtrader|pandas|matplotlib|numpy)(\.|$)")
    # pandas' own deprecation classes (e.g. Pandas4Warning) need not derive from the builtin ones
    warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")


def run_main(
    fn: Callable[..., Any],
    argv: Sequence[str] | None = None,
    *,
    quiet: bool = True,
    stream: TextIO | None = None,
) -> int:
    """Run ``fn(argv)`` with the project's error convention; returns the exit status.

    * returns ``fn``'s status if it is an int, else 0 (``None`` or a results object);
    * a :class:`~maml_strategy.errors.MamlStrategyError` (DataError, ConfigError,
      ModelError, :class:`UsageError`, ...) prints ``error: <message>`` on one line
      to stderr and returns 2 (no traceback: it is the user's input, not a bug);
    * ``SystemExit`` from argparse (bad usage, ``--help``) returns its status;
    * Ctrl-C prints ``error: interrupted`` and returns 130.

    Args:
        fn: the script's main, called as ``fn(argv)`` (``argv=None`` = ``sys.argv[1:]``).
        argv: arguments passed to ``fn``.
        quiet: call :func:`quiet_third_party` first.
        stream: where errors go (default ``sys.stderr``).

    Example:
        >>> def main(argv=None):
        ...     error("must look like 1995-2007, got 'abc'", flag="--years")
        >>> run_main(main, stream=sys.stdout)
        error: --years: must look like 1995-2007, got 'abc'
        2
    """
    if quiet:
        quiet_third_party()
    out = stream if stream is not None else sys.stderr
    try:
        status = fn(argv)
    except MamlStrategyError as exc:
        print(format_error(exc), file=out)
        return EXIT_USAGE
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        print(format_error(code), file=out)
        return 1
    except KeyboardInterrupt:
        print(format_error("interrupted"), file=out)
        return 130
    return status if isinstance(status, int) else 0


@dataclass(frozen=True)
class ParamDoc:
    """One backtrader param: its name, default and meaning (``""`` when undocumented)."""

    name: str
    default: Any
    meaning: str


_DOC_ENTRY = re.compile(r"^(?P<names>\w+(?:, \w+)*) \((?P<default>.*?)\): (?P<meaning>.*)$")
_COMMENTED_PARAM = re.compile(r"""^\s*\(\s*["'](?P<name>\w+)["']\s*,.*#\s*(?P<meaning>.+?)\s*$""")


def _docstring_params(doc: str | None) -> dict[str, str]:
    """``{name: meaning}`` from a docstring's ``Params`` section (``name (default): meaning`` lines)."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Params")), None)
    if start is None:
        return out
    last: list[str] = []
    for line in lines[start + 1:]:
        if not line.strip() or not line.startswith(" "):
            break
        match = _DOC_ENTRY.match(line.strip())
        if match and line.startswith(" " * 4) and not line.startswith(" " * 5):
            last = match.group("names").split(", ")
            out.update({name: match.group("meaning") for name in last})
        else:  # a continuation line of the previous entry
            out.update({name: f"{out[name]} {line.strip()}" for name in last})
    return out


def _commented_params(cls: type) -> dict[str, str]:
    """``{name: meaning}`` from trailing comments of ``("name", default),  # meaning`` in ``cls`` and its bases."""
    out: dict[str, str] = {}
    for klass in cls.__mro__:
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            match = _COMMENTED_PARAM.match(line)
            if match:
                out.setdefault(match.group("name"), match.group("meaning"))
    return out


def strategy_params(cls: type) -> list[ParamDoc]:
    """Every param of a backtrader strategy class, in order, with its default and meaning.

    The meaning comes from the class's docstring (a ``Params`` section of
    ``name (default): meaning`` lines), else from the trailing comment of the
    ``params`` tuple entry in the class or a base class, else it is ``""``.
    Works for any class with backtrader ``params``, so new strategies are covered.

    Args:
        cls: a ``bt.Strategy`` subclass (or any class whose ``params`` is a tuple of pairs).

    Example:
        >>> class Demo:
        ...     \"\"\"Demo.
        ...
        ...     Params:
        ...         period (20): bars in the average.
        ...     \"\"\"
        ...     params = (("period", 20), ("band", 0.1))  # band is undocumented
        >>> [(p.name, p.default, p.meaning) for p in strategy_params(Demo)]
        [('period', 20, 'bars in the average.'), ('band', 0.1, '')]
    """
    params = getattr(cls, "params", ())
    items = list(params._getitems()) if hasattr(params, "_getitems") else [tuple(p) for p in params]
    documented = _docstring_params(cls.__doc__)
    commented = _commented_params(cls)
    return [ParamDoc(str(name), default, documented.get(name) or commented.get(name, "")) for name, default in items]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns (the last column is not padded).

    Example:
        >>> print(format_table(["name", "default"], [["period", 200], ["adapt", True]]))
        name    default
        ------  -------
        period  200
        adapt   True
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

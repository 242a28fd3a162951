"""Many symbols at once: resolve a universe spec and load every symbol's frame.

A *spec* is one of:

* a directory of Yahoo-format CSVs (``<SYMBOL>.csv``; other files are ignored);
* a YAML file listing symbols, either a plain list or ``{symbols: [...], path: DIR}``
  (``path``, relative to the YAML file, is where the CSVs lie; without it each symbol
  goes through :func:`~maml_strategy.data.load_ohlcv`'s usual search order);
* a comma-separated list of symbols (``"SPY,QQQ,IWM"``), each resolved through the
  usual search order.

Example:
    >>> frames = load_universe("../shared/data/universe", "2000-01-01", "2010-12-31")  # doctest: +SKIP
    >>> sorted(frames)[:3]  # doctest: +SKIP
    ['ACGL', 'AFL', 'AIG']
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from maml_strategy.data.sources import load_ohlcv
from maml_strategy.data.validate import DataWarning
from maml_strategy.errors import DataError

__all__ = ["UniverseSpec", "name_list", "resolve_universe", "load_universe", "universe_fingerprint"]

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-^=_]{0,19}$")


@dataclass(frozen=True)
class UniverseSpec:
    """A resolved universe: symbols in order and, per symbol, an explicit CSV path or None (search order)."""

    source: str  # the spec as given (for reports)
    symbols: tuple[str, ...]  # upper-case, unique, in spec order (directories: alphabetical)
    paths: tuple[str | None, ...]  # CSV path per symbol, or None = load_ohlcv's search order

    def path_of(self, symbol: str) -> str | None:
        """The CSV path of ``symbol`` (None = search order)."""
        return self.paths[self.symbols.index(symbol)]

    def subset(self, symbols: Sequence[str], *, flag: str = "--symbols") -> UniverseSpec:
        """The same universe restricted to ``symbols`` (each must be in it).

        Args:
            symbols: the symbols to keep (any case; blanks ignored).
            flag: the command-line option that gave them, named in the error.

        Raises:
            DataError: symbols not in the universe: every one is named (the first
                10 and "and N more" beyond that), with where the available ones are listed.

        Example:
            >>> resolve_universe("SPY,QQQ,IWM").subset(["qqq"]).symbols
            ('QQQ',)
        """
        want = [s.strip().upper() for s in symbols if s.strip()]
        missing = [s for s in want if s not in self.symbols]
        if missing:
            raise DataError(
                f"{flag}: {len(missing)} symbol(s) not in the universe {self.source!r}: {name_list(missing)}; "
                f"{self.listing_hint()}; fix {flag} or add their CSVs to the universe"
            )
        return UniverseSpec(self.source, tuple(want), tuple(self.path_of(s) for s in want))

    def listing_hint(self) -> str:
        """Where the universe's symbols are listed, for error messages.

        Example:
            >>> resolve_universe("SPY,QQQ").listing_hint()
            "its 2 symbols are the comma list 'SPY,QQQ'"
        """
        p = Path(self.source).expanduser()
        n = len(self.symbols)
        if p.is_dir():
            return f"its {n} symbols are the <SYMBOL>.csv files in {p} (ls {p})"
        if p.suffix.lower() in (".yaml", ".yml"):
            return f"its {n} symbols are listed under 'symbols:' in {p}"
        return f"its {n} symbols are the comma list {self.source!r}"


def name_list(names: Sequence[str], limit: int = 10) -> str:
    """``"A, B, C"``, or the first ``limit`` names and ``"and N more"``.

    Example:
        >>> name_list([f"S{i}" for i in range(12)])
        'S0, S1, S2, S3, S4, S5, S6, S7, S8, S9 and 2 more'
    """
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _check_symbols(symbols: Sequence[Any], where: str) -> list[str]:
    out: list[str] = []
    for s in symbols:
        if not isinstance(s, str) or not _SYMBOL.match(s.strip()):
            raise DataError(f"{where}: {s!r} is not a ticker symbol (letters, digits, '.', '-', '^'); fix the list")
        sym = s.strip().upper()
        if sym not in out:
            out.append(sym)
    if not out:
        raise DataError(f"{where} lists no symbols; give at least one")
    return out


def resolve_universe(spec: str | os.PathLike | Sequence[str]) -> UniverseSpec:
    """Turn a directory, a YAML file or a comma list into symbols and CSV paths (no data are read).

    Raises:
        DataError: an empty directory, a YAML file without a symbol list, a bad symbol.

    Example:
        >>> resolve_universe("SPY, qqq").symbols
        ('SPY', 'QQQ')
    """
    if not isinstance(spec, (str, os.PathLike)):
        syms = _check_symbols(list(spec), "the symbol list")
        return UniverseSpec(",".join(syms), tuple(syms), (None,) * len(syms))
    text = str(spec).strip()
    if not text:
        raise DataError("the universe spec is empty; give a directory of CSVs, a YAML file or 'SPY,QQQ'")
    p = Path(text).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".csv" and not f.name.startswith("."))
        if not files:
            raise DataError(f"the universe directory {p} holds no .csv files; put <SYMBOL>.csv files (Yahoo format) in it")
        syms = [f.stem.upper() for f in files]
        return UniverseSpec(text, tuple(syms), tuple(str(f) for f in files))
    if p.suffix.lower() in (".yaml", ".yml"):
        if not p.is_file():
            raise DataError(f"universe file {p} not found; check the path")
        try:
            doc = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise DataError(f"universe file {p} is not valid YAML: {exc}") from exc
        folder = None
        if isinstance(doc, dict):
            if "symbols" not in doc:
                raise DataError(f"universe file {p} needs a 'symbols:' list (and optionally 'path: DIR')")
            folder = doc.get("path")
            doc = doc["symbols"]
        if not isinstance(doc, list):
            raise DataError(f"universe file {p} must hold a list of symbols or {{symbols: [...], path: DIR}}")
        syms = _check_symbols(doc, f"universe file {p}")
        if folder is None:
            return UniverseSpec(text, tuple(syms), (None,) * len(syms))
        base = (p.parent / str(folder)).resolve()
        return UniverseSpec(text, tuple(syms), tuple(str(base / f"{s}.csv") for s in syms))
    if os.sep in text or text.endswith(".csv"):
        raise DataError(f"universe {text!r}: no such directory; give a directory of CSVs, a YAML file or 'SPY,QQQ'")
    syms = _check_symbols(text.split(","), f"universe {text!r}")
    return UniverseSpec(text, tuple(syms), (None,) * len(syms))


def load_universe(
    spec: str | os.PathLike | Sequence[str] | UniverseSpec,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    *,
    adjust: str = "none",
    skip_bad: bool = False,
    min_rows: int = 1,
) -> dict[str, pd.DataFrame]:
    """Load and validate every symbol of a universe.

    Args:
        spec: directory, YAML file, comma list, list of symbols or a resolved :class:`UniverseSpec`.
        start, end: date range kept (inclusive; None = all).
        adjust: price basis, ``"none"`` or ``"total"`` (see :func:`~maml_strategy.data.load_ohlcv`).
        skip_bad: False: any failed symbol raises (before any training starts);
            True: failed symbols are dropped with one ``DataWarning`` naming each and why.
        min_rows: rows each symbol needs after slicing.

    Returns:
        ``{symbol: frame}`` in the universe's order.

    Raises:
        DataError: one message naming every symbol that failed and why (unless ``skip_bad``),
            or when no symbol could be loaded at all.
    """
    uni = spec if isinstance(spec, UniverseSpec) else resolve_universe(spec)
    frames: dict[str, pd.DataFrame] = {}
    failed: list[str] = []
    for sym, path in zip(uni.symbols, uni.paths):
        try:
            frames[sym] = load_ohlcv(sym, start, end, path=path, adjust=adjust, min_rows=min_rows)
        except DataError as exc:
            reason = " ".join(str(exc).split())
            failed.append(f"{sym} ({reason[:300]}{'...' if len(reason) > 300 else ''})")
    if failed and (not skip_bad or not frames):
        hint = "" if skip_bad else "; fix or remove them, or pass --skip-bad-symbols to continue without them"
        shown = "; ".join(failed[:10]) + (f"; and {len(failed) - 10} more" if len(failed) > 10 else "")
        raise DataError(f"{len(failed)} of {len(uni.symbols)} symbol(s) in {uni.source!r} failed to load "
                        f"({name_list([f.split(' ', 1)[0] for f in failed])}): " + shown + hint)
    if failed:
        warnings.warn(f"skipping {len(failed)} symbol(s) that failed to load: " + "; ".join(failed),
                      DataWarning, stacklevel=2)
    return frames


def universe_fingerprint(frames: dict[str, pd.DataFrame]) -> list[tuple[str, str, str, int]]:
    """``(symbol, first date, last date, rows)`` per frame: a cheap, stable description for cache keys."""
    return [(s, str(f.index[0].date()), str(f.index[-1].date()), len(f)) for s, f in frames.items()]

"""Cross-sectional ranking and turnover rule of the portfolio strategy (core: no backtrader, no torch).

Given one score per symbol and the current holdings, :func:`topk_dropout` returns the new
holdings: the top ``k`` names, replacing at most ``n_drop`` of them per rebalance, as qlib's
``TopkDropoutStrategy`` (``method_sell="bottom"``, ``method_buy="top"``):

1. ``ideal`` = the top ``k`` of every scored name (held or not), best first;
2. ``free`` = ``k - len(held)`` empty slots; ``to_buy`` = the names of ``ideal`` not held (best
   first); ``to_sell`` = the held names not in ``ideal`` (worst first);
3. ``r = min(n_drop, len(to_sell), len(to_buy) - free)`` replacements: sell the first ``r`` of
   ``to_sell``, buy the first ``r + free`` of ``to_buy``.

This equals qlib's rule (sell the held names among the last ``n_drop`` of the held names and
the best ``n_drop + k - len(held)`` candidates, buy as many) whenever there are enough
candidates; unlike it, a name is never sold without a better-ranked replacement (qlib's rule
empties a book whose universe has fewer than ``n_drop`` names outside it).

A holding without a score this bar (no bar that day, or no history yet) is *frozen*: it is
kept, it takes one of the ``k`` slots, and it is neither ranked nor sold. Ties are broken
by symbol name, so the rule is deterministic.

:func:`target_weights` turns the selection into portfolio weights (equal, or proportional to
the score's cross-sectional percentile), long-only or long-short; :func:`rebalance_days`
marks the bars at whose close the portfolio is re-ranked (weekly: the first bar of each
calendar week, known without looking ahead).

Example:
    >>> scores = {"A": 0.9, "B": 0.5, "C": 0.7, "D": 0.1}
    >>> topk_dropout(scores, held=[], k=2, n_drop=2)
    ['A', 'C']
    >>> topk_dropout({"A": 0.2, "B": 0.9, "C": 0.7, "D": 0.8}, held=["A", "C"], k=2, n_drop=1)
    ['C', 'B']
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from maml_strategy.errors import ConfigError

__all__ = ["TopkConfig", "topk_dropout", "select_portfolio", "target_weights", "rebalance_days", "REBALANCE_RULES"]

REBALANCE_RULES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class TopkConfig:
    """How the portfolio ranks, selects and weights the universe."""

    top_k: int = 5  # names held on each side (long; and short with allow_short), >= 1
    n_drop: int | None = None  # most names replaced per rebalance and side; None = top_k (no turnover cap)
    rebalance: Literal["daily", "weekly", "monthly"] = "weekly"  # weekly: at the close of each week's first bar
    weighting: Literal["equal", "score"] = "equal"  # score: proportional to the score's cross-sectional percentile
    allow_short: bool = False  # long-only by default; True: long the top k, short the bottom k (dollar-neutral)
    max_exposure: float = 0.98  # gross exposure (long-only: sum of weights); 2 % cash absorbs next-open gaps

    def __post_init__(self) -> None:
        if int(self.top_k) < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.n_drop is not None and not 0 <= int(self.n_drop) <= int(self.top_k):
            raise ConfigError(f"n_drop must be in [0, top_k={self.top_k}], got {self.n_drop}")
        if self.rebalance not in REBALANCE_RULES:
            raise ConfigError(f"rebalance must be one of {', '.join(REBALANCE_RULES)}, got {self.rebalance!r}")
        if self.weighting not in ("equal", "score"):
            raise ConfigError(f"weighting must be 'equal' or 'score', got {self.weighting!r}")
        if not 0 < self.max_exposure <= 1:
            raise ConfigError(f"max_exposure must be in (0, 1] (cash account), got {self.max_exposure}")

    @property
    def drop(self) -> int:
        """``n_drop`` with None resolved to ``top_k``."""
        return int(self.top_k if self.n_drop is None else self.n_drop)


def _finite(scores: Mapping[str, float]) -> dict[str, float]:
    return {s: float(v) for s, v in scores.items() if v is not None and math.isfinite(float(v))}


def _best_first(names: Collection[str], scores: Mapping[str, float]) -> list[str]:
    return sorted(names, key=lambda s: (-scores[s], s))


def topk_dropout(scores: Mapping[str, float], held: Sequence[str], k: int, n_drop: int, *,
                 exclude: Collection[str] = ()) -> list[str]:
    """The new holdings: top ``k`` by score, at most ``n_drop`` names replaced (qlib's TopkDropout rule).

    Args:
        scores: symbol -> score (higher = better); NaN/None = not rankable this bar.
        held: current holdings (any order).
        k: names to hold.
        n_drop: most held names sold (and replaced) in this call.
        exclude: names that may not be bought (e.g. those held on the other side).

    Returns:
        The new holdings: kept names best first (frozen ones last), then the bought names best first.

    Example:
        >>> topk_dropout({"A": 3.0, "B": 2.0, "C": 1.0}, held=["C", "X"], k=2, n_drop=1)
        ['X', 'A']
    """
    if k < 1 or n_drop < 0:
        raise ConfigError(f"topk_dropout needs k >= 1 and n_drop >= 0, got k={k}, n_drop={n_drop}")
    sc = _finite(scores)
    held = list(dict.fromkeys(held))
    frozen = [s for s in held if s not in sc]
    k_eff = max(k - len(frozen), 0)
    ranked_held = _best_first([s for s in held if s in sc], sc)
    ranked_held, over = ranked_held[:k_eff], ranked_held[k_eff:]  # more holdings than slots: the worst go, cap or not
    blocked = set(held) | set(exclude)
    ideal = _best_first([s for s in sc if s in ranked_held or s not in blocked], sc)[:k_eff]
    free = k_eff - len(ranked_held)
    to_buy = [s for s in ideal if s not in ranked_held]  # best first
    to_sell = [s for s in reversed(ranked_held) if s not in ideal]  # worst first
    r = min(n_drop, len(to_sell), max(len(to_buy) - free, 0))
    sell = set(to_sell[:r])
    del over  # sold: no slot left for them
    return [s for s in ranked_held if s not in sell] + frozen + to_buy[: r + free]


def select_portfolio(scores: Mapping[str, float], long_held: Sequence[str], short_held: Sequence[str],
                     cfg: TopkConfig) -> tuple[list[str], list[str]]:
    """The long (and, with ``allow_short``, short) book after one rebalance.

    The short book is :func:`topk_dropout` on the negated scores, never buying a name held long.

    Example:
        >>> cfg = TopkConfig(top_k=1, allow_short=True)
        >>> select_portfolio({"A": 1.0, "B": 0.0, "C": -1.0}, [], [], cfg)
        (['A'], ['C'])
    """
    longs = topk_dropout(scores, long_held, cfg.top_k, cfg.drop)
    if not cfg.allow_short:
        return longs, []
    neg = {s: -v for s, v in _finite(scores).items()}
    shorts = topk_dropout(neg, [s for s in short_held if s not in longs], cfg.top_k, cfg.drop, exclude=longs)
    return longs, shorts


def _percentiles(scores: Mapping[str, float]) -> dict[str, float]:
    """Cross-sectional percentile in (0, 1] of every finite score (average rank of ties / n)."""
    sc = _finite(scores)
    if not sc:
        return {}
    s = pd.Series(sc)
    return (s.rank(method="average") / len(s)).to_dict()


def target_weights(longs: Sequence[str], shorts: Sequence[str], scores: Mapping[str, float],
                   cfg: TopkConfig) -> dict[str, float]:
    """Weights (fractions of portfolio value) of the selected names; long-only weights sum to ``max_exposure``.

    ``equal``: every long ``max_exposure / n_long`` (long-short: each book carries half the gross).
    ``score``: proportional to the score's cross-sectional percentile (its inverse for shorts); a
    frozen name (no score) gets the mean weight of its book.

    Example:
        >>> w = target_weights(["A", "B"], [], {"A": 2.0, "B": 1.0, "C": 0.0}, TopkConfig(max_exposure=1.0))
        >>> w
        {'A': 0.5, 'B': 0.5}
        >>> w = target_weights(["A", "B"], [], {"A": 2.0, "B": 1.0, "C": 0.0},
        ...                    TopkConfig(max_exposure=1.0, weighting="score"))
        >>> round(w["A"], 3), round(w["B"], 3)
        (0.6, 0.4)
    """
    gross_long = cfg.max_exposure / 2 if cfg.allow_short and shorts else cfg.max_exposure
    gross_short = cfg.max_exposure / 2 if cfg.allow_short and longs else cfg.max_exposure
    pct = _percentiles(scores)
    out: dict[str, float] = {}
    for names, gross, sign in ((longs, gross_long, 1.0), (shorts, gross_short, -1.0)):
        if not names:
            continue
        if cfg.weighting == "equal":
            raw = {s: 1.0 for s in names}
        else:
            vals = {s: (pct[s] if sign > 0 else 1.0 - pct[s] + 1.0 / max(len(pct), 1)) for s in names if s in pct}
            mean = float(np.mean(list(vals.values()))) if vals else 1.0
            raw = {s: vals.get(s, mean) for s in names}
        total = sum(raw.values())
        out.update({s: sign * gross * v / total for s, v in raw.items()})
    return out


def rebalance_days(dates: Sequence[Any] | pd.DatetimeIndex, rule: str = "weekly") -> np.ndarray:
    """Boolean mask: True at the bars whose close starts a new rebalance period (daily, weekly or monthly).

    A bar is a weekly rebalance bar when its ISO week differs from the previous bar's (the first
    bar of each week), so the rule never needs the next date. The first bar is always True.

    Example:
        >>> d = pd.to_datetime(["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-02-01"])
        >>> rebalance_days(d, "weekly").tolist(), rebalance_days(d, "monthly").tolist()
        ([True, False, True, False, True], [True, False, False, False, True])
    """
    if rule not in REBALANCE_RULES:
        raise ConfigError(f"rebalance must be one of {', '.join(REBALANCE_RULES)}, got {rule!r}")
    idx = pd.DatetimeIndex(dates)
    if rule == "daily" or len(idx) == 0:
        return np.ones(len(idx), dtype=bool)
    if rule == "weekly":
        iso = idx.isocalendar()
        key = (iso["year"].to_numpy().astype(np.int64) * 100 + iso["week"].to_numpy().astype(np.int64))
    else:
        key = idx.year.to_numpy().astype(np.int64) * 100 + idx.month.to_numpy().astype(np.int64)
    out = np.ones(len(idx), dtype=bool)
    out[1:] = key[1:] != key[:-1]
    return out

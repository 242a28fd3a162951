"""The backtest fast path: per-bar rows looked up by date, adaptations batched.

A backtest knows the whole series in advance, so :class:`Precomputed` holds its
features, regimes and labels computed once (each row is causal: it depends only
on bars up to it, which ``tests/test_dataset.py`` checks bit for bit).
:class:`AdaptationPlanner` then computes the adaptation of every confirmed
transition in one ``vmap`` call instead of one call per transition. Nothing
here reads the future at decision time: the adaptation *used* at bar ``t``
comes from the support window whose labels are known at ``t`` (sample ``i``
with ``i + lag <= t``, :func:`support_positions`), as the streaming engine builds it; it is
only *computed* earlier, in a batch. The live path never uses this module.

Example:
    >>> from maml_strategy.precompute import Precomputed  # doctest: +SKIP
    >>> pre = Precomputed.from_symbol_features(symbol_features(df, cfg, "SPY"))  # doctest: +SKIP
    >>> pre.window("2008-01-01", "2008-12-31").dates[0]  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from maml_strategy.errors import ConfigError
from maml_strategy.features.labels import known_at

__all__ = ["Precomputed", "PlannedAdaptation", "AdaptationPlanner", "support_positions"]

#: most transitions adapted in one vmap call (bounds memory; a year has ~5-15)
MAX_BATCH = 128


@dataclass
class Precomputed:
    """Per-bar features, regimes and labels computed once for a whole series (backtests).

    ``MultiTimeframeExtractor.transform`` equals the streaming ``transform_last``
    (tested), and the regime detector's batch labels equal its streaming labels, so
    a backtest may look rows up here instead of recomputing them every bar. Build
    it with :meth:`from_symbol_features`; the live path keeps the streaming code.
    """

    dates: np.ndarray  # [n] datetime64[ns], ascending
    x: np.ndarray  # [n, D] raw (unscaled) feature rows, NaN where not yet valid
    regime: np.ndarray  # [n] int8 confirmed regime code (-1 in warm-up)
    transition: np.ndarray  # [n] bool
    y: np.ndarray | None = None  # [n] vol-scaled forward-return labels (NaN where unknown); None = no batching
    _ns: list[int] | None = field(default=None, init=False, repr=False, compare=False)  # locate's keys

    @classmethod
    def from_symbol_features(cls, sf: Any) -> Precomputed:
        """From :class:`maml_strategy.dataset.SymbolFeatures`."""
        return cls(np.asarray(sf.index.values, dtype="datetime64[ns]"), sf.x, sf.regime, sf.transition, sf.y)

    def window(self, start: Any, end: Any) -> Precomputed:
        """Rows dated in ``[start, end]`` (views, no copy)."""
        lo = int(np.searchsorted(self.dates, np.datetime64(pd.Timestamp(start).value, "ns"), side="left"))
        hi = int(np.searchsorted(self.dates, np.datetime64(pd.Timestamp(end).value, "ns"), side="right"))
        return Precomputed(self.dates[lo:hi], self.x[lo:hi], self.regime[lo:hi], self.transition[lo:hi],
                           None if self.y is None else self.y[lo:hi])

    def locate(self, ts: pd.Timestamp, hint: int = 0) -> int:
        """Row of date ``ts`` (``hint``: the expected row, checked first)."""
        if self._ns is None:  # the dates as int nanoseconds: a per-bar lookup without numpy scalars
            self._ns = np.asarray(self.dates, dtype="datetime64[ns]").astype(np.int64).tolist()
        ns, key = self._ns, ts.value
        if 0 <= hint < len(ns) and ns[hint] == key:
            return hint
        i = bisect.bisect_left(ns, key)
        if i >= len(ns) or ns[i] != key:
            raise ConfigError(f"bar {ts.date()} is not in the precomputed features ({len(self.dates)} rows); "
                              "build Precomputed from the same frame as the feed")
        return i


def support_positions(t: int, first: int, valid: np.ndarray, *, support_size: int, horizon: int,
                      vol_window: int) -> np.ndarray:
    """Rows of the support window at bar ``t``, oldest first: the one support rule.

    Candidates are the ``support_size + 1`` rows ending at ``t - horizon`` whose labels are
    known at ``t`` (:func:`~maml_strategy.features.labels.known_at`, ``horizon`` being the
    label's lag); a candidate counts when ``valid`` (finite features and label) and its
    volatility window lies inside the bars fed since row ``first``; at most
    ``support_size`` are kept, the newest. The streaming engine applies it to its bar
    buffer, the precomputed path to the whole series.

    Example:
        >>> valid = np.ones(60, bool); valid[44] = False
        >>> support_positions(50, 0, valid, support_size=4, horizon=5, vol_window=20).tolist()
        [41, 42, 43, 45]
        >>> support_positions(24, 0, valid, support_size=4, horizon=5, vol_window=20).tolist()  # vol window
        []
    """
    cand = np.arange(max(t - horizon - support_size, first + vol_window, 0), t + 1)
    cand = cand[known_at(cand, t, horizon)]
    return cand[valid[cand]][-support_size:].astype(np.int64)


@dataclass
class PlannedAdaptation:
    """The adaptation of one transition bar, computed in a batch."""

    params: Any  # the learner's adapted state (a parameter dict for the nets)
    support: np.ndarray  # rows used, oldest first
    loss_before: float
    loss_after: float
    ms: float  # this task's share of the batch's wall time


class AdaptationPlanner:
    """Adapts the learner at every upcoming transition of a :class:`Precomputed` series at once.

    Args:
        learner: the model (a :class:`~maml_strategy.learners.protocol.LearnerProtocol`: ``adapt_batch``,
            ``task_losses``, ``task_params``, ``scaler``).
        pre: the series (with labels ``y``).
        first: row of the first bar fed to the engine (support windows stay inside the fed bars).
        support_size, horizon, vol_window: the engine's support rule.
        steps, lr: adaptation steps and step size (None = the learner's defaults).
    """

    def __init__(self, learner: Any, pre: Precomputed, first: int, *, support_size: int, horizon: int,
                 vol_window: int, steps: int | None, lr: float | None) -> None:
        if pre.y is None:
            raise ConfigError("Precomputed has no labels (y); build it with Precomputed.from_symbol_features")
        self.learner, self.pre, self.first = learner, pre, first
        self.support_size, self.horizon, self.vol_window = support_size, horizon, vol_window
        self.steps, self.lr = steps, lr
        raw_ok = np.isfinite(pre.x).all(axis=1)
        scaler = getattr(learner, "scaler", None)
        scaled = scaler.transform(np.where(raw_ok[:, None], pre.x, 0.0)) if scaler is not None else pre.x
        self.scaled = np.asarray(scaled, dtype=np.float32)  # [n, D], rows where raw_ok is False are unused
        self.row_ok = raw_ok
        self.valid = raw_ok & np.isfinite(pre.y)
        self._plans: dict[int, PlannedAdaptation | None] = {}

    def get(self, t: int) -> PlannedAdaptation | None:
        """The adaptation at transition row ``t`` (None: too little known history, keep the parameters)."""
        if t not in self._plans:
            self._plan_from(t)
        return self._plans[t]

    def _plan_from(self, t: int) -> None:
        rows = [t] + [int(j) for j in np.flatnonzero(self.pre.transition[t + 1:]) + t + 1]
        rows = [j for j in rows if j not in self._plans][:MAX_BATCH]
        K = self.support_size
        full, full_sup = [], []
        for j in rows:
            sup = support_positions(j, self.first, self.valid, support_size=K, horizon=self.horizon,
                                    vol_window=self.vol_window)
            if len(sup) < max(2, K // 2):
                self._plans[j] = None
            elif len(sup) < K:  # short window (start of the history): adapt it on its own
                self._plans[j] = self._run([j], [sup])[0]
            else:
                full.append(j)
                full_sup.append(sup)
        if full:
            for j, plan in zip(full, self._run(full, full_sup)):
                self._plans[j] = plan

    def _run(self, rows: list[int], sups: list[np.ndarray]) -> list[PlannedAdaptation]:
        idx = np.stack(sups)  # [N, K]
        x = torch.from_numpy(self.scaled[idx])  # [N, K, D]
        y = torch.from_numpy(self.pre.y[idx].astype(np.float32))  # [N, K]
        t0 = time.perf_counter()
        before = self.learner.task_losses(x, y)
        stacked = self.learner.adapt_batch(x, y, steps=self.steps, lr=self.lr)
        ms = (time.perf_counter() - t0) * 1e3 / len(rows)
        after = self.learner.task_losses(x, y, stacked)
        return [PlannedAdaptation(self.learner.task_params(stacked, n), sups[n], float(before[n]),
                                  float(after[n]), ms) for n in range(len(rows))]

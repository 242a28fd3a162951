"""Few-shot regression tasks built from regime segments.

A *task* is one regime segment. Within a task the model adapts on a
*support* set and is scored on a *query* set that lies strictly later in
time, separated by a gap of ``horizon`` bars, exactly as at trading time:
a sample ``i``'s label uses ``close[i + horizon]`` and is known at bar
``t`` iff ``i + horizon <= t``, so the last support label is known by the
time the first query sample is observed.

Sampling scheme (``replace=False``, the default): contiguous blocks.

1. Regime *types* are visited round-robin (sorted by value; the cycle
   position persists across :meth:`TaskSampler.sample` calls), so a batch of
   ``N`` tasks holds every type ``N // n_types`` or ``N // n_types + 1`` times.
2. A segment of that type is drawn uniformly among the eligible ones.
3. Inside the segment, over its *valid* rows (finite features and label), a
   support block of ``K`` consecutive valid rows is drawn uniformly; the query
   block is the first ``Q`` consecutive valid rows at position
   ``>= last_support + horizon``. No sample is used twice within a task.

With ``replace=True`` segments need only 2 valid rows before and 2 after the
gap: a split point is drawn, then ``K`` support rows are drawn with
replacement from the valid rows up to the split and ``Q`` query rows with
replacement from the valid rows at ``>= split + horizon``.

Everything is deterministic given ``seed``.

Example:
    >>> import numpy as np
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Seg:
    ...     regime: str
    ...     start_pos: int
    ...     end_pos: int
    >>> X = np.random.default_rng(0).normal(size=(400, 6)).astype("float32")
    >>> y = X[:, 0]
    >>> segs = [Seg("bull", 0, 199), Seg("bear", 200, 399)]
    >>> sampler = TaskSampler(segs, X, y, support_size=16, query_size=8, horizon=5)
    >>> batch = sampler.sample(4)
    >>> tuple(batch.support_x.shape), tuple(batch.query_y.shape), batch.regimes[:2]
    ((4, 16, 6), (4, 8), ['bear', 'bull'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from maml_strategy.errors import ConfigError, DataError

__all__ = ["TaskBatch", "TaskSampler", "SegmentLike"]


class SegmentLike(Protocol):
    """What :class:`TaskSampler` needs of a regime segment."""

    regime: Any
    start_pos: int
    end_pos: int


@dataclass
class TaskBatch:
    """A batch of ``N`` few-shot tasks, ready for ``torch.func.vmap``.

    Attributes:
        support_x: ``[N, K, D]`` float32.
        support_y: ``[N, K]`` float32.
        query_x: ``[N, Q, D]`` float32.
        query_y: ``[N, Q]`` float32.
        regimes: regime of each task (length ``N``).
        support_pos: ``[N, K]`` int64 row positions of the support samples.
        query_pos: ``[N, Q]`` int64 row positions of the query samples.
        segment_ids: index (into the sampler's ``segments``) of each task.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    regimes: list[Any]
    support_pos: np.ndarray
    query_pos: np.ndarray
    segment_ids: list[int]

    def __len__(self) -> int:
        return int(self.support_x.shape[0])

    def to(self, device: str | torch.device) -> TaskBatch:
        """Copy of the batch with tensors moved to ``device``."""
        return TaskBatch(
            self.support_x.to(device),
            self.support_y.to(device),
            self.query_x.to(device),
            self.query_y.to(device),
            list(self.regimes),
            self.support_pos,
            self.query_pos,
            list(self.segment_ids),
        )


def _regime_key(regime: Any) -> str:
    return str(getattr(regime, "value", regime))


@dataclass
class _Segment:
    index: int
    regime: Any
    valid: np.ndarray  # sorted valid row positions inside the segment
    starts: np.ndarray  # eligible support-block starts (indices into valid) or split indices


class TaskSampler:
    """Sample few-shot tasks (support then query, gap ``horizon``) from regime segments.

    Args:
        segments: regime segments (objects with ``regime``, ``start_pos``,
            ``end_pos``; positions are row positions, end inclusive).
        features: ``[n, D]`` features aligned with the frame rows (already scaled).
        labels: ``[n]`` labels aligned with the rows (NaN where unknown).
        support_size: ``K``, support samples per task.
        query_size: ``Q``, query samples per task.
        horizon: label horizon in bars; the gap between the last support
            row and the first query row is at least this.
        replace: False: contiguous blocks, no sample reused within a task.
            True: support/query drawn with replacement (short segments usable).
        seed: seed of the sampler's random generator.
        groups: optional group (symbol) of each segment. Sampling is then balanced
            over regimes first and, within a regime, over groups (each group that
            has the regime is equally likely), so one long-history symbol cannot
            dominate a universe.

    Raises:
        ConfigError: non-positive sizes or negative horizon.
        DataError: misaligned arrays, segment positions out of range, or no
            segment long enough (message gives the numbers).
    """

    def __init__(
        self,
        segments: Sequence[SegmentLike],
        features: np.ndarray | Tensor,
        labels: np.ndarray | Tensor | Sequence[float],
        support_size: int = 32,
        query_size: int = 16,
        horizon: int = 5,
        replace: bool = False,
        seed: int = 0,
        groups: Sequence[str] | None = None,
    ) -> None:
        for name, value, low in (("support_size", support_size, 1), ("query_size", query_size, 1), ("horizon", horizon, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"TaskSampler: {name} must be an int >= {low}, got {value!r}")
        X = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
        y = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels, dtype=np.float64)
        if X.ndim != 2:
            raise DataError(f"TaskSampler: features must be 2-D [n, D], got shape {X.shape}; use Features.flat()")
        y = y.reshape(-1)
        if len(y) != len(X):
            raise DataError(f"TaskSampler: {len(X)} feature rows but {len(y)} labels; align both with the frame rows")
        self.support_size = int(support_size)
        self.query_size = int(query_size)
        self.horizon = int(horizon)
        self.replace = bool(replace)
        self.seed = int(seed)
        self._X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self._y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
        row_ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
        self.segments = list(segments)
        if groups is not None and len(groups) != len(self.segments):
            raise DataError(f"TaskSampler: {len(groups)} groups for {len(self.segments)} segments; give one per segment")
        self.groups = None if groups is None else [str(g) for g in groups]

        n = len(X)
        self._by_regime: dict[str, list[_Segment]] = {}
        self._regime_obj: dict[str, Any] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._by_group: dict[str, dict[str, list[_Segment]]] = {}
        need = self._min_span()
        for idx, seg in enumerate(self.segments):
            start, end = int(seg.start_pos), int(seg.end_pos)
            if start < 0 or end >= n or end < start:
                raise DataError(
                    f"TaskSampler: segment {idx} ({_regime_key(seg.regime)}) spans rows {start}..{end}, "
                    f"outside the {n} feature rows; build segments and features from the same frame"
                )
            key = _regime_key(seg.regime)
            self._regime_obj.setdefault(key, seg.regime)
            c = self._counts.setdefault(key, {"segments": 0, "eligible": 0, "dropped": 0, "valid_samples": 0, "placements": 0})
            c["segments"] += 1
            valid = start + np.flatnonzero(row_ok[start : end + 1])
            starts = self._eligible_starts(valid)
            if len(starts) == 0:
                c["dropped"] += 1
                continue
            c["eligible"] += 1
            c["valid_samples"] += len(valid)
            c["placements"] += len(starts)
            self._by_regime.setdefault(key, []).append(_Segment(idx, seg.regime, valid, starts))
            if self.groups is not None:
                self._by_group.setdefault(key, {}).setdefault(self.groups[idx], []).append(self._by_regime[key][-1])

        self.regime_order: list[str] = sorted(self._by_regime)
        self.dropped_segments = sum(c["dropped"] for c in self._counts.values())
        if not self.regime_order:
            raise DataError(
                f"TaskSampler: none of the {len(self.segments)} segments has enough valid samples: each needs "
                f"{need} (support {self.support_size} + gap {self.horizon} + query {self.query_size}) rows with finite "
                f"features and labels. Lower maml.support_size / maml.query_size in the config (--support-size / "
                f"--query-size in the few-shot scripts) or train on a longer window with more regime segments."
            )
        self._rng = np.random.default_rng(self.seed)
        self._cursor = 0

    # ------------------------------------------------------------------ helpers
    def _min_span(self) -> int:
        if self.replace:
            return 2 + self.horizon + 1
        return self.support_size + self.horizon + self.query_size - 1

    def _eligible_starts(self, valid: np.ndarray) -> np.ndarray:
        """Eligible support-block starts (replace=False) or split indices (replace=True)."""
        K, Q, h = self.support_size, self.query_size, self.horizon
        if self.replace:
            # split index s: support from valid[:s+1] (>= 2 rows), query from valid >= valid[s] + h (>= 2 rows)
            if len(valid) < 4:
                return np.empty(0, dtype=np.int64)
            s = np.arange(1, len(valid))
            first_q = np.searchsorted(valid, valid[s] + h, side="left")
            return s[len(valid) - first_q >= 2].astype(np.int64)
        if len(valid) < K + Q:
            return np.empty(0, dtype=np.int64)
        a = np.arange(0, len(valid) - K + 1)
        last_support = valid[a + K - 1]
        first_q = np.searchsorted(valid, last_support + h, side="left")
        return a[first_q + Q <= len(valid)].astype(np.int64)

    def _draw(self, seg: _Segment) -> tuple[np.ndarray, np.ndarray]:
        K, Q, h, v = self.support_size, self.query_size, self.horizon, seg.valid
        rng = self._rng
        if self.replace:
            s = int(seg.starts[rng.integers(len(seg.starts))])
            first_q = int(np.searchsorted(v, v[s] + h, side="left"))
            sup = np.sort(rng.choice(v[: s + 1], size=K, replace=True))
            qry = np.sort(rng.choice(v[first_q:], size=Q, replace=True))
            return sup, qry
        a = int(seg.starts[rng.integers(len(seg.starts))])
        sup = v[a : a + K]
        first_q = int(np.searchsorted(v, sup[-1] + h, side="left"))
        return sup, v[first_q : first_q + Q]

    # --------------------------------------------------------------- public API
    @property
    def regimes(self) -> list[Any]:
        """Regime types that have at least one eligible segment (round-robin order)."""
        return [self._regime_obj[k] for k in self.regime_order]

    @property
    def tasks_available(self) -> dict[str, int]:
        """Number of distinct (segment, placement) tasks per regime type (value string)."""
        return {k: self._counts[k]["placements"] for k in self.regime_order}

    def summary(self) -> dict[str, dict[str, int]]:
        """Per regime type: segments, eligible, dropped, valid_samples, placements.

        Example:
            >>> sampler.summary()["bull"]["eligible"]  # doctest: +SKIP
            1
        """
        return {k: dict(v) for k, v in sorted(self._counts.items())}

    def reset(self, seed: int | None = None) -> None:
        """Restart the random generator and the round-robin cursor."""
        self._rng = np.random.default_rng(self.seed if seed is None else int(seed))
        self._cursor = 0

    def sample(self, n_tasks: int) -> TaskBatch:
        """Draw ``n_tasks`` tasks, balanced round-robin over regime types.

        Args:
            n_tasks: number of tasks ``N`` (>= 1).

        Returns:
            A :class:`TaskBatch` with ``[N, K, D]`` / ``[N, K]`` / ``[N, Q, D]`` / ``[N, Q]`` tensors.
        """
        if isinstance(n_tasks, bool) or not isinstance(n_tasks, (int, np.integer)) or n_tasks < 1:
            raise ConfigError(f"TaskSampler.sample: n_tasks must be an int >= 1, got {n_tasks!r}")
        sup_pos, qry_pos, regimes, seg_ids = [], [], [], []
        for _ in range(int(n_tasks)):
            key = self.regime_order[self._cursor % len(self.regime_order)]
            self._cursor += 1
            segs = self._by_regime[key]
            if self._by_group:
                by_group = self._by_group[key]
                names = sorted(by_group)
                segs = by_group[names[int(self._rng.integers(len(names)))]]
            seg = segs[int(self._rng.integers(len(segs)))]
            sup, qry = self._draw(seg)
            sup_pos.append(sup)
            qry_pos.append(qry)
            regimes.append(seg.regime)
            seg_ids.append(seg.index)
        sp = torch.from_numpy(np.stack(sup_pos))
        qp = torch.from_numpy(np.stack(qry_pos))
        return TaskBatch(
            support_x=self._X[sp],
            support_y=self._y[sp],
            query_x=self._X[qp],
            query_y=self._y[qp],
            regimes=regimes,
            support_pos=sp.numpy(),
            query_pos=qp.numpy(),
            segment_ids=seg_ids,
        )

    def enumerate_tasks(self, stride: int | None = None) -> TaskBatch:
        """Every placement of every eligible segment, deterministically (for evaluation).

        Support blocks start every ``stride`` valid rows (default ``query_size``,
        so consecutive query blocks of a segment do not overlap). Only for
        ``replace=False``. Does not touch the random generator.

        Args:
            stride: step between consecutive support-block starts (>= 1).

        Returns:
            A :class:`TaskBatch` ordered by regime type, segment, time.
        """
        if self.replace:
            raise ConfigError("enumerate_tasks needs replace=False (contiguous blocks)")
        stride = self.query_size if stride is None else stride
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ConfigError(f"stride must be an int >= 1, got {stride!r}")
        K, Q, h = self.support_size, self.query_size, self.horizon
        sup_pos, qry_pos, regimes, seg_ids = [], [], [], []
        for key in self.regime_order:
            for seg in self._by_regime[key]:
                for a in seg.starts[::stride]:
                    v = seg.valid
                    sup = v[a : a + K]
                    first_q = int(np.searchsorted(v, sup[-1] + h, side="left"))
                    sup_pos.append(sup)
                    qry_pos.append(v[first_q : first_q + Q])
                    regimes.append(seg.regime)
                    seg_ids.append(seg.index)
        sp = torch.from_numpy(np.stack(sup_pos))
        qp = torch.from_numpy(np.stack(qry_pos))
        return TaskBatch(self._X[sp], self._y[sp], self._X[qp], self._y[qp], regimes, sp.numpy(), qp.numpy(), seg_ids)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {self._counts[k]['eligible']} seg" for k in self.regime_order)
        return (
            f"TaskSampler(K={self.support_size}, Q={self.query_size}, horizon={self.horizon}, "
            f"replace={self.replace}, {parts}; dropped {self.dropped_segments})"
        )

"""Causal multi-timeframe feature extraction (daily, weekly, monthly).

Every timeframe block has the same 45 scale-free features, computed from the
last :data:`LOOKBACK` bars *of that timeframe* (24 bars: 23 returns). Daily
bars are the input rows; weekly bars aggregate W-FRI weeks and monthly bars
calendar months (open = first open, high = max, low = min, close = last
close, volume = sum). A higher-timeframe bar is visible from the first daily
row of the *following* period onwards, so row t only uses dates <= t. The
first period of every higher timeframe in a frame is always discarded
because it may be incomplete (the frame may start mid-week / mid-month).

All indicators have finite memory (no recursive EMAs / Wilder smoothing):
RSI uses simple means of gains and losses, MACD uses EMAs whose weights are
truncated to a fixed 19-bar window. Hence the features of row t depend only
on the bars inside the trailing window, and :meth:`transform_last` on the
last :attr:`MultiTimeframeExtractor.window` rows gives the same numbers as
:meth:`transform` on the full history (``transform_last_arrays`` does the same
on raw numpy arrays, e.g. read from backtrader lines, and is ~1/3 faster).

Example:
    >>> from maml_strategy.data import synthetic_ohlcv
    >>> from maml_strategy.features.extractor import MultiTimeframeExtractor
    >>> df = synthetic_ohlcv(1500, seed=0)
    >>> ext = MultiTimeframeExtractor()
    >>> feats = ext.transform(df)
    >>> feats.flat().shape
    (1500, 143)
    >>> row = ext.transform_last(df.iloc[-ext.window:])
    >>> bool(abs(row.flat() - feats.flat()[-1]).max() < 1e-9)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from maml_strategy.data.validate import require_frame
from maml_strategy.errors import ConfigError, DataError
from maml_strategy.features.block import CROSS_FEATURE_NAMES, FEATURE_NAMES, LOOKBACK, block, cross
from maml_strategy.features.periods import MAX_ROWS_PER_PERIOD, period_bars

__all__ = [
    "CROSS_FEATURE_NAMES",
    "FEATURE_NAMES",
    "FeatureRow",
    "Features",
    "LOOKBACK",
    "MultiTimeframeExtractor",
    "SUPPORTED_TIMEFRAMES",
    "flat_feature_names",
]

#: Timeframes in fast-to-slow order.
SUPPORTED_TIMEFRAMES: tuple[str, ...] = ("D", "W", "M")

_N = len(FEATURE_NAMES)
_L = LOOKBACK
_COLUMNS = ("open", "high", "low", "close", "volume")


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class Features:
    """Features of every row of a frame.

    Attributes:
        per_tf: ``[n, T, 45]`` float64, per-timeframe blocks in ``timeframes`` order.
        cross: ``[n, 8]`` float64 cross-timeframe features.
        index: the frame's DatetimeIndex.
        valid: ``[n]`` bool, True where no feature is NaN.
        timeframes: the timeframes of ``per_tf``'s second axis.

    Example:
        >>> feats = MultiTimeframeExtractor().transform(df)  # doctest: +SKIP
        >>> X = feats.flat()[feats.valid]                    # doctest: +SKIP
    """

    per_tf: np.ndarray
    cross: np.ndarray
    index: pd.DatetimeIndex
    valid: np.ndarray
    timeframes: tuple[str, ...] = SUPPORTED_TIMEFRAMES

    def __len__(self) -> int:
        return int(self.per_tf.shape[0])

    def flat(self) -> np.ndarray:
        """``[n, T*45 + 8]`` float64: timeframe blocks in order, then the cross features."""
        n = self.per_tf.shape[0]
        return np.concatenate([self.per_tf.reshape(n, -1), self.cross], axis=1)

    def to_frame(self) -> pd.DataFrame:
        """The flat matrix as a DataFrame with ``"<tf>:<name>"`` / ``"cross:<name>"`` columns."""
        return pd.DataFrame(self.flat(), index=self.index, columns=flat_feature_names(self.timeframes))


@dataclass(frozen=True)
class FeatureRow:
    """Features of a single (the last) row.

    Attributes:
        per_tf: ``[T, 45]`` float64.
        cross: ``[8]`` float64.
        timestamp: date of the row, if known.

    Example:
        >>> row = MultiTimeframeExtractor().transform_last(df.iloc[-600:])  # doctest: +SKIP
        >>> row.valid, row.flat().shape                                     # doctest: +SKIP
        (True, (143,))
    """

    per_tf: np.ndarray
    cross: np.ndarray
    timestamp: pd.Timestamp | None = field(default=None)

    @property
    def valid(self) -> bool:
        """True when no feature is NaN (enough history for every timeframe)."""
        return bool(np.isfinite(self.per_tf).all() and np.isfinite(self.cross).all())

    def flat(self) -> np.ndarray:
        """``[T*45 + 8]`` float64 in the same order as :meth:`Features.flat`."""
        return np.concatenate([self.per_tf.reshape(-1), self.cross])


def flat_feature_names(timeframes: Sequence[str] = SUPPORTED_TIMEFRAMES) -> list[str]:
    """Column names of :meth:`Features.flat` for the given timeframes.

    Example:
        >>> flat_feature_names(("D",))[:2], len(flat_feature_names())
        (['D:ret_1', 'D:ret_3'], 143)
    """
    return [f"{tf}:{n}" for tf in timeframes for n in FEATURE_NAMES] + [f"cross:{n}" for n in CROSS_FEATURE_NAMES]


# --------------------------------------------------------------- extractor
class MultiTimeframeExtractor:
    """Causal 45-feature blocks for daily, weekly and monthly bars plus 8 cross features.

    Args:
        timeframes: non-empty subset of ``("D", "W", "M")`` in that order.

    Attributes:
        timeframes: the timeframes, fast to slow.
        feature_names: the 45 per-timeframe feature names.
        cross_feature_names: the 8 cross-timeframe feature names.
        n_timeframes: ``len(timeframes)``.
        n_features: ``n_timeframes * 45 + 8`` (width of ``flat()``).
        window: rows of trailing daily history :meth:`transform_last` needs
            (576 with monthly bars, assuming <= 23 sessions a month and <= 5 a week).
        min_history: rows that guarantee a valid last row (= ``window``; the
            first valid row of a given frame may come earlier, see ``Features.valid``).

    Example:
        >>> ext = MultiTimeframeExtractor(("D", "W"))
        >>> ext.n_features, ext.window
        (98, 126)
    """

    def __init__(self, timeframes: Sequence[str] = SUPPORTED_TIMEFRAMES) -> None:
        if isinstance(timeframes, str):
            timeframes = tuple(timeframes) if set(timeframes) <= set(SUPPORTED_TIMEFRAMES) else (timeframes,)
        tfs = tuple(timeframes)
        if not tfs or any(tf not in SUPPORTED_TIMEFRAMES for tf in tfs):
            raise ConfigError(
                f"timeframes must be a non-empty subset of {SUPPORTED_TIMEFRAMES}, got {tfs!r}; e.g. ('D', 'W', 'M')"
            )
        order = [SUPPORTED_TIMEFRAMES.index(tf) for tf in tfs]
        if order != sorted(set(order)):
            raise ConfigError(f"timeframes must be unique and ordered fast to slow (D, W, M), got {tfs!r}")
        self.timeframes: tuple[str, ...] = tfs
        self.feature_names: tuple[str, ...] = FEATURE_NAMES
        self.cross_feature_names: tuple[str, ...] = CROSS_FEATURE_NAMES
        self.n_timeframes = len(tfs)
        self.n_features = self.n_timeframes * _N + len(CROSS_FEATURE_NAMES)
        # Daily: LOOKBACK rows. Higher timeframe: the current (invisible) period,
        # LOOKBACK complete periods and >= 1 row of a discarded leading period.
        self.window = max(
            _L if tf == "D" else MAX_ROWS_PER_PERIOD[tf] * (_L + 1) + 1 for tf in tfs
        )
        self.min_history = self.window

    def __repr__(self) -> str:
        return f"MultiTimeframeExtractor(timeframes={self.timeframes!r})"

    @property
    def flat_feature_names(self) -> list[str]:
        """Names of the ``flat()`` columns (``"D:ret_1"``, ..., ``"cross:trend_agreement"``)."""
        return flat_feature_names(self.timeframes)

    # ------------------------------------------------------------ validation
    @staticmethod
    def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validated ``[n, 5]`` float64 OHLCV array, int64 day and month numbers."""
        require_frame(df, tuple(_COLUMNS), "feature extraction")
        idx = df.index
        if not isinstance(idx, pd.DatetimeIndex):
            raise DataError(
                f"frame index must be a DatetimeIndex, got {type(idx).__name__}; "
                "use df.set_index(pd.to_datetime(df['date']))"
            )
        if idx.tz is not None:
            idx = idx.tz_localize(None)
        try:
            arr = df[list(_COLUMNS)].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"OHLCV columns must be numeric: {exc}") from None
        return MultiTimeframeExtractor._check_arrays(arr, idx.values)

    @staticmethod
    def _check_arrays(arr: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validate values; day and month numbers of tz-naive datetime64 ``dates``."""
        if arr.shape[0] == 0:
            raise DataError("no rows; pass a non-empty window of daily bars")
        if not np.isfinite(arr).all():
            raise DataError("OHLCV contains NaN/inf; clean it with maml_strategy.data.validate_ohlcv")
        if (arr[:, :4] <= 0.0).any() or (arr[:, 1] < arr[:, 2]).any():
            raise DataError("prices must be positive with high >= low; repair or drop the offending rows")
        days = dates.astype("datetime64[D]").astype(np.int64)
        if days.shape[0] > 1 and (days[1:] <= days[:-1]).any():
            raise DataError(
                "index must hold strictly increasing dates, one row per day; "
                "sort it and resample intraday data to daily bars first"
            )
        return arr, days, dates.astype("datetime64[M]").astype(np.int64)

    # -------------------------------------------------------------- batch
    def transform(self, df: pd.DataFrame) -> Features:
        """Features of every row, vectorised over the whole frame.

        Args:
            df: daily OHLCV frame (DatetimeIndex, columns open/high/low/close/volume).

        Returns:
            :class:`Features`; rows with too little history are NaN and ``valid`` False.

        Raises:
            DataError: malformed frame (missing columns, NaN, unsorted dates, ...).

        Example:
            >>> feats = MultiTimeframeExtractor().transform(df)  # doctest: +SKIP
        """
        arr, days, months = self._arrays(df)
        n = arr.shape[0]
        per_tf = np.full((n, self.n_timeframes, _N), np.nan)
        offs = np.arange(-_L + 1, 1)
        for k, tf in enumerate(self.timeframes):
            bars, seen = period_bars(arr, days, months, tf)
            nb = bars[0].shape[0]
            if nb < _L:
                continue
            ends = np.arange(_L - 1, nb)
            win = ends[:, None] + offs
            feats = np.full((nb, _N), np.nan)
            feats[_L - 1 :] = block(*(b[win] for b in bars))
            ok = seen >= _L - 1
            per_tf[ok, k] = feats[seen[ok]]
        cross_tf = cross(per_tf, self.timeframes)
        valid = np.isfinite(per_tf).all(axis=(1, 2)) & np.isfinite(cross_tf).all(axis=1)
        index = df.index if isinstance(df.index, pd.DatetimeIndex) else pd.DatetimeIndex(df.index)
        return Features(per_tf=per_tf, cross=cross_tf, index=index, valid=valid, timeframes=self.timeframes)

    # ------------------------------------------------------------ per bar
    def transform_last(self, window_df: pd.DataFrame) -> FeatureRow:
        """Features of the last row of ``window_df`` using only its trailing rows.

        Equal (within 1e-12) to ``transform(full_df)`` at that row when
        ``window_df`` holds the last :attr:`window` rows of the history (or
        more; longer inputs are cut to :attr:`window` rows unless that would
        lose complete periods). With less history the affected blocks are NaN.

        Args:
            window_df: daily OHLCV frame whose last row is the bar to describe.

        Returns:
            :class:`FeatureRow` (check ``.valid``).

        Raises:
            DataError: malformed frame.

        Example:
            >>> ext = MultiTimeframeExtractor()
            >>> row = ext.transform_last(df.iloc[-ext.window:])  # doctest: +SKIP
            >>> x = row.flat()                                   # doctest: +SKIP
        """
        full = window_df
        if len(window_df) > self.window:
            window_df = window_df.iloc[-self.window :]
        row = self._last(window_df)
        if not row.valid and len(full) > len(window_df):
            row = self._last(full)  # unusual calendar (> 23 rows a month): use everything
        return row

    def transform_last_arrays(self, dates: np.ndarray | pd.DatetimeIndex, ohlcv: np.ndarray) -> FeatureRow:
        """:meth:`transform_last` on raw arrays (no DataFrame needed, e.g. from backtrader lines).

        Args:
            dates: ``[n]`` dates of the rows (datetime64, DatetimeIndex or anything
                ``np.asarray(..., dtype="datetime64[ns]")`` accepts), strictly increasing.
            ohlcv: ``[n, 5]`` float array with columns open, high, low, close, volume.

        Returns:
            Same as ``transform_last`` on the equivalent frame.

        Raises:
            DataError: malformed arrays.

        Example:
            >>> row = ext.transform_last_arrays(df.index[-600:], df[["open", "high", "low", "close",
            ...                                  "volume"]].to_numpy()[-600:])  # doctest: +SKIP
        """
        try:
            arr = np.asarray(ohlcv, dtype=np.float64)
            dt = pd.DatetimeIndex(dates)
        except (TypeError, ValueError) as exc:
            raise DataError(f"dates must be datetimes and ohlcv numeric: {exc}") from None
        if arr.ndim != 2 or arr.shape[1] != 5 or arr.shape[0] != len(dt):
            raise DataError(
                f"ohlcv must have shape [len(dates), 5] (open, high, low, close, volume); got {arr.shape} "
                f"for {len(dt)} dates"
            )
        if len(dt) > self.window:
            row = self.transform_last_arrays(dt[-self.window :], arr[-self.window :])
            if row.valid:
                return row
        if dt.tz is not None:
            dt = dt.tz_localize(None)
        return self._last_arrays(*self._check_arrays(arr, dt.values), dt[-1] if len(dt) else None)

    def _last(self, df: pd.DataFrame) -> FeatureRow:
        return self._last_arrays(*self._arrays(df), df.index[-1])

    def _last_arrays(
        self, arr: np.ndarray, days: np.ndarray, months: np.ndarray, timestamp: pd.Timestamp | None
    ) -> FeatureRow:
        t = self.n_timeframes
        wins = np.empty((5, t, _L))
        have = np.zeros(t, dtype=bool)
        for k, tf in enumerate(self.timeframes):
            bars, seen = period_bars(arr, days, months, tf)
            j = int(seen[-1])  # the newest bar the last row may see
            if j >= _L - 1:
                for c in range(5):
                    wins[c, k, :] = bars[c][j - _L + 1 : j + 1]
                have[k] = True
        per_tf = np.full((t, _N), np.nan)
        if have.all():
            per_tf[:] = block(*wins)
        elif have.any():
            per_tf[have] = block(*(w[have] for w in wins))
        cross_tf = cross(per_tf[None], self.timeframes)[0]
        return FeatureRow(per_tf=per_tf, cross=cross_tf, timestamp=timestamp)

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

#: Bars of each timeframe that one feature vector looks at (current bar included).
LOOKBACK: int = 24

#: Timeframes in fast-to-slow order.
SUPPORTED_TIMEFRAMES: tuple[str, ...] = ("D", "W", "M")

# Upper bound of daily rows per period, used to size the bounded window
# (US equity calendars: <= 5 sessions a week, <= 23 a month).
_MAX_ROWS_PER_PERIOD: dict[str, int] = {"D": 1, "W": 5, "M": 23}
# sqrt(periods per year), to compare volatilities across timeframes.
_ANNUALISE: dict[str, float] = {"D": np.sqrt(252.0), "W": np.sqrt(52.0), "M": np.sqrt(12.0)}

#: The 45 per-timeframe features, in column order. Returns are log returns,
#: "n" counts bars of the block's own timeframe.
FEATURE_NAMES: tuple[str, ...] = (
    "ret_1",  # log return over 1 bar
    "ret_3",
    "ret_5",
    "ret_10",
    "ret_15",
    "ret_23",  # log return over the whole lookback
    "vol_5",  # std of the last 5 log returns (ddof=1)
    "vol_10",
    "vol_20",
    "vol_ratio_5_20",  # log(vol_5 / vol_20)
    "downside_vol_20",  # sqrt(mean(min(r, 0)^2)) over 20 returns
    "efficiency_10",  # signed Kaufman efficiency ratio: ret_10 / sum |r| over 10
    "parkinson_vol_10",  # sqrt(mean(log(h/l)^2) / (4 ln 2)) over 10 bars
    "atr_pct_14",  # simple-mean true range over 14 bars / close
    "atr_pct_5",
    "range_pct_1",  # (high - low) / close of the current bar
    "rsi_14",  # RSI from simple means of gains/losses, mapped to [-1, 1]
    "rsi_7",
    "macd_line",  # (EMA6 - EMA13) / close, EMAs truncated to 19 bars
    "macd_signal",  # mean of macd_line over the last 5 bars
    "macd_hist",  # macd_line - macd_signal
    "bb_pctb_20",  # Bollinger %b (20 bars, 2 std), clipped to [-1, 2]
    "bb_width_20",  # 4 std / SMA20
    "sma_ratio_5",  # log(close / SMA5)
    "sma_ratio_10",
    "sma_ratio_20",
    "sma_cross_5_20",  # log(SMA5 / SMA20)
    "dist_high_10",  # log(close / max high over 10 bars) <= 0
    "dist_low_10",  # log(close / min low over 10 bars) >= 0
    "dist_high_24",  # over the whole lookback
    "dist_low_24",
    "range_pos_20",  # (close - min low) / (max high - min low) over 20 bars, in [0, 1]
    "volume_z_20",  # z-score of log(1 + volume) against the last 20 bars
    "volume_ratio_5_20",  # log(mean volume 5 / mean volume 20)
    "skew_20",  # skewness of the last 20 log returns
    "kurt_20",  # excess kurtosis of the last 20 log returns
    "up_frac_10",  # fraction of up bars among the last 10
    "up_frac_20",
    "gap_1",  # log(open / previous close)
    "body_1",  # (close - open) / (high - low), in [-1, 1]
    "close_loc_1",  # (close - low) / (high - low) - 0.5, in [-0.5, 0.5]
    "autocorr_20",  # lag-1 autocorrelation of the last 20 log returns
    "max_drawdown_24",  # worst log drawdown of close inside the lookback, <= 0
    "trend_tstat_20",  # t-statistic of the OLS slope of log close over 20 bars
    "trend_r2_20",  # R^2 of that regression, signed by the slope
)

#: The 8 cross-timeframe features ("fast" = first timeframe, "slow" = last).
CROSS_FEATURE_NAMES: tuple[str, ...] = (
    "trend_agreement",  # mean over timeframes of sign(sma_ratio_20)
    "momentum_agreement",  # mean over timeframes of sign(macd_line)
    "vol_ratio_fast_mid",  # log annualised vol_20 ratio, timeframe 0 / timeframe 1 (0 if < 2 timeframes)
    "vol_ratio_mid_slow",  # timeframe 1 / timeframe 2 (0 if < 3 timeframes)
    "vol_ratio_fast_slow",  # first / last timeframe (0 if 1 timeframe)
    "rsi_spread_fast_slow",  # rsi_14 first - last timeframe
    "range_pos_spread_fast_slow",  # range_pos_20 first - last timeframe
    "trend_strength_mean",  # mean over timeframes of trend_r2_20
)

_N = len(FEATURE_NAMES)
_IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_CLIP = 10.0  # every feature is clipped to [-_CLIP, _CLIP]
_PRICE_COLUMNS = ("open", "high", "low", "close")
_COLUMNS = (*_PRICE_COLUMNS, "volume")

# ---------------------------------------------------------------- constants
_L = LOOKBACK
_MACD_N = 19  # bars in each truncated EMA
_MACD_POS = 5  # macd_line at the last 5 bars -> signal


def _truncated_ema_matrix(span: float) -> np.ndarray:
    """[L, _MACD_POS] weights: column q = normalised EMA weights ending at bar L-_MACD_POS+q."""
    alpha = 2.0 / (span + 1.0)
    w = (1.0 - alpha) ** np.arange(_MACD_N)  # w[0] = most recent bar
    w = w / w.sum()
    mat = np.zeros((_L, _MACD_POS))
    for q in range(_MACD_POS):
        end = _L - _MACD_POS + q
        mat[end - _MACD_N + 1 : end + 1, q] = w[::-1]
    return mat


_MACD_W = _truncated_ema_matrix(6.0) - _truncated_ema_matrix(13.0)
_TREND_X = np.arange(20, dtype=np.float64) - 9.5
_TREND_SXX = float((_TREND_X**2).sum())


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


# -------------------------------------------------------------- numpy core
def _div(a: np.ndarray, b: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """a / b, ``fill`` where b == 0 (callers run under np.errstate)."""
    return np.where(b != 0.0, a / np.where(b != 0.0, b, 1.0), fill)


def _logratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(a / b), 0 where either is not positive."""
    ok = (a > 0.0) & (b > 0.0)
    return np.where(ok, np.log(np.where(ok, a, 1.0) / np.where(ok, b, 1.0)), 0.0)


def _sum(x: np.ndarray) -> np.ndarray:
    return np.add.reduce(x, axis=1)


def _std1(x: np.ndarray) -> np.ndarray:
    """Sample std (ddof=1) along axis 1."""
    k = x.shape[1]
    d = x - (_sum(x) / k)[:, None]
    return np.sqrt(_sum(d * d) / (k - 1))


def _block(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The 45 features of ``m`` windows; inputs ``[m, LOOKBACK]``, last column = current bar."""
    m = c.shape[0]
    out = np.empty((m, _N), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lc = np.log(c)
        r = lc[:, 1:] - lc[:, :-1]  # [m, L-1]
        last = lc[:, -1]
        cl = c[:, -1]
        for j, k in enumerate((1, 3, 5, 10, 15, _L - 1)):
            out[:, j] = last - lc[:, -1 - k]
        r20 = r[:, -20:]
        vol5, vol10, vol20 = _std1(r[:, -5:]), _std1(r[:, -10:]), _std1(r20)
        out[:, 6], out[:, 7], out[:, 8] = vol5, vol10, vol20
        out[:, 9] = _logratio(vol5, vol20)
        neg20 = np.minimum(r20, 0.0)
        out[:, 10] = np.sqrt(_sum(neg20 * neg20) / 20.0)
        out[:, 11] = _div(out[:, 3], _sum(np.abs(r[:, -10:])))
        hl = np.log(h[:, -10:] / lo[:, -10:])
        out[:, 12] = np.sqrt(_sum(hl * hl) / (10.0 * 4.0 * np.log(2.0)))
        pc = c[:, :-1]
        tr = np.maximum(h[:, 1:], pc) - np.minimum(lo[:, 1:], pc)
        out[:, 13] = _sum(tr[:, -14:]) / 14.0 / cl
        out[:, 14] = _sum(tr[:, -5:]) / 5.0 / cl
        out[:, 15] = (h[:, -1] - lo[:, -1]) / cl
        gains = np.maximum(r, 0.0)
        losses = np.maximum(-r, 0.0)
        for j, k in ((16, 14), (17, 7)):
            g, ls = _sum(gains[:, -k:]), _sum(losses[:, -k:])
            out[:, j] = _div(g - ls, g + ls)  # = 2 * RSI/100 - 1
        # einsum, not BLAS `@`: a row's value must not depend on how many rows are computed together
        macd = np.einsum("ml,lk->mk", c, _MACD_W) / c[:, _L - _MACD_POS :]
        out[:, 18] = macd[:, -1]
        out[:, 19] = _sum(macd) / _MACD_POS
        out[:, 20] = out[:, 18] - out[:, 19]
        c20 = c[:, -20:]
        sma20 = _sum(c20) / 20.0
        d20 = c20 - sma20[:, None]
        sd20 = np.sqrt(_sum(d20 * d20) / 20.0)
        out[:, 21] = np.clip(_div(cl - (sma20 - 2.0 * sd20), 4.0 * sd20, 0.5), -1.0, 2.0)
        out[:, 22] = 4.0 * sd20 / sma20
        sma5 = _sum(c[:, -5:]) / 5.0
        sma10 = _sum(c[:, -10:]) / 10.0
        out[:, 23] = np.log(cl / sma5)
        out[:, 24] = np.log(cl / sma10)
        out[:, 25] = np.log(cl / sma20)
        out[:, 26] = np.log(sma5 / sma20)
        hmax10, lmin10 = h[:, -10:].max(axis=1), lo[:, -10:].min(axis=1)
        out[:, 27] = np.log(cl / hmax10)
        out[:, 28] = np.log(cl / lmin10)
        out[:, 29] = np.log(cl / h.max(axis=1))
        out[:, 30] = np.log(cl / lo.min(axis=1))
        hmax20, lmin20 = h[:, -20:].max(axis=1), lo[:, -20:].min(axis=1)
        out[:, 31] = _div(cl - lmin20, hmax20 - lmin20, 0.5)
        lv = np.log1p(np.maximum(v[:, -20:], 0.0))
        dv = lv - (_sum(lv) / 20.0)[:, None]
        out[:, 32] = np.clip(_div(dv[:, -1], np.sqrt(_sum(dv * dv) / 19.0)), -5.0, 5.0)
        out[:, 33] = _logratio(_sum(v[:, -5:]) / 5.0, _sum(v[:, -20:]) / 20.0)
        dr = r20 - (_sum(r20) / 20.0)[:, None]
        dr2 = dr * dr
        m2 = _sum(dr2) / 20.0
        out[:, 34] = _div(_sum(dr2 * dr) / 20.0, m2 * np.sqrt(m2))
        out[:, 35] = _div(_sum(dr2 * dr2) / 20.0, m2 * m2, 3.0) - 3.0
        out[:, 36] = _sum(r[:, -10:] > 0.0) / 10.0
        out[:, 37] = _sum(r20 > 0.0) / 20.0
        out[:, 38] = np.log(o[:, -1] / c[:, -2])
        rng = h[:, -1] - lo[:, -1]
        out[:, 39] = _div(cl - o[:, -1], rng)
        out[:, 40] = _div(cl - lo[:, -1], rng, 0.5) - 0.5
        a, b = dr[:, :-1], dr[:, 1:]
        out[:, 41] = _div(_sum(a * b), np.sqrt(_sum(a * a) * _sum(b * b)))
        out[:, 42] = (lc - np.maximum.accumulate(lc, axis=1)).min(axis=1)
        y = lc[:, -20:]
        slope = _sum(y * _TREND_X) / _TREND_SXX
        dy = y - (_sum(y) / 20.0)[:, None]
        sst = _sum(dy * dy)
        resid = dy - slope[:, None] * _TREND_X
        sse = _sum(resid * resid)
        out[:, 43] = _div(slope, np.sqrt(sse / 18.0 / _TREND_SXX), 0.0)
        out[:, 44] = np.sign(slope) * np.clip(_div(sst - sse, sst), 0.0, 1.0)
        bad = ~np.isfinite(out)
        if bad.any():  # only possible through NaN/inf inputs, which validation rejects
            out[bad] = np.nan
        np.clip(out, -_CLIP, _CLIP, out=out)
    return out


def _cross(per_tf: np.ndarray, timeframes: Sequence[str]) -> np.ndarray:
    """The 8 cross-timeframe features from ``per_tf`` ``[m, T, 45]``."""
    m, t = per_tf.shape[0], per_tf.shape[1]
    out = np.zeros((m, len(CROSS_FEATURE_NAMES)), dtype=np.float64)
    ann = np.array([_ANNUALISE[tf] for tf in timeframes])
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, 0] = np.sign(per_tf[:, :, _IDX["sma_ratio_20"]]).mean(axis=1)
        out[:, 1] = np.sign(per_tf[:, :, _IDX["macd_line"]]).mean(axis=1)
        vol = per_tf[:, :, _IDX["vol_20"]] * ann

        def vr(i: int, j: int) -> np.ndarray:
            a, b = vol[:, i], vol[:, j]
            return np.where(np.isnan(a) | np.isnan(b), np.nan, _logratio(a, b))

        if t >= 2:
            out[:, 2] = vr(0, 1)
            out[:, 4] = vr(0, t - 1)
        if t >= 3:
            out[:, 3] = vr(1, 2)
        rsi = per_tf[:, :, _IDX["rsi_14"]]
        pos = per_tf[:, :, _IDX["range_pos_20"]]
        out[:, 5] = rsi[:, 0] - rsi[:, -1]
        out[:, 6] = pos[:, 0] - pos[:, -1]
        out[:, 7] = per_tf[:, :, _IDX["trend_r2_20"]].mean(axis=1)
        np.clip(out, -_CLIP, _CLIP, out=out)
    return out


# ------------------------------------------------------------ period logic
def _period_keys(days: np.ndarray, months: np.ndarray, tf: str) -> np.ndarray:
    """Integer period id per row: W-FRI weeks (Sat..Fri) or calendar months."""
    if tf == "W":
        return (days - 2) // 7  # 1970-01-03 (day 2) was a Saturday
    return months


def _aggregate(arr: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """OHLCV bars of the groups starting at ``starts`` (arr columns: o, h, l, c, v)."""
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = arr.shape[0] - 1
    return (
        arr[starts, 0],
        np.maximum.reduceat(arr[:, 1], starts),
        np.minimum.reduceat(arr[:, 2], starts),
        arr[ends, 3],
        np.add.reduceat(arr[:, 4], starts),
    )


def _group_starts(keys: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))


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
            _L if tf == "D" else _MAX_ROWS_PER_PERIOD[tf] * (_L + 1) + 1 for tf in tfs
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
            if tf == "D":
                bars = tuple(arr[:, j] for j in range(5))
                rows = np.arange(n)
                bar_of_row = rows
            else:
                keys = _period_keys(days, months, tf)
                starts = _group_starts(keys)
                group = np.cumsum(np.r_[0, (keys[1:] != keys[:-1]).astype(np.int64)])
                bars = tuple(b[1:] for b in _aggregate(arr, starts))  # drop the first period
                rows = np.arange(n)
                bar_of_row = group - 2  # last completed period, indexed after the drop
            nb = bars[0].shape[0]
            if nb < _L:
                continue
            ends = np.arange(_L - 1, nb)
            win = ends[:, None] + offs
            feats = np.full((nb, _N), np.nan)
            feats[_L - 1 :] = _block(*(b[win] for b in bars))
            ok = bar_of_row >= _L - 1
            per_tf[rows[ok], k] = feats[bar_of_row[ok]]
        cross = _cross(per_tf, self.timeframes)
        valid = np.isfinite(per_tf).all(axis=(1, 2)) & np.isfinite(cross).all(axis=1)
        index = df.index if isinstance(df.index, pd.DatetimeIndex) else pd.DatetimeIndex(df.index)
        return Features(per_tf=per_tf, cross=cross, index=index, valid=valid, timeframes=self.timeframes)

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
        n = arr.shape[0]
        t = self.n_timeframes
        wins = np.empty((5, t, _L))
        have = np.zeros(t, dtype=bool)
        for k, tf in enumerate(self.timeframes):
            if tf == "D":
                if n >= _L:
                    wins[:, k, :] = arr[-_L:].T
                    have[k] = True
                continue
            keys = _period_keys(days, months, tf)
            starts = _group_starts(keys)
            # complete, visible periods: all but the first (maybe partial) and the current one
            if starts.shape[0] - 2 < _L:
                continue
            sel = starts[-_L - 1 :]  # the last L complete periods + the current one
            lo_row = int(sel[0])
            bars = _aggregate(arr[lo_row:], sel - lo_row)
            for j in range(5):
                wins[j, k, :] = bars[j][:-1]
            have[k] = True
        per_tf = np.full((t, _N), np.nan)
        if have.all():
            per_tf[:] = _block(*wins)
        elif have.any():
            per_tf[have] = _block(*(w[have] for w in wins))
        cross = _cross(per_tf[None], self.timeframes)[0]
        return FeatureRow(per_tf=per_tf, cross=cross, timestamp=timestamp)

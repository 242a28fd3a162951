"""The feature math: 45 named features of one timeframe block, 8 cross-timeframe features.

Each feature is computed *and named* in one place: :func:`block_columns`
returns an ordered ``{name: column}`` dict and :func:`cross_columns` likewise;
:data:`FEATURE_NAMES` / :data:`CROSS_FEATURE_NAMES` are the keys of those
dicts (read once at import), and :func:`block` / :func:`cross` stack the
columns in the same order, so names and matrix columns cannot drift apart.

All indicators have finite memory (no recursive EMAs / Wilder smoothing):
RSI uses simple means of gains and losses, MACD uses EMAs whose weights are
truncated to a fixed 19-bar window. Returns are log returns; "n" in a name
counts bars of the block's own timeframe.

Example:
    >>> import numpy as np
    >>> c = np.linspace(100.0, 110.0, LOOKBACK)[None, :]
    >>> feats = block(c, c * 1.01, c * 0.99, c, np.full_like(c, 1e6))
    >>> feats.shape, FEATURE_NAMES[0]
    ((1, 45), 'ret_1')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "ANNUALISE",
    "CROSS_FEATURE_NAMES",
    "FEATURE_NAMES",
    "LOOKBACK",
    "block",
    "block_columns",
    "cross",
    "cross_columns",
]

#: Bars of each timeframe that one feature vector looks at (current bar included).
LOOKBACK: int = 24

#: sqrt(periods per year), to compare volatilities across timeframes.
ANNUALISE: dict[str, float] = {"D": np.sqrt(252.0), "W": np.sqrt(52.0), "M": np.sqrt(12.0)}

_CLIP = 10.0  # every feature is clipped to [-_CLIP, _CLIP]
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


def block_columns(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
    """The 45 features of ``m`` windows as an ordered ``{name: [m] column}`` dict (unclipped).

    Inputs are ``[m, LOOKBACK]`` (last column = current bar); call under
    ``np.errstate(divide="ignore", invalid="ignore", over="ignore")``.
    """
    f: dict[str, np.ndarray] = {}
    lc = np.log(c)
    r = lc[:, 1:] - lc[:, :-1]  # [m, L-1] log returns
    last = lc[:, -1]
    cl = c[:, -1]
    for k in (1, 3, 5, 10, 15, _L - 1):
        f[f"ret_{k}"] = last - lc[:, -1 - k]  # log return over k bars (ret_23: the whole lookback)
    r20 = r[:, -20:]
    for k in (5, 10, 20):
        f[f"vol_{k}"] = _std1(r[:, -k:])  # std of the last k log returns (ddof=1)
    f["vol_ratio_5_20"] = _logratio(f["vol_5"], f["vol_20"])  # log(vol_5 / vol_20)
    neg20 = np.minimum(r20, 0.0)
    f["downside_vol_20"] = np.sqrt(_sum(neg20 * neg20) / 20.0)  # sqrt(mean(min(r, 0)^2)) over 20 returns
    f["efficiency_10"] = _div(f["ret_10"], _sum(np.abs(r[:, -10:])))  # signed Kaufman efficiency: ret_10 / sum |r|
    hl = np.log(h[:, -10:] / lo[:, -10:])
    f["parkinson_vol_10"] = np.sqrt(_sum(hl * hl) / (10.0 * 4.0 * np.log(2.0)))  # sqrt(mean(log(h/l)^2) / (4 ln 2))
    pc = c[:, :-1]
    tr = np.maximum(h[:, 1:], pc) - np.minimum(lo[:, 1:], pc)
    f["atr_pct_14"] = _sum(tr[:, -14:]) / 14.0 / cl  # simple-mean true range over 14 bars / close
    f["atr_pct_5"] = _sum(tr[:, -5:]) / 5.0 / cl
    f["range_pct_1"] = (h[:, -1] - lo[:, -1]) / cl  # (high - low) / close of the current bar
    gains = np.maximum(r, 0.0)
    losses = np.maximum(-r, 0.0)
    for k in (14, 7):
        g, ls = _sum(gains[:, -k:]), _sum(losses[:, -k:])
        f[f"rsi_{k}"] = _div(g - ls, g + ls)  # RSI from simple means, mapped to [-1, 1] (= 2 * RSI/100 - 1)
    # einsum, not BLAS `@`: a row's value must not depend on how many rows are computed together
    macd = np.einsum("ml,lk->mk", c, _MACD_W) / c[:, _L - _MACD_POS :]
    f["macd_line"] = macd[:, -1]  # (EMA6 - EMA13) / close, EMAs truncated to 19 bars
    f["macd_signal"] = _sum(macd) / _MACD_POS  # mean of macd_line over the last 5 bars
    f["macd_hist"] = f["macd_line"] - f["macd_signal"]
    c20 = c[:, -20:]
    sma20 = _sum(c20) / 20.0
    d20 = c20 - sma20[:, None]
    sd20 = np.sqrt(_sum(d20 * d20) / 20.0)
    f["bb_pctb_20"] = np.clip(_div(cl - (sma20 - 2.0 * sd20), 4.0 * sd20, 0.5), -1.0, 2.0)  # Bollinger %b (20, 2 std)
    f["bb_width_20"] = 4.0 * sd20 / sma20  # 4 std / SMA20
    sma5 = _sum(c[:, -5:]) / 5.0
    sma10 = _sum(c[:, -10:]) / 10.0
    f["sma_ratio_5"] = np.log(cl / sma5)  # log(close / SMA5)
    f["sma_ratio_10"] = np.log(cl / sma10)
    f["sma_ratio_20"] = np.log(cl / sma20)
    f["sma_cross_5_20"] = np.log(sma5 / sma20)  # log(SMA5 / SMA20)
    f["dist_high_10"] = np.log(cl / h[:, -10:].max(axis=1))  # log(close / max high over 10 bars) <= 0
    f["dist_low_10"] = np.log(cl / lo[:, -10:].min(axis=1))  # log(close / min low over 10 bars) >= 0
    f["dist_high_24"] = np.log(cl / h.max(axis=1))  # over the whole lookback
    f["dist_low_24"] = np.log(cl / lo.min(axis=1))
    hmax20, lmin20 = h[:, -20:].max(axis=1), lo[:, -20:].min(axis=1)
    f["range_pos_20"] = _div(cl - lmin20, hmax20 - lmin20, 0.5)  # (close - min low) / (max high - min low), 20 bars
    lv = np.log1p(np.maximum(v[:, -20:], 0.0))
    dv = lv - (_sum(lv) / 20.0)[:, None]
    f["volume_z_20"] = np.clip(_div(dv[:, -1], np.sqrt(_sum(dv * dv) / 19.0)), -5.0, 5.0)  # z of log(1 + volume)
    f["volume_ratio_5_20"] = _logratio(_sum(v[:, -5:]) / 5.0, _sum(v[:, -20:]) / 20.0)  # log(mean vol 5 / mean vol 20)
    dr = r20 - (_sum(r20) / 20.0)[:, None]
    dr2 = dr * dr
    m2 = _sum(dr2) / 20.0
    f["skew_20"] = _div(_sum(dr2 * dr) / 20.0, m2 * np.sqrt(m2))  # skewness of the last 20 log returns
    f["kurt_20"] = _div(_sum(dr2 * dr2) / 20.0, m2 * m2, 3.0) - 3.0  # excess kurtosis of the last 20 log returns
    f["up_frac_10"] = _sum(r[:, -10:] > 0.0) / 10.0  # fraction of up bars among the last 10
    f["up_frac_20"] = _sum(r20 > 0.0) / 20.0
    f["gap_1"] = np.log(o[:, -1] / c[:, -2])  # log(open / previous close)
    rng = h[:, -1] - lo[:, -1]
    f["body_1"] = _div(cl - o[:, -1], rng)  # (close - open) / (high - low), in [-1, 1]
    f["close_loc_1"] = _div(cl - lo[:, -1], rng, 0.5) - 0.5  # (close - low) / (high - low) - 0.5
    a, b = dr[:, :-1], dr[:, 1:]
    f["autocorr_20"] = _div(_sum(a * b), np.sqrt(_sum(a * a) * _sum(b * b)))  # lag-1 autocorrelation of 20 returns
    f["max_drawdown_24"] = (lc - np.maximum.accumulate(lc, axis=1)).min(axis=1)  # worst log drawdown in the lookback
    y = lc[:, -20:]
    slope = _sum(y * _TREND_X) / _TREND_SXX
    dy = y - (_sum(y) / 20.0)[:, None]
    sst = _sum(dy * dy)
    resid = dy - slope[:, None] * _TREND_X
    sse = _sum(resid * resid)
    f["trend_tstat_20"] = _div(slope, np.sqrt(sse / 18.0 / _TREND_SXX), 0.0)  # t-stat of the OLS slope of log close
    f["trend_r2_20"] = np.sign(slope) * np.clip(_div(sst - sse, sst), 0.0, 1.0)  # R^2 of that fit, signed by the slope
    return f


def _stack(cols: dict[str, np.ndarray]) -> np.ndarray:
    """``[m, len(cols)]`` float64 in the dict's order; non-finite -> NaN; clipped to [-_CLIP, _CLIP]."""
    out = np.stack([np.asarray(col, dtype=np.float64) for col in cols.values()], axis=1)
    bad = ~np.isfinite(out)
    if bad.any():  # only possible through NaN/inf inputs, which validation rejects
        out[bad] = np.nan
    np.clip(out, -_CLIP, _CLIP, out=out)
    return out


def block(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The 45 features of ``m`` windows, ``[m, 45]`` in :data:`FEATURE_NAMES` order; inputs ``[m, LOOKBACK]``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _stack(block_columns(o, h, lo, c, v))


with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
    _PROBE = np.ones((1, _L))
    #: The 45 per-timeframe features, in column order (documented where computed, in :func:`block_columns`).
    FEATURE_NAMES: tuple[str, ...] = tuple(block_columns(_PROBE, _PROBE, _PROBE, _PROBE, _PROBE))
_IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def cross_columns(per_tf: np.ndarray, timeframes: Sequence[str]) -> dict[str, np.ndarray]:
    """The 8 cross-timeframe features from ``per_tf`` ``[m, T, 45]`` as an ordered dict (unclipped).

    "fast" is the first timeframe, "slow" the last; a volatility ratio whose
    timeframes are missing is 0. Call under ``np.errstate(divide="ignore", invalid="ignore")``.
    """
    m, t = per_tf.shape[0], per_tf.shape[1]
    zero = np.zeros(m)
    vol = per_tf[:, :, _IDX["vol_20"]] * np.array([ANNUALISE[tf] for tf in timeframes])

    def vr(i: int, j: int) -> np.ndarray:
        a, b = vol[:, i], vol[:, j]
        return np.where(np.isnan(a) | np.isnan(b), np.nan, _logratio(a, b))

    rsi, pos = per_tf[:, :, _IDX["rsi_14"]], per_tf[:, :, _IDX["range_pos_20"]]
    return {
        "trend_agreement": np.sign(per_tf[:, :, _IDX["sma_ratio_20"]]).mean(axis=1),  # mean sign(sma_ratio_20)
        "momentum_agreement": np.sign(per_tf[:, :, _IDX["macd_line"]]).mean(axis=1),  # mean sign(macd_line)
        "vol_ratio_fast_mid": vr(0, 1) if t >= 2 else zero,  # log annualised vol_20 ratio, timeframe 0 / 1
        "vol_ratio_mid_slow": vr(1, 2) if t >= 3 else zero,  # timeframe 1 / 2
        "vol_ratio_fast_slow": vr(0, t - 1) if t >= 2 else zero,  # first / last timeframe
        "rsi_spread_fast_slow": rsi[:, 0] - rsi[:, -1],  # rsi_14 first - last timeframe
        "range_pos_spread_fast_slow": pos[:, 0] - pos[:, -1],  # range_pos_20 first - last timeframe
        "trend_strength_mean": per_tf[:, :, _IDX["trend_r2_20"]].mean(axis=1),  # mean trend_r2_20
    }


def cross(per_tf: np.ndarray, timeframes: Sequence[str]) -> np.ndarray:
    """``[m, 8]`` cross-timeframe features in :data:`CROSS_FEATURE_NAMES` order, clipped.

    NaN propagates (not replaced): a row lacking a timeframe block stays invalid.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.stack(list(cross_columns(per_tf, timeframes).values()), axis=1)
        np.clip(out, -_CLIP, _CLIP, out=out)
    return out


#: The 8 cross-timeframe features, in column order (documented in :func:`cross_columns`).
CROSS_FEATURE_NAMES: tuple[str, ...] = tuple(cross_columns(np.zeros((1, 1, len(FEATURE_NAMES))), ("D",)))

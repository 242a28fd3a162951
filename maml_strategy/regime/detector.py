"""Causal, streaming rule-based regime detector.

One streaming core (:meth:`RegimeDetector.update`) does all the work;
:meth:`RegimeDetector.label` simply replays a frame through a fresh core, so
batch labels equal streaming labels exactly and are causal by construction
(the label of bar t depends on bars <= t only). Work per bar is O(1) apart
from the trailing-median update, which is a bisect on a sorted list
(O(log n) search + a memmove of at most ``vol_median_window`` pointers).

Example:
    >>> from maml_strategy.data import synthetic_ohlcv
    >>> from maml_strategy.regime import RegimeDetector
    >>> df = synthetic_ohlcv(600, seed=1)
    >>> det = RegimeDetector()
    >>> labels = det.label(df)          # pd.Series of Regime / None
    >>> bool(labels.iloc[: det.warmup].isna().all())
    True
    >>> for row in df.itertuples():     # streaming, same numbers
    ...     regime = det.update(row)
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.data.validate import require_frame
from maml_strategy.errors import ConfigError, DataError
from maml_strategy.regime.config import RegimeConfig
from maml_strategy.regime.types import Regime, RegimeSegment

__all__ = ["RegimeDetector", "REQUIRED_COLUMNS", "segments_from_codes"]

#: Columns :meth:`RegimeDetector.label` needs (open is not used by the rules).
REQUIRED_COLUMNS: tuple[str, ...] = ("high", "low", "close")

# (trend index: 0 bull, 1 bear, 2 sideways) x (high vol) -> Regime
_TABLE: tuple[tuple[Regime, Regime], ...] = (
    (Regime.BULL_LOW_VOL, Regime.BULL_HIGH_VOL),
    (Regime.BEAR_LOW_VOL, Regime.BEAR_HIGH_VOL),
    (Regime.SIDEWAYS_LOW_VOL, Regime.SIDEWAYS_HIGH_VOL),
)


def _field(bar: Any, name: str) -> float:
    if isinstance(bar, Mapping):
        if name not in bar:
            raise DataError(f"bar has no {name!r}; pass a mapping or object with open/high/low/close")
        return bar[name]
    try:
        return getattr(bar, name)
    except AttributeError:
        raise DataError(
            f"bar {type(bar).__name__} has no attribute {name!r}; pass a mapping or object with high/low/close"
        ) from None


class RegimeDetector:
    """Trend x volatility regime detector with hysteresis (see :class:`RegimeConfig`).

    Attributes:
        config: the :class:`RegimeConfig` in use.
        current: confirmed regime after the last :meth:`update` (None in warm-up).
        transition: True iff the last :meth:`update` changed the confirmed
            regime (the first confirmation counts as a transition).
        raw: the unconfirmed regime of the last bar (None in warm-up).
        n_bars: bars consumed since construction / :meth:`reset`.

    Example:
        >>> det = RegimeDetector(RegimeConfig(min_dwell=3))
        >>> det.update({"high": 101.0, "low": 99.0, "close": 100.0}) is None
        True
    """

    def __init__(self, config: RegimeConfig | None = None) -> None:
        if config is None:
            config = RegimeConfig()
        elif not isinstance(config, RegimeConfig):
            raise ConfigError(f"config must be a RegimeConfig or None, got {type(config).__name__}")
        self.config = config
        self.reset()

    # ------------------------------------------------------------------ state
    @property
    def warmup(self) -> int:
        """Bars without a label at the start of a stream (first label on bar index ``warmup``)."""
        return self.config.warmup

    def reset(self) -> None:
        """Forget all history (the next :meth:`update` starts a new stream)."""
        cfg = self.config
        self._closes: deque[float] = deque(maxlen=cfg.sma_period)
        self._smas: deque[float] = deque(maxlen=cfg.slope_lookback + 1)
        self._prev_close: float | None = None
        self._atr: float | None = None
        self._tr_sum = 0.0
        self._tr_n = 0
        self._atr_pcts: deque[float] = deque()
        self._sorted: list[float] = []
        self._candidate: Regime | None = None
        self._count = 0
        self.current: Regime | None = None
        self.raw: Regime | None = None
        self.transition = False
        self.n_bars = 0
        # diagnostics of the last bar (None in warm-up)
        self.slope: float | None = None
        self.atr_pct: float | None = None
        self.atr_pct_median: float | None = None

    # -------------------------------------------------------------- streaming
    def update(self, bar: Any) -> Regime | None:
        """Consume one bar and return the confirmed regime after it.

        Args:
            bar: a mapping or object with ``high``, ``low`` and ``close``
                (e.g. a dict, a namedtuple from ``df.itertuples()``); ``open``
                and other fields are ignored.

        Returns:
            The confirmed regime, or None during warm-up.

        Raises:
            DataError: if a price is missing, non-finite, non-positive or high < low.
        """
        return self.step(float(_field(bar, "high")), float(_field(bar, "low")), float(_field(bar, "close")))

    def step(self, high: float, low: float, close: float) -> Regime | None:
        """Consume one bar given as floats (the fast path of :meth:`update`); returns the confirmed regime.

        Raises:
            DataError: a non-finite or non-positive price, or ``high < low``.
        """
        if not (close > 0.0 and low > 0.0 and high >= low and high < math.inf):
            raise DataError(
                f"invalid bar #{self.n_bars}: high={high}, low={low}, close={close}; "
                "prices must be finite, positive and high >= low (drop or repair the bar)"
            )
        cfg = self.config
        self.n_bars += 1
        self.transition = False
        # --- trend: SMA and its slope (sum of a bounded deque: exact, no drift)
        closes = self._closes
        closes.append(close)
        smas = self._smas
        if len(closes) == cfg.sma_period:
            smas.append(sum(closes) / cfg.sma_period)
        # --- volatility: Wilder ATR as a fraction of close
        prev = self._prev_close
        if prev is None:
            tr = high - low
        else:
            tr = max(high - low, abs(high - prev), abs(low - prev))
        self._prev_close = close
        n = cfg.atr_period
        atr = self._atr
        if atr is None:
            self._tr_sum += tr
            self._tr_n += 1
            if self._tr_n == n:
                atr = self._tr_sum / n
        else:
            atr = (atr * (n - 1) + tr) / n
        self._atr = atr
        if atr is None:
            return None
        atr_pct = atr / close
        window = self._atr_pcts
        srt = self._sorted
        window.append(atr_pct)
        if len(window) > cfg.vol_median_window:
            del srt[bisect_left(srt, window.popleft())]
        insort(srt, atr_pct)
        if len(srt) < cfg.vol_median_window or len(smas) <= cfg.slope_lookback:
            return None
        # --- raw regime of this bar
        m = len(srt)
        median = srt[m // 2] if m % 2 else 0.5 * (srt[m // 2 - 1] + srt[m // 2])
        slope = (smas[-1] / smas[0]) ** (1.0 / cfg.slope_lookback) - 1.0
        thr = cfg.slope_threshold
        trend = 0 if slope > thr else (1 if slope < -thr else 2)
        raw = _TABLE[trend][atr_pct > cfg.vol_threshold * median]
        self.raw, self.slope, self.atr_pct, self.atr_pct_median = raw, slope, atr_pct, median
        # --- hysteresis
        cur = self.current
        if cur is None:
            self.current = raw
            self.transition = True
        elif raw is cur:
            self._candidate, self._count = None, 0
        else:
            if raw is self._candidate:
                self._count += 1
            else:
                self._candidate, self._count = raw, 1
            if self._count >= cfg.min_dwell:
                self.current = raw
                self.transition = True
                self._candidate, self._count = None, 0
        return self.current

    # ------------------------------------------------------------------ batch
    def _validate(self, df: Any, *, need_label: bool) -> None:
        require_frame(df, REQUIRED_COLUMNS, "regime detection")
        if need_label and len(df) <= self.warmup:
            raise DataError(
                f"{len(df)} bars is too little history: the detector labels a bar only after "
                f"{self.warmup} warm-up bars; pass at least {self.warmup + 1} bars (about "
                f"{(self.warmup + 1) / 252:.1f} trading years) or shorten RegimeConfig.vol_median_window"
            )

    def _codes(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Replay ``df`` through a fresh core; regime codes (-1 = warm-up) and transition flags."""
        core = RegimeDetector(self.config)
        step = core.step
        try:
            high = df["high"].to_numpy(dtype=np.float64).tolist()
            low = df["low"].to_numpy(dtype=np.float64).tolist()
            close = df["close"].to_numpy(dtype=np.float64).tolist()
        except (TypeError, ValueError) as exc:
            raise DataError(f"high/low/close must be numeric: {exc}") from None
        n = len(close)
        codes = np.full(n, -1, dtype=np.int8)
        trans = np.zeros(n, dtype=bool)
        code_of = {r: r.code for r in Regime}
        for i in range(n):
            try:
                r = step(high[i], low[i], close[i])
            except DataError as exc:
                raise DataError(f"row {i} ({df.index[i]}): {exc}") from None
            if r is not None:
                codes[i] = code_of[r]
                if core.transition:
                    trans[i] = True
        return codes, trans

    def label(self, df: pd.DataFrame) -> pd.Series:
        """Causal confirmed regime of every bar (None during warm-up).

        Runs a fresh copy of the streaming core over the rows, so the result
        equals feeding the rows to :meth:`update` one by one; this
        detector's own streaming state is left untouched.

        Args:
            df: OHLCV frame with at least ``high``, ``low``, ``close``.

        Returns:
            ``pd.Series`` (dtype object, same index as ``df``, name ``"regime"``)
            of :class:`Regime` or None.

        Raises:
            DataError: missing columns, no rows or invalid prices.

        Example:
            >>> RegimeDetector().label(df).dropna().map(str).value_counts()  # doctest: +SKIP
        """
        self._validate(df, need_label=False)
        codes, _ = self._codes(df)
        lookup = np.array([None, *Regime], dtype=object)  # code -1 -> None
        return pd.Series(lookup[codes.astype(np.int64) + 1], index=df.index, name="regime", dtype=object)

    def label_codes(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`label` but as arrays: int8 codes (-1 in warm-up) and bool transition flags.

        Example:
            >>> codes, transitions = RegimeDetector().label_codes(df)  # doctest: +SKIP
        """
        self._validate(df, need_label=False)
        return self._codes(df)

    def detect_regime(self, df: pd.DataFrame) -> Regime | None:
        """Confirmed regime at the last bar of ``df``.

        Raises:
            DataError: if ``df`` is shorter than ``warmup + 1`` bars or malformed.

        Example:
            >>> RegimeDetector().detect_regime(df)  # doctest: +SKIP
            <Regime.BULL_LOW_VOL: 'bull_low_vol'>
        """
        self._validate(df, need_label=True)
        codes, _ = self._codes(df)
        return None if codes[-1] < 0 else Regime.from_code(int(codes[-1]))

    def segment_by_regime(self, df: pd.DataFrame, min_length: int = 1) -> list[RegimeSegment]:
        """Split ``df`` into maximal runs of one confirmed regime.

        Args:
            df: OHLCV frame (warm-up bars belong to no segment).
            min_length: drop segments shorter than this many bars.

        Returns:
            Segments in time order; positions are integer rows of ``df``, end inclusive.

        Raises:
            DataError: if ``df`` is shorter than ``warmup + 1`` bars or malformed.
            ConfigError: if ``min_length`` < 1.

        Example:
            >>> segs = RegimeDetector().segment_by_regime(df, min_length=20)  # doctest: +SKIP
            >>> segs[0].regime, segs[0].n_bars  # doctest: +SKIP
        """
        if isinstance(min_length, bool) or not isinstance(min_length, (int, np.integer)) or min_length < 1:
            raise ConfigError(f"min_length must be an int >= 1, got {min_length!r}")
        self._validate(df, need_label=True)
        codes, _ = self._codes(df)
        return segments_from_codes(codes, df.index, min_length=int(min_length))


def segments_from_codes(codes: np.ndarray, index: pd.Index, *, min_length: int = 1) -> list[RegimeSegment]:
    """Runs of equal non-negative codes as :class:`RegimeSegment` (codes < 0 are skipped).

    Example:
        >>> import numpy as np, pandas as pd
        >>> segs = segments_from_codes(np.array([-1, 0, 0, 3]), pd.RangeIndex(4))
        >>> [(s.regime.value, s.start_pos, s.end_pos) for s in segs]
        [('bull_low_vol', 1, 2), ('bear_high_vol', 3, 3)]
    """
    codes = np.asarray(codes)
    n = len(codes)
    if n == 0:
        return []
    breaks = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks - 1, [n - 1]))
    out: list[RegimeSegment] = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        c = int(codes[s])
        if c < 0 or e - s + 1 < min_length:
            continue
        out.append(
            RegimeSegment(
                regime=Regime.from_code(c),
                start=index[s],
                end=index[e],
                n_bars=e - s + 1,
                start_pos=s,
                end_pos=e,
            )
        )
    return out

"""Configuration of the rule-based regime detector.

Example:
    >>> from maml_strategy.regime import RegimeConfig
    >>> RegimeConfig(min_dwell=3).warmup
    264
"""

from __future__ import annotations

from dataclasses import dataclass

from maml_strategy.config.base import ConfigBase, require

__all__ = ["RegimeConfig"]


@dataclass(frozen=True)
class RegimeConfig(ConfigBase):
    """Parameters of :class:`~maml_strategy.regime.RegimeDetector`.

    Trend (decided on every bar t, from bars <= t only):
        ``sma_t`` is the simple moving average of the last ``sma_period``
        closes. The slope is the *geometric mean daily change* of the SMA over
        the last ``slope_lookback`` bars::

            slope_t = (sma_t / sma_{t - slope_lookback}) ** (1 / slope_lookback) - 1

        ``slope_t > slope_threshold`` -> bull, ``slope_t < -slope_threshold``
        -> bear, otherwise sideways. The default threshold 0.0002 is
        0.02 % per day (about 5 % a year).

    Volatility:
        ``atr_t`` is Wilder's ATR over ``atr_period`` bars (true range of the
        first bar = high - low; seeded with the simple mean of the first
        ``atr_period`` true ranges, then ``atr = (atr * (n - 1) + tr) / n``),
        ``atr_pct_t = atr_t / close_t``. The bar is high-volatility when
        ``atr_pct_t > vol_threshold * median(atr_pct over the last
        vol_median_window bars, t included)``.

    Hysteresis:
        The raw regime (trend x volatility) of a bar is only a *candidate*.
        A candidate different from the confirmed regime becomes confirmed once
        it has been the raw regime for ``min_dwell`` consecutive bars; a bar
        whose raw regime equals the confirmed one resets the count. The first
        raw regime after warm-up is confirmed immediately, so the first label
        always appears after exactly :attr:`warmup` bars.

    Choice of ``min_dwell = 5`` (made on SPY 1995-2007 only, see
    ``benchmarks/choose_min_dwell.py``; labels start in 1996 after warm-up):

        =========  ===========  ==========  ==============  ===============
        min_dwell  transitions  median len  segs < 5 bars   segs < 10 bars
        =========  ===========  ==========  ==============  ===============
        1          240          5           119             149
        2          178          10          53              87
        3          142          16          23              47
        4          120          19          6               27
        **5**      **112**      **21**      **1**           **20**
        6          108          22          1               17
        7          100          22          0               11
        8          90           24          0               5
        10         76           26          0               0
        =========  ===========  ==========  ==============  ===============

        Going from 1 to 5 halves the number of transitions (240 -> 112) and
        removes essentially all whipsaw segments shorter than a week
        (119 -> 1; the remaining one is the truncated last segment), while
        the median segment grows from 5 to 21 bars (about a month). Beyond 5
        the curve flattens (6: 108, 7: 100 transitions) and each extra bar
        of dwell only adds one more bar of detection lag, so 5 is the knee.
        With ``min_dwell=k`` every confirmed segment except the last lasts
        at least k bars.

    Attributes:
        sma_period: bars in the trend SMA.
        slope_lookback: bars over which the SMA slope is measured.
        slope_threshold: |slope| (fraction per bar) separating bull/bear from sideways.
        atr_period: Wilder ATR period.
        vol_median_window: bars in the trailing median of ATR %.
        vol_threshold: multiple of the trailing median above which volatility is high.
        min_dwell: consecutive bars a new raw regime must persist to be confirmed.

    Raises:
        ConfigError: on wrong types, non-positive periods or thresholds (message says how to fix).
    """

    sma_period: int = 20  # SMA(20) of close for the trend
    slope_lookback: int = 10  # slope = geometric mean daily change of SMA over 10 bars
    slope_threshold: float = 0.0002  # 0.02 %/day; |slope| below this is sideways
    atr_period: int = 14  # Wilder ATR(14)
    vol_median_window: int = 252  # trailing median of ATR % over ~1 trading year
    vol_threshold: float = 1.5  # high vol if ATR % > 1.5 x trailing median
    min_dwell: int = 5  # bars a new regime must persist (chosen on SPY 1995-2007)

    def _validate(self) -> None:
        for name in ("sma_period", "slope_lookback", "atr_period", "vol_median_window", "min_dwell"):
            value = getattr(self, name)
            require(value >= 1, f"RegimeConfig.{name} must be >= 1, got {value}; use a positive number of bars such as the default {getattr(RegimeConfig, name)}")
        require(
            self.slope_threshold >= 0,
            f"RegimeConfig.slope_threshold must be >= 0, got {self.slope_threshold}; it is a fraction per bar, e.g. 0.0002 for 0.02 %/day",
        )
        require(
            self.vol_threshold > 0,
            f"RegimeConfig.vol_threshold must be > 0, got {self.vol_threshold}; it multiplies the trailing median ATR %, e.g. 1.5",
        )

    @property
    def warmup(self) -> int:
        """Number of leading bars that get no label (the first label is on bar ``warmup``, 0-based)."""
        trend_ready = self.sma_period - 1 + self.slope_lookback
        vol_ready = self.atr_period - 1 + self.vol_median_window - 1
        return max(trend_ready, vol_ready)

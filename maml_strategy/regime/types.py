"""Regime labels and regime segments.

Example:
    >>> from maml_strategy.regime import Regime
    >>> Regime.BEAR_HIGH_VOL.code, Regime.from_code(3).value
    (3, 'bear_high_vol')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pandas as pd

from maml_strategy.errors import DataError

__all__ = ["Regime", "RegimeSegment", "TRENDS"]

#: The three trend states, in the order used by :class:`Regime`.
TRENDS: tuple[str, ...] = ("bull", "bear", "sideways")


class Regime(str, Enum):
    """Market regime = trend (bull/bear/sideways) x volatility (low/high).

    ``code`` is the enum position (0..5), stable across versions because
    models and backtrader lines store it.

    Example:
        >>> Regime.from_trend("bull", high_vol=True)
        <Regime.BULL_HIGH_VOL: 'bull_high_vol'>
        >>> Regime("sideways_low_vol").trend, Regime.SIDEWAYS_LOW_VOL.high_vol
        ('sideways', False)
    """

    BULL_LOW_VOL = "bull_low_vol"
    BULL_HIGH_VOL = "bull_high_vol"
    BEAR_LOW_VOL = "bear_low_vol"
    BEAR_HIGH_VOL = "bear_high_vol"
    SIDEWAYS_LOW_VOL = "sideways_low_vol"
    SIDEWAYS_HIGH_VOL = "sideways_high_vol"

    @property
    def code(self) -> int:
        """Integer code 0..5 (enum order)."""
        return _CODE[self]

    @property
    def trend(self) -> str:
        """``'bull'``, ``'bear'`` or ``'sideways'``."""
        return self.value.split("_", 1)[0]

    @property
    def high_vol(self) -> bool:
        """True for the three high-volatility regimes."""
        return self.value.endswith("_high_vol")

    @classmethod
    def from_code(cls, code: int) -> Regime:
        """Regime for an integer code 0..5.

        Raises:
            DataError: if ``code`` is not one of 0..5.
        """
        try:
            ic = int(code)
        except (TypeError, ValueError):
            raise DataError(f"regime code must be an integer 0..5, got {code!r}") from None
        if ic != code or not 0 <= ic < len(_BY_CODE):
            raise DataError(f"unknown regime code {code!r}; valid codes are 0..{len(_BY_CODE) - 1}")
        return _BY_CODE[ic]

    @classmethod
    def from_trend(cls, trend: str, high_vol: bool) -> Regime:
        """Regime for a trend name and a volatility flag.

        Raises:
            DataError: if ``trend`` is not 'bull', 'bear' or 'sideways'.
        """
        if trend not in TRENDS:
            raise DataError(f"unknown trend {trend!r}; use one of {TRENDS}")
        return cls(f"{trend}_{'high' if high_vol else 'low'}_vol")

    def __str__(self) -> str:  # "bull_low_vol" rather than "Regime.BULL_LOW_VOL"
        return self.value


_BY_CODE: tuple[Regime, ...] = tuple(Regime)
_CODE: dict[Regime, int] = {r: i for i, r in enumerate(_BY_CODE)}


@dataclass(frozen=True)
class RegimeSegment:
    """A maximal run of consecutive bars carrying the same confirmed regime.

    Attributes:
        regime: the regime of every bar in the run.
        start: timestamp (index label) of the first bar.
        end: timestamp of the last bar (inclusive).
        n_bars: number of bars, ``end_pos - start_pos + 1``.
        start_pos: integer row position of the first bar in the labelled frame.
        end_pos: integer row position of the last bar (inclusive).
    """

    regime: Regime
    start: pd.Timestamp
    end: pd.Timestamp
    n_bars: int
    start_pos: int
    end_pos: int

"""Sections of a strategy file: features, model size, tasks, trading, the few-shot study.

Example:
    >>> from maml_strategy.config import TradingConfig
    >>> TradingConfig(max_exposure=1).max_exposure
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from maml_strategy.config.base import ConfigBase, require

__all__ = ["FeatureConfig", "FewShotConfig", "ModelConfig", "TaskConfig", "TradingConfig"]


@dataclass
class FeatureConfig(ConfigBase):
    """Feature and label settings."""

    timeframes: tuple[str, ...] = ("D", "W", "M")  # daily, weekly, monthly blocks
    horizon: int = 5  # label: return over the next `horizon` bars, scaled by trailing volatility
    vol_window: int = 20  # bars of daily returns for the label's volatility scale
    # The training label (maml_strategy.features.labels): "close" = close(t) -> close(t+h), known
    # at t+h; "tradable" = open(t+1) -> open(t+1+h), what a next-open fill earns, known at t+h+1.
    # Both are scaled by the volatility known at t. Chosen on the validation years (docs/VALIDATION.md).
    label: Literal["close", "tradable"] = "close"

    @property
    def lag(self) -> int:
        """Bars after which a row's label is known: row ``i`` is usable at bar ``t`` iff ``i + lag <= t``."""
        return self.horizon + (1 if self.label == "tradable" else 0)

    def _validate(self) -> None:
        require(self.horizon >= 1, f"features.horizon must be >= 1, got {self.horizon}")
        require(self.vol_window >= 2, f"features.vol_window must be >= 2, got {self.vol_window}")
        bad = [t for t in self.timeframes if t not in ("D", "W", "M")]
        require(not bad and bool(self.timeframes), f"features.timeframes must be a non-empty subset of D, W, M; got {self.timeframes}")


@dataclass
class ModelConfig(ConfigBase):
    """Size of the HierarchicalTimeframeNet (same for the MAML and static models)."""

    # Width of the prediction head. 32, not the network's own default of 128: chosen on the
    # 2006-2007 validation tasks (backtests/select_hparams.py --period 2008 --seeds 5
    # --stride 4): MAML post-adaptation query MSE 0.695 with 32 vs 0.777 with 128.
    hidden_dim: int = 32
    tf_hidden_dim: int | None = None  # width of per-timeframe encoders (None = hidden_dim // 2)

    def _validate(self) -> None:
        require(
            self.hidden_dim >= 1 and (self.tf_hidden_dim is None or self.tf_hidden_dim >= 1),
            f"model.hidden_dim/tf_hidden_dim must be >= 1, got {self.hidden_dim}/{self.tf_hidden_dim}",
        )


@dataclass
class TaskConfig(ConfigBase):
    """How meta-training tasks are cut from regime segments."""

    # True: extend each segment back by support_size + horizon bars so a task's support may
    # lie before the regime started, as at trading time (when a transition is confirmed the
    # last K known labels mostly belong to the previous regime). False: support and query
    # both inside the segment (segments shorter than K + horizon + Q are dropped).
    # Chosen on the 2006-2007 validation tasks (backtests/select_hparams.py --period 2008,
    # 2 seeds): MAML query MSE 0.976 with False vs 1.094 with True.
    support_from_previous_regime: bool = False


@dataclass
class TradingConfig(ConfigBase):
    """How predictions become positions and what trading costs."""

    allow_short: bool = False  # Robinhood cash accounts cannot short; long-only by default
    max_exposure: float = 0.98  # largest |target percent| of value; 2% cash absorbs next-open gaps so orders are not rejected for margin
    # sign: full max_exposure when prediction > min_signal, else flat (or short); linear: clip(prediction / signal_scale);
    # rank: max_exposure x the prediction's percentile among the past rank_window predictions ((2p-1) x max with shorts);
    # overlay: overlay_base + overlay_k x the prediction's trailing z-score, clipped; vol_target: vol_target_base's
    # exposure x vol_target / trailing realised volatility, capped at max_exposure (maml_strategy.positions)
    position_mode: Literal["sign", "linear", "rank", "overlay", "vol_target"] = "sign"
    signal_scale: float = 1.0  # linear mode only: prediction units per unit of exposure
    rank_window: int = 252  # rank/overlay: past predictions kept for the percentile / mean and std, in [2, 5000]
    rank_min_history: int = 20  # rank/overlay: flat until this many past predictions, in [2, rank_window]
    overlay_base: float = 0.5  # overlay: exposure at an average prediction (z = 0), in [-max_exposure, max_exposure]
    overlay_k: float = 0.25  # overlay: exposure added per trailing standard deviation of the prediction, in [0, 10]
    vol_target: float = 0.15  # vol_target: annual volatility targeted, in (0, 2]
    vol_target_base: Literal["sign", "rank", "overlay"] = "sign"  # vol_target: the mapping that is scaled
    vol_target_window: int = 20  # vol_target: daily close returns in the realised volatility, in [2, 1000]
    min_signal: float = 0.0  # |prediction| at or below this -> flat
    flat_regimes: tuple[str, ...] = ()  # learned strategies stay flat in these confirmed regimes, whatever the prediction (e.g. bear_low_vol)
    rebalance_band: float = 0.1  # skip orders that change the target by less than this fraction
    readapt_every: int = 0  # bars between re-adaptations inside a regime (0 = only on transitions)
    adapt_steps: int | None = None  # None = the model's configured inner steps
    adapt_lr: float | None = None  # None = the model's configured inner learning rate
    commission_bps: float = 5.0  # cost in basis points of traded value
    cash: float = 100_000.0  # starting cash for backtests and paper trading

    def _validate(self) -> None:
        require(0 < self.max_exposure <= 2, f"trading.max_exposure must be in (0, 2], got {self.max_exposure}")
        require(self.signal_scale > 0, f"trading.signal_scale must be > 0, got {self.signal_scale}")
        require(2 <= self.rank_window <= 5000,
                f"trading.rank_window must be in [2, 5000] past predictions, got {self.rank_window}; 252 is one year")
        require(2 <= self.rank_min_history <= self.rank_window,
                f"trading.rank_min_history must be in [2, rank_window={self.rank_window}], got {self.rank_min_history}; "
                "lower it or raise trading.rank_window")
        require(abs(self.overlay_base) <= self.max_exposure,
                f"trading.overlay_base must be in [-max_exposure, max_exposure] = [-{self.max_exposure}, "
                f"{self.max_exposure}], got {self.overlay_base}")
        require(0 <= self.overlay_k <= 10, f"trading.overlay_k must be in [0, 10], got {self.overlay_k}; e.g. 0.25")
        require(0 < self.vol_target <= 2,
                f"trading.vol_target is an annual volatility and must be in (0, 2], got {self.vol_target}; e.g. 0.15 for 15 %")
        require(2 <= self.vol_target_window <= 1000,
                f"trading.vol_target_window must be in [2, 1000] daily returns, got {self.vol_target_window}; e.g. 20")
        require(self.readapt_every >= 0, f"trading.readapt_every must be >= 0, got {self.readapt_every}")
        require(self.commission_bps >= 0, f"trading.commission_bps must be >= 0, got {self.commission_bps}")
        require(self.cash > 0, f"trading.cash must be > 0, got {self.cash}")
        require(0 <= self.rebalance_band < 1, f"trading.rebalance_band must be in [0, 1), got {self.rebalance_band}")
        names = ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol", "sideways_low_vol", "sideways_high_vol")
        bad = [r for r in self.flat_regimes if r not in names]
        require(not bad, f"trading.flat_regimes {bad} are not regimes; use some of {', '.join(names)}")


@dataclass
class FewShotConfig(ConfigBase):
    """``fewshot:`` the few-shot study's own settings (:mod:`maml_strategy.backtest.fewshot`).

    Everything else the study uses comes from the other sections, as in the backtests:
    K, Q and the learning rates from ``maml:`` (one SGD rate, ``maml.inner_lr``, adapts both
    methods), the static model's epochs from ``static:``, the label and the support/query gap
    (``features.lag``) from ``features:``, the width from ``model:``.

    Example:
        >>> FewShotConfig(min_segment=30).val_fraction
        0.2
    """

    min_segment: int = 20  # drop regime segments shorter than this many bars
    val_fraction: float = 0.2  # last fraction of the training window's days: validation (MAML tasks, static early stopping)

    def _validate(self) -> None:
        require(self.min_segment >= 1, f"fewshot.min_segment must be >= 1, got {self.min_segment}")
        require(0 < self.val_fraction < 1, f"fewshot.val_fraction must be in (0, 1), e.g. 0.2, got {self.val_fraction}")

"""Few-shot regime evaluation: MAML initialisation vs. a conventionally trained network.

The protocol (no look-ahead):

* Arrays come from the one dataset pipeline (:mod:`maml_strategy.dataset`), for
  one frame or a ``{symbol: frame}`` universe: causal features and regimes per
  symbol, labels masked so none crosses its window's last day, one scaler fitted
  on the training window's rows.
* Settings: one :class:`~maml_strategy.config.StrategyConfig`, as in the backtests. The study's own
  two are its ``fewshot:`` section (``min_segment``, ``val_fraction``); K and Q, the learning rates,
  epochs and patience come from ``maml:`` and ``static:``, the label and the support/query gap
  (``features.lag``) from ``features:``, the width from ``model:``. ``strategies/fewshot.yaml``
  holds the published study's settings.
* Training window ``train_start .. train_end``; its last ``fewshot.val_fraction`` of days
  are the validation part. MAML is meta-trained on the regime segments (clipped
  to the windows, at least ``fewshot.min_segment`` bars) before it and early-stopped on
  those inside it; the static baseline trains on the rows before it and
  early-stops on the rows inside it.
* Test: regime segments inside ``test_start .. test_end`` (after ``train_end``),
  labels ending on or before ``test_end``; every
  (segment, placement) task, support blocks ``query_size`` rows apart, support
  precedes query with a ``features.lag`` gap.
* For each number of SGD steps on the support set (the same rate, ``maml.inner_lr``, for
  every method): query MSE and directional accuracy of MAML and of the static
  model fine-tuned the same way (step 0 = the static model unadapted).

Example:
    >>> from maml_strategy.config import load_config
    >>> from maml_strategy.data import synthetic_ohlcv
    >>> from maml_strategy.backtest.fewshot import run_fewshot
    >>> df = synthetic_ohlcv(2500, seed=1).drop(columns="regime")
    >>> cfg = load_config(None, model={"hidden_dim": 16}, maml={"meta_epochs": 1, "steps_per_epoch": 2},
    ...                   static={"epochs": 1})
    >>> res = run_fewshot(df, "2001-01-01", "2006-12-31", "2007-01-01", "2009-07-31",
    ...                   cfg, seeds=1, steps=(0, 1, 5))  # doctest: +SKIP
    >>> res.runs[0].maml.loss  # query MSE after 0, 1, 5 steps  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from maml_strategy.errors import ConfigError, DataError
from maml_strategy.config import StrategyConfig
from maml_strategy.dataset import pool_windows, symbol_features
from maml_strategy.features import FeatureScaler
from maml_strategy.learners import fit_learner
from maml_strategy.learners.maml import MAML
from maml_strategy.learners.protocol import TrainingData
from maml_strategy.regime import RegimeSegment
from maml_strategy.backtest.adaptation import AdaptationCurve, adaptation_curve, evaluate_learner
from maml_strategy.tasks import TaskBatch, TaskSampler
from maml_strategy.learners.static import StaticModel

__all__ = [
    "AdaptationCurve",
    "FewShotData",
    "FewShotResult",
    "SeedResult",
    "TrainedLearners",
    "adaptation_curve",
    "evaluate_learner",
    "make_test_tasks",
    "prepare_fewshot_data",
    "run_fewshot",
    "study_config",
    "train_learners",
]


@dataclass
class FewShotData:
    """Everything the models and the evaluation need, built by :func:`prepare_fewshot_data`.

    Attributes:
        X: ``[n, D]`` float32 scaled features, NaN rows where features are invalid.
        y_train: ``[n]`` labels, NaN outside the training window / after its horizon cut.
        y_test: ``[n]`` labels, NaN before ``test_start`` / after the ``test_end`` horizon cut.
        index: the frame's dates (rows of ``X``).
        scaler: feature scaler fitted on training rows.
        feature_names: flat feature names (stored with the models).
        train_segments: meta-training segments.
        val_segments: meta-validation segments (the last part of the training window).
        test_segments: evaluation segments (start after the training window).
        model_kwargs: :class:`HierarchicalTimeframeNet` arguments.
        train_start, train_end, test_start, test_end: the windows used.
    """

    X: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    index: pd.DatetimeIndex
    scaler: FeatureScaler
    feature_names: list[str]
    train_segments: list[RegimeSegment]
    val_segments: list[RegimeSegment]
    test_segments: list[RegimeSegment]
    model_kwargs: dict[str, Any]
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    y_fit: np.ndarray | None = None  # labels before the validation part (MAML tasks, static fitting)
    y_val: np.ndarray | None = None  # labels of the validation part (early stopping)


@dataclass
class TrainedLearners:
    """MAML and static models trained with one seed (see :func:`train_learners`)."""

    seed: int
    maml: MAML
    static: StaticModel
    maml_history: dict[str, Any]
    time_maml_s: float
    time_static_s: float

    def summary(self) -> dict[str, Any]:
        """Epoch counts and timings (JSON-serialisable)."""
        return {
            "seed": self.seed,
            "maml_epochs": len(self.maml_history["epoch"]),
            "maml_best_epoch": self.maml_history["best_epoch"],
            "static_epochs": len(self.static.history["epoch"]),
            "time_maml_s": self.time_maml_s,
            "time_static_s": self.time_static_s,
        }


@dataclass
class SeedResult:
    """Curves of one seed; ``static.at(0)`` is the unadapted static model."""

    learners: TrainedLearners
    maml: AdaptationCurve
    static: AdaptationCurve

    def to_dict(self) -> dict[str, Any]:
        """Plain dict without the models (JSON-serialisable)."""
        return {**self.learners.summary(), "maml": self.maml.to_dict(), "static_ft": self.static.to_dict()}


@dataclass
class FewShotResult:
    """Output of :func:`run_fewshot`."""

    config: StrategyConfig
    data: FewShotData
    n_test_tasks: int
    dropped_test_segments: int
    zero_predictor_mse: float
    runs: list[SeedResult] = field(default_factory=list)

    def mean_curve(self, method: str) -> AdaptationCurve:
        """Curve averaged over seeds; ``method`` is ``"maml"`` or ``"static"``."""
        if method not in ("maml", "static"):
            raise ConfigError(f"method must be 'maml' or 'static', got {method!r}")
        curves = [getattr(r, method) for r in self.runs]
        return AdaptationCurve(
            list(curves[0].steps),
            [float(v) for v in np.mean([c.loss for c in curves], axis=0)],
            [float(v) for v in np.mean([c.accuracy for c in curves], axis=0)],
        )


# ---------------------------------------------------------------------------- data
def _ts(value: str | pd.Timestamp, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a date like '2005-12-31', got {value!r}") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ConfigError(f"{name} must be a date like '2005-12-31', got {value!r}")
    return ts


def prepare_fewshot_data(
    df: pd.DataFrame,
    train_start: str | pd.Timestamp,
    train_end: str | pd.Timestamp,
    test_start: str | pd.Timestamp,
    test_end: str | pd.Timestamp,
    config: StrategyConfig | None = None,
) -> FewShotData:
    """Features, labels, scaler and regime segments for the train/test windows.

    Rows after ``test_end`` are ignored; rows before ``train_start`` only warm
    the indicators up.

    Args:
        df: daily OHLCV frame (extra columns are ignored).
        train_start: first day of the training window (inclusive).
        train_end: last day of the training window (inclusive).
        test_start: first day of the evaluation window (after ``train_end``).
        test_end: last day of the evaluation window (inclusive).
        config: the settings (default ``StrategyConfig()``); see the module docstring for the sections read.

    Returns:
        A :class:`FewShotData`.

    Raises:
        ConfigError: dates out of order.
        DataError: the frame does not cover the windows, or too few regime
            segments (message gives the counts).

    Example:
        >>> data = prepare_fewshot_data(spy, "1995-01-01", "2005-12-31", "2006-01-01", "2007-12-31")  # doctest: +SKIP
        >>> len(data.train_segments), len(data.test_segments)  # doctest: +SKIP
        (43, 8)
    """
    cfg = _config(config)
    t0, t1, e0, e1 = (_ts(v, n) for v, n in ((train_start, "train_start"), (train_end, "train_end"),
                                             (test_start, "test_start"), (test_end, "test_end")))
    if not t0 < t1 < e0 <= e1:
        raise ConfigError(
            f"need train_start < train_end < test_start <= test_end, got {t0.date()} .. {t1.date()} and {e0.date()} .. {e1.date()}"
        )
    if isinstance(df, pd.DataFrame):
        frames = {"SYMBOL": df}
    elif isinstance(df, dict) and df and all(isinstance(f, pd.DataFrame) for f in df.values()):
        frames = dict(df)
    else:
        raise DataError("df must be an OHLCV DataFrame or a {symbol: DataFrame} universe "
                        "(see maml_strategy.data.load_ohlcv / load_universe)")
    for sym, f in frames.items():
        if not isinstance(f.index, pd.DatetimeIndex):
            raise DataError(f"{sym}: the frame needs a DatetimeIndex (see maml_strategy.data.load_ohlcv)")
        f = f.loc[:e1]
        if len(f) == 0 or f.index[0] > t1 or f.index[-1] < e0:
            span = f"{f.index[0].date()} .. {f.index[-1].date()}" if len(f) else "no rows"
            raise DataError(f"{sym}: the data ({span}) must reach from before {t1.date()} into {e0.date()}; "
                            "load a longer history")

    # the one dataset pipeline (maml_strategy.dataset), as in the backtests: validation = the last
    # val_fraction of the training window's days; meta-training labels end before validation starts
    feats = {s: symbol_features(f.loc[:e1, [c for c in f.columns if c != "regime"]], cfg, s)
             for s, f in frames.items()}
    study = cfg.fewshot
    v0 = (t0 + (t1 - t0) * (1.0 - study.val_fraction)).normalize()
    windows = {"all": (t0, t1), "fit": (t0, v0 - pd.Timedelta(days=1)), "val": (v0, t1), "test": (e0, e1)}
    pooled = pool_windows(feats, windows, fit_window="all", cfg=cfg)
    keep = lambda name: [x for x in pooled.segments[name] if x.n_bars >= study.min_segment]  # noqa: E731
    train_segs, val_segs, test_segs = keep("fit"), keep("val"), keep("test")
    if not train_segs or not val_segs:
        raise DataError(
            f"{len(train_segs)} training and {len(val_segs)} validation regime segments (>= {study.min_segment} bars) in "
            f"{t0.date()} .. {t1.date()}; need at least one of each. Widen the window or lower fewshot.min_segment."
        )
    if not test_segs:
        raise DataError(
            f"no regime segment (>= {study.min_segment} bars) in the evaluation window {e0.date()} .. {e1.date()}; "
            "widen it or lower fewshot.min_segment."
        )
    return FewShotData(
        X=pooled.x,
        y_train=pooled.labels["all"],
        y_test=pooled.labels["test"],
        index=pd.DatetimeIndex(pooled.dates),
        scaler=pooled.scaler,
        feature_names=pooled.feature_names,
        train_segments=train_segs,
        val_segments=val_segs,
        test_segments=test_segs,
        model_kwargs=pooled.model_kwargs,
        train_start=t0,
        train_end=t1,
        test_start=e0,
        test_end=e1,
        y_fit=pooled.labels["fit"],
        y_val=pooled.labels["val"],
    )


def make_test_tasks(data: FewShotData, config: StrategyConfig | None = None) -> tuple[TaskBatch, TaskSampler]:
    """Every (segment, placement) evaluation task, deterministically.

    Returns:
        ``(tasks, sampler)``; ``sampler.dropped_segments`` counts test segments too short for a task.

    Raises:
        DataError: no test segment is long enough for ``support + horizon + query`` valid rows.
    """
    cfg = _config(config)
    sampler = TaskSampler(data.test_segments, data.X, data.y_test, cfg.maml.support_size, cfg.maml.query_size,
                          cfg.features.lag)
    return sampler.enumerate_tasks(), sampler


# ---------------------------------------------------------------------------- training
def train_learners(data: FewShotData, config: StrategyConfig | None = None, seed: int = 0, *,
                   progress: bool = False) -> TrainedLearners:
    """Meta-train MAML and train the static model with ``seed``, through the learner registry.

    Only training-window labels (``data.y_train``) are used. ``progress`` shows MAML's tqdm bar.

    Example:
        >>> trained = train_learners(data, load_config(None, maml={"meta_epochs": 2}), seed=0)  # doctest: +SKIP
        >>> trained.maml.save("maml.pt")  # doctest: +SKIP
    """
    cfg = _config(config)
    K, Q, h = cfg.maml.support_size, cfg.maml.query_size, cfg.features.lag
    y_fit = data.y_train if data.y_fit is None else data.y_fit
    y_val = data.y_train if data.y_val is None else data.y_val
    fit = np.isfinite(y_fit) & np.isfinite(data.X).all(axis=1)
    val = np.isfinite(y_val) & np.isfinite(data.X).all(axis=1)
    training = TrainingData(data.X[fit], y_fit[fit], data.X[val], y_val[val],
                            TaskSampler(data.train_segments, data.X, y_fit, K, Q, h, seed=seed),
                            TaskSampler(data.val_segments, data.X, y_val, K, Q, h, seed=10_000 + seed),
                            data.scaler, data.feature_names, data.model_kwargs)
    t0 = time.perf_counter()
    maml = fit_learner("maml", training, cfg, seed=seed, progress=progress)
    t_maml = time.perf_counter() - t0
    t0 = time.perf_counter()
    static = fit_learner("static", training, cfg, seed=seed)
    return TrainedLearners(seed, maml, static, maml.history, t_maml, time.perf_counter() - t0)


def _config(config: StrategyConfig | None) -> StrategyConfig:
    if config is None:
        return StrategyConfig()
    if not isinstance(config, StrategyConfig):
        raise ConfigError(f"config must be a StrategyConfig (maml_strategy.config.load_config), got {type(config).__name__}")
    return config


def run_fewshot(
    df: pd.DataFrame,
    train_start: str | pd.Timestamp,
    train_end: str | pd.Timestamp,
    test_start: str | pd.Timestamp,
    test_end: str | pd.Timestamp,
    config: StrategyConfig | None = None,
    *,
    seeds: int | Sequence[int] = 1,
    steps: Sequence[int] = (0, 1, 5, 10),
    log: Any | None = None,
    progress: bool = False,
) -> FewShotResult:
    """The whole protocol: prepare data, train both models per seed, evaluate adaptation curves.

    Args:
        df: daily OHLCV frame covering ``train_start`` (plus warm-up) .. ``test_end``.
        train_start, train_end, test_start, test_end: the windows (see :func:`prepare_fewshot_data`).
        config: protocol settings.
        seeds: number of seeds (``0 .. n-1``) or explicit seeds; model init, task
            sampling and minibatch order vary with the seed.
        steps: SGD step counts at which both methods are scored.
        log: optional ``callable(str)`` for progress lines (e.g. ``print``).
        progress: show MAML's tqdm bar.

    Returns:
        A :class:`FewShotResult`; ``runs[i].learners`` holds the trained models.

    Example:
        >>> res = run_fewshot(spy, "1995-01-01", "2005-12-31", "2006-01-01", "2007-12-31", seeds=3)  # doctest: +SKIP
        >>> res.mean_curve("maml").loss  # doctest: +SKIP
    """
    cfg = _config(config)
    lr = cfg.maml.inner_lr  # one SGD rate adapts both methods
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool) else list(seeds)
    if not seed_list or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seed_list):
        raise ConfigError(f"seeds must be an int >= 1 or a non-empty list of ints, got {seeds!r}")
    data = prepare_fewshot_data(df, train_start, train_end, test_start, test_end, cfg)
    tasks, sampler = make_test_tasks(data, cfg)
    result = FewShotResult(cfg, data, len(tasks), sampler.dropped_segments, float(torch.mean(tasks.query_y**2)))
    if log is not None:
        log(f"train segments {len(data.train_segments)}, val segments {len(data.val_segments)}, test segments "
            f"{len(data.test_segments)} ({sampler.dropped_segments} too short) -> {len(tasks)} test tasks "
            f"(K={cfg.maml.support_size}, Q={cfg.maml.query_size}, gap={cfg.features.lag})")
    for seed in seed_list:
        trained = train_learners(data, cfg, int(seed), progress=progress)
        run = SeedResult(trained, adaptation_curve(trained.maml, tasks, steps, lr),
                         adaptation_curve(trained.static, tasks, steps, lr))
        result.runs.append(run)
        if log is not None:
            s = trained.summary()
            log(f"seed {seed}: maml {s['maml_epochs']} epochs ({s['time_maml_s']:.0f}s), static {s['static_epochs']} "
                f"epochs ({s['time_static_s']:.0f}s); query MSE at {run.maml.steps[-1]} steps: maml "
                f"{run.maml.loss[-1]:.4f}, static_ft {run.static.loss[-1]:.4f}")
    return result


#: script flag -> the (section, field) places it sets; one flag may set several
_FLAGS: dict[str, tuple[tuple[str, str], ...]] = {
    "support_size": (("maml", "support_size"),), "query_size": (("maml", "query_size"),),
    "horizon": (("features", "horizon"),), "hidden_dim": (("model", "hidden_dim"),),
    "min_segment": (("fewshot", "min_segment"),), "meta_epochs": (("maml", "meta_epochs"),),
    "steps_per_epoch": (("maml", "steps_per_epoch"),), "inner_steps": (("maml", "inner_steps"),),
    "lr": (("maml", "inner_lr"), ("static", "finetune_lr")), "outer_lr": (("maml", "outer_lr"),),
    "first_order": (("maml", "first_order"),), "static_epochs": (("static", "epochs"),),
    "patience": (("maml", "patience"), ("static", "patience")), "device": (("maml", "device"), ("static", "device")),
}


def study_config(path: str | Path | None = None, **flags: Any) -> StrategyConfig:
    """The few-shot scripts' config: the YAML file ``path`` (None: defaults) with the flags that are not None.

    Example:
        >>> cfg = study_config(None, support_size=8, lr=0.05, patience=None)
        >>> cfg.maml.support_size, cfg.maml.inner_lr, cfg.static.finetune_lr, cfg.maml.patience
        (8, 0.05, 0.05, 8)
    """
    from maml_strategy.config import config_to_dict, load_config

    bad = sorted(set(flags) - set(_FLAGS))
    if bad:
        raise ConfigError(f"study_config: unknown flag(s) {', '.join(bad)}; known: {', '.join(sorted(_FLAGS))}")
    doc = config_to_dict(load_config(path))
    for flag, value in flags.items():
        if value is not None:
            for section, key in _FLAGS[flag]:
                doc[section][key] = value
    return load_config(None, **doc)

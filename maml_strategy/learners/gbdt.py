"""Gradient-boosted-trees control: a LightGBM regressor on the static model's features.

:func:`train_gbdt` fits one LightGBM booster per training window on the same
scaled rows and labels as :class:`~maml_strategy.learners.static.StaticModel`, early
stopping on the validation-year rows only (passed as separate arrays).
:func:`select_gbdt_params` scores a small documented grid by validation IC.
:class:`GBDTModel` has the learner surface the engine needs (``scaler``,
``feature_names``, ``kind``, ``predict``, ``adapt``, ``support_loss``,
``save``/``load``); it is not a torch module. Its file is the usual
integrity-checked model file: the booster's own text format (never a pickle)
sits in the JSON metadata, which the SHA-256 digest covers.

LightGBM is an optional extra: ``pip install -e ".[trees]"``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(600, 4)); y = 0.5 * x[:, 0] + rng.normal(size=600)
    >>> m = train_gbdt(x[:400], y[:400], x[400:], y[400:], GBDTConfig(min_data_in_leaf=20), seed=0)  # doctest: +SKIP
    >>> m.predict(x[:3]).shape  # doctest: +SKIP
    torch.Size([3])
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from maml_strategy.config import StrategyConfig
from maml_strategy.config.gbdt import GBDTConfig
from maml_strategy.errors import ConfigError, DataError, ModelError
from maml_strategy.features.labels import before_validation
from maml_strategy.learners.protocol import TrainingData
from maml_strategy.learners.persistence import read_model_file, scaler_from_state, split_scaler_state, write_model_file

__all__ = [
    "GBDTConfig", "GBDTModel", "GBDTAdapted", "train_gbdt", "select_gbdt_params", "default_grid", "score_predictions",
    "require_lightgbm", "split_window", "INSTALL_HINT", "fit"]

INSTALL_HINT = 'pip install -e ".[trees]"'


def require_lightgbm() -> Any:
    """Import and return :mod:`lightgbm`, or raise a one-line :class:`ConfigError` naming the extra."""
    try:
        import lightgbm
    except ImportError:
        raise ConfigError(f"the gbdt model needs LightGBM, which is not installed; install the extra: {INSTALL_HINT}") from None
    return lightgbm


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _as_2d(x: Tensor | np.ndarray, d: int | None, what: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or (d is not None and a.shape[1] != d) or a.shape[0] == 0:
        raise DataError(f"{what} must have shape [B, {d if d is not None else 'D'}] with B >= 1, got {a.shape}")
    return np.ascontiguousarray(a)


def _xy(x: Any, y: Any, d: int | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    xa = _as_2d(x, d, f"{what}_x")
    ya = (y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)).astype(np.float64).reshape(-1)
    if len(ya) != len(xa):
        raise DataError(f"{what}_x has {len(xa)} rows but {what}_y has {len(ya)}; pass the same number")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise DataError(f"{what} set contains NaN/inf; drop rows whose features or labels are not finite")
    return xa, ya


def score_predictions(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Validation scores: Spearman IC, MSE, MSE relative to predicting 0, directional accuracy (y == 0 excluded).

    Example:
        >>> score_predictions(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.3, 0.2]))["ic"]
        0.5
    """
    pred, y = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ic = float(pd.Series(pred).rank().corr(pd.Series(y).rank())) if np.std(pred) > 0 else 0.0
    mse = float(np.mean((pred - y) ** 2))
    nz = y != 0
    acc = float(np.mean(np.sign(pred[nz]) == np.sign(y[nz]))) if nz.any() else float("nan")
    return {"ic": ic, "mse": mse, "rel_mse": mse / float(np.mean(y**2)), "dir_acc": acc}


def split_window(x: np.ndarray, y: np.ndarray, valid: np.ndarray, val_pos: int,
                 horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training / validation rows of one window for :func:`train_gbdt` (frame row positions).

    Training rows: valid rows ``i`` with :func:`~maml_strategy.features.labels.before_validation`
    (``i + horizon < val_pos``, horizon = the label's lag); validation rows: valid rows ``i >= val_pos``.

    Example:
        >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
        >>> [a.shape[0] for a in split_window(x, y, np.ones(10, bool), val_pos=7, horizon=2)]
        [5, 5, 3, 3]
    """
    pos = np.arange(len(y))
    valid = np.asarray(valid, dtype=bool)
    tr, va = valid & before_validation(pos, val_pos, horizon), valid & (pos >= val_pos)
    return x[tr], y[tr], x[va], y[va]


@dataclass(frozen=True)
class GBDTAdapted:
    """Adapted state from :meth:`GBDTModel.adapt`: prediction = ``base`` + ``delta`` (both LightGBM boosters)."""

    base: Any  # the model's stored booster (never modified)
    delta: Any  # the few correction trees fitted on the support set


class GBDTModel:
    """A trained LightGBM booster with the learner surface of ``MAML``/``StaticModel``.

    ``predict(x, params)`` adds the correction trees of ``params`` (a
    :class:`GBDTAdapted` from :meth:`adapt`) to the stored booster, which is never modified.

    Example:
        >>> model = GBDTModel.load("models/gbdt.pt")  # doctest: +SKIP
        >>> model.predict(x_scaled_today)  # doctest: +SKIP
    """

    kind: ClassVar[str] = "gbdt"
    device = torch.device("cpu")

    def __init__(self, booster: Any, config: GBDTConfig | None = None, *, scaler: Any | None = None,
                 feature_names: Sequence[str] | None = None, history: dict[str, Any] | None = None) -> None:
        lgb = require_lightgbm()
        if not isinstance(booster, lgb.Booster):
            raise ConfigError(f"booster must be a lightgbm.Booster, got {type(booster).__name__}")
        self.config = GBDTConfig() if config is None else config
        if not isinstance(self.config, GBDTConfig):
            raise ConfigError(f"config must be a GBDTConfig, got {type(self.config).__name__}")
        self.booster = booster
        self.scaler = scaler
        self.feature_names = list(feature_names) if feature_names is not None else None
        if self.feature_names is not None and len(self.feature_names) != self.input_dim:
            raise ConfigError(f"{len(self.feature_names)} feature_names for a booster with {self.input_dim} features")
        self.history: dict[str, Any] = dict(history or {})

    @property
    def input_dim(self) -> int:
        """Expected feature dimension ``D``."""
        return int(self.booster.num_feature())

    # ------------------------------------------------------------ inference
    def predict(self, x: Tensor | np.ndarray, params: Any | None = None) -> Tensor:
        """Predictions ``[B]`` (float32 tensor) for scaled features ``x [B, D]`` (or ``[D]``).

        Args:
            x: scaled features (tensor or array).
            params: a :class:`GBDTAdapted` from :meth:`adapt`, or None for the stored booster alone.
        """
        xa = _as_2d(x, self.input_dim, "x")
        out = self.booster.predict(xa, num_threads=1)
        if params is not None:
            if not isinstance(params, GBDTAdapted) or params.base is not self.booster:
                raise ConfigError("params must be the GBDTAdapted returned by this model's adapt(), or None")
            out = out + params.delta.predict(xa, num_threads=1)
        return torch.from_numpy(np.asarray(out, dtype=np.float32).reshape(-1))

    def support_loss(self, x: Tensor | np.ndarray, y: Tensor | np.ndarray, params: Any | None = None) -> float:
        """Mean squared error of the stored (or adapted) booster on ``(x, y)``."""
        xa, ya = _xy(x, y, self.input_dim, "support")
        pred = self.predict(xa, params).numpy().astype(np.float64)
        return float(np.mean((pred - ya) ** 2))

    def adapt(self, support_x: Tensor | np.ndarray, support_y: Tensor | np.ndarray,
              steps: int | None = None, lr: float | None = None) -> GBDTAdapted | None:
        """Continue boosting a few rounds on the support set; returns a :class:`GBDTAdapted` (None = no change).

        The new trees are fitted to the support set starting from the stored booster's
        predictions (equivalent to LightGBM continued training; done on the residuals,
        because ``init_model``/``init_score`` training on ~32 rows sometimes stops after
        zero trees in LightGBM 4.7). Off by default: it was worse on the validation years.

        Args:
            support_x: ``[K, D]`` scaled features.
            support_y: ``[K]`` labels.
            steps: boosting rounds (default ``config.finetune_rounds``; 0 returns None).
            lr: shrinkage of the new trees (default ``config.finetune_lr``).
        """
        xa, ya = _xy(support_x, support_y, self.input_dim, "support")
        steps = self.config.finetune_rounds if steps is None else steps
        if not _is_int(steps) or steps < 0:
            raise ConfigError(f"adapt: steps (boosting rounds) must be an int >= 0, got {steps!r}")
        lr = self.config.finetune_lr if lr is None else lr
        if not _is_num(lr) or lr < 0:
            raise ConfigError(f"adapt: lr must be a finite float >= 0, got {lr!r}")
        if steps == 0 or lr == 0:
            return None
        lgb = require_lightgbm()
        c = self.config
        params = dict(c.to_lgb_params(), num_leaves=c.finetune_num_leaves, learning_rate=float(lr),
                      min_data_in_leaf=min(c.finetune_min_data_in_leaf, max(1, len(ya) // 2)), min_data_in_bin=1,
                      feature_pre_filter=False, bagging_fraction=1.0, bagging_freq=0, num_threads=1,
                      boost_from_average=False)
        resid = ya - self.booster.predict(xa, num_threads=1)
        data = lgb.Dataset(xa, resid, params={"min_data_in_bin": 1, "feature_pre_filter": False}, free_raw_data=True)
        return GBDTAdapted(self.booster, lgb.train(params, data, num_boost_round=int(steps)))

    def adapt_batch(self, support_x: Tensor | np.ndarray, support_y: Tensor | np.ndarray, steps: int | None = None,
                    lr: float | None = None) -> list[GBDTAdapted | None]:
        """:meth:`adapt` on each of ``N`` support sets ``[N, K, D]`` / ``[N, K]`` (one list entry per task)."""
        xs, ys = np.asarray(support_x), np.asarray(support_y)
        if xs.ndim != 3 or ys.shape != xs.shape[:2]:
            raise DataError(f"adapt_batch needs support_x [N, K, D] and support_y [N, K], got {xs.shape} and {ys.shape}")
        return [self.adapt(xs[n], ys[n], steps, lr) for n in range(len(xs))]

    def task_losses(self, x: Tensor | np.ndarray, y: Tensor | np.ndarray,
                    batch: Sequence[GBDTAdapted | None] | None = None) -> Tensor:
        """Mean squared error per task ``[N]`` with the stored booster or with :meth:`adapt_batch`'s states."""
        xs, ys = np.asarray(x), np.asarray(y)
        return torch.tensor([self.support_loss(xs[n], ys[n], None if batch is None else batch[n])
                             for n in range(len(xs))], dtype=torch.float32)

    def task_params(self, batch: Sequence[GBDTAdapted | None], n: int) -> GBDTAdapted | None:
        """Task ``n``'s state out of :meth:`adapt_batch`'s list."""
        return batch[n]

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save booster (LightGBM text format), config, scaler and feature names (integrity-checked).

        Example:
            >>> model.save("models/gbdt_spy.pt")  # doctest: +SKIP
        """
        scaler_plain, scaler_tensors = split_scaler_state(self.scaler)
        meta = {"config": self.config.to_dict(), "booster": self.booster.model_to_string(),
                "feature_names": self.feature_names, "scaler": scaler_plain,
                "history": {k: v for k, v in self.history.items() if isinstance(v, (int, float, str, bool, type(None)))}}
        write_model_file(path, kind=self.kind, meta=meta, tensors=scaler_tensors)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GBDTModel:
        """Load a file written by :meth:`save` (verifies the SHA-256 digest).

        Raises:
            ModelError: missing, truncated, tampered, other-kind or unparsable file.
            ConfigError: LightGBM is not installed.
        """
        lgb = require_lightgbm()
        meta, tensors = read_model_file(path, kind=cls.kind)
        text = meta.get("booster")
        if not isinstance(text, str) or not text.startswith("tree"):
            raise ModelError(f"{str(path)!r} holds no LightGBM text model; retrain the gbdt model")
        try:
            booster = lgb.Booster(model_str=text)
        except Exception as exc:  # LightGBMError on a malformed model string
            raise ModelError(f"{str(path)!r}: the LightGBM model cannot be parsed ({str(exc)[:200]}); retrain it") from exc
        try:
            config = GBDTConfig.from_dict(dict(meta["config"]))
        except (ConfigError, KeyError, TypeError) as exc:
            raise ModelError(f"{str(path)!r}: stored GBDTConfig is invalid here ({exc}); retrain the model") from exc
        scaler = scaler_from_state(meta.get("scaler"), tensors)
        names = meta.get("feature_names")
        d = int(booster.num_feature())
        if (names is not None and len(names) != d) or (scaler is not None and scaler.n_features != d):
            raise ModelError(f"{str(path)!r}: booster has {d} features but the names/scaler disagree; retrain the model")
        return cls(booster, config, scaler=scaler, feature_names=names, history=meta.get("history"))


def train_gbdt(x_train: np.ndarray | Tensor, y_train: np.ndarray | Tensor, x_val: np.ndarray | Tensor,
               y_val: np.ndarray | Tensor, config: GBDTConfig | None = None, *, scaler: Any | None = None,
               feature_names: Sequence[str] | None = None, seed: int | None = None) -> GBDTModel:
    """Fit a booster on the training rows, early stopping on the validation rows only.

    The booster is trained for at most ``config.n_estimators`` rounds, stops after
    ``config.early_stopping_rounds`` rounds without validation-MSE improvement and
    keeps the trees up to the best validation iteration.

    Args:
        x_train, y_train: scaled training rows and labels (labels must end before the validation years).
        x_val, y_val: scaled validation-year rows and labels (early stopping only).
        config: hyper-parameters (default :class:`GBDTConfig`).
        scaler: the fitted scaler that produced the features (saved with the model).
        feature_names: column names.
        seed: overrides ``config.seed`` when given.

    Returns:
        A :class:`GBDTModel`; ``history`` holds best_iteration, val_mse, val_ic, fit_seconds.

    Example:
        >>> model = train_gbdt(xt, yt, xv, yv, GBDTConfig(), scaler=scaler, seed=0)  # doctest: +SKIP
    """
    lgb = require_lightgbm()
    config = GBDTConfig() if config is None else config
    if not isinstance(config, GBDTConfig):
        raise ConfigError(f"config must be a GBDTConfig, got {type(config).__name__}")
    if seed is not None:
        config = replace(config, seed=seed)
    xt, yt = _xy(x_train, y_train, None, "train")
    xv, yv = _xy(x_val, y_val, xt.shape[1], "val")
    if len(yt) < 2 * config.min_data_in_leaf:
        raise DataError(f"{len(yt)} training rows but min_data_in_leaf={config.min_data_in_leaf}; "
                        f"use a longer window or a smaller min_data_in_leaf")
    names = list(feature_names) if feature_names is not None else None
    if names is not None and len(names) != xt.shape[1]:
        raise ConfigError(f"{len(names)} feature_names for {xt.shape[1]} feature columns")
    t0 = time.perf_counter()
    params = config.to_lgb_params()
    dtrain = lgb.Dataset(xt, yt, params=params, free_raw_data=True)
    dval = lgb.Dataset(xv, yv, params=params, reference=dtrain, free_raw_data=True)
    booster = lgb.train(params, dtrain, num_boost_round=config.n_estimators, valid_sets=[dval], valid_names=["val"],
                        callbacks=[lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False)])
    best = int(booster.best_iteration) or booster.current_iteration()
    final = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))  # only the kept trees, no data
    seconds = time.perf_counter() - t0
    model = GBDTModel(final, config, scaler=scaler, feature_names=names)
    s = score_predictions(model.predict(xv).numpy(), yv)
    model.history = {"best_iteration": best, "val_mse": s["mse"], "val_rel_mse": s["rel_mse"], "val_ic": s["ic"],
                     "val_dir_acc": s["dir_acc"], "n_train": len(yt), "n_val": len(yv), "fit_seconds": seconds}
    return model


def fit(data: TrainingData, cfg: StrategyConfig, *, seed: int = 0, progress: bool = False) -> GBDTModel:
    """Fit the boosted trees (``cfg.gbdt`` with ``seed``) on ``data``'s fitting rows, early-stopped on its validation rows.

    The registry's trainer for kind ``"gbdt"`` (:func:`maml_strategy.learners.fit_learner`);
    ``progress`` is accepted for the common signature (LightGBM prints nothing).

    Example:
        >>> trees = fit(data, load_config(), seed=0)  # doctest: +SKIP
    """
    return train_gbdt(data.x_fit, data.y_fit, data.x_val, data.y_val, cfg.gbdt, scaler=data.scaler,
                      feature_names=data.feature_names, seed=seed)


def default_grid() -> list[dict[str, Any]]:
    """The 12-candidate grid: num_leaves {7, 15, 31} x learning_rate {0.02, 0.05} x min_data_in_leaf {50, 200}.

    :func:`select_gbdt_params` then tries the winner with feature_fraction 0.8 (vs the default 0.5).
    """
    return [{"num_leaves": nl, "learning_rate": lr, "min_data_in_leaf": md}
            for nl in (7, 15, 31) for lr in (0.02, 0.05) for md in (50, 200)]


def select_gbdt_params(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                       grid: Sequence[dict[str, Any]] | None = None, *, base: GBDTConfig | None = None,
                       refine_feature_fraction: Sequence[float] = (0.8,), seed: int = 0,
                       log: Any | None = None) -> tuple[GBDTConfig, list[dict[str, Any]]]:
    """Pick hyper-parameters by validation IC (Spearman of prediction vs label on the validation rows).

    Each candidate (``base`` with the grid entry's overrides) is fitted by
    :func:`train_gbdt` (early stopping on the same validation rows). The best
    (highest IC; ties -> lower MSE) is then tried with each ``refine_feature_fraction``.

    Args:
        x_train, y_train, x_val, y_val: as for :func:`train_gbdt`.
        grid: override dicts (default :func:`default_grid`).
        base: config the overrides apply to (default :class:`GBDTConfig`).
        refine_feature_fraction: feature fractions tried on the winner (empty = none; the default 0.8 is
            the alternative to GBDTConfig's 0.5, so the refinement is not a no-op).
        seed: training seed of every candidate.
        log: optional ``callable(str)`` called with one line per candidate.

    Returns:
        ``(best_config, table)``; table rows: candidate, ic, rel_mse, dir_acc, best_iteration, fit_seconds.

    Example:
        >>> best, table = select_gbdt_params(xt, yt, xv, yv)  # doctest: +SKIP
    """
    base = GBDTConfig() if base is None else base
    grid = default_grid() if grid is None else list(grid)
    if not grid:
        raise ConfigError("select_gbdt_params: grid is empty; pass at least one override dict (or None for the default)")
    xv, yv = _xy(x_val, y_val, None, "val")
    table: list[dict[str, Any]] = []

    def run(overrides: dict[str, Any]) -> dict[str, Any]:
        cfg = replace(base, **overrides)
        m = train_gbdt(x_train, y_train, xv, yv, cfg, seed=seed)
        row = {"candidate": overrides, "config": cfg, **score_predictions(m.predict(xv).numpy(), yv),
               "best_iteration": m.history["best_iteration"], "fit_seconds": m.history["fit_seconds"]}
        table.append(row)
        if log is not None:
            log(f"{str(overrides):70s} IC {row['ic']:+.4f} relMSE {row['rel_mse']:.4f} dir {row['dir_acc']:.3f} "
                f"iters {row['best_iteration']:4d} {row['fit_seconds']:6.1f}s")
        return row

    def key(r: dict[str, Any]) -> tuple[float, float]:
        return (r["ic"], -r["mse"])

    best = max((run(dict(o)) for o in grid), key=key)
    for ff in refine_feature_fraction:
        if ff != best["config"].feature_fraction:
            best = max(best, run({**best["candidate"], "feature_fraction": ff}), key=key)
    return best["config"], table

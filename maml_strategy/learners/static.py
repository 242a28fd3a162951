"""Phase-1 baseline: the same network trained conventionally on all samples.

:func:`train_static` fits a :class:`~maml_strategy.model.HierarchicalTimeframeNet`
with Adam on minibatches, holding out the last ``val_fraction`` of the
(time-ordered, NaN-free) samples for validation, separated from the training
rows by a gap of ``horizon`` rows so that no training label looks into the
validation period; early stopping keeps the parameters with the best
validation loss. The result, :class:`StaticModel`, has the same
``predict/adapt/support_loss/save/load`` surface as
:class:`~maml_strategy.learners.maml.MAML` (its ``adapt`` is naive fine-tuning).

Example:
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 7)).astype("float32")
    >>> y = X[:, 0] * 0.5
    >>> model = train_static(X, y, StaticConfig(epochs=3), model_kwargs=dict(
    ...     num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=16))
    >>> model.predict(X[:4]).shape
    torch.Size([4])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from maml_strategy.config import StaticConfig, StrategyConfig
from maml_strategy.errors import ConfigError, DataError
from maml_strategy.features.labels import before_validation
from maml_strategy.learners.base import Learner, apply_num_threads, resolve_device
from maml_strategy.learners.protocol import TrainingData
from maml_strategy.learners.stopping import fit_epochs
from maml_strategy.model import HierarchicalTimeframeNet

__all__ = ["StaticConfig", "StaticModel", "fit", "train_static", "time_split"]  # StaticConfig lives in maml_strategy.config


class StaticModel(Learner):
    """A conventionally trained network with the :class:`~maml_strategy.learners.maml.MAML` surface.

    ``adapt`` performs naive fine-tuning (SGD, ``config.finetune_steps`` steps
    of ``config.finetune_lr`` by default) and returns new parameters.

    Example:
        >>> sm = StaticModel.load("models/static_spy.pt")  # doctest: +SKIP
        >>> sm.predict(x_today)  # doctest: +SKIP
    """

    kind = "static"
    config_class = StaticConfig

    def __init__(
        self,
        model: HierarchicalTimeframeNet,
        config: StaticConfig | None = None,
        *,
        scaler: Any | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(model, config, scaler=scaler, feature_names=feature_names)
        self.config: StaticConfig

    def _default_adapt_steps(self) -> int:
        return self.config.finetune_steps

    def _default_adapt_lrs(self, steps: int) -> list[float | list[float]]:
        return [self.config.finetune_lr] * steps


def time_split(n: int, positions: np.ndarray, val_fraction: float, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Split time-ordered sample positions into train / validation with a label gap.

    The last ``ceil(val_fraction * len(positions))`` samples are validation;
    training keeps samples ``i`` whose labels are known by the last row before
    the first validation position (:func:`~maml_strategy.features.labels.before_validation`:
    ``i + horizon < first_val_position``, ``horizon`` being the label's lag).

    Returns:
        ``(train_positions, val_positions)``.

    Example:
        >>> [p.tolist() for p in time_split(10, np.arange(10), 0.2, horizon=3)]
        [[0, 1, 2, 3, 4], [8, 9]]
    """
    del n
    n_val = max(1, int(math.ceil(val_fraction * len(positions))))
    val = positions[-n_val:]
    train = positions[: len(positions) - n_val]
    train = train[before_validation(train, int(val[0]), horizon)]
    return train, val


def train_static(
    features: np.ndarray | Tensor,
    labels: np.ndarray | Tensor | Sequence[float],
    config: StaticConfig | None = None,
    *,
    scaler: Any | None = None,
    feature_names: Sequence[str] | None = None,
    model_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> StaticModel:
    """Train the network conventionally on all samples (Phase-1 baseline).

    Args:
        features: ``[n, D]`` scaled features in time order (rows with NaN dropped).
        labels: ``[n]`` labels aligned with ``features`` (NaN rows dropped).
        config: hyper-parameters.
        scaler: fitted scaler stored with the model (not applied here).
        feature_names: stored with the model.
        model_kwargs: :class:`HierarchicalTimeframeNet` arguments (default:
            the defaults, which need ``D = 3*45 + 8``). The network is
            initialised after ``torch.manual_seed(config.seed)``.
        progress: show a tqdm bar.
        validation: explicit ``(features, labels)`` for early stopping (e.g. the
            validation years of a pooled universe); then every finite row of
            ``features`` trains and ``config.val_fraction`` is not used.

    Returns:
        A :class:`StaticModel` (``history`` holds per-epoch train/val loss).

    Raises:
        DataError: misaligned inputs or too few samples.
        ConfigError: bad config or model arguments.
    """
    config = StaticConfig() if config is None else config
    if not isinstance(config, StaticConfig):
        raise ConfigError(f"config must be a StaticConfig, got {type(config).__name__}")
    X = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
    y = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels, dtype=np.float64)
    y = y.reshape(-1)
    if X.ndim != 2 or len(X) != len(y):
        raise DataError(f"features must be [n, D] and labels [n]; got {X.shape} and {y.shape}")
    apply_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    kwargs = dict(model_kwargs or {})
    try:
        net = HierarchicalTimeframeNet(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model_kwargs {kwargs!r} are not HierarchicalTimeframeNet arguments ({exc})") from exc
    if net.input_dim != X.shape[1]:
        raise ConfigError(
            f"features have {X.shape[1]} columns but the network expects {net.input_dim}; pass model_kwargs matching the "
            f"extractor (num_timeframes, features_per_tf, cross_tf_features)"
        )
    positions = np.flatnonzero(np.isfinite(X).all(axis=1) & np.isfinite(y))
    if validation is not None:
        vx, vy = (np.asarray(a, dtype=np.float64) for a in validation)
        vy = vy.reshape(-1)
        if vx.ndim != 2 or vx.shape[1] != X.shape[1] or len(vx) != len(vy):
            raise DataError(f"validation must be ([m, {X.shape[1]}], [m]); got {vx.shape} and {vy.shape}")
        keep = np.isfinite(vx).all(axis=1) & np.isfinite(vy)
        train_pos = positions
        val_pos = np.arange(len(X), len(X) + int(keep.sum()))
        X = np.concatenate([X, vx[keep]])
        y = np.concatenate([y, vy[keep]])
    else:
        train_pos, val_pos = time_split(len(X), positions, config.val_fraction, config.horizon)
    if len(train_pos) < 2 or len(val_pos) < 1:
        raise DataError(
            f"train_static: {len(positions)} usable samples (of {len(X)} rows) give {len(train_pos)} training and "
            f"{len(val_pos)} validation samples; need more data or a smaller val_fraction"
        )
    device = resolve_device(config.device)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(device)
    x_tr, y_tr = Xt[train_pos], yt[train_pos]
    x_va, y_va = Xt[val_pos], yt[val_pos]

    learner = StaticModel(net, config, scaler=scaler, feature_names=feature_names)
    model, loss_fn = learner.model, learner.loss_fn
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)

    def run_epoch(_epoch: int) -> dict[str, float]:
        model.train()
        perm = torch.randperm(len(x_tr), generator=gen).to(device)
        total, count = 0.0, 0
        for i in range(0, len(perm), config.batch_size):
            idx = perm[i : i + config.batch_size]
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        model.eval()
        with torch.no_grad():
            val = float(loss_fn(model(x_va), y_va))
        return {"train_loss": total / count, "val_loss": val}

    hist = fit_epochs(config.epochs, run_epoch, monitor="val_loss", patience=config.patience,
                      min_delta=config.min_delta, desc="train-static", progress=progress,
                      snapshot=lambda: {k: v.detach().clone() for k, v in model.state_dict().items()},
                      restore=model.load_state_dict)
    model.eval()
    hist.update(n_train=int(len(train_pos)), n_val=int(len(val_pos)))
    learner.history = hist
    return learner


def fit(data: TrainingData, cfg: StrategyConfig, *, seed: int = 0, progress: bool = False) -> StaticModel:
    """Train the static net (``cfg.static`` with ``seed``) on ``data``'s fitting rows, early-stopped on its validation rows.

    The registry's trainer for kind ``"static"`` (:func:`maml_strategy.learners.fit_learner`);
    the gap between the two is the label's lag (``cfg.features.lag``).

    Example:
        >>> static = fit(data, load_config(), seed=0)  # doctest: +SKIP
    """
    scfg = dataclasses.replace(cfg.static, seed=seed, horizon=cfg.features.lag)
    return train_static(data.x_fit, data.y_fit, scfg, scaler=data.scaler, feature_names=data.feature_names,
                        model_kwargs=data.model_kwargs, validation=(data.x_val, data.y_val), progress=progress)

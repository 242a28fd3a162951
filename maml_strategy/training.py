"""Phase-1 baseline: the same network trained conventionally on all samples.

:func:`train_static` fits a :class:`~maml_strategy.model.HierarchicalTimeframeNet`
with Adam on minibatches, holding out the last ``val_fraction`` of the
(time-ordered, NaN-free) samples for validation, separated from the training
rows by a gap of ``horizon`` rows so that no training label looks into the
validation period; early stopping keeps the parameters with the best
validation loss. The result, :class:`StaticModel`, has the same
``predict/adapt/support_loss/save/load`` surface as
:class:`~maml_strategy.maml.MAML` (its ``adapt`` is naive fine-tuning).

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

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from maml_strategy.errors import ConfigError, DataError, ModelError
from maml_strategy.learner import LOSSES, Learner, apply_num_threads
from maml_strategy.model import HierarchicalTimeframeNet

__all__ = ["StaticConfig", "StaticModel", "train_static", "time_split"]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class StaticConfig:
    """Hyper-parameters of :func:`train_static` (validated on construction).

    Example:
        >>> StaticConfig(epochs=20, lr=3e-4).epochs
        20
    """

    lr: float = 0.001  # Adam step size
    batch_size: int = 128  # minibatch size
    epochs: int = 60  # maximum epochs (early stopping usually ends sooner)
    val_fraction: float = 0.2  # last fraction of the (time-ordered) samples held out for validation
    horizon: int = 5  # label horizon: gap in rows between the training and the validation samples
    patience: int | None = 8  # epochs without val improvement before stopping; None = never stop early
    min_delta: float = 0.0  # val improvement that resets patience
    weight_decay: float = 1e-4  # Adam weight decay
    grad_clip: float | None = 1.0  # max global gradient norm; None = no clipping
    loss: str = "mse"  # "mse" or "huber"
    huber_delta: float = 1.0  # delta of the Huber loss
    finetune_steps: int = 5  # StaticModel.adapt() default: SGD steps of naive fine-tuning
    finetune_lr: float = 0.01  # StaticModel.adapt() default: SGD step size (same as MAML's inner_lr)
    seed: int = 0  # torch seed (init is the caller's; this seeds shuffling)
    device: str = "cpu"  # "cpu" or "cuda[:i]"
    num_threads: int | None = 2  # torch threads (2 trains ~15 % faster than 1 on 2 cores, see MAMLConfig); None = leave as is

    def __post_init__(self) -> None:
        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        check(_is_num(self.lr) and self.lr > 0, f"lr must be a float > 0 (e.g. 1e-3), got {self.lr!r}")
        for name in ("batch_size", "epochs", "finetune_steps"):
            v = getattr(self, name)
            low = 0 if name == "finetune_steps" else 1
            check(_is_int(v) and v >= low, f"{name} must be an int >= {low}, got {v!r}")
        check(_is_num(self.val_fraction) and 0 < self.val_fraction < 1, f"val_fraction must be in (0, 1), e.g. 0.2, got {self.val_fraction!r}")
        check(_is_int(self.horizon) and self.horizon >= 0, f"horizon must be an int >= 0, got {self.horizon!r}")
        check(self.patience is None or (_is_int(self.patience) and self.patience >= 1), f"patience must be an int >= 1 or None, got {self.patience!r}")
        check(_is_num(self.min_delta) and self.min_delta >= 0, f"min_delta must be >= 0, got {self.min_delta!r}")
        check(_is_num(self.weight_decay) and self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        check(self.grad_clip is None or (_is_num(self.grad_clip) and self.grad_clip > 0), f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        check(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        check(_is_num(self.huber_delta) and self.huber_delta > 0, f"huber_delta must be > 0, got {self.huber_delta!r}")
        check(_is_num(self.finetune_lr) and self.finetune_lr >= 0, f"finetune_lr must be >= 0, got {self.finetune_lr!r}")
        check(_is_int(self.seed), f"seed must be an int, got {self.seed!r}")
        check(self.num_threads is None or (_is_int(self.num_threads) and self.num_threads >= 1), f"num_threads must be an int >= 1 or None, got {self.num_threads!r}")
        check(isinstance(self.device, str), f"device must be a string like 'cpu', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device={self.device!r} but CUDA is not available; use device='cpu'")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StaticConfig:
        """Build from a dict; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown StaticConfig keys {unknown}; valid keys: {sorted(known)}")
        return cls(**d)


class StaticModel(Learner):
    """A conventionally trained network with the :class:`~maml_strategy.maml.MAML` surface.

    ``adapt`` performs naive fine-tuning (SGD, ``config.finetune_steps`` steps
    of ``config.finetune_lr`` by default) and returns new parameters.

    Example:
        >>> sm = StaticModel.load("models/static_spy.pt")  # doctest: +SKIP
        >>> sm.predict(x_today)  # doctest: +SKIP
    """

    kind = "static"

    def __init__(
        self,
        model: HierarchicalTimeframeNet,
        config: StaticConfig | None = None,
        *,
        scaler: Any | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        config = StaticConfig() if config is None else config
        if not isinstance(config, StaticConfig):
            raise ConfigError(f"config must be a StaticConfig, got {type(config).__name__}")
        super().__init__(model, scaler=scaler, feature_names=feature_names, device=config.device, loss=config.loss, huber_delta=config.huber_delta)
        self.config = config
        apply_num_threads(config.num_threads)

    def _default_adapt_steps(self) -> int:
        return self.config.finetune_steps

    def _default_adapt_lrs(self, steps: int) -> list[float | list[float]]:
        return [self.config.finetune_lr] * steps

    def _config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StaticModel:
        """Load a file written by :meth:`save` (verifies the SHA-256 digest).

        Raises:
            ModelError: missing, truncated, tampered, MAML-model or incompatible file.
        """
        meta, model, scaler, _ = cls._read(path)
        try:
            cfg_dict = dict(meta["config"])
            if str(cfg_dict.get("device", "cpu")).startswith("cuda") and not torch.cuda.is_available():
                cfg_dict["device"] = "cpu"
            config = StaticConfig.from_dict(cfg_dict)
        except (ConfigError, KeyError, TypeError) as exc:
            raise ModelError(f"{str(path)!r}: stored StaticConfig is invalid here ({exc}); retrain the model") from exc
        obj = cls(model, config, scaler=scaler, feature_names=meta.get("feature_names"))
        obj.history = meta.get("history") or {}
        obj.model.eval()
        return obj


def time_split(n: int, positions: np.ndarray, val_fraction: float, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Split time-ordered sample positions into train / validation with a label gap.

    The last ``ceil(val_fraction * len(positions))`` samples are validation;
    training keeps samples ``i`` with ``i + horizon <= first_val_position``
    (their labels are known before the validation period starts).

    Returns:
        ``(train_positions, val_positions)``.
    """
    del n
    n_val = max(1, int(math.ceil(val_fraction * len(positions))))
    val = positions[-n_val:]
    train = positions[: len(positions) - n_val]
    train = train[train + horizon <= val[0]]
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
    device = torch.device(config.device)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(device)
    x_tr, y_tr = Xt[train_pos], yt[train_pos]
    x_va, y_va = Xt[val_pos], yt[val_pos]

    learner = StaticModel(net, config, scaler=scaler, feature_names=feature_names)
    model, loss_fn = learner.model, learner.loss_fn
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    hist: dict[str, Any] = {"epoch": [], "train_loss": [], "val_loss": []}
    best_val, best_epoch, best_state, bad = math.inf, 0, None, 0
    stopped = False
    bar = tqdm(range(1, config.epochs + 1), desc="train-static", disable=not progress, leave=False)
    for epoch in bar:
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
        hist["epoch"].append(epoch)
        hist["train_loss"].append(total / count)
        hist["val_loss"].append(val)
        bar.set_postfix(train=f"{total / count:.4f}", val=f"{val:.4f}")
        if val < best_val - config.min_delta:
            best_val, best_epoch, bad = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if config.patience is not None and bad >= config.patience:
                stopped = True
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist.update(best_epoch=best_epoch, best_val_loss=best_val if math.isfinite(best_val) else None, stopped_early=stopped,
                n_train=int(len(train_pos)), n_val=int(len(val_pos)))
    learner.history = hist
    return learner

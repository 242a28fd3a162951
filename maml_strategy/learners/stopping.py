"""The one early-stopping loop of the learners: epochs, a monitored validation loss, patience, best state restored.

MAML's meta-training (:meth:`~maml_strategy.learners.maml.MAML.meta_train`) and
the static net (:func:`~maml_strategy.learners.static.train_static`) both run
:func:`fit_epochs`; LightGBM early-stops inside ``lightgbm.train`` with the same
patience convention (rounds without improvement on the validation rows).

The convention, in one place:

* an epoch improves when ``val < best - min_delta``; the state is then snapshotted;
* ``patience`` epochs in a row without improvement stop training (None: never);
* a non-finite validation loss stops training at once (the weights diverged);
* at the end the best snapshot is restored; without a monitored loss the last
  epoch counts as best.

Example:
    >>> state = {"w": 0.0}
    >>> def epoch(e):
    ...     state["w"] = e
    ...     return {"train_loss": 1.0 / e, "val_loss": abs(e - 3)}
    >>> hist = fit_epochs(10, epoch, monitor="val_loss", patience=2, snapshot=lambda: dict(state),
    ...                   restore=lambda s: state.update(s))
    >>> hist["best_epoch"], hist["stopped_early"], len(hist["epoch"]), state["w"]
    (3, True, 5, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from maml_strategy.errors import ConfigError

__all__ = ["fit_epochs"]


def fit_epochs(
    epochs: int,
    run_epoch: Callable[[int], dict[str, float]],
    *,
    monitor: str | None,
    patience: int | None,
    snapshot: Callable[[], Any],
    restore: Callable[[Any], None],
    min_delta: float = 0.0,
    desc: str = "train",
    progress: bool = False,
) -> dict[str, Any]:
    """Run ``run_epoch(1), run_epoch(2), ...`` with early stopping on ``monitor``; restore the best state.

    Args:
        epochs: the most epochs to run (>= 1).
        run_epoch: trains one epoch (1-based) and returns its losses by name
            (e.g. ``{"train_loss": ..., "val_loss": ...}``); every name becomes a
            history list.
        monitor: the name of the validation loss to early-stop on (None: no
            validation; every epoch runs and the last one counts as best).
        patience: epochs without improvement before stopping (None: never stop early).
        snapshot: returns a copy of the state to keep (called on each improvement).
        restore: puts a snapshot back (called once at the end, if any was taken).
        min_delta: improvement of the monitored loss that resets patience.
        desc: tqdm label.
        progress: show a tqdm bar.

    Returns:
        History: ``epoch`` and one list per loss name, plus ``best_epoch`` (0 when
        no epoch improved), ``best_val_loss`` (None without a monitored loss or
        improvement) and ``stopped_early``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be an int >= 1, got {epochs!r}")
    hist: dict[str, Any] = {"epoch": []}
    best, best_epoch, best_state, bad, stopped = math.inf, 0, None, 0, False
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        losses = run_epoch(epoch)
        hist["epoch"].append(epoch)
        for name, value in losses.items():
            hist.setdefault(name, []).append(value)
        bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
        if monitor is None:
            continue
        val = losses[monitor]
        if val < best - min_delta:
            best, best_epoch, best_state, bad = val, epoch, snapshot(), 0
        else:
            bad += 1
        if not math.isfinite(val) or (patience is not None and bad >= patience):
            stopped = True
            break
    bar.close()
    if best_state is not None:
        restore(best_state)
    hist.update(best_epoch=best_epoch if monitor is not None else hist["epoch"][-1],
                best_val_loss=best if best_state is not None else None, stopped_early=stopped)
    return hist

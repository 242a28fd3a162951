"""Few-shot evaluation on SPY: MAML initialisation vs. a static network.

Protocol (no look-ahead):

* Features are computed on the full history from 1993 (warm-up), labels are
  ``forward_returns(horizon=5)``; regimes come from ``RegimeDetector``.
* Training period 1995-01-01 .. 2005-12-31: only samples whose label horizon
  ends on or before 2005-12-31 are used (later labels set to NaN). The
  feature scaler is fitted on training rows only.
* MAML is meta-trained on the training regime segments (the last 20 % of them,
  by time, serve as validation tasks for early stopping); the static baseline
  is trained conventionally on all training samples (time-ordered validation
  split with a horizon gap, early stopping).
* Test: regime segments starting in 2006-2007 (labels ending <= 2007-12-31);
  every (segment, placement) task with support blocks ``query_size`` rows
  apart; support precedes query with a ``horizon`` gap.
* For 0, 1, 5, 10 SGD steps on the support set (same learning rate for all):
  query MSE and directional accuracy of (a) MAML, (b) static fine-tuned,
  (c) static unadapted; mean +- std over seeds (model init, task sampling
  and minibatch order vary with the seed).

Usage::

    PYTHONPATH=. python backtests/fewshot_eval.py    # ~1-3 min on 2 cores (or pip install -e . first)
    PYTHONPATH=. python backtests/fewshot_eval.py --seeds 10 --meta-epochs 40 --out backtests/results/fewshot/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from maml_strategy.data import load_ohlcv
from maml_strategy.features import FeatureScaler, MultiTimeframeExtractor, forward_returns
from maml_strategy.learner import Learner
from maml_strategy.maml import MAML, MAMLConfig
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.regime import RegimeDetector
from maml_strategy.tasks import TaskBatch, TaskSampler
from maml_strategy.training import StaticConfig, train_static

__all__ = ["main", "prepare", "evaluate_learner"]

TRAIN_START, TRAIN_END = "1995-01-01", "2005-12-31"
TEST_START, TEST_END = "2006-01-01", "2007-12-31"


def _mask_labels_after(y: np.ndarray, index: pd.DatetimeIndex, last_day: str, horizon: int) -> np.ndarray:
    """NaN every label whose horizon ends after ``last_day``."""
    y = y.copy()
    last_pos = int(np.searchsorted(index, pd.Timestamp(last_day), side="right")) - 1
    y[max(0, last_pos - horizon + 1) :] = np.nan
    return y


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Load SPY, compute features/labels/regimes, build train/val/test data."""
    df = load_ohlcv(args.symbol, end=TEST_END)
    extractor = MultiTimeframeExtractor()
    feats = extractor.transform(df)
    X = feats.flat().astype(np.float64)
    X[~feats.valid] = np.nan
    y_all = forward_returns(df, horizon=args.horizon).to_numpy(dtype=np.float64)
    idx = df.index
    in_train = (idx >= pd.Timestamp(TRAIN_START)) & (idx <= pd.Timestamp(TRAIN_END))
    y_train = np.where(in_train, _mask_labels_after(y_all, idx, TRAIN_END, args.horizon), np.nan)
    y_test = np.where(idx >= pd.Timestamp(TEST_START), _mask_labels_after(y_all, idx, TEST_END, args.horizon), np.nan)

    scaler = FeatureScaler().fit(X[in_train & np.isfinite(X).all(axis=1)])
    Xs = scaler.transform(np.nan_to_num(X, nan=0.0)).astype(np.float32)
    Xs[~np.isfinite(X).all(axis=1)] = np.nan

    segments = RegimeDetector().segment_by_regime(df, min_length=args.min_segment)
    train_segs = [s for s in segments if s.start >= pd.Timestamp(TRAIN_START) and s.end <= pd.Timestamp(TRAIN_END)]
    test_segs = [s for s in segments if s.start >= pd.Timestamp(TEST_START)]
    n_val = max(1, int(round(0.2 * len(train_segs))))
    return {
        "X": Xs,
        "y_train": y_train,
        "y_test": y_test,
        "scaler": scaler,
        "feature_names": list(extractor.flat_feature_names),
        "train_segs": train_segs[:-n_val],
        "val_segs": train_segs[-n_val:],
        "test_segs": test_segs,
        "model_kwargs": {"num_timeframes": extractor.n_timeframes, "features_per_tf": 45, "cross_tf_features": 8, "hidden_dim": args.hidden_dim},
    }


def evaluate_learner(learner: Learner, tasks: TaskBatch, steps: int, lr: float) -> tuple[float, float]:
    """Mean query MSE and directional accuracy over tasks after ``steps`` SGD steps."""
    losses, accs = [], []
    for i in range(len(tasks)):
        params = learner.adapt(tasks.support_x[i], tasks.support_y[i], steps=steps, lr=lr) if steps > 0 else None
        pred = learner.predict(tasks.query_x[i], params)
        y = tasks.query_y[i]
        losses.append(float(torch.mean((pred - y) ** 2)))
        nz = y != 0
        accs.append(float((torch.sign(pred[nz]) == torch.sign(y[nz])).float().mean()))
    return float(np.mean(losses)), float(np.mean(accs))


def run_seed(data: dict[str, Any], args: argparse.Namespace, seed: int, test_tasks: TaskBatch) -> dict[str, Any]:
    """Train MAML and the static model with ``seed``; evaluate on the test tasks."""
    K, Q, h = args.support_size, args.query_size, args.horizon
    train_sampler = TaskSampler(data["train_segs"], data["X"], data["y_train"], K, Q, h, seed=seed)
    val_sampler = TaskSampler(data["val_segs"], data["X"], data["y_train"], K, Q, h, seed=10_000 + seed)
    cfg = MAMLConfig(
        inner_lr=args.lr, outer_lr=args.outer_lr, inner_steps=args.inner_steps, support_size=K, query_size=Q,
        meta_epochs=args.meta_epochs, steps_per_epoch=args.steps_per_epoch, patience=args.patience,
        first_order=args.first_order, seed=seed, val_tasks=48,
    )
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    maml = MAML(HierarchicalTimeframeNet(**data["model_kwargs"]), cfg, scaler=data["scaler"], feature_names=data["feature_names"])
    hist = maml.meta_train(train_sampler, val_sampler=val_sampler, progress=args.progress)
    t_maml = time.perf_counter() - t0
    t0 = time.perf_counter()
    static = train_static(
        data["X"], data["y_train"],
        StaticConfig(epochs=args.static_epochs, patience=args.patience, horizon=h, seed=seed, finetune_lr=args.lr),
        scaler=data["scaler"], feature_names=data["feature_names"], model_kwargs=data["model_kwargs"],
    )
    t_static = time.perf_counter() - t0
    out: dict[str, Any] = {"seed": seed, "maml_epochs": len(hist["epoch"]), "maml_best_epoch": hist["best_epoch"],
                           "static_epochs": len(static.history["epoch"]), "time_maml_s": t_maml, "time_static_s": t_static,
                           "results": {}}
    for steps in args.steps:
        out["results"][f"maml@{steps}"] = evaluate_learner(maml, test_tasks, steps, args.lr)
        out["results"][f"static_ft@{steps}"] = evaluate_learner(static, test_tasks, steps, args.lr)
    out["results"]["static_unadapted"] = evaluate_learner(static, test_tasks, 0, args.lr)
    return out


def _fmt(vals: list[float], pct: bool = False) -> str:
    m, s = float(np.mean(vals)), float(np.std(vals))
    return f"{100 * m:.1f} ± {100 * s:.1f}" if pct else f"{m:.4f} ± {s:.4f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """CLI entry point; prints a markdown table and writes ``fewshot_<symbol>.json`` to ``--out``."""
    ap = argparse.ArgumentParser(description="Few-shot regime evaluation: MAML vs static fine-tuning on SPY")
    ap.add_argument("--symbol", default="SPY")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--meta-epochs", type=int, default=12)
    ap.add_argument("--steps-per-epoch", type=int, default=15)
    ap.add_argument("--static-epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--support-size", type=int, default=16, help="K (2006-07 regime segments are short: 22-127 bars)")
    ap.add_argument("--query-size", type=int, default=8)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--inner-steps", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.01, help="inner / fine-tuning SGD step (same for all methods)")
    ap.add_argument("--outer-lr", type=float, default=0.001)
    ap.add_argument("--hidden-dim", type=int, default=128)
    ap.add_argument("--min-segment", type=int, default=20)
    ap.add_argument("--first-order", action="store_true")
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 1, 5, 10])
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--out", default="backtests/results/fewshot/")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    data = prepare(args)
    test_sampler = TaskSampler(data["test_segs"], data["X"], data["y_test"], args.support_size, args.query_size, args.horizon)
    test_tasks = test_sampler.enumerate_tasks()
    zero_mse = float(torch.mean(test_tasks.query_y**2))
    print(f"train segments {len(data['train_segs'])}, val segments {len(data['val_segs'])}, test segments "
          f"{len(data['test_segs'])} ({test_sampler.dropped_segments} too short) -> {len(test_tasks)} test tasks "
          f"(K={args.support_size}, Q={args.query_size}, gap={args.horizon})")
    runs = []
    for seed in range(args.seeds):
        r = run_seed(data, args, seed, test_tasks)
        runs.append(r)
        print(f"seed {seed}: maml {r['maml_epochs']} epochs ({r['time_maml_s']:.0f}s), static {r['static_epochs']} epochs "
              f"({r['time_static_s']:.0f}s); maml@5 mse {r['results']['maml@5'][0]:.4f}, static_ft@5 {r['results']['static_ft@5'][0]:.4f}"
              if 5 in args.steps else f"seed {seed} done")

    rows = [("(a) MAML init + adapt", "maml@{}"), ("(b) static + fine-tune", "static_ft@{}"), ("(c) static, unadapted", "static_unadapted")]
    lines = [f"Few-shot evaluation, {args.symbol}: train {TRAIN_START[:4]}-{TRAIN_END[:4]}, test {TEST_START[:4]}-{TEST_END[:4]}, "
             f"{len(test_tasks)} test tasks, {args.seeds} seeds, lr {args.lr}; zero-predictor query MSE {zero_mse:.4f}", ""]
    for metric, j, pct in (("query MSE", 0, False), ("directional accuracy %", 1, True)):
        lines.append(f"| {metric} | " + " | ".join(f"{s} steps" for s in args.steps) + " |")
        lines.append("|---|" + "---:|" * len(args.steps))
        for label, key in rows:
            cells = [_fmt([r["results"][key.format(s)][j] for r in runs], pct) for s in args.steps]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    table = "\n".join(lines)
    print(table)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "args": vars(args),
        "n_test_tasks": len(test_tasks),
        "test_segments": [(s.regime.value, str(s.start.date()), s.n_bars) for s in data["test_segs"]],
        "zero_predictor_mse": zero_mse,
        "runs": runs,
        "table_markdown": table,
        "elapsed_s": time.perf_counter() - t_start,
    }
    path = out_dir / f"fewshot_{args.symbol.lower()}.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    print(f"wrote {path} ({summary['elapsed_s']:.0f}s)")
    return summary


if __name__ == "__main__":
    main()

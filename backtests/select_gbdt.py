#!/usr/bin/env python
"""Choose the gbdt control's LightGBM settings on the VALIDATION years only (nothing after 2007 is loaded).

    PYTHONPATH=. python backtests/select_gbdt.py [--symbols AFL AIG ...] [--max-train-rows N] [--json out.json]

Data: a fixed half of the universe (every 2nd symbol of /work/shared/data/universe,
alphabetically, unless --symbols is given), each cut at 2007-12-31 before any
feature is computed. Training rows: 1997-2005 whose 5-bar label ends before the
first 2006 bar; validation rows: 2006-2007. Features from
``build_dataset``; one FeatureScaler fitted on the pooled training rows only.

Stage 1 (``select_gbdt_params``): 12 candidates, num_leaves {7, 15, 31} x
learning_rate {0.02, 0.05} x min_data_in_leaf {50, 200}, then the winner with
feature_fraction 0.5 instead of 0.8. Early stopping (validation MSE, patience
100) and the choice (validation IC = Spearman of prediction vs label over the
pooled validation rows) both use the validation rows only.

Stage 2 (gbdt_finetune): for the chosen model, at every regime transition that
the causal detector confirms in 2006-2007 (per symbol), adapt on the last K=32
samples whose labels are known at that bar, then score the next <= 63 bars of
the new regime, unadapted vs adapted (continued boosting, a few settings).
Fine-tuning is worth keeping only if it is not worse on query MSE and IC.

Result (45 symbols, 88,185 training / 22,134 validation rows, all rows, 1 thread, ~6.5 min):
validation IC of the 13 candidates 0.053-0.071 (relative MSE 0.992-0.995); chosen
num_leaves=15, learning_rate=0.02, min_data_in_leaf=50, feature_fraction=0.5 (IC 0.0709,
198 rounds) -> the GBDTConfig defaults. Fine-tuning on 796 validation transitions
(19,602 query rows; ``--finetune-only``, 82 s): no adaptation IC 0.069 / MSE 1.756;
3 rounds @ 0.05 IC 0.010 / 1.776; 10 @ 0.05 IC -0.004 / 1.868; 5 @ 0.2 IC -0.004 / 2.057
-> gbdt_finetune dropped (GBDTConfig.finetune_rounds = 0: adapt() returns None).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from maml_strategy.backtest.train import build_dataset
from maml_strategy.config import load_config
from maml_strategy.data import load_ohlcv
from maml_strategy.errors import MamlStrategyError
from maml_strategy.features import before_validation
from maml_strategy.features.scaler import FeatureScaler
from maml_strategy.precompute import support_positions
from maml_strategy.learners.gbdt import GBDTConfig, score_predictions, select_gbdt_params, train_gbdt

HERE = Path(__file__).resolve().parent
UNIVERSE = Path("/work/shared/data/universe")
TRAIN_START, VAL_START, VAL_END = pd.Timestamp("1997-01-01"), pd.Timestamp("2006-01-01"), pd.Timestamp("2007-12-31")
FINETUNE = [(3, 0.05), (10, 0.05), (5, 0.2)]  # (rounds, shrinkage) tried on validation transitions


def symbol_arrays(path: Path, cfg, K: int, query_len: int) -> dict | None:
    """Raw train/val arrays and validation transition tasks of one symbol (data cut at VAL_END)."""
    df = load_ohlcv(path.stem, path=path).loc[:VAL_END]  # 2008+ never enters
    ds = build_dataset(df, cfg, TRAIN_START, VAL_END)
    lag, vw = cfg.features.lag, cfg.features.vol_window
    pos = np.arange(len(ds.index))
    val_pos = int(np.searchsorted(ds.index, VAL_START))
    tr = ds.valid & before_validation(pos, val_pos, lag)  # the train/validation gap
    va = ds.valid & (pos >= val_pos)
    tasks = []
    for seg in ds.segments:
        t = seg.start_pos
        if t < val_pos or seg is ds.segments[0]:
            continue
        sup = support_positions(t, 0, ds.valid, support_size=K, horizon=lag, vol_window=vw)  # the engine's window
        qry = np.flatnonzero(ds.valid & (pos >= t) & (pos <= min(seg.end_pos, t + query_len - 1)))
        if len(sup) == K and len(qry) >= 5:
            tasks.append((sup, qry))
    return {"x": ds.x, "y": ds.y, "tr": tr, "va": va, "tasks": tasks, "names": ds.feature_names}


def main(argv: list[str] | None = None) -> int:
    from maml_strategy.cli import make_parser

    ap = make_parser(__doc__)
    ap.add_argument("--symbols", nargs="*", help="universe symbols (default: every 2nd, alphabetically)")
    ap.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"))
    ap.add_argument("--max-train-rows", type=int, default=0, help="subsample training rows (0 = all)")
    ap.add_argument("--threads", type=int, default=1,
                    help="LightGBM threads (1: on a busy 2-core box 2 threads were ~5x slower)")
    ap.add_argument("--finetune-only", action="store_true", help="skip the grid; check fine-tuning of the defaults")
    ap.add_argument("--support", type=int, default=32, help="K for the fine-tuning check")
    ap.add_argument("--json", default=str(HERE / "results" / "select_gbdt.json"), help="write the tables here")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    files = sorted(UNIVERSE.glob("*.csv"))
    if args.symbols:
        files = [UNIVERSE / f"{s}.csv" for s in args.symbols]
    else:
        files = files[::2]
    t0 = time.perf_counter()
    per = {}
    for f in files:
        try:
            per[f.stem] = symbol_arrays(f, cfg, args.support, 63)
        except MamlStrategyError as exc:
            print(f"skip {f.stem}: {exc}", file=sys.stderr)
    syms = list(per)
    x_tr = np.concatenate([per[s]["x"][per[s]["tr"]] for s in syms])
    y_tr = np.concatenate([per[s]["y"][per[s]["tr"]] for s in syms])
    scaler = FeatureScaler().fit(x_tr)  # pooled training rows only
    x_tr = scaler.transform(x_tr).astype(np.float64)
    x_va = np.concatenate([scaler.transform(per[s]["x"][per[s]["va"]]) for s in syms]).astype(np.float64)
    y_va = np.concatenate([per[s]["y"][per[s]["va"]] for s in syms])
    if args.max_train_rows and len(y_tr) > args.max_train_rows:
        keep = np.sort(np.random.default_rng(0).choice(len(y_tr), args.max_train_rows, replace=False))
        x_tr, y_tr = x_tr[keep], y_tr[keep]
        print(f"subsampled training rows to {len(y_tr)} (uniform, seed 0)")
    print(f"{len(syms)} symbols ({syms[0]} .. {syms[-1]}); train rows {len(y_tr)} (1997-2005), "
          f"val rows {len(y_va)} (2006-07); features {x_tr.shape[1]}; data {time.perf_counter() - t0:.0f}s")

    best, table = GBDTConfig(num_threads=args.threads), []
    if not args.finetune_only:
        best, table = select_gbdt_params(x_tr, y_tr, x_va, y_va, base=best, log=print)
    print(f"\n{'candidate':58s} {'valIC':>7s} {'relMSE':>7s} {'dirAcc':>6s} {'iters':>5s} {'fit s':>6s}")
    for r in sorted(table, key=lambda r: -r["ic"]):
        print(f"{json.dumps(r['candidate']):58s} {r['ic']:+7.4f} {r['rel_mse']:7.4f} {r['dir_acc']:6.3f} "
              f"{r['best_iteration']:5d} {r['fit_seconds']:6.1f}")
    print(f"chosen: num_leaves={best.num_leaves} learning_rate={best.learning_rate} "
          f"min_data_in_leaf={best.min_data_in_leaf} feature_fraction={best.feature_fraction}")

    # ---- stage 2: fine-tuning on validation-year transitions
    model = train_gbdt(x_tr, y_tr, x_va, y_va, best, scaler=scaler, feature_names=per[syms[0]]["names"], seed=0)
    preds: dict[str, list[np.ndarray]] = {"none": []}
    ys, n_tasks, ms = [], 0, []
    for s in syms:
        xs = scaler.transform(np.nan_to_num(per[s]["x"], nan=0.0)).astype(np.float64)
        for sup, qry in per[s]["tasks"]:
            n_tasks += 1
            ys.append(per[s]["y"][qry])
            preds["none"].append(model.predict(xs[qry]).numpy())
            for rounds, lr in FINETUNE:
                t1 = time.perf_counter()
                params = model.adapt(xs[sup], per[s]["y"][sup], steps=rounds, lr=lr)
                ms.append((time.perf_counter() - t1) * 1e3)
                preds.setdefault(f"{rounds} rounds @ {lr}", []).append(model.predict(xs[qry], params).numpy())
    yq = np.concatenate(ys)
    ft = {}
    print(f"\nfine-tuning check: {n_tasks} validation transitions, {len(yq)} query rows, "
          f"adapt {np.median(ms):.1f} ms median")
    for name, p in preds.items():
        sc = score_predictions(np.concatenate(p), yq)
        per_task = [float(np.mean((a - b) ** 2)) for a, b in zip(p, ys)]
        ft[name] = {**sc, "mean_task_mse": float(np.mean(per_task))}
        print(f"  {name:18s} IC {sc['ic']:+.4f}  MSE {sc['mse']:.4f}  relMSE {sc['rel_mse']:.4f}  dir {sc['dir_acc']:.3f}")
    base = ft["none"]
    keep_ft = [n for n, v in ft.items() if n != "none" and v["mse"] <= base["mse"] and v["ic"] >= base["ic"]]
    print("gbdt_finetune: " + (f"not worse with {keep_ft}" if keep_ft else "worse than no adaptation in every setting -> dropped"))
    if args.json:
        rows = [{k: (v.to_dict() if isinstance(v, GBDTConfig) else v) for k, v in r.items()} for r in table]
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"symbols": syms, "grid": rows, "chosen": best.to_dict(),
                                               "finetune": ft}, indent=1))
    print(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

"""Cost of the gbdt control: training time per pooled universe window, per-bar prediction vs the net.

    PYTHONPATH=. python benchmarks/bench_gbdt.py [--symbols AFL AIG ...] [--threads 1 2] [--reps 2000]

1. Training: pooled features of the symbols (default: every 2nd universe symbol,
   the set ``backtests/select_gbdt.py`` uses), training rows 1997-2005,
   validation rows 2006-07 (early stopping), the default ``GBDTConfig``; wall
   seconds per fit for each thread count.
2. Per-bar prediction on one scaled row (what ``SignalEngine.on_bar`` calls):
   ``GBDTModel.predict`` vs the net's ``StaticModel.predict`` (torch, 1 thread),
   plus the raw ``booster.predict``.
3. ``SignalEngine.on_bar`` over SPY 2003-2008 with each learner (no adaptation).
"""

from __future__ import annotations

import sys
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from maml_strategy.backtest.train import build_dataset
from maml_strategy.config import load_config
from maml_strategy.data import load_ohlcv
from maml_strategy.engine import SignalEngine
from maml_strategy.features.scaler import FeatureScaler
from maml_strategy.learners.gbdt import GBDTConfig, train_gbdt
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.learners.static import StaticConfig, StaticModel

UNIVERSE = Path("/work/shared/data/universe")
HERE = Path(__file__).resolve().parent


def _us(fn, reps: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> None:
    from maml_strategy.cli import make_parser

    ap = make_parser(__doc__)
    ap.add_argument("--symbols", nargs="*")
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"))
    args = ap.parse_args()
    cfg = load_config(args.config)
    torch.set_num_threads(1)
    files = [UNIVERSE / f"{s}.csv" for s in args.symbols] if args.symbols else sorted(UNIVERSE.glob("*.csv"))[::2]
    h, xs_tr, ys_tr, xs_va, ys_va = cfg.features.horizon, [], [], [], []
    t0 = time.perf_counter()
    for f in files:
        df = load_ohlcv(f.stem, path=f).loc[:"2007-12-31"]
        try:
            ds = build_dataset(df, cfg, pd.Timestamp("1997-01-01"), pd.Timestamp("2007-12-31"))
        except Exception as exc:  # too little history: skip the symbol
            print(f"skip {f.stem}: {exc}")
            continue
        pos, vp = np.arange(len(ds.index)), int(np.searchsorted(ds.index, pd.Timestamp("2006-01-01")))
        tr, va = ds.valid & (pos + h < vp), ds.valid & (pos >= vp)
        xs_tr.append(ds.x[tr]), ys_tr.append(ds.y[tr]), xs_va.append(ds.x[va]), ys_va.append(ds.y[va])
    scaler = FeatureScaler().fit(np.concatenate(xs_tr))
    x_tr = scaler.transform(np.concatenate(xs_tr)).astype(np.float64)
    x_va = scaler.transform(np.concatenate(xs_va)).astype(np.float64)
    y_tr, y_va = np.concatenate(ys_tr), np.concatenate(ys_va)
    print(f"{len(xs_tr)} symbols: train {x_tr.shape}, val {x_va.shape} (features {time.perf_counter() - t0:.0f}s)")
    model = None
    for nt in args.threads:
        t1 = time.perf_counter()
        model = train_gbdt(x_tr, y_tr, x_va, y_va, GBDTConfig(num_threads=nt), scaler=scaler, seed=0)
        print(f"train_gbdt threads={nt}: {time.perf_counter() - t1:.2f} s wall "
              f"(best_iteration {model.history['best_iteration']}, val IC {model.history['val_ic']:+.4f})")
    assert model is not None

    D = x_tr.shape[1]
    T = len(cfg.features.timeframes)
    n_cross = 8
    net = HierarchicalTimeframeNet(num_timeframes=T, features_per_tf=(D - n_cross) // T, cross_tf_features=n_cross,
                                   hidden_dim=cfg.model.hidden_dim, tf_hidden_dim=cfg.model.tf_hidden_dim)
    static = StaticModel(net.eval(), StaticConfig(num_threads=1), scaler=scaler)
    row = torch.from_numpy(x_va[:1].astype(np.float32))
    row64 = x_va[:1].copy()
    g = _us(lambda: model.predict(row), args.reps)
    b = _us(lambda: model.booster.predict(row64, num_threads=1), args.reps)
    n = _us(lambda: static.predict(row), args.reps)
    print(f"per-bar predict, one row (median of {args.reps}): gbdt {g:.1f} us (raw booster.predict {b:.1f} us), "
          f"net {n:.1f} us  [{model.booster.num_trees()} trees of <= {model.config.num_leaves} leaves]")

    spy = load_ohlcv("SPY", "2003-01-01", "2008-12-31")
    for name, learner in (("gbdt", model), ("net", static)):
        eng = SignalEngine(learner, adapt=False, regime=cfg.regime, features=cfg.features, trading=cfg.trading)
        per = []
        for r in spy.itertuples():
            t1 = time.perf_counter()
            eng.on_bar(r.Index, r.open, r.high, r.low, r.close, r.volume)
            per.append((time.perf_counter() - t1) * 1e3)
        steady = per[300:]
        print(f"SignalEngine.on_bar ({name}, no adaptation): median {statistics.median(steady):.3f} ms over {len(steady)} bars")


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))

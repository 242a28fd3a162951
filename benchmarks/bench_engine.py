"""Per-bar cost of the SignalEngine and of a full backtrader run (benchmark, not a test).

    python benchmarks/bench_engine.py
"""

from __future__ import annotations

import statistics
import time

import torch

from maml_strategy.config import load_config
from maml_strategy.data import load_ohlcv
from maml_strategy.engine import SignalEngine
from maml_strategy.features import FeatureScaler, MultiTimeframeExtractor
from maml_strategy.maml import MAML, MAMLConfig
from maml_strategy.model import HierarchicalTimeframeNet


def main(threads: int = 1) -> None:
    torch.set_num_threads(threads)
    df = load_ohlcv("SPY", "2003-01-01", "2008-12-31")
    ex = MultiTimeframeExtractor()
    x = ex.transform(df.loc[:"2005"]).flat()
    scaler = FeatureScaler().fit(x[ex.transform(df.loc[:"2005"]).valid])
    maml = MAML(HierarchicalTimeframeNet(), MAMLConfig(num_threads=threads), scaler=scaler)
    cfg = load_config()
    engine = SignalEngine(maml, adapt=True, regime=cfg.regime, features=cfg.features, trading=cfg.trading)
    per_bar = []
    for row in df.itertuples():
        t0 = time.perf_counter()
        engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
        per_bar.append((time.perf_counter() - t0) * 1e3)
    steady = per_bar[ex.window:]
    adapt_ms = [a.ms for a in engine.adaptations]
    print(f"torch threads: {torch.get_num_threads()}  bars: {len(per_bar)}  adaptations: {len(adapt_ms)}")
    print(f"engine.on_bar median {statistics.median(steady):.3f} ms, p90 "
          f"{sorted(steady)[int(0.9 * len(steady))]:.3f} ms (incl. adaptation bars)")
    if adapt_ms:
        print(f"adapt (5 steps, K=32) median {statistics.median(adapt_ms):.2f} ms")


if __name__ == "__main__":
    for n in (1, 2):
        main(n)

"""Benchmark of the feature extractor and the streaming regime detector (not a test).

Measures, on SPY (or synthetic data when the CSV is missing):

* ``MultiTimeframeExtractor.transform_last`` (and ``_arrays``) per bar, median (goal <= 1 ms)
* ``MultiTimeframeExtractor.transform`` over the full history  (goal <= 2 s)
* ``RegimeDetector.update`` per bar, mean                       (goal <= 20 us)
* ``RegimeDetector.label`` over the full history

This script never imports torch itself; the last line reports whether the
package imported it anyway (``maml_strategy.features.scaler`` currently does).

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_features.py [--bars 500]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from maml_strategy.cli import make_parser, positive_int, run_main
from maml_strategy.errors import DataError
from maml_strategy.features.extractor import MultiTimeframeExtractor
from maml_strategy.regime import RegimeDetector


def _load(path: str | None) -> pd.DataFrame:
    from maml_strategy.data import load_ohlcv, synthetic_ohlcv

    try:
        return load_ohlcv("SPY", path=path)
    except (DataError, OSError) as exc:
        print(f"SPY unavailable ({exc}); using 8000 synthetic bars")
        return synthetic_ohlcv(8000, seed=0).drop(columns="regime")


def main(argv: list[str] | None = None) -> None:
    ap = make_parser(__doc__)
    ap.add_argument("--path", default=None, help="CSV with SPY daily bars; unset: the library's lookup")
    ap.add_argument("--bars", type=positive_int, default=500, help="bars for the per-bar transform_last benchmark")
    ap.add_argument("--repeat", type=positive_int, default=3, help="repetitions of the full-history timings (best kept)")
    args = ap.parse_args(argv)
    df = _load(args.path)
    n = len(df)
    print(f"data: {n} bars {df.index[0].date()} .. {df.index[-1].date()}")
    ext = MultiTimeframeExtractor()

    best = min(_timed(lambda: ext.transform(df)) for _ in range(args.repeat))
    print(f"transform (full history, {n} bars):      {best * 1e3:8.1f} ms   (goal <= 2000 ms)")

    w = ext.window
    ends = np.linspace(w, n, num=min(args.bars, n - w + 1), dtype=int)
    windows = [df.iloc[e - w : e] for e in ends]  # slicing outside the timed region
    ext.transform_last(windows[0])  # warm caches
    per_bar = np.array([_timed(lambda win=win: ext.transform_last(win)) for win in windows])
    print(
        f"transform_last per bar (window {w}):      median {np.median(per_bar) * 1e3:6.3f} ms, "
        f"p90 {np.quantile(per_bar, 0.9) * 1e3:6.3f} ms   (goal <= 1 ms)"
    )

    arr = df[["open", "high", "low", "close", "volume"]].to_numpy()
    dates = df.index.values
    per_bar = np.array([_timed(lambda e=e: ext.transform_last_arrays(dates[e - w : e], arr[e - w : e])) for e in ends])
    print(
        f"transform_last_arrays per bar:            median {np.median(per_bar) * 1e3:6.3f} ms, "
        f"p90 {np.quantile(per_bar, 0.9) * 1e3:6.3f} ms   (goal <= 1 ms)"
    )

    rows = df[["high", "low", "close"]].to_dict("records")
    det = RegimeDetector()
    t = min(_timed(lambda: [det.update(r) for r in rows], before=det.reset) for _ in range(args.repeat))
    print(f"RegimeDetector.update per bar:            mean {t / n * 1e6:6.2f} us   (goal <= 20 us)")
    t = min(_timed(lambda: det.label(df)) for _ in range(args.repeat))
    print(f"RegimeDetector.label (full history):      {t * 1e3:8.1f} ms")
    print(f"torch imported: {'torch' in sys.modules}")


def _timed(fn, before=None) -> float:  # noqa: ANN001 - tiny helper
    if before is not None:
        before()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""Choose RegimeConfig.min_dwell on SPY 1995-2007 only.

For min_dwell = 1..10 prints the number of confirmed regime transitions, the
median confirmed-segment length and the number of short (whipsaw) segments.
Only SPY bars from 1995-01-01 to 2007-12-31 are used (labels start in early
1996 after the 264-bar warm-up), so later years stay out-of-sample.

Run from the repository root::

    /work/venv/bin/python benchmarks/choose_min_dwell.py
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from maml_strategy.cli import make_parser, run_main
from maml_strategy.data import load_ohlcv
from maml_strategy.regime import RegimeConfig, RegimeDetector, segments_from_codes


def main(argv: list[str] | None = None) -> None:
    ap = make_parser(__doc__)
    ap.add_argument("--path", default=None, help="CSV with SPY daily bars; unset: the library's lookup")
    args = ap.parse_args(argv)
    df = load_ohlcv("SPY", "1995-01-01", "2007-12-31", path=args.path)
    print(f"SPY {df.index[0].date()} .. {df.index[-1].date()}: {len(df)} bars")
    print(f"{'min_dwell':>9} {'transitions':>11} {'median_len':>10} {'mean_len':>8} {'segs<5':>6} {'segs<10':>7}")
    base = RegimeConfig()
    for md in range(1, 11):
        det = RegimeDetector(dataclasses.replace(base, min_dwell=md))
        codes, trans = det.label_codes(df)
        segs = segments_from_codes(codes, df.index)
        lens = np.array([s.n_bars for s in segs])
        # the first confirmation is flagged as a transition too; do not count it as a change
        n_changes = int(trans.sum()) - 1
        print(
            f"{md:>9} {n_changes:>11} {np.median(lens):>10.1f} {lens.mean():>8.1f} "
            f"{int((lens < 5).sum()):>6} {int((lens < 10).sum()):>7}"
        )


if __name__ == "__main__":
    sys.exit(run_main(main))

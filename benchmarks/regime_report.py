"""Real-data sanity report of the regime detector on SPY.

Labels are computed on the full history (the 252-bar volatility median needs
warm-up) and then sliced. Prints the regime per bar across Sep-Dec 2008 and
late Feb-Apr 2020, and regime / segment counts for 1995-2007 and 2010-2019.

Run from the repository root::

    /work/venv/bin/python benchmarks/regime_report.py
"""

from __future__ import annotations

import sys

import pandas as pd

from maml_strategy.cli import make_parser, run_main
from maml_strategy.data import load_ohlcv
from maml_strategy.regime import RegimeDetector, segments_from_codes


def _window(labels: pd.Series, start: str, end: str, title: str) -> None:
    w = labels.loc[start:end].map(lambda r: "-" if r is None else r.value)
    print(f"\n== {title}: {start} .. {end} ({len(w)} bars)")
    runs = (w != w.shift()).cumsum()
    for _, run in w.groupby(runs):
        print(f"  {run.index[0].date()} .. {run.index[-1].date()}  {run.iloc[0]:<18} {len(run):>3} bars")
    counts = w.value_counts()
    print("  counts: " + ", ".join(f"{k}={v} ({v / len(w):.0%})" for k, v in counts.items()))
    hv = w.str.endswith("high_vol").mean()
    print(f"  high-volatility share: {hv:.0%}")


def _period(labels: pd.Series, codes: pd.Series, start: str, end: str) -> None:
    w = labels.loc[start:end]
    c = codes.loc[start:end].to_numpy()
    segs = segments_from_codes(c, w.index)
    print(f"\n== {start} .. {end}: {len(w)} bars, {len(segs)} segments "
          f"(median {pd.Series([s.n_bars for s in segs]).median():.0f} bars)")
    counts = w.map(lambda r: "-" if r is None else r.value).value_counts()
    nseg = pd.Series([s.regime.value for s in segs]).value_counts()
    for k, v in counts.items():
        print(f"  {k:<18} {v:>5} bars ({v / len(w):5.1%})  {int(nseg.get(k, 0)):>3} segments")


def main(argv: list[str] | None = None) -> None:
    ap = make_parser(__doc__)
    ap.add_argument("--path", default=None, help="CSV with SPY daily bars; unset: the library's lookup")
    args = ap.parse_args(argv)
    df = load_ohlcv("SPY", path=args.path)
    det = RegimeDetector()
    print(f"SPY {df.index[0].date()} .. {df.index[-1].date()}, {len(df)} bars; config {det.config}")
    labels = det.label(df)
    codes_arr, _ = det.label_codes(df)
    codes = pd.Series(codes_arr, index=df.index)
    _window(labels, "2008-09-01", "2008-12-31", "GFC")
    _window(labels, "2020-02-20", "2020-04-30", "COVID crash")
    _period(labels, codes, "1995-01-01", "2007-12-31")
    _period(labels, codes, "2010-01-01", "2019-12-31")


if __name__ == "__main__":
    sys.exit(run_main(main))

"""Few-shot validation pipeline: does a MAML initialisation adapt to a new regime in fewer steps?

load data -> segment by regime -> meta-train (and train the static baseline)
-> adapt to the regimes of the held-out years -> save results and models.

``--years A-B`` uses Jan 1 of A .. Dec 31 of B: the last two years (B-1, B)
are the held-out evaluation years, the years before are the meta-training
window (its last 20 % of regime segments validate early stopping). History
before A only warms the indicators up. The protocol and its no-look-ahead
guarantees are those of :mod:`maml_strategy.backtest.fewshot`.

It reports the adaptation curve (query MSE and directional accuracy after
0, 1, ..., 10 SGD steps) for MAML and for fine-tuning the static model with the
same steps and learning rate, the step with the minimum query loss for each,
and both methods after 25, 50 and 100 steps. This tests the old prototype's
claim that MAML adapts "in 5-10 steps instead of 50-100".

Outputs in ``--save-results``: ``results.json``, ``curve.csv`` (mean/std over
seeds per step count), ``maml.pt`` and ``static.pt`` (the first seed's models).

Usage::

    python backtests/validate_maml.py                       # SPY, 1995-2007, 3 seeds (~1 min)
    python backtests/validate_maml.py --symbol SPY --data data/SPY.csv --source csv --years 1995-2007 \\
        --meta-epochs 12 --inner-steps 5 --support-size 16 --save-results backtests/results/validate_maml/
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from maml_strategy.cli import make_parser, positive_float, positive_int, run_main
from maml_strategy.data.sources import SOURCES
from maml_strategy.errors import ConfigError

if TYPE_CHECKING:  # torch is imported only after the arguments are validated (see run)
    from maml_strategy.backtest.fewshot import FewShotResult

__all__ = ["main", "build_parser", "parse_years", "CURVE_STEPS", "LONG_STEPS"]

CURVE_STEPS = tuple(range(11))  # the adaptation curve: 0, 1, ..., 10 SGD steps
LONG_STEPS = (25, 50, 100)  # the "50-100 steps" half of the claim
EVAL_YEARS = 2  # last years of --years held out for evaluation
STUDY = Path(__file__).resolve().parents[1] / "strategies" / "fewshot.yaml"  # the few-shot study's settings


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    ap = make_parser(__doc__)
    ap.add_argument("--symbol", default="SPY", help="ticker")
    ap.add_argument("--data", default=None, help="CSV path (Yahoo format); unset: search as load_ohlcv does")
    ap.add_argument("--source", default="auto", help=f"data source: {', '.join(SOURCES)}")
    ap.add_argument("--years", default="1995-2007", help="A-B: train A..B-2, evaluate on B-1..B")
    ap.add_argument("--meta-epochs", type=positive_int, default=None, help="MAML meta-training epochs")
    ap.add_argument("--inner-steps", type=positive_int, default=None, help="MAML inner SGD steps during meta-training")
    ap.add_argument("--support-size", type=positive_int, default=None, help="K support samples per task")
    ap.add_argument("--query-size", type=positive_int, default=None, help="Q query samples per task")
    ap.add_argument("--lr", type=positive_float, default=None, help="inner / fine-tuning SGD step (same for both methods)")
    ap.add_argument("--seeds", type=positive_int, default=3, help="number of seeds (0..N-1)")
    ap.add_argument("--device", default=None, help="torch device (unset: the --config file's, cpu)")
    ap.add_argument("--config", default=str(STUDY),
                    help="the study's settings (YAML); unset flags above take its values")
    ap.add_argument("--save-results", default="backtests/results/validate_maml/", help="output folder")
    return ap


def parse_years(text: str) -> tuple[int, int]:
    """``"1995-2007"`` -> ``(1995, 2007)``; needs at least one training year before the two evaluation years.

    Raises:
        ConfigError: malformed or too short a range.

    Example:
        >>> parse_years("1995-2007")
        (1995, 2007)
    """
    m = re.fullmatch(r"\s*(\d{4})\s*-\s*(\d{4})\s*", str(text))
    if m is None:
        raise ConfigError(f"--years must look like 1995-2007, got {text!r}")
    a, b = int(m.group(1)), int(m.group(2))
    if b - a < EVAL_YEARS:
        raise ConfigError(
            f"--years {a}-{b}: the last {EVAL_YEARS} years are held out, so at least {EVAL_YEARS + 1} years are needed "
            f"(e.g. 1995-2007)"
        )
    return a, b


def _best_step(steps: list[int], loss: list[float], max_step: int | None = None) -> tuple[int, float]:
    """``(step, loss)`` of the lowest loss among ``steps <= max_step`` (first on ties)."""
    pairs = [(st, lo) for st, lo in zip(steps, loss) if max_step is None or st <= max_step]
    i = int(np.argmin([lo for _, lo in pairs]))
    return int(pairs[i][0]), float(pairs[i][1])


def summarise(res: FewShotResult) -> tuple[dict[str, Any], pd.DataFrame]:
    """Mean/std curve table over seeds and the claim-test summary."""
    steps = list(res.runs[0].maml.steps)
    cols: dict[str, Any] = {"steps": steps}
    summary: dict[str, Any] = {}
    short = max(CURVE_STEPS)
    for name, attr in (("maml", "maml"), ("static_ft", "static")):
        curves = [getattr(r, attr) for r in res.runs]
        for metric in ("loss", "accuracy"):
            arr = np.asarray([getattr(c, metric) for c in curves], dtype=np.float64)
            cols[f"{name}_{metric}_mean"], cols[f"{name}_{metric}_std"] = arr.mean(axis=0), arr.std(axis=0)
        mean_loss = [float(v) for v in cols[f"{name}_loss_mean"]]
        b_short, l_short = _best_step(steps, mean_loss, short)
        b_all, l_all = _best_step(steps, mean_loss)
        summary[name] = {
            "best_step_0_10": b_short,
            "best_loss_0_10": l_short,
            "best_step_overall": b_all,
            "best_loss_overall": l_all,
            "loss_at": {st: lo for st, lo in zip(steps, mean_loss) if st in (0, 5, 10, *LONG_STEPS)},
            "best_step_per_seed_0_10": [_best_step(c.steps, c.loss, short)[0] for c in curves],
            "best_step_per_seed_overall": [_best_step(c.steps, c.loss)[0] for c in curves],
        }
    m, s = summary["maml"], summary["static_ft"]
    summary["claim"] = {
        "maml_best_within_5_10_steps": 5 <= m["best_step_0_10"] <= 10,
        "static_needs_50_100_steps": s["best_step_overall"] >= 50,
        "maml_best_0_10_vs_static_best_overall": m["best_loss_0_10"] - s["best_loss_overall"],
        "maml_at_10_minus_static_at_10": m["loss_at"][10] - s["loss_at"][10],
    }
    return summary, pd.DataFrame(cols)


def format_report(res: FewShotResult, summary: dict[str, Any], curve: pd.DataFrame, symbol: str) -> str:
    """Markdown adaptation-curve table plus the claim test in words."""
    d = res.data
    lines = [
        f"Few-shot validation, {symbol}: meta-train {d.train_start.date()}..{d.train_end.date()} "
        f"({len(d.train_segments)} train + {len(d.val_segments)} val segments), evaluate {d.test_start.date()}.."
        f"{d.test_end.date()} ({len(d.test_segments)} segments, {res.n_test_tasks} tasks, K={res.config.maml.support_size}, "
        f"Q={res.config.maml.query_size}), {len(res.runs)} seeds, lr {res.config.maml.inner_lr}; zero-predictor query MSE "
        f"{res.zero_predictor_mse:.4f}",
        "",
        "| steps | MAML query MSE | static FT query MSE | MAML dir. acc % | static FT dir. acc % |",
        "|---:|---:|---:|---:|---:|",
    ]
    for _, r in curve.iterrows():
        lines.append(
            f"| {int(r['steps'])} | {r['maml_loss_mean']:.4f} ± {r['maml_loss_std']:.4f} | "
            f"{r['static_ft_loss_mean']:.4f} ± {r['static_ft_loss_std']:.4f} | "
            f"{100 * r['maml_accuracy_mean']:.1f} ± {100 * r['maml_accuracy_std']:.1f} | "
            f"{100 * r['static_ft_accuracy_mean']:.1f} ± {100 * r['static_ft_accuracy_std']:.1f} |"
        )
    m, s = summary["maml"], summary["static_ft"]
    lines += [
        "",
        f"MAML: minimum mean query MSE within 0-10 steps at step {m['best_step_0_10']} ({m['best_loss_0_10']:.4f}); "
        f"over all evaluated steps at step {m['best_step_overall']} ({m['best_loss_overall']:.4f}); "
        f"per-seed best steps (0-10) {m['best_step_per_seed_0_10']}.",
        f"Static fine-tuning: minimum within 0-10 steps at step {s['best_step_0_10']} ({s['best_loss_0_10']:.4f}); "
        f"over all evaluated steps at step {s['best_step_overall']} ({s['best_loss_overall']:.4f}); "
        f"per-seed best steps (0-10) {s['best_step_per_seed_0_10']}; "
        + ", ".join(f"{k} steps {s['loss_at'][k]:.4f}" for k in LONG_STEPS) + ".",
        f"Claim '5-10 steps instead of 50-100': MAML best within 5-10 steps: {summary['claim']['maml_best_within_5_10_steps']}; "
        f"static needs >= 50 steps for its best: {summary['claim']['static_needs_50_100_steps']}; "
        f"MAML best (0-10) minus static best (any steps) = {summary['claim']['maml_best_0_10_vs_static_best_overall']:+.4f}.",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline for parsed ``args``; returns the results dict (also written to disk)."""
    t_start = time.perf_counter()
    if args.source not in SOURCES:
        raise ConfigError(f"unknown --source {args.source!r}; use one of {', '.join(SOURCES)}")
    a, b = parse_years(args.years)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    # the arguments are valid: only now pay for torch
    from maml_strategy.backtest.fewshot import run_fewshot, study_config
    from maml_strategy.config import config_to_dict
    from maml_strategy.data import load_ohlcv

    train_start, train_end = f"{a}-01-01", f"{b - EVAL_YEARS}-12-31"
    test_start, test_end = f"{b - EVAL_YEARS + 1}-01-01", f"{b}-12-31"
    cfg = study_config(args.config, support_size=args.support_size, query_size=args.query_size,
                       meta_epochs=args.meta_epochs, inner_steps=args.inner_steps, lr=args.lr, device=args.device)
    out_dir = Path(args.save_results)
    df = load_ohlcv(args.symbol, start=None, end=test_end, source=args.source, path=args.data)
    print(f"{args.symbol}: {len(df)} bars {df.index[0].date()} .. {df.index[-1].date()} "
          f"(before {train_start}: indicator warm-up only)")
    res = run_fewshot(df, train_start, train_end, test_start, test_end, cfg, seeds=args.seeds,
                      steps=(*CURVE_STEPS, *LONG_STEPS), log=print)
    summary, curve = summarise(res)
    report = format_report(res, summary, curve, args.symbol)
    print(report)

    out_dir.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out_dir / "curve.csv", index=False, float_format="%.6f")
    first = res.runs[0].learners
    first.maml.save(out_dir / "maml.pt")
    first.static.save(out_dir / "static.pt")
    d = res.data
    results = {
        "args": vars(args),
        "config": config_to_dict(cfg),
        "windows": {"data_start": str(df.index[0].date()), "train": [train_start, train_end], "test": [test_start, test_end]},
        "segments": {
            "train": len(d.train_segments),
            "val": len(d.val_segments),
            "test": [(s.regime.value, str(s.start.date()), s.n_bars) for s in d.test_segments],
            "test_too_short": res.dropped_test_segments,
        },
        "n_test_tasks": res.n_test_tasks,
        "zero_predictor_mse": res.zero_predictor_mse,
        "summary": summary,
        "curve": curve.to_dict(orient="list"),
        "runs": [r.to_dict() for r in res.runs],
        "models": {"maml": "maml.pt", "static": "static.pt", "seed": first.seed},
        "report_markdown": report,
        "elapsed_s": time.perf_counter() - t_start,
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote results.json, curve.csv, maml.pt, static.pt to {out_dir} ({results['elapsed_s']:.0f}s)")
    return results


def _main(argv: list[str] | None = None) -> int:
    run(build_parser().parse_args(argv))
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 bad input: one ``error: ...`` line on stderr)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

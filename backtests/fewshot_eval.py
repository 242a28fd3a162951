"""Few-shot evaluation on SPY: MAML initialisation vs. a static network.

Thin CLI over :mod:`maml_strategy.backtest.fewshot` (the protocol and its
no-look-ahead guarantees are documented there). Defaults: train 1995-2005,
test 2006-2007; for 0, 1, 5, 10 SGD steps on the support set (same learning
rate for all): query MSE and directional accuracy of (a) MAML, (b) static
fine-tuned, (c) static unadapted; mean +- std over seeds.

Usage::

    python backtests/fewshot_eval.py    # ~15 s per seed on 2 cores
    python backtests/fewshot_eval.py --seeds 10 --meta-epochs 40 --out backtests/results/fewshot/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from maml_strategy.cli import error, iso_date, make_parser, non_negative_int, positive_float, positive_int, run_main

if TYPE_CHECKING:  # torch is imported only after the arguments are validated (see _main)
    from maml_strategy.backtest.fewshot import FewShotResult

__all__ = ["main", "build_parser", "format_table"]

STUDY = Path(__file__).resolve().parents[1] / "strategies" / "fewshot.yaml"  # the published table's settings


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (the default --config reproduces the published table)."""
    ap = make_parser(__doc__)
    ap.add_argument("--symbol", default="SPY", help="ticker (ignored with --universe)")
    ap.add_argument("--universe", help="meta-train and evaluate across a universe: a directory of CSVs, a YAML list "
                    "or 'SPY,QQQ' (tasks are (symbol, regime segment) pairs)")
    ap.add_argument("--price-basis", choices=("total", "close"), default="total",
                    help="total: dividends credited via Adj Close; close: prices as in the files")
    ap.add_argument("--train-start", type=iso_date, default="1995-01-01", help="first meta-training day")
    ap.add_argument("--train-end", type=iso_date, default="2005-12-31", help="last meta-training day")
    ap.add_argument("--test-start", type=iso_date, default="2006-01-01", help="first evaluation day (after --train-end)")
    ap.add_argument("--test-end", type=iso_date, default="2007-12-31", help="last evaluation day")
    ap.add_argument("--seeds", type=positive_int, default=5, help="number of seeds (0..N-1)")
    ap.add_argument("--meta-epochs", type=positive_int, default=None, help="MAML meta-epochs (early stopping)")
    ap.add_argument("--steps-per-epoch", type=positive_int, default=None, help="MAML meta-batches per epoch")
    ap.add_argument("--static-epochs", type=positive_int, default=None, help="static model: maximum epochs")
    ap.add_argument("--patience", type=positive_int, default=None, help="early-stopping patience of both models")
    ap.add_argument("--support-size", type=positive_int, default=None,
                    help="K (2006-07 regime segments are short: 22-127 bars)")
    ap.add_argument("--query-size", type=positive_int, default=None, help="Q query samples per task")
    ap.add_argument("--horizon", type=non_negative_int, default=None, help="label horizon in bars")
    ap.add_argument("--inner-steps", type=positive_int, default=None, help="MAML inner SGD steps during meta-training")
    ap.add_argument("--lr", type=positive_float, default=None, help="inner / fine-tuning SGD step (same for all methods)")
    ap.add_argument("--outer-lr", type=positive_float, default=None, help="MAML meta-update (Adam) step")
    ap.add_argument("--hidden-dim", type=positive_int, default=None, help="head width")
    ap.add_argument("--min-segment", type=positive_int, default=None, help="drop regime segments shorter than this")
    ap.add_argument("--first-order", action="store_true", default=None,
                    help="first-order MAML (unset: the --config file's value, as for every flag above)")
    ap.add_argument("--config", default=str(STUDY),
                    help="the study's settings (YAML); the flags above override single values")
    ap.add_argument("--steps", type=non_negative_int, nargs="+", default=[0, 1, 5, 10],
                    help="adaptation steps to report")
    ap.add_argument("--progress", action="store_true", help="show MAML's progress bar")
    ap.add_argument("--out", default="backtests/results/fewshot/", help="output folder")
    return ap


def _fmt(vals: list[float], pct: bool = False) -> str:
    m, s = float(np.mean(vals)), float(np.std(vals))
    return f"{100 * m:.1f} ± {100 * s:.1f}" if pct else f"{m:.4f} ± {s:.4f}"


def _legacy_run(run: Any, steps: list[int]) -> dict[str, Any]:
    """One seed in the JSON layout of the original script (``results['maml@5'] = [mse, acc]``)."""
    out = {**run.learners.summary(), "results": {}}
    for s in steps:
        out["results"][f"maml@{s}"] = run.maml.at(s)
        out["results"][f"static_ft@{s}"] = run.static.at(s)
    out["results"]["static_unadapted"] = run.static.at(0)
    return out


def format_table(res: FewShotResult, runs: list[dict[str, Any]], steps: list[int], symbol: str) -> str:
    """Markdown tables of query MSE and directional accuracy (mean ± std over seeds)."""
    d, cfg = res.data, res.config
    rows = [("(a) MAML init + adapt", "maml@{}"), ("(b) static + fine-tune", "static_ft@{}"), ("(c) static, unadapted", "static_unadapted")]
    lines = [f"Few-shot evaluation, {symbol}: train {d.train_start.year}-{d.train_end.year}, test {d.test_start.year}-"
             f"{d.test_end.year}, {res.n_test_tasks} test tasks, {len(runs)} seeds, lr {cfg.maml.inner_lr}; zero-predictor query MSE "
             f"{res.zero_predictor_mse:.4f}", ""]
    for metric, j, pct in (("query MSE", 0, False), ("directional accuracy %", 1, True)):
        lines.append(f"| {metric} | " + " | ".join(f"{s} steps" for s in steps) + " |")
        lines.append("|---|" + "---:|" * len(steps))
        for label, key in rows:
            cells = [_fmt([r["results"][key.format(s)][j] for r in runs], pct) for s in steps]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _main(argv: list[str] | None = None) -> dict[str, Any]:
    """Prints a markdown table and writes ``fewshot_<symbol>.json`` to ``--out``."""
    args = build_parser().parse_args(argv)
    if not args.train_start < args.train_end < args.test_start <= args.test_end:
        error(f"the windows must be in order, train-start < train-end < test-start <= test-end; got "
              f"{args.train_start} < {args.train_end} < {args.test_start} <= {args.test_end}",
              flag="--train-start/--train-end/--test-start/--test-end")
    # the arguments are valid: only now pay for torch
    from maml_strategy.backtest.fewshot import run_fewshot, study_config
    from maml_strategy.config import config_to_dict
    from maml_strategy.data import load_ohlcv, load_universe

    t_start = time.perf_counter()
    cfg = study_config(
        args.config, support_size=args.support_size, query_size=args.query_size, horizon=args.horizon,
        min_segment=args.min_segment, hidden_dim=args.hidden_dim, meta_epochs=args.meta_epochs,
        steps_per_epoch=args.steps_per_epoch, inner_steps=args.inner_steps, lr=args.lr, outer_lr=args.outer_lr,
        first_order=args.first_order, static_epochs=args.static_epochs, patience=args.patience,
    )
    # the original read an unlimited history ending at the test end: features need the warm-up before train_start
    adjust = "total" if args.price_basis == "total" else "none"
    if args.universe:
        df = load_universe(args.universe, None, args.test_end, adjust=adjust)
        args.symbol = f"{len(df)}-symbol universe"
    else:
        df = load_ohlcv(args.symbol, end=args.test_end, adjust=adjust)
    steps = sorted(set(args.steps) | {0})
    res = run_fewshot(df, args.train_start, args.train_end, args.test_start, args.test_end, cfg,
                      seeds=args.seeds, steps=steps, log=print, progress=args.progress)
    runs = [_legacy_run(r, args.steps) for r in res.runs]
    table = format_table(res, runs, args.steps, args.symbol)
    print(table)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "args": vars(args),
        "config": config_to_dict(cfg),
        "n_test_tasks": res.n_test_tasks,
        "test_segments": [(s.regime.value, str(s.start.date()), s.n_bars) for s in res.data.test_segments],
        "zero_predictor_mse": res.zero_predictor_mse,
        "runs": runs,
        "table_markdown": table,
        "elapsed_s": time.perf_counter() - t_start,
    }
    path = out_dir / ("fewshot_universe.json" if args.universe else f"fewshot_{args.symbol.lower()}.json")
    path.write_text(json.dumps(summary, indent=2, default=str))
    print(f"wrote {path} ({summary['elapsed_s']:.0f}s)")
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 bad input: one ``error: ...`` line on stderr)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

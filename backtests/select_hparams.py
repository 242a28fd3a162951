#!/usr/bin/env python
"""Choose MAML settings on the VALIDATION years only (the test window is never loaded).

    python backtests/select_hparams.py --period 2008 --seeds 2

Loads data up to the period's training end, trains each candidate (one change
from the defaults at a time), and scores the MAML initialisation after
adaptation on every validation-year task (query MSE, directional accuracy),
next to the static model fine-tuned with the same steps and learning rate.
Writes backtests/results/select_<period>_s<seeds>_stride<stride>.json and prints a table.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from maml_strategy.cli import error, make_parser, positive_int, run_main

HERE = Path(__file__).resolve().parent

# One change at a time from strategies/maml_regime.yaml + the library defaults.
CANDIDATES: dict[str, dict[str, dict[str, object]]] = {
    "default": {},
    "support_from_previous_regime": {"tasks": {"support_from_previous_regime": True}},
    "first_order": {"maml": {"first_order": True}},
    "meta_sgd": {"maml": {"learn_inner_lr": True}},
    "hidden_32": {"model": {"hidden_dim": 32}},
    "inner_lr_0.03": {"maml": {"inner_lr": 0.03}},
    "inner_steps_10": {"maml": {"inner_steps": 10}},
    "outer_lr_3e-4": {"maml": {"outer_lr": 3e-4}},
    "weight_decay_1e-3": {"maml": {"weight_decay": 1e-3}},
    "huber_loss": {"maml": {"loss": "huber"}, "static": {"loss": "huber"}},
    "support_16": {"maml": {"support_size": 16, "query_size": 8}},
}


def _apply(cfg, changes):
    for section, values in changes.items():
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **values)})
    return cfg


def build_parser():
    """Command-line options."""
    ap = make_parser(__doc__)
    ap.add_argument("--period", default="2008", help="a period of backtests/periods.yaml (its test window is never loaded)")
    ap.add_argument("--symbol", default="SPY", help="ticker")
    ap.add_argument("--seeds", type=positive_int, default=2, help="number of seeds (0..N-1)")
    ap.add_argument("--only", nargs="*", help=f"candidate names to run; unset: all of {', '.join(CANDIDATES)}")
    ap.add_argument("--stride", type=positive_int, default=4,
                    help="bars between consecutive validation support blocks (smaller = more, overlapping tasks)")
    ap.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"), help="base YAML config")
    return ap


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from maml_strategy.backtest.periods import load_periods  # no torch: validate before paying for it

    periods = load_periods(HERE / "periods.yaml")
    if args.period not in periods:
        error(f"unknown period {args.period!r}; use one of {', '.join(periods)} (backtests/periods.yaml)", flag="--period")
    unknown = sorted(set(args.only or ()) - set(CANDIDATES))
    if unknown:
        error(f"unknown candidate(s) {', '.join(unknown)}; use any of {', '.join(CANDIDATES)}", flag="--only")
    if not Path(args.config).is_file():
        error(f"no such file {args.config!r}; pass a YAML like strategies/maml_regime.yaml", flag="--config")

    from maml_strategy.backtest.fewshot import evaluate_learner
    from maml_strategy.backtest.train import prepare_training, train_models

    def score(learner, batch, steps=None, lr=None) -> dict[str, float]:
        mse, acc = evaluate_learner(learner, batch, steps, lr)
        return {"mse": mse, "dir_acc": acc, "tasks": len(batch)}
    from maml_strategy.config import load_config
    from maml_strategy.data import load_ohlcv

    period = periods[args.period]
    df = load_ohlcv(args.symbol, None, period.train_end)  # the test window is never loaded
    base = load_config(args.config)
    rows = {}
    eval_batches: dict[int, object] = {}
    for name, changes in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        cfg = _apply(base, changes)
        scores = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            models = train_models(df, cfg, period, seed=seed, cache_dir=HERE / "cache")
            # every candidate is scored on the same validation tasks: those of the base config
            if seed not in eval_batches:
                eval_batches[seed] = prepare_training(df, base, period, seed=seed).val_sampler.enumerate_tasks(
                    stride=args.stride)
            batch = eval_batches[seed]
            steps, lr = models.maml.config.inner_steps, models.maml.config.inner_lr
            m = score(models.maml, batch)
            s = score(models.static, batch, steps=steps, lr=lr)
            s0 = score(models.static, batch, steps=0)
            scores.append({"maml": m, "static_finetune": s, "static": s0, "seconds": time.perf_counter() - t0})
        agg = {k: {m: float(np.mean([sc[k][m] for sc in scores])) for m in ("mse", "dir_acc")}
               for k in ("maml", "static_finetune", "static")}
        rows[name] = {"changes": changes, "mean": agg, "per_seed": scores}
        print(f"{name:24s} maml mse {agg['maml']['mse']:.4f} acc {agg['maml']['dir_acc']:.3f} | "
              f"static+ft mse {agg['static_finetune']['mse']:.4f} acc {agg['static_finetune']['dir_acc']:.3f} | "
              f"static mse {agg['static']['mse']:.4f} ({scores[0]['seconds']:.0f}s/seed)", flush=True)
    out = HERE / "results" / f"select_{args.period}_s{args.seeds}_stride{args.stride}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    best = min(rows, key=lambda k: rows[k]["mean"]["maml"]["mse"])
    print(f"best by validation MAML query MSE: {best}; wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 bad input: one ``error: ...`` line on stderr)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

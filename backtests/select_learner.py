#!/usr/bin/env python
"""Choose the learner's settings on VALIDATION years only, across the universe.

    python backtests/select_learner.py --executor ray --workers 2

Each candidate is one change from ``--config`` (strategies/maml_regime.yaml). For
each, the universe walk-forward runs over the validation years only (default
2006-2007, models trained on the 10 years before each; data are loaded up to
``--last``, so no later year is ever read) with every control. Trading-only
candidates reuse the trained models (the model cache key ignores the trading
section).

Selection rule, fixed before any run: the candidate with the largest
**margin** = MAML's mean Sharpe minus the best mean Sharpe among static, naive
fine-tuning, regime_rule, sma200 and buy-and-hold over the validation
symbol-years (the issue's goal, measured on validation years). The table also
shows MAML's validation IC (adapted predictions) with its 95 % interval.

Writes ``--out``/<candidate>/summary.json, ``--out``/selection.json and
``--out``/validation.md (the table; docs/VALIDATION.md holds the committed copy).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from maml_strategy.cli import error, make_parser, run_main

HERE = Path(__file__).resolve().parent

#: one change at a time from the base config; "trading" changes reuse the trained models
CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    "adapt_1_step": {"trading": {"adapt_steps": 1}},
    "no_adaptation": {"trading": {"adapt_steps": 0}},
    "flat_in_bear_regimes": {"trading": {"flat_regimes": ["bear_low_vol", "bear_high_vol", "sideways_high_vol"]}},
    "horizon_20": {"features": {"horizon": 20}},
    "horizon_1": {"features": {"horizon": 1}},
    "meta_sgd_first_order": {"maml": {"first_order": True, "learn_inner_lr": True}},
    # second round, run after the first test tables (see docs/VALIDATION.md)
    "weight_decay_1e-3": {"maml": {"weight_decay": 1e-3}},
    "support_from_previous_regime": {"tasks": {"support_from_previous_regime": True}},
    "huber_loss": {"maml": {"loss": "huber"}, "static": {"loss": "huber"}},
    "min_signal_0.25": {"trading": {"min_signal": 0.25}},
}
CONTROLS = ("static", "naive_finetune", "regime_rule", "sma200", "buy_and_hold")


def merge(base: dict[str, Any], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``base`` with each section updated by ``changes`` (a new dict)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, values in changes.items():
        out[section] = {**out.get(section, {}), **values}
    return out


def score(summary: dict[str, Any]) -> dict[str, Any]:
    """The selection margin and the numbers shown next to it."""
    agg = summary["aggregate"]
    best_control = max((c for c in CONTROLS if c in agg), key=lambda c: agg[c]["mean_sharpe"])
    skill = summary.get("skill", {}).get("maml", {})
    return {
        "margin": agg["maml"]["mean_sharpe"] - agg[best_control]["mean_sharpe"],
        "best_control": best_control,
        "maml_sharpe": agg["maml"]["mean_sharpe"],
        "maml_return": agg["maml"]["mean_return"],
        "maml_exposure": agg["maml"]["mean_exposure"],
        "control_sharpe": {c: agg[c]["mean_sharpe"] for c in CONTROLS if c in agg},
        "ic": (skill.get("ic") or {}).get("mean"), "ic_ci95": (skill.get("ic") or {}).get("ci95"),
    }


def table(rows: dict[str, dict[str, Any]], chosen: str, years: str) -> str:
    """Markdown table of every candidate's validation scores."""
    lines = [f"Validation years {years}; mean over symbol-years. margin = MAML Sharpe - best control's.", "",
             "| candidate | change | MAML Sharpe | margin | best control | MAML return | exposure | IC (95 % CI) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        ic = "n/a" if r["ic"] is None else f"{r['ic']:+.3f}" + (
            f" ({r['ic_ci95'][0]:+.3f}, {r['ic_ci95'][1]:+.3f})" if r.get("ic_ci95") else "")
        change = json.dumps(CANDIDATES[name]) if CANDIDATES[name] else "-"
        mark = " **(chosen)**" if name == chosen else ""
        lines.append(f"| {name}{mark} | `{change}` | {r['maml_sharpe']:.2f} | {r['margin']:+.2f} | "
                     f"{r['best_control']} {r['control_sharpe'][r['best_control']]:.2f} | "
                     f"{100 * r['maml_return']:+.1f} % | {r['maml_exposure']:.2f} | {ic} |")
    return "\n".join(lines) + "\n"


def _main(argv: list[str] | None = None) -> int:
    ap = make_parser(__doc__)
    ap.add_argument("--universe", default="../shared/data/universe", help="validation universe (walk_forward.py --universe)")
    ap.add_argument("--first", type=int, default=2006, help="first validation year")
    ap.add_argument("--last", type=int, default=2007, help="last validation year (no later data is read)")
    ap.add_argument("--train-years", type=int, default=10, help="training years before each validation year")
    ap.add_argument("--only", nargs="*", help=f"candidates to run (default all: {', '.join(CANDIDATES)})")
    ap.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"), help="base YAML config")
    ap.add_argument("--executor", choices=("local", "ray"), default="local")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--cache-dir", default=str(HERE / "cache"))
    ap.add_argument("--out", default=str(HERE / "results" / "select_learner"))
    args = ap.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(CANDIDATES))
    if unknown:
        error(f"unknown candidate(s) {', '.join(unknown)}; use any of {', '.join(CANDIDATES)}", flag="--only")
    if not Path(args.config).is_file():
        error(f"no such file {args.config!r}", flag="--config")
    if args.first > args.last:
        error(f"{args.first} is after --last {args.last}", flag="--first")
    base = yaml.safe_load(Path(args.config).read_text()) or {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import walk_forward  # backtests/ is on sys.path when this script runs

    rows: dict[str, dict[str, Any]] = {}
    for name, changes in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        folder = out / name
        folder.mkdir(exist_ok=True)
        cfg_path = folder / "config.yaml"
        if not (folder / "summary.json").is_file():  # a finished candidate keeps the config it ran with
            cfg_path.write_text(yaml.safe_dump(merge(base, changes), sort_keys=False))
            wf = ["--universe", args.universe, "--first", str(args.first), "--last", str(args.last),
                  "--train-years", str(args.train_years), "--config", str(cfg_path), "--executor", args.executor,
                  "--cache-dir", args.cache_dir, "--out", str(folder), "--quiet"]
            if args.workers:
                wf += ["--workers", str(args.workers)]
            code = walk_forward.main(wf)
            if code:
                return code
        rows[name] = score(json.loads((folder / "summary.json").read_text()))
        print(f"{name:22s} MAML Sharpe {rows[name]['maml_sharpe']:.3f} margin {rows[name]['margin']:+.3f} "
              f"(best control {rows[name]['best_control']})", flush=True)
    chosen = max(rows, key=lambda k: rows[k]["margin"])
    years = f"{args.first}-{args.last}"
    (out / "selection.json").write_text(json.dumps({"chosen": chosen, "rule": "max margin", "years": years,
                                                    "candidates": rows}, indent=1))
    (out / "validation.md").write_text(table(rows, chosen, years))
    print("\n" + table(rows, chosen, years))
    print(f"chosen: {chosen}; wrote {out / 'selection.json'} and {out / 'validation.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (0 ok, 2 bad input)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

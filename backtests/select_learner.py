#!/usr/bin/env python
"""Choose settings on VALIDATION years only, across the universe, one round at a time.

    python backtests/select_learner.py --round label --executor ray --workers 2

Each candidate of a round is one change from ``--config`` (strategies/maml_regime.yaml).
For each, the universe walk-forward runs over the validation years only (default
2006-2007, models trained on the 10 years before each; data are loaded up to
``--last``, so no later year is ever read) with every control. Trading-only
candidates reuse the trained models (the model cache key ignores the trading section).

Selection rules, each fixed before its round ran (docs/VALIDATION.md):

* ``learner`` (rounds 1-2): the largest **margin** = MAML's mean Sharpe minus the best
  mean Sharpe among static, naive fine-tuning, regime_rule, sma200 and buy-and-hold.
* ``label`` and ``position``: the largest MAML **mean alpha** against buy-and-hold (ties
  within 0.001 go to the higher ``resid_ic`` for ``label``, to the earlier row for ``position``).
* ``adaptation``: the largest **adaptation gain in alpha** (MAML minus MAML with adaptation
  off, paired by symbol-year), ties within 0.001 broken by the adaptation gain in IC.

Writes ``--out``/<round>/<candidate>/summary.json, ``selection.json`` and ``validation.md``
(the table; docs/VALIDATION.md holds the committed copy).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from maml_strategy.atomic import atomic_write
from maml_strategy.cli import error, make_parser, run_main

HERE = Path(__file__).resolve().parent

#: one change at a time from the base config; "trading" changes reuse the trained models
LEARNER_CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
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
#: the training label (issue 19), base = strategies/maml_regime.yaml
LABEL_CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "close": {"features": {"label": "close"}},
    "tradable": {"features": {"label": "tradable"}},
}
#: the adaptation (issue 21), base = the config after the label round
ADAPTATION_CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "all_params_1_step": {},
    "no_adaptation": {"trading": {"adapt_steps": 0}},
    "head_only": {"maml": {"adapt_scope": "head"}},
    "bias_only": {"maml": {"adapt_scope": "bias"}},
    "proximal_1": {"maml": {"proximal": 1.0}},
    "meta_sgd": {"maml": {"learn_inner_lr": True}},
    "five_steps": {"trading": {"adapt_steps": 5}},
    "support_16": {"maml": {"support_size": 16}},
    "readapt_every_21": {"trading": {"readapt_every": 21}},
}
#: the position mode (issue 20), base = the config after the adaptation round; grid fixed in docs/VALIDATION.md
POSITION_CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "sign": {"trading": {"position_mode": "sign"}},
    "rank": {"trading": {"position_mode": "rank"}},
    "overlay_0.5_0.25": {"trading": {"position_mode": "overlay", "overlay_base": 0.5, "overlay_k": 0.25}},
    "overlay_0.5_0.5": {"trading": {"position_mode": "overlay", "overlay_base": 0.5, "overlay_k": 0.5}},
    "vol_target_sign": {"trading": {"position_mode": "vol_target", "vol_target": 0.15, "vol_target_base": "sign"}},
    "vol_target_rank": {"trading": {"position_mode": "vol_target", "vol_target": 0.15, "vol_target_base": "rank"}},
}
#: round -> (candidates, the score it maximises)
ROUNDS: dict[str, tuple[dict[str, dict[str, dict[str, Any]]], str]] = {
    "learner": (LEARNER_CANDIDATES, "margin"),
    "label": (LABEL_CANDIDATES, "alpha"),
    "adaptation": (ADAPTATION_CANDIDATES, "alpha_gain"),
    "position": (POSITION_CANDIDATES, "alpha"),
}
CANDIDATES = LEARNER_CANDIDATES  # the first rounds' grid (kept for their table)
CONTROLS = ("static", "naive_finetune", "regime_rule", "sma200", "buy_and_hold")
TIE = 0.001  # scores closer than this are ties


def merge(base: dict[str, Any], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``base`` with each section updated by ``changes`` (a new dict)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, values in changes.items():
        out[section] = {**out.get(section, {}), **values}
    return out


def _mean(d: Any) -> float | None:
    return d.get("mean") if isinstance(d, dict) else d


def score(summary: dict[str, Any]) -> dict[str, Any]:
    """Every round's selection score and the numbers shown next to it."""
    agg = summary["aggregate"]
    best_control = max((c for c in CONTROLS if c in agg), key=lambda c: agg[c]["mean_sharpe"])
    skill = summary.get("skill", {}).get("maml", {})
    gain = skill.get("adaptation_gain") or {}
    return {
        "margin": agg["maml"]["mean_sharpe"] - agg[best_control]["mean_sharpe"],
        "best_control": best_control,
        "maml_sharpe": agg["maml"]["mean_sharpe"],
        "maml_return": agg["maml"]["mean_return"],
        "maml_exposure": agg["maml"]["mean_exposure"],
        "control_sharpe": {c: agg[c]["mean_sharpe"] for c in CONTROLS if c in agg},
        "ic": (skill.get("ic") or {}).get("mean"), "ic_ci95": (skill.get("ic") or {}).get("ci95"),
        "alpha": agg["maml"].get("alpha"), "alpha_ci95": agg["maml"].get("alpha_ci95"),
        "ts_ic": _mean(skill.get("ts_ic")), "resid_ic": _mean(skill.get("resid_ic")),
        "alpha_gain": _mean(gain.get("alpha")), "alpha_gain_ci95": (gain.get("alpha") or {}).get("ci95"),
        "ic_gain": _mean(gain.get("ic")), "ic_gain_ci95": (gain.get("ic") or {}).get("ci95"),
    }


def choose(rows: dict[str, dict[str, Any]], round_: str) -> str:
    """The candidate the round's rule picks (rows in grid order; see the module docstring)."""
    key = ROUNDS[round_][1]
    if key == "margin":
        return max(rows, key=lambda k: rows[k]["margin"])
    val = {k: (r[key] if r[key] is not None else -float("inf")) for k, r in rows.items()}
    top = max(val.values())
    tied = [k for k in rows if val[k] >= top - TIE]  # grid order
    if len(tied) == 1 or round_ == "position":
        return tied[0]
    tie_key = "ic_gain" if round_ == "adaptation" else "resid_ic"
    return max(tied, key=lambda k: rows[k][tie_key] if rows[k][tie_key] is not None else -float("inf"))


def _fmt(v: float | None, ci: Any = None, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    f = (lambda x: f"{100 * x:+.1f} %") if pct else (lambda x: f"{x:+.3f}")
    return f(v) + (f" ({f(ci[0])}, {f(ci[1])})" if ci else "")


def table(rows: dict[str, dict[str, Any]], chosen: str, years: str, round_: str = "learner") -> str:
    """Markdown table of every candidate's validation scores."""
    grid = ROUNDS[round_][0]
    if round_ == "learner":
        lines = [f"Validation years {years}; mean over symbol-years. margin = MAML Sharpe - best control's.", "",
                 "| candidate | change | MAML Sharpe | margin | best control | MAML return | exposure | IC (95 % CI) |",
                 "|---|---|---|---|---|---|---|---|"]
    else:
        lines = [f"Validation years {years}; mean over symbol-years; rule: largest {ROUNDS[round_][1]}.", "",
                 "| candidate | change | MAML alpha (95 % CI) | adaptation gain: alpha | adaptation gain: IC | "
                 "ts IC | IC beyond factors | Sharpe | return | exposure |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        change = json.dumps(grid[name]) if grid[name] else "-"
        mark = " **(chosen)**" if name == chosen else ""
        if round_ == "learner":
            lines.append(f"| {name}{mark} | `{change}` | {r['maml_sharpe']:.2f} | {r['margin']:+.2f} | "
                         f"{r['best_control']} {r['control_sharpe'][r['best_control']]:.2f} | "
                         f"{100 * r['maml_return']:+.1f} % | {r['maml_exposure']:.2f} | {_fmt(r['ic'], r.get('ic_ci95'))} |")
        else:
            lines.append(f"| {name}{mark} | `{change}` | {_fmt(r.get('alpha'), r.get('alpha_ci95'), True)} | "
                         f"{_fmt(r.get('alpha_gain'), r.get('alpha_gain_ci95'), True)} | "
                         f"{_fmt(r.get('ic_gain'), r.get('ic_gain_ci95'))} | {_fmt(r.get('ts_ic'))} | "
                         f"{_fmt(r.get('resid_ic'))} | {r['maml_sharpe']:.2f} | {100 * r['maml_return']:+.1f} % | "
                         f"{r['maml_exposure']:.2f} |")
    return "\n".join(lines) + "\n"


def _main(argv: list[str] | None = None) -> int:
    ap = make_parser(__doc__)
    ap.add_argument("--universe", default="../shared/data/universe", help="validation universe (walk_forward.py --universe)")
    ap.add_argument("--first", type=int, default=2006, help="first validation year")
    ap.add_argument("--last", type=int, default=2007, help="last validation year (no later data is read)")
    ap.add_argument("--train-years", type=int, default=10, help="training years before each validation year")
    ap.add_argument("--round", dest="round_", choices=tuple(ROUNDS), default="learner",
                    help="which grid and rule (module docstring)")
    ap.add_argument("--only", nargs="*", help="candidates of the round to run (default all)")
    ap.add_argument("--config", default=str(HERE.parent / "strategies" / "maml_regime.yaml"), help="base YAML config")
    ap.add_argument("--executor", choices=("local", "ray"), default="local")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--cache-dir", default=str(HERE / "cache"))
    ap.add_argument("--out", default=str(HERE / "results" / "select_learner"))
    args = ap.parse_args(argv)
    grid = ROUNDS[args.round_][0]
    unknown = sorted(set(args.only or ()) - set(grid))
    if unknown:
        error(f"unknown candidate(s) {', '.join(unknown)}; use any of {', '.join(grid)}", flag="--only")
    if not Path(args.config).is_file():
        error(f"no such file {args.config!r}", flag="--config")
    if args.first > args.last:
        error(f"{args.first} is after --last {args.last}", flag="--first")
    base = yaml.safe_load(Path(args.config).read_text()) or {}
    out = Path(args.out) if args.round_ == "learner" else Path(args.out) / args.round_
    out.mkdir(parents=True, exist_ok=True)

    import walk_forward  # backtests/ is on sys.path when this script runs

    rows: dict[str, dict[str, Any]] = {}
    for name, changes in grid.items():
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
        r = rows[name]
        print(f"{name:22s} MAML Sharpe {r['maml_sharpe']:.3f} margin {r['margin']:+.3f} alpha {_fmt(r['alpha'])} "
              f"alpha gain {_fmt(r['alpha_gain'])} IC gain {_fmt(r['ic_gain'])}", flush=True)
    chosen = choose(rows, args.round_)
    years = f"{args.first}-{args.last}"
    text = table(rows, chosen, years, args.round_)
    atomic_write(out / "selection.json", json.dumps({"chosen": chosen, "rule": f"max {ROUNDS[args.round_][1]}",
                                                          "round": args.round_, "years": years, "candidates": rows},
                                                         indent=1))
    atomic_write(out / "validation.md", text)
    print("\n" + text)
    print(f"chosen: {chosen}; wrote {out / 'selection.json'} and {out / 'validation.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (0 ok, 2 bad input)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

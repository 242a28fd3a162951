"""The walk-forward's driver side: the cache, the object-store handles and the three task stages.

Only the driver reads and writes the cache folder. Each stage looks up every entry it
needs; the missing ones become tasks (:mod:`~maml_strategy.backtest.walkforward`), whose
results the driver publishes into the cache as they arrive (one atomic rename each, see
:mod:`maml_strategy.atomic`) and hands on to the next stage through the executor's
object store. Used by :func:`~maml_strategy.backtest.walkforward.run_walk_forward`.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from maml_strategy.atomic import CacheWarning, entry_ok, read_json_entry, write_entry, write_json_entry
from maml_strategy.backtest.executors import Executor
from maml_strategy.backtest.walkforward import (MODEL_FILES, BacktestTask, FeatureTask, TrainTask, WalkForwardPlan,
                                                _frame_digest, _hash, _read_only, backtest_task, feature_folder,
                                                feature_task, models_from_files, read_features, train_task,
                                                window_period, write_features)
from maml_strategy.config import KINDS, StrategyConfig, config_to_dict
from maml_strategy.dataset import SymbolFeatures
from maml_strategy.errors import ConfigError, ModelError

__all__ = ["DriverRun", "feature_stage", "train_stage", "backtest_stage"]


@dataclass
class DriverRun:
    """The driver's state: the executor, the cache folder, the loaded frames and their object-store handles."""

    cfg: StrategyConfig
    executor: Executor
    cache: Path
    progress: bool
    say: Callable[[str], None]
    frames: dict[str, pd.DataFrame]
    frame_h: dict[str, Any] = field(default_factory=dict)
    feature_h: dict[str, Any] = field(default_factory=dict)
    model_h: dict[tuple[int, int], Any] = field(default_factory=dict)


def feature_stage(run: DriverRun) -> None:
    """Every symbol's features: from the cache (memory-mapped) or computed by feature tasks, then put once each."""
    folders = {s: feature_folder(run.cache, s, df, run.cfg) for s, df in run.frames.items()}
    missing = []
    for s, folder in folders.items():
        sf = read_features(folder, s, run.frames[s].index, run.cfg)  # a defective entry: one warning, recomputed
        if sf is None:
            missing.append(s)
        else:
            run.feature_h[s] = run.executor.put(sf)

    def publish(i: int, sf: SymbolFeatures) -> None:
        write_features(folders[missing[i]], sf)
        run.feature_h[missing[i]] = run.executor.put(_read_only(sf))

    run.say(f"features: {len(folders) - len(missing)} symbol(s) from the cache, {len(missing)} to compute")
    run.executor.map(feature_task, [(FeatureTask(s, run.frame_h[s], run.cfg),) for s in missing], desc="features",
                     progress=run.progress, on_result=publish)


def _cached_models(folder: Path, key: str) -> dict[str, bytes] | None:
    """The files of an intact model cache entry that loads (None: missing, or defective with one warning)."""
    from maml_strategy.backtest.train import _entry_files

    if not entry_ok(folder, _entry_files()):
        return None
    try:
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name in MODEL_FILES}
        models_from_files(files, key)
    except (ModelError, OSError, ValueError) as exc:
        warnings.warn(f"cache entry {folder} does not load ({' '.join(str(exc).split())}); retraining", CacheWarning,
                      stacklevel=2)
        return None
    return files


def _train_info(year: int, seed: int, key: str, folder: Path, files: dict[str, bytes], cached: bool, seconds: float,
                n_symbols: int) -> dict[str, Any]:
    hist = json.loads(files["history.json"])
    return {"year": year, "seed": seed, "key": key, "folder": str(folder), "cached": cached, "seconds": seconds,
            "maml_best_epoch": (hist.get("maml") or {}).get("best_epoch"),
            "static_best_epoch": (hist.get("static") or {}).get("best_epoch"), "symbols": n_symbols}


def train_stage(run: DriverRun, plan: WalkForwardPlan) -> list[dict[str, Any]]:
    """Every (window, seed)'s models: from the cache or trained by train tasks; the driver writes each entry."""
    from maml_strategy.backtest.train import cache_key
    from maml_strategy.learners import LEARNERS

    gbdt = LEARNERS["gbdt"].available()

    infos: list[dict[str, Any] | None] = []
    tasks: list[TrainTask] = []
    slots: list[tuple[int, Path, int]] = []
    train_syms = [r[0] for r in plan.train_symbols]
    for y in plan.years:
        period = window_period(y, plan.train_years)
        frames = {s: run.frames[s] for s in train_syms if run.frames[s].index[0] < period.train_end}
        for seed in plan.seeds:
            t0 = time.perf_counter()
            key = cache_key(frames, run.cfg, period, seed)
            folder = run.cache / key
            files = _cached_models(folder, key)
            if files is not None:
                run.model_h[(y, seed)] = run.executor.put(files)
                infos.append(_train_info(y, seed, key, folder, files, True, round(time.perf_counter() - t0, 1),
                                         len(frames)))
                continue
            slots.append((len(infos), folder, len(frames)))
            infos.append(None)
            tasks.append(TrainTask(y, plan.train_years, seed, {s: run.frame_h[s] for s in frames},
                                   {s: run.feature_h[s] for s in frames}, run.cfg, key))

    def publish(i: int, res: dict[str, Any]) -> None:
        t, (slot, folder, n) = tasks[i], slots[i]
        if ("gbdt.model" in res["files"]) != gbdt:  # the cache key says whether the entry holds boosted trees
            raise ConfigError(f"the node that trained {t.year} seed {t.seed} {'lacks' if gbdt else 'has'} LightGBM, "
                              f"the driver {'has' if gbdt else 'lacks'} it: install the same dependencies on every "
                              "node and the driver")
        with write_entry(folder) as tmp:  # manifest last, then one rename: never half an entry
            for name, data in res["files"].items():
                (tmp / name).write_bytes(data)
        run.model_h[(t.year, t.seed)] = run.executor.put(res["files"])
        infos[slot] = _train_info(t.year, t.seed, t.key, folder, res["files"], False, res["seconds"], n)

    run.say(f"training: {len(infos)} (window, seed) tasks on {len(train_syms)} symbols, {len(tasks)} to train")
    run.executor.map(train_task, [(t,) for t in tasks], desc="train", progress=run.progress, on_result=publish)
    return infos  # type: ignore[return-value]


def backtest_stage(run: DriverRun, plan: WalkForwardPlan, trained: list[dict[str, Any]],
                   kinds: tuple[str, ...]) -> list[Any]:
    """Every (symbol, year, seed)'s results: from the cache or by backtest tasks; the driver writes each one."""
    from maml_strategy.backtest.train import _code_hash

    code, settings = _code_hash(backtests=True), config_to_dict(run.cfg)
    by_ws = {(t["year"], t["seed"]): t for t in trained}
    done: list[Any] = []
    tasks: list[BacktestTask] = []
    slots: list[tuple[int, Path]] = []
    for y in plan.years:
        test_end = window_period(y, 1).test_end
        for s in plan.seeds:
            model_key = by_ws[(y, s)]["key"]
            k = kinds if s == plan.seeds[0] else tuple(x for x in kinds if not KINDS[x].seedless)
            for sym in (r[0] for r in plan.symbols):
                df = run.frames[sym]
                key = _hash("bt", sym, _frame_digest(df.loc[:test_end]), y, s, model_key, list(k), settings, code)
                path = run.cache / "wf" / f"{sym}-{y}-{s}-{key}.json"
                out = read_json_entry(path)  # None when missing, or incomplete/corrupt (one warning): recompute
                if out is not None:
                    out["cached"] = True
                else:
                    slots.append((len(done), path))
                    tasks.append(BacktestTask(sym, y, s, run.frame_h[sym], run.feature_h[sym], run.model_h[(y, s)],
                                              model_key, k, run.cfg))
                done.append(out)

    def publish(i: int, out: dict[str, Any]) -> None:
        slot, path = slots[i]
        write_json_entry(path, out)  # atomic, with the digest of its payload
        done[slot] = {**out, "cached": False}

    run.say(f"backtests: {len(done)} (symbol, year, seed) tasks, {len(kinds)} strategies each, {len(tasks)} to run")
    run.executor.map(backtest_task, [(t,) for t in tasks], desc="backtest", progress=run.progress, on_result=publish)
    return done

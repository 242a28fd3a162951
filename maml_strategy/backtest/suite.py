"""All strategies of one (symbol, test window, seed), and the skill of every model on it.

Each kind's spec (:data:`~maml_strategy.config.kinds.KINDS`) says what it trades: learned kinds
trade a model slot of one training window, the factors and controls have no net.
``exposure_matched`` holds MAML's realised mean exposure of the same window as a constant
mix, so it is a diagnostic, not a tradable strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from maml_strategy.backtest.runner import BacktestResult, run_backtest
from maml_strategy.backtest.stats import alpha_beta, skill_scores
from maml_strategy.config import KINDS, StrategyConfig, kinds as kinds_where
from maml_strategy.dataset import SymbolFeatures, window_labels
from maml_strategy.engine import Precomputed

__all__ = ["SuiteResult", "trade_args", "run_suite", "model_skill", "test_panel",
           "panel_frame"]

_UNADAPTED = kinds_where(role="learned", adapts=False)  # scored in one batch
_ADAPTED = kinds_where(role="learned", adapts=True)  # scored from their decisions


@dataclass
class SuiteResult:
    """Backtests and skill of one (symbol, window, seed)."""

    symbol: str
    seed: int
    results: dict[str, BacktestResult] = field(default_factory=dict)
    skill: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> skill_scores
    panel: dict[str, Any] = field(default_factory=dict)  # per test bar: labels, regime, every model's prediction


def _test_rows(sf: SymbolFeatures, start: pd.Timestamp, end: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the test window and their realised labels (NaN where not known by ``end``)."""
    a, b = sf.pos(start), sf.pos(end, side="right")
    return np.arange(a, b), window_labels(sf, start, end)[a:b]


def model_skill(learner: Any, sf: SymbolFeatures, start: Any, end: Any) -> dict[str, Any]:
    """Skill of an un-adapted model over a test window, predicting every bar in one batch."""
    rows, y = _test_rows(sf, pd.Timestamp(start), pd.Timestamp(end))
    return skill_scores(_batch_predict(learner, sf, rows), y)


def _decision_skill(result: BacktestResult, sf: SymbolFeatures, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    rows, y = _test_rows(sf, start, end)
    pred = result.decisions["prediction"].reindex(pd.DatetimeIndex(sf.index[rows])).to_numpy(dtype=np.float64)
    return skill_scores(pred, y)


def _add_alpha_beta(df: pd.DataFrame, cfg: StrategyConfig, start: pd.Timestamp, end: pd.Timestamp,
                    results: dict[str, BacktestResult], pre: Precomputed) -> None:
    """Add ``alpha`` (annualised) and ``beta`` against buy-and-hold of the same symbol to every result."""
    bench = results.get("buy_and_hold")
    if bench is None and results:
        bench = run_backtest(df, "buy_and_hold", cfg, start, end, precomputed=pre)
    if bench is None:
        return
    rb = bench.daily_returns
    for r in results.values():
        r.metrics.update(alpha_beta(r.daily_returns, rb))


def trade_args(kind: str, models: Any, cfg: StrategyConfig) -> tuple[Any, bool, int | None, float | None]:
    """``(learner, adapt, steps, lr)`` with which learned ``kind`` trades ``models`` (a TrainedModels).

    The learner is the kind's model slot (None when absent, e.g. gbdt without LightGBM). Every
    adapting kind adapts with MAML's inner steps and rate unless the trading config sets them, so
    naive fine-tuning and MAML differ only in their starting parameters.
    """
    spec = KINDS[kind]
    learner = getattr(models, spec.model, None) if spec.model is not None else None
    steps = lr = None
    if spec.adapts and getattr(models, "maml", None) is not None:
        steps = cfg.trading.adapt_steps if cfg.trading.adapt_steps is not None else models.maml.config.inner_steps
        lr = cfg.trading.adapt_lr if cfg.trading.adapt_lr is not None else models.maml.config.inner_lr
    return learner, spec.adapts, steps, lr


def run_suite(
    df: pd.DataFrame,
    sf: SymbolFeatures,
    cfg: StrategyConfig,
    test_start: Any,
    test_end: Any,
    *,
    models: Any | None,
    seed: int = 0,
    kinds: tuple[str, ...] = tuple(KINDS),
) -> SuiteResult:
    """Backtest ``kinds`` on one symbol and window, and score every model's skill.

    Args:
        df: the symbol's OHLCV frame (with warm-up history before ``test_start``).
        sf: its :class:`~maml_strategy.dataset.SymbolFeatures` (from the same frame).
        cfg: strategy configuration.
        test_start, test_end: the test window.
        models: :class:`~maml_strategy.backtest.train.TrainedModels` (None: controls only).
        seed: recorded in the result.
        kinds: strategies to run (``exposure_matched`` needs ``maml``).

    Returns:
        :class:`SuiteResult`; ``skill`` has ``maml`` (adapted, as traded), ``maml_unadapted``,
        ``static``, ``naive_finetune`` and ``gbdt`` (when its model is there).
    """
    from maml_strategy.learners.base import apply_num_threads

    apply_num_threads(cfg.maml.num_threads)  # per-bar inference on one row: one thread is fastest
    start, end = pd.Timestamp(test_start), pd.Timestamp(test_end)
    pre = Precomputed.from_symbol_features(sf)
    out = SuiteResult(sf.symbol, seed)
    for kind in kinds:
        if KINDS[kind].model is not None:
            model, adapt, steps, lr = trade_args(kind, models, cfg)
            if model is None:
                continue
            out.results[kind] = run_backtest(df, kind, cfg, start, end, model=model, adapt_steps=steps,
                                             adapt_lr=lr, adapt=adapt, precomputed=pre)
        elif kind == "exposure_matched":
            if "maml" not in out.results:
                continue
            exposure = float(out.results["maml"].metrics.get("exposure") or 0.0)
            out.results[kind] = run_backtest(df, kind, cfg, start, end, precomputed=pre,
                                             exposure=min(exposure, cfg.trading.max_exposure))
        else:
            out.results[kind] = run_backtest(df, kind, cfg, start, end, precomputed=pre)
    _add_alpha_beta(df, cfg, start, end, out.results, pre)
    if models is not None:
        for kind in _UNADAPTED:
            learner = getattr(models, KINDS[kind].model)
            if learner is not None:
                out.skill[kind] = model_skill(learner, sf, start, end)
        for kind in _ADAPTED:
            if kind in out.results:
                out.skill[kind] = _decision_skill(out.results[kind], sf, start, end)
    out.panel = test_panel(df, sf, cfg, start, end, out.results, models)
    return out


def _clean(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(a, dtype=np.float64)]


def test_panel(df: pd.DataFrame, sf: SymbolFeatures, cfg: StrategyConfig, start: pd.Timestamp, end: pd.Timestamp,
               results: dict[str, BacktestResult], models: Any | None) -> dict[str, Any]:
    """Per test bar: tradable label, its raw return, close label, regime, factors, each model's prediction
    and each strategy's daily return.

    Labels whose horizon passes ``end`` are None (they are not known inside the window).
    Predictions are the traded ones (from each strategy's decisions); a model whose
    strategy did not run is predicted in one batch, un-adapted. Factors come from
    :func:`~maml_strategy.features.factors.factor_signal`, the controls' own function.
    """
    from maml_strategy.features import FACTORS, factor_signal, forward_returns, known_at, label_lag, tradable_returns

    rows = np.arange(sf.pos(start), sf.pos(end, side="right"))
    idx = pd.DatetimeIndex(sf.index[rows])
    h, vw = cfg.features.horizon, cfg.features.vol_window
    hist = df.loc[: idx[-1]] if len(idx) else df.iloc[:0]
    y_close = forward_returns(hist, h, vw).reindex(idx).to_numpy().copy()  # whatever the training label is
    lab = tradable_returns(hist, h, vw).reindex(idx).to_numpy().copy()
    ret = tradable_returns(hist, h, vw, scaled=False).reindex(idx).to_numpy().copy()
    rows_in = np.arange(len(idx))
    for values, label in ((y_close, "close"), (lab, "tradable"), (ret, "tradable")):
        values[~known_at(rows_in, len(idx) - 1, label_lag(label, h))] = np.nan  # known only after the window
    close = hist["close"].to_numpy(dtype=np.float64)
    factors = {f: pd.Series(factor_signal(f, close, h, vw), index=hist.index).reindex(idx).to_numpy()
               for f in FACTORS}
    timing_rules = set(kinds_where(role="control")) | set(kinds_where(role="diagnostic"))  # no forecast
    preds: dict[str, list[float | None]] = {}
    for kind, r in results.items():
        if "prediction" in r.decisions and kind not in timing_rules:
            preds[kind] = _clean(r.decisions["prediction"].reindex(idx).to_numpy(dtype=np.float64))
    for kind in _UNADAPTED:
        learner = getattr(models, KINDS[kind].model, None)
        if kind not in preds and learner is not None:
            preds[kind] = _clean(_batch_predict(learner, sf, rows))
    for f, v in factors.items():
        preds.setdefault(f, _clean(v))
    return {"dates": [str(d.date()) for d in idx], "label": _clean(lab), "ret": _clean(ret),
            "label_close": _clean(y_close), "regime": [int(c) for c in sf.regime[rows]],
            "reversal": _clean(factors["reversal"]), "momentum": _clean(factors["momentum"]), "pred": preds,
            "strategy_ret": {kind: _clean(r.daily_returns.reindex(idx).to_numpy(dtype=np.float64))
                             for kind, r in results.items()}}  # each strategy's daily return (mean equity plot)


def _batch_predict(learner: Any, sf: SymbolFeatures, rows: np.ndarray) -> np.ndarray:
    x = sf.x[rows]
    ok = np.isfinite(x).all(axis=1)
    pred = np.full(len(rows), np.nan)
    if ok.any():
        xs = learner.scaler.transform(x[ok]).astype(np.float32)
        with torch.no_grad():
            pred[ok] = np.asarray(learner.predict(torch.from_numpy(xs)), dtype=np.float64)
    return pred


def panel_frame(panels: list[dict[str, Any]]) -> pd.DataFrame:
    """Long frame (one row per symbol, year, seed, model, date) from task panels, for
    :func:`maml_strategy.backtest.skill.skill_report`."""
    parts = []
    for p in panels:
        if not p.get("dates"):
            continue
        base = pd.DataFrame({"date": pd.DatetimeIndex(p["dates"]), **{k: np.asarray(p[k], dtype=np.float64)
                             for k in ("label", "ret", "label_close", "reversal", "momentum")},
                             "regime": np.asarray(p["regime"], dtype=np.int64)})
        for model, v in p["pred"].items():
            parts.append(base.assign(symbol=p["symbol"], year=int(p["year"]), seed=int(p["seed"]), model=model,
                                     pred=np.asarray(v, dtype=np.float64)))
    if not parts:
        from maml_strategy.backtest.skill import PANEL_COLUMNS

        return pd.DataFrame(columns=list(PANEL_COLUMNS))
    return pd.concat(parts, ignore_index=True)

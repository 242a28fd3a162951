"""The one table of strategy kinds: what each kind of the backtests trades and how it is reported.

Every list of kinds (the config's allowed ``kind``, the suite's runs, the experiment's and the
walk-forward's report order, the seedless controls, the no-net controls of the heatmap, the
backtrader class of a kind) is read off :data:`KINDS`; there is no other list.

Example:
    >>> from maml_strategy.config.kinds import KINDS, kinds
    >>> KINDS["naive_finetune"].model, KINDS["naive_finetune"].adapts
    ('static', True)
    >>> kinds(role="factor")
    ('reversal', 'momentum')
    >>> kinds(seedless=True)
    ('reversal', 'momentum', 'regime_rule', 'sma200', 'buy_and_hold')
    >>> [(k, unadapted_twin(k)) for k in kinds(adapts=True)]
    [('maml', 'maml_unadapted'), ('naive_finetune', 'static')]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from maml_strategy.errors import ConfigError

__all__ = ["KindSpec", "KINDS", "ROLES", "kinds", "unadapted_twin"]

#: ``learned`` trades a trained model; ``factor`` is a known factor traded by the same sizing rule;
#: ``control`` is a no-net timing rule or the benchmark; ``diagnostic`` is not a tradable strategy.
ROLES = ("learned", "factor", "control", "diagnostic")


@dataclass(frozen=True)
class KindSpec:
    """One strategy kind.

    Attributes:
        kind: its name in configs, reports and caches.
        strategy: name of its backtrader class in :mod:`maml_strategy.strategy` (looked up there;
            config never imports backtrader).
        model: the slot of :class:`~maml_strategy.backtest.train.TrainedModels` it trades
            (``"maml"``, ``"static"``, ``"gbdt"``), None for no net.
        adapts: adapts on confirmed regime transitions (its warm-up covers the last one).
        seedless: depends on no trained model, hence not on the training seed (run once per window).
        role: one of :data:`ROLES`.
        summary: one line for ``python -m maml_strategy params`` and the docs.
    """

    kind: str
    strategy: str
    model: str | None
    adapts: bool
    seedless: bool
    role: str
    summary: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"{self.kind}: role must be one of {', '.join(ROLES)}; got {self.role!r}")
        if self.seedless and self.model is not None:
            raise ConfigError(f"{self.kind}: a kind that trades a model depends on its seed")


#            kind                class                      model     adapts seedless role
_TABLE = (("maml",             "MAMLRegimeStrategy",      "maml",   True,  False, "learned"),
          ("maml_unadapted",   "StaticModelStrategy",     "maml",   False, False, "learned"),
          ("static",           "StaticModelStrategy",     "static", False, False, "learned"),
          ("naive_finetune",   "MAMLRegimeStrategy",      "static", True,  False, "learned"),
          ("gbdt",             "StaticModelStrategy",     "gbdt",   False, False, "learned"),
          ("reversal",         "ReversalStrategy",        None,     False, True,  "factor"),
          ("momentum",         "MomentumStrategy",        None,     False, True,  "factor"),
          ("regime_rule",      "RegimeRuleStrategy",      None,     False, True,  "control"),
          ("sma200",           "SMA200Strategy",          None,     False, True,  "control"),
          ("exposure_matched", "ExposureMatchedStrategy", None,     False, False, "diagnostic"),
          ("buy_and_hold",     "BuyAndHoldStrategy",      None,     False, True,  "control"))
_SUMMARY = {
    "maml": "the meta-learned net, adapted at each confirmed regime transition",
    "maml_unadapted": "ablation: the meta-learned net with its meta-parameters, never adapted",
    "static": "the Phase-1 net, trained conventionally, never adapted",
    "naive_finetune": "ablation: the static net, adapted like MAML (same steps, rate and support)",
    "gbdt": "control: LightGBM on the same features and labels (needs the [trees] extra)",
    "reversal": "known factor: short-term reversal, -5-day return / volatility",
    "momentum": "known factor: 12-1 month momentum",
    "regime_rule": "no net: long in chosen regimes, flat otherwise",
    "sma200": "no net: long while the close is above its SMA (200 days by default)",
    "exposure_matched": "diagnostic: a constant mix at MAML's realised exposure of the same window",
    "buy_and_hold": "the benchmark: max_exposure from trade_start on",
}

#: every kind, in report order
KINDS: dict[str, KindSpec] = {row[0]: KindSpec(*row, summary=_SUMMARY[row[0]]) for row in _TABLE}

_FIELDS = {f.name for f in fields(KindSpec)}


def kinds(**where: Any) -> tuple[str, ...]:
    """The kinds (report order) whose spec fields equal ``where``; all kinds when empty.

    Raises:
        ConfigError: ``where`` names a field KindSpec does not have.
    """
    bad = set(where) - _FIELDS
    if bad:
        raise ConfigError(f"KindSpec has no field {', '.join(sorted(bad))}; fields: {', '.join(sorted(_FIELDS))}")
    return tuple(k for k, s in KINDS.items() if all(getattr(s, f) == v for f, v in where.items()))


def unadapted_twin(kind: str) -> str | None:
    """The learned kind that trades the same model slot as ``kind`` without adapting (its ablation).

    ``kind`` minus its twin is the adaptation's gain; None for a kind that does not adapt.
    """
    spec = KINDS[kind]
    if not spec.adapts:
        return None
    return next((k for k, s in KINDS.items() if s.model == spec.model and not s.adapts), None)

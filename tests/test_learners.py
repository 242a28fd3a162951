"""load_learner's kind registry (maml_strategy.learners)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.learners import LEARNERS, LearnerSpec, learner_class, load_learner, register_learner_kind
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.learners.persistence import write_model_file
from maml_strategy.learners.static import StaticConfig, StaticModel

SMALL = dict(num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=8)


def test_known_kinds_resolve_to_their_classes() -> None:
    from maml_strategy.learners.maml import MAML

    assert learner_class("maml") is MAML and learner_class("static") is StaticModel
    assert all(learner_class(k).kind == k for k in LEARNERS)


def test_unknown_kind_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    write_model_file(path, kind="nope", meta={}, tensors={})
    with pytest.raises(ModelError, match="unknown model kind 'nope'"):
        load_learner(path)


def test_registered_kind_is_loaded_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LEARNERS, "missing", LearnerSpec("missing", "maml_strategy.no_such_module:Thing"))
    with pytest.raises(ModelError, match="cannot be imported"):
        learner_class("missing")
    with pytest.raises(ConfigError):
        register_learner_kind("x", "no-colon")
    # a subclass registered under a new kind loads through load_learner
    class Other(StaticModel):
        kind = "other_static"

    import sys

    monkeypatch.setattr(sys.modules[__name__], "Other", Other, raising=False)
    monkeypatch.setitem(LEARNERS, "other_static", LearnerSpec("other_static", f"{__name__}:Other"))
    path = tmp_path / "o.pt"
    Other(HierarchicalTimeframeNet(**SMALL), StaticConfig()).save(path)
    loaded = load_learner(path)
    assert type(loaded) is Other and loaded.config == StaticConfig()

"""Every learner in one place: the protocol, MAML, the static net, LightGBM, the registry and the model files.

* :mod:`~maml_strategy.learners.protocol` — :class:`LearnerProtocol`, the surface
  every learner implements (``predict``, ``support_loss``, ``adapt``,
  ``adapt_batch``, ``save``, ``load``), and :class:`TrainingData`, what
  :func:`fit_learner` trains on.
* :mod:`~maml_strategy.learners.base` — :class:`Learner`, the torch base of MAML
  and the static model; :mod:`~maml_strategy.learners.inner` — the one SGD inner loop.
* :mod:`~maml_strategy.learners.maml`, :mod:`~maml_strategy.learners.static`,
  :mod:`~maml_strategy.learners.gbdt` — the three learners.
* :mod:`~maml_strategy.learners.stopping` — the one early-stopping loop.
* :mod:`~maml_strategy.learners.registry` — one :class:`LearnerSpec` per learner
  (class, trainer, file name); :func:`fit_learner` and :func:`load_learner`.
* :mod:`~maml_strategy.learners.persistence` — the model-file format.

Example:
    >>> from maml_strategy.learners import LEARNERS
    >>> sorted(LEARNERS)
    ['gbdt', 'maml', 'static']
"""

from __future__ import annotations

from maml_strategy.learners.registry import (
    LEARNERS,
    LearnerSpec,
    fit_learner,
    learner_class,
    load_learner,
    register_learner_kind,
)

__all__ = ["LEARNERS", "LearnerSpec", "fit_learner", "learner_class", "load_learner",
           "register_learner_kind"]

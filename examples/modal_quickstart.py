"""
modAL's loop with margin sampling
=================================

modAL's ActiveLearner driving skfisher's ResNet-18 on digits with margin sampling.

Run: ``python examples/modal_quickstart.py`` (set SKFISHER_FAST=1 for a quick check).
"""

import os

import numpy as np
from modAL.models import ActiveLearner

import skfisher  # noqa: F401  (makes modAL work on current scikit-learn)
from skfisher import ResNet18Classifier, margin_sampling
from skfisher.datasets import load_digits_images

FAST = os.environ.get("SKFISHER_FAST") == "1"
X, y = load_digits_images(return_X_y=True)
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
train, pool, test = order[:30], order[30:1300], order[1300:]

learner = ActiveLearner(
    estimator=ResNet18Classifier(max_epochs=3 if FAST else 30, random_state=0),
    query_strategy=margin_sampling,
    X_training=X[train],
    y_training=y[train],
)
X_pool, y_pool = X[pool], y[pool]
for round_ in range(1 if FAST else 5):
    idx, X_new = learner.query(X_pool, n_instances=20)
    learner.teach(X_new, y_pool[idx])
    X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    print(
        f"round {round_ + 1}: {len(learner.y_training)} labels, "
        f"test accuracy {learner.score(X[test], y[test]):.3f}"
    )

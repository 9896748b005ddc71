"""
FisherMask inside modAL's loop
==============================

On digits: ``ActiveLearner(estimator, query_strategy=fisher_mask)``.

Each query estimates the Fisher diagonal, keeps 0.2 % of the network's
parameters (the output layer plus the most informative middle-layer entries)
and picks the batch that most reduces the BAIT objective.

Run: ``python examples/modal_fisher_mask.py`` (SKFISHER_FAST=1 for a quick check).
"""

import os

import numpy as np
from modAL.models import ActiveLearner

from skfisher import FisherMask, ResNet18Classifier
from skfisher.datasets import load_digits_images

FAST = os.environ.get("SKFISHER_FAST") == "1"
X, y = load_digits_images(return_X_y=True)
order = np.random.RandomState(0).permutation(len(X))
train, pool, test = order[:50], order[50 : (400 if FAST else 1300)], order[1300:]

strategy = FisherMask(sparsity=0.002, random_state=0)
learner = ActiveLearner(
    estimator=ResNet18Classifier(max_epochs=5 if FAST else 30, random_state=0),
    query_strategy=strategy,
    X_training=X[train],
    y_training=y[train],
)
print(f"start: {len(learner.y_training)} labels, accuracy {learner.score(X[test], y[test]):.3f}")
X_pool, y_pool = X[pool], y[pool]
for round_ in range(1 if FAST else 5):
    idx, X_new = learner.query(X_pool, n_instances=12 if FAST else 50)
    learner.teach(X_new, y_pool[idx])
    X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    info = strategy.last_query_
    seconds = ", ".join(f"{k} {v:.1f}s" for k, v in info["seconds"].items())
    print(
        f"round {round_ + 1}: {len(learner.y_training)} labels, accuracy "
        f"{learner.score(X[test], y[test]):.3f} (mask {info['mask_size']}; {seconds})"
    )

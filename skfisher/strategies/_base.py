"""What every query strategy shares: the calling contract and its checks.

A strategy is called as ``strategy(classifier, X_pool, n_instances=1, **kw)``
and returns ``(indices, scores)``: the chosen rows of ``X_pool`` in the order
they were chosen, and each one's score. ``classifier`` is a modAL
``ActiveLearner`` or a fitted estimator.
"""

import numbers

import numpy as np
from sklearn.utils.validation import _num_samples

__all__ = ["unwrap_classifier", "check_n_instances", "images_for", "top_k"]


def unwrap_classifier(classifier, X_labeled=None):
    """Return ``(estimator, X_labeled)`` from an ActiveLearner or an estimator.

    For a modAL learner (anything with ``estimator`` and ``X_training``) the
    labeled rows default to its ``X_training``.
    """
    if hasattr(classifier, "X_training") and hasattr(classifier, "estimator"):
        if X_labeled is None:
            X_labeled = classifier.X_training
        return classifier.estimator, X_labeled
    return classifier, X_labeled


def check_n_instances(n_instances, X_pool, *, factor=1):
    """Validate ``n_instances`` against the pool and return the pool size.

    ``factor * n_instances`` rows must fit in the pool (``factor`` > 1 for
    strategies that over-select first).
    """
    n_pool = _num_samples(X_pool)
    if (
        not isinstance(n_instances, numbers.Integral)
        or isinstance(n_instances, bool)
        or not 1 <= factor * n_instances <= n_pool
    ):
        limit = n_pool // factor
        extra = f" (times {factor} for the backward steps)" if factor > 1 else ""
        raise ValueError(
            f"n_instances must be an int in [1, {limit}]{extra} for a pool of "
            f"{n_pool} rows; got {n_instances!r}."
        )
    return n_pool


def top_k(utilities, k):
    """Indices of the ``k`` largest utilities, best first, ties to the lowest index.

    Returns
    -------
    indices : ndarray of shape (k,), dtype int64
    scores : ndarray of shape (k,)
    """
    utilities = np.asarray(utilities)
    order = np.argsort(-utilities, kind="stable")[:k]
    return order.astype(np.int64), utilities[order]


def images_for(estimator, X):
    """``X`` as float32 (n, c, h, w) images, validated the way ``estimator`` predicts."""
    if hasattr(estimator, "transform_images"):
        return estimator.transform_images(X)
    return np.ascontiguousarray(np.asarray(X, dtype=np.float32))

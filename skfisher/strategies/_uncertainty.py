"""Random sampling and the classic uncertainty strategies (modAL contract)."""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions, validate_params

from ._base import check_finite_outputs, check_n_instances, top_k, unwrap_classifier

__all__ = [
    "random_sampling",
    "entropy_sampling",
    "margin_sampling",
    "least_confidence",
    "uncertainty_scores",
]


@validate_params(
    {"proba": ["array-like"], "method": [StrOptions({"entropy", "margin", "least_confidence"})]},
    prefer_skip_nested_validation=True,
)
def uncertainty_scores(proba, method):
    """Per-row uncertainty of predicted probabilities; larger is more uncertain.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
    method : {"entropy", "margin", "least_confidence"}
        ``entropy``: ``-sum p log p``; ``margin``: ``1 - (p_1 - p_2)`` with
        the two largest probabilities; ``least_confidence``: ``1 - p_1``.

    Returns
    -------
    scores : ndarray of shape (n,), dtype float64
    """
    return _scores(np.asarray(proba, dtype=np.float64), method)


def _scores(proba, method):
    """:func:`uncertainty_scores` of a float64 array, ``method`` already checked."""
    if method == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(proba > 0, proba * np.log(proba), 0.0).sum(axis=1)
    top2 = -np.sort(-proba, axis=1)[:, :2]
    if method == "margin":
        return 1.0 - (top2[:, 0] - top2[:, 1])
    return 1.0 - top2[:, 0]  # least_confidence


def _uncertainty_sampling(classifier, X_pool, n_instances, method):
    check_n_instances(n_instances, X_pool)
    estimator, _ = unwrap_classifier(classifier)  # any predict_proba: Pipeline, Committee
    proba = np.asarray(estimator.predict_proba(X_pool), dtype=np.float64)
    check_finite_outputs(proba, "predicted probabilities", f"{method} sampling")
    return top_k(_scores(proba, method), n_instances)


@validate_params({"random_state": ["random_state"]}, prefer_skip_nested_validation=True)
def random_sampling(classifier, X_pool, n_instances=1, *, random_state=None):
    """Pick ``n_instances`` pool rows uniformly at random, without replacement.

    Parameters
    ----------
    classifier : ActiveLearner or estimator
        Unused; kept for the modAL contract.
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    scores : ndarray of shape (n_instances,)
        All zero: random sampling scores nothing.
    """
    n_pool = check_n_instances(n_instances, X_pool)
    rng = check_random_state(random_state)
    indices = rng.choice(n_pool, size=n_instances, replace=False).astype(np.int64)
    return indices, np.zeros(n_instances)


def entropy_sampling(classifier, X_pool, n_instances=1):
    """Pick the rows whose predicted distribution has the highest entropy.

    Parameters
    ----------
    classifier : ActiveLearner, Committee or fitted estimator with ``predict_proba``
        Any estimator or Pipeline that predicts probabilities; a modAL
        Committee scores with its consensus ``predict_proba``.
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
        Best first; ties go to the lowest index.
    scores : ndarray of shape (n_instances,)
        The entropies of the chosen rows.
    """
    return _uncertainty_sampling(classifier, X_pool, n_instances, "entropy")


def margin_sampling(classifier, X_pool, n_instances=1):
    """Pick the rows with the smallest gap between the two likeliest classes.

    Parameters and returns as :func:`entropy_sampling`; the scores are
    ``1 - (p_1 - p_2)``.
    """
    return _uncertainty_sampling(classifier, X_pool, n_instances, "margin")


def least_confidence(classifier, X_pool, n_instances=1):
    """Pick the rows whose most likely class has the lowest probability.

    Parameters and returns as :func:`entropy_sampling`; the scores are
    ``1 - p_1``.
    """
    return _uncertainty_sampling(classifier, X_pool, n_instances, "least_confidence")

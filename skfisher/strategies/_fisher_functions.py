"""The function forms of :class:`~skfisher.strategies.FisherMask` and :class:`~skfisher.Bait`
(modAL's contract): ``fisher_mask`` and ``bait``."""

from ._bait import Bait
from ._fisher_mask import FisherMask

__all__ = ["bait", "fisher_mask"]


def fisher_mask(classifier, X_pool, n_instances=1, *, X_labeled=None, **params):
    """FisherMask query function (modAL contract).

    ``fisher_mask(clf, X, n, X_labeled=X_labeled, **params)`` is
    ``FisherMask(**params)(clf, X, n, X_labeled=X_labeled)``; see
    :class:`FisherMask` for the parameters, which it validates.

    Parameters
    ----------
    classifier : modAL ActiveLearner, fitted skorch/torch classifier, or a Pipeline ending in one
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    X_labeled : array-like of shape (n_labeled, ...), default=None
        Labeled rows; overrides the learner's ``X_training``.
    **params
        Any :class:`FisherMask` parameter, e.g. ``random_state``.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    gains : ndarray of shape (n_instances,)
    """
    return FisherMask(**params)(classifier, X_pool, n_instances, X_labeled=X_labeled)


def bait(classifier, X_pool, n_instances=1, *, X_labeled=None, **params):
    """BAIT (Ash et al. 2021): greedy Fisher selection on the output layer only.

    ``bait(clf, X, n, X_labeled=X_labeled, **params)`` is
    ``Bait(**params)(clf, X, n, X_labeled=X_labeled)``: :class:`FisherMask`
    with ``mask="output"`` and ``backward_steps=1`` unless ``params`` say
    otherwise.

    Parameters
    ----------
    classifier : modAL ActiveLearner, fitted skorch/torch classifier, or a Pipeline ending in one
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    X_labeled : array-like of shape (n_labeled, ...), default=None
        Labeled rows; overrides the learner's ``X_training``.
    **params
        Any :class:`Bait` parameter, e.g. ``random_state`` or ``lam``.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    gains : ndarray of shape (n_instances,)
    """
    return Bait(**params)(classifier, X_pool, n_instances, X_labeled=X_labeled)

"""The function forms of :class:`~skfisher.FisherMask` (modAL's contract):
``fisher_mask``, and ``bait`` (BAIT: the output layer's mask with a backward step)."""

from ._fisher_mask import FisherMask

__all__ = ["bait", "fisher_mask"]


def fisher_mask(classifier, X_pool, n_instances=1, *, X_labeled=None, random_state=None, **params):
    """FisherMask query function (modAL contract).

    ``fisher_mask(clf, X, n, **params)`` is ``FisherMask(**params)(clf, X, n)``;
    see :class:`FisherMask` for the parameters, which it validates.

    Parameters
    ----------
    classifier : modAL ActiveLearner, fitted skorch/torch classifier, or a Pipeline ending in one
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    X_labeled : array-like of shape (n_labeled, ...), default=None
        Labeled rows; overrides the learner's ``X_training``.
    random_state : int, RandomState instance or None, default=None
        Draws the Fisher rows (and the random mask).
    **params
        Any other :class:`FisherMask` parameter.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    gains : ndarray of shape (n_instances,)
    """
    strategy = FisherMask(random_state=random_state, **params)
    return strategy(classifier, X_pool, n_instances, X_labeled=X_labeled)


def bait(classifier, X_pool, n_instances=1, *, X_labeled=None, random_state=None, **params):
    """BAIT (Ash et al. 2021): greedy Fisher selection on the output layer only.

    ``FisherMask(mask="output", backward_steps=1)`` with any other
    :class:`FisherMask` parameter given in ``params``; the parameters are
    those of :func:`fisher_mask`.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    gains : ndarray of shape (n_instances,)
    """
    params = {"mask": "output", "backward_steps": 1, **params}
    return fisher_mask(
        classifier, X_pool, n_instances, X_labeled=X_labeled, random_state=random_state, **params
    )

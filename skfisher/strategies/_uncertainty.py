"""Random sampling and the classic uncertainty strategies, as estimators and as
modAL-style functions (one implementation behind both)."""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples

from ..utils._pools import out_of_core
from ..utils._validation import StrOptions, validate_params
from ._base import QueryStrategy, check_finite_outputs, top_k, unwrap_classifier

__all__ = [
    "EntropySampling",
    "LeastConfidence",
    "MarginSampling",
    "RandomSampling",
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


#: rows per ``predict_proba`` call on a pool read where it is (memory-mapped, h5py, ...)
PROBA_ROWS = 4096


def _predict_proba(estimator, X_pool):
    """float64 probabilities; a pool read where it is goes through in row ranges."""
    if not out_of_core(X_pool):
        return np.asarray(estimator.predict_proba(X_pool), dtype=np.float64)
    n = _num_samples(X_pool)
    return np.concatenate(
        [
            np.asarray(estimator.predict_proba(X_pool[i : i + PROBA_ROWS]), dtype=np.float64)
            for i in range(0, n, PROBA_ROWS)
        ]
    )


class RandomSampling(QueryStrategy):
    """Pick pool rows uniformly at random, without replacement.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Draws the rows.

    See Also
    --------
    random_sampling : The function form.

    Examples
    --------
    >>> import numpy as np
    >>> from skfisher import RandomSampling
    >>> indices, scores = RandomSampling(random_state=0)(None, np.zeros((10, 2)), 3)
    >>> indices.shape, scores.tolist()
    ((3,), [0.0, 0.0, 0.0])
    """

    _parameter_constraints = {"random_state": ["random_state"]}

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _query(self, classifier, X_pool, n_instances):
        """``classifier`` is unused; the scores are all zero (random sampling scores nothing)."""
        rng = check_random_state(self.random_state)
        indices = rng.choice(_num_samples(X_pool), size=n_instances, replace=False)
        return indices.astype(np.int64), np.zeros(n_instances)


class _UncertaintySampling(QueryStrategy):
    """The rows the classifier's ``predict_proba`` is least sure of, by ``_method``.

    Any estimator or Pipeline that predicts probabilities will do; a modAL
    Committee scores with its consensus ``predict_proba``. The indices come
    best first, ties to the lowest index; the scores are the chosen rows'
    :func:`uncertainty_scores`.
    """

    _method = None

    def _query(self, classifier, X_pool, n_instances):
        estimator, _ = unwrap_classifier(classifier)  # any predict_proba: Pipeline, Committee
        proba = _predict_proba(estimator, X_pool)
        check_finite_outputs(proba, "predicted probabilities", f"{self._method} sampling")
        return top_k(_scores(proba, self._method), n_instances)


class EntropySampling(_UncertaintySampling):
    """Pick the rows whose predicted distribution has the highest entropy.

    Takes no parameters. Called as ``strategy(classifier, X_pool,
    n_instances=1)`` with any fitted estimator (or modAL learner, Committee or
    Pipeline) that has ``predict_proba``; returns the rows best first, ties
    to the lowest index, and their entropies ``-sum p log p``.

    See Also
    --------
    entropy_sampling : The function form.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfisher import EntropySampling
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X[::10], y[::10])
    >>> EntropySampling()(clf, X, n_instances=4)[0].shape
    (4,)
    """

    _method = "entropy"


class MarginSampling(_UncertaintySampling):
    """Pick the rows with the smallest gap between the two likeliest classes.

    Takes no parameters; called as :class:`EntropySampling`, with the scores
    ``1 - (p_1 - p_2)``.

    See Also
    --------
    margin_sampling : The function form.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfisher import MarginSampling
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X[::10], y[::10])
    >>> MarginSampling()(clf, X, n_instances=4)[0].shape
    (4,)
    """

    _method = "margin"


class LeastConfidence(_UncertaintySampling):
    """Pick the rows whose most likely class has the lowest probability.

    Takes no parameters; called as :class:`EntropySampling`, with the scores
    ``1 - p_1``.

    See Also
    --------
    least_confidence : The function form.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfisher import LeastConfidence
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X[::10], y[::10])
    >>> LeastConfidence()(clf, X, n_instances=4)[0].shape
    (4,)
    """

    _method = "least_confidence"


def random_sampling(classifier, X_pool, n_instances=1, **params):
    """Pick ``n_instances`` pool rows uniformly at random, without replacement.

    The function form of :class:`RandomSampling`: ``random_sampling(classifier, X_pool,
    n_instances, **params)`` is ``RandomSampling(**params)(classifier, X_pool,
    n_instances)``.

    Parameters
    ----------
    classifier : ActiveLearner or estimator
        Unused; kept for the modAL contract.
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    **params
        ``random_state`` (int, RandomState instance or None, default=None).

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    scores : ndarray of shape (n_instances,)
        All zero: random sampling scores nothing.
    """
    return RandomSampling(**params)(classifier, X_pool, n_instances)


def entropy_sampling(classifier, X_pool, n_instances=1, **params):
    """Pick the rows whose predicted distribution has the highest entropy.

    The function form of :class:`EntropySampling`: ``entropy_sampling(classifier, X_pool,
    n_instances, **params)`` is ``EntropySampling(**params)(classifier, X_pool,
    n_instances)``.

    Parameters
    ----------
    classifier : ActiveLearner, Committee or fitted estimator with ``predict_proba``
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    **params
        None: :class:`EntropySampling` takes no parameters.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    scores : ndarray of shape (n_instances,)
        The entropies of the chosen rows, best first.
    """
    return EntropySampling(**params)(classifier, X_pool, n_instances)


def margin_sampling(classifier, X_pool, n_instances=1, **params):
    """Pick the rows with the smallest gap between the two likeliest classes.

    The function form of :class:`MarginSampling`: ``margin_sampling(classifier, X_pool,
    n_instances, **params)`` is ``MarginSampling(**params)(classifier, X_pool,
    n_instances)``.

    Parameters
    ----------
    classifier : ActiveLearner, Committee or fitted estimator with ``predict_proba``
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    **params
        None: :class:`MarginSampling` takes no parameters.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    scores : ndarray of shape (n_instances,)
        ``1 - (p_1 - p_2)`` of the chosen rows, best first.
    """
    return MarginSampling(**params)(classifier, X_pool, n_instances)


def least_confidence(classifier, X_pool, n_instances=1, **params):
    """Pick the rows whose most likely class has the lowest probability.

    The function form of :class:`LeastConfidence`: ``least_confidence(classifier, X_pool,
    n_instances, **params)`` is ``LeastConfidence(**params)(classifier, X_pool,
    n_instances)``.

    Parameters
    ----------
    classifier : ActiveLearner, Committee or fitted estimator with ``predict_proba``
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    **params
        None: :class:`LeastConfidence` takes no parameters.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    scores : ndarray of shape (n_instances,)
        ``1 - p_1`` of the chosen rows, best first.
    """
    return LeastConfidence(**params)(classifier, X_pool, n_instances)

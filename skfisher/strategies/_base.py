"""What every query strategy shares: the base class, the calling contract and its checks.

A strategy is an estimator, a :class:`QueryStrategy`, whose instances are
called as ``strategy(classifier, X_pool, n_instances=1, **kw)`` and return
``(indices, scores)``: the chosen rows of ``X_pool`` in the order they were
chosen, and each one's score. ``classifier`` is a modAL
``ActiveLearner`` or ``Committee``, a fitted estimator, or a Pipeline that
ends in one; :func:`resolve_estimator` is the one place that tells them apart.
"""

import inspect

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import _num_samples, check_is_fitted

from ..utils._pools import PoolRows, in_memory_float32
from ..utils._validation import Integers

__all__ = [
    "QueryStrategy",
    "check_finite_outputs",
    "check_n_instances",
    "images_for",
    "resolve_estimator",
    "top_k",
    "unwrap_classifier",
]


class QueryStrategy(BaseEstimator):
    """Base class of the query strategies: a clonable estimator with modAL's contract.

    A subclass stores its hyperparameters in ``__init__`` unchanged, declares
    them in ``_parameter_constraints`` and implements ``_query``; a call
    validates the parameters and ``n_instances`` before any work, then
    queries. Instances are what modAL's ``ActiveLearner(query_strategy=...)``
    takes, and their parameters are tunable (``query_strategy__<name>``).

    Examples
    --------
    >>> import numpy as np
    >>> from skfisher.strategies import QueryStrategy
    >>> class FirstRows(QueryStrategy):
    ...     def _query(self, classifier, X_pool, n_instances):
    ...         return np.arange(n_instances), np.zeros(n_instances)
    >>> FirstRows()(None, np.zeros((5, 2)), n_instances=2)[0]
    array([0, 1])
    """

    _parameter_constraints: dict = {}

    def __call__(self, classifier, X_pool, n_instances=1, **kwargs):
        """Pick ``n_instances`` rows of ``X_pool``.

        Parameters
        ----------
        classifier : modAL ActiveLearner, fitted estimator, or a Pipeline ending in one
            What the strategy scores the pool with; a learner's
            ``X_training`` are the labeled rows.
        X_pool : array-like of shape (n_pool, ...)
            Unlabeled candidates, in any form the estimator predicts on, or
            any array-like sliced by row ranges (``np.load(path,
            mmap_mode="r")``, h5py, zarr,
            :class:`~skfisher.datasets.DatasetRows`): the network's
            strategies read it a forward batch at a time, the uncertainty
            strategies in ranges of rows, never whole.
        n_instances : int, default=1
            Rows to pick.
        **kwargs
            The strategy's call arguments, e.g. ``X_labeled`` (array-like of
            shape (n_labeled, ...), overriding the learner's ``X_training``)
            for :class:`FisherMask`, :class:`Bait` and :class:`KCenterGreedy`.

        Returns
        -------
        indices : ndarray of shape (n_instances,), dtype int64
            Rows of ``X_pool`` in the order they were chosen.
        scores : ndarray of shape (n_instances,)
            Each chosen row's score (see the strategy).

        Raises
        ------
        ValueError
            An invalid parameter or ``n_instances``, before any forward pass.
        TypeError
            A call argument the strategy does not take.
        """
        taken = set(inspect.signature(self._query).parameters) - {"classifier", "X_pool"}
        unknown = sorted(set(kwargs) - taken)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} takes no call argument(s) {unknown}; its call "
                f"arguments are {sorted(taken - {'n_instances', 'kwargs'})}."
            )
        self._check_params()
        check_n_instances(n_instances, X_pool, factor=self._n_instances_factor())
        return self._query(classifier, X_pool, n_instances, **kwargs)

    def _check_params(self):
        """Every parameter against ``_parameter_constraints`` (a ValueError naming it)."""
        self._validate_params()

    def _n_instances_factor(self):
        """How many times ``n_instances`` rows the pool must hold (1: no over-selection)."""
        return 1

    def _query(self, classifier, X_pool, n_instances, **kwargs):
        """``(indices, scores)`` of a validated call; every strategy implements it."""
        raise NotImplementedError


def _is_committee(classifier):
    return hasattr(classifier, "learner_list")  # modAL's Committee


def unwrap_classifier(classifier, X_labeled=None):
    """Return ``(estimator, X_labeled)`` from an ActiveLearner or an estimator.

    For a modAL learner (anything with ``estimator`` and ``X_training``) the
    labeled rows default to its ``X_training``. A modAL ``Committee`` is
    returned as is: its ``predict_proba`` is the consensus of its learners.
    """
    if hasattr(classifier, "X_training") and hasattr(classifier, "estimator"):
        if X_labeled is None:
            X_labeled = classifier.X_training
        return classifier.estimator, X_labeled
    return classifier, X_labeled


def _has_torch_module(estimator):
    module = getattr(estimator, "module_", None)
    if isinstance(module, torch.nn.Module):
        return True
    try:  # an unfitted skorch net has no module_ yet
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(estimator, NeuralNet)


def resolve_estimator(classifier, X_pool, X_labeled=None, *, strategy):
    """The fitted torch network behind ``classifier`` and the rows as it sees them.

    Parameters
    ----------
    classifier : ActiveLearner, estimator or Pipeline
        A modAL learner gives its estimator and, unless ``X_labeled`` is
        given, its ``X_training`` as the labeled rows. A Pipeline gives its
        last step, and ``X_pool`` and ``X_labeled`` pass through the steps
        before it (``transform``).
    X_pool : array-like of shape (n_pool, ...)
    X_labeled : array-like of shape (n_labeled, ...), default=None
    strategy : str
        The strategy's name, for the error messages.

    Returns
    -------
    estimator : estimator with a fitted ``module_`` (torch.nn.Module)
    X_pool : array-like
    X_labeled : array-like or None
        None when there are no labeled rows.

    Raises
    ------
    ValueError
        For a modAL Committee (several networks) or an estimator without a
        torch module.
    NotFittedError
        For a network that is not fitted.
    """
    if _is_committee(classifier):
        raise ValueError(
            f"{strategy} needs the gradients of one network, and a modAL Committee has "
            f"{len(classifier.learner_list)}: query with one of its learners "
            "(committee.learner_list[i]) or use an uncertainty strategy."
        )
    estimator, X_labeled = unwrap_classifier(classifier, X_labeled)
    steps = None
    if isinstance(estimator, Pipeline):
        steps, estimator = estimator[:-1], estimator.steps[-1][1]
    if not _has_torch_module(estimator):
        raise ValueError(
            f"{strategy} needs a skorch/torch classifier (an estimator whose fitted "
            f"torch module is in `module_`, such as ResNet18Classifier), or a Pipeline "
            f"that ends in one; got {type(estimator).__name__}."
        )
    check_is_fitted(estimator, "module_")
    if X_labeled is not None and _num_samples(X_labeled) == 0:
        X_labeled = None
    if steps is not None and len(steps):
        X_pool = steps.transform(X_pool)
        X_labeled = None if X_labeled is None else steps.transform(X_labeled)
    return estimator, X_pool, X_labeled


def check_finite_outputs(values, what, strategy):
    """Raise a ValueError naming ``strategy`` when the model's ``values`` are not finite."""
    # NaN and infinity propagate into a float64 sum (a reduction: no copy)
    if isinstance(values, torch.Tensor):
        finite = torch.isfinite(values.sum(dtype=torch.float64)).item()
    else:
        finite = np.isfinite(np.sum(values, dtype=np.float64))
    if not finite:
        raise ValueError(
            f"{strategy}: the model's {what} contain NaN or infinity (a diverged or "
            "broken model?); it cannot rank the pool."
        )


def check_n_instances(n_instances, X_pool, *, factor=1):
    """Validate ``n_instances`` against the pool and return the pool size.

    ``factor * n_instances`` rows must fit in the pool (``factor`` > 1 for
    strategies that over-select first).
    """
    n_pool = _num_samples(X_pool)
    if not (Integers(1).is_satisfied_by(n_instances) and factor * n_instances <= n_pool):
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


def _as_float32(X):
    return np.ascontiguousarray(np.asarray(X, dtype=np.float32))


def images_for(estimator, X):
    """``X`` as float32 (n, c, h, w) images, validated the way ``estimator`` predicts.

    A float32 array in memory is used as it is; any other pool (uint8 or
    float64 rows, a memory-mapped, h5py or zarr array,
    :class:`~skfisher.datasets.DatasetRows`) becomes a
    :class:`~skfisher.utils._pools.PoolRows` view that converts one forward
    batch at a time, so the pool is never copied whole. The first row is
    converted at once, so a pool of the wrong shape fails here.
    """
    convert = getattr(estimator, "transform_images", _as_float32)
    if in_memory_float32(X) or not hasattr(X, "__getitem__") or not _num_samples(X):
        return convert(X)
    rows = PoolRows(X, convert)
    rows.shape  # noqa: B018 - validates the rows' shape and type on the first row
    return rows

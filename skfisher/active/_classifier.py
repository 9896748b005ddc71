"""Active learning as a scikit-learn meta-estimator: the loop runs inside ``fit``."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _num_samples,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ..nets._classifier import ResNet18Classifier
from ..strategies import STRATEGIES, get_strategy
from ..utils._validation import HasMethods, Integers, Reals, StrOptions, fit_context
from ._loop import run_active_learning

__all__ = ["ActiveLearningClassifier"]


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator if self.estimator is not None else ResNet18Classifier(), attr)

    return check


def _fill_random_states(estimator, rng):
    """Seed every unset ``random_state`` parameter of ``estimator`` (nested too)."""
    if not hasattr(estimator, "get_params"):
        return estimator
    unset = {
        key: int(rng.randint(np.iinfo(np.int32).max))
        for key, value in sorted(estimator.get_params(deep=True).items())
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    }
    return estimator.set_params(**unset) if unset else estimator


class ActiveLearningClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Simulated pool-based active learning inside ``fit``.

    ``fit(X, y)`` treats ``X`` as the unlabeled pool and ``y`` as the oracle:
    it labels ``n_initial`` rows, then ``n_rounds`` times asks
    ``query_strategy`` for ``n_instances`` more rows, reveals only their labels
    and refits a clone of ``estimator`` on everything labeled so far. The
    final model predicts. Because this is an estimator, Pipelines,
    ``cross_validate`` and ``GridSearchCV`` (e.g. over
    ``query_strategy__sparsity``) work on active learning itself.

    Parameters
    ----------
    estimator : classifier, default=None
        Refitted every round; None means ``ResNet18Classifier()``.
    query_strategy : str, QueryStrategy or callable, default="fisher_mask"
        A name of :data:`skfisher.strategies.STRATEGIES`, a strategy
        estimator such as :class:`~skfisher.strategies.FisherMask` or
        :class:`~skfisher.strategies.MarginSampling` (cloned at fit; its parameters are
        tunable as ``query_strategy__<name>``), or any function with modAL's
        contract ``f(classifier, X_pool, n_instances) -> (indices, scores)``.
    n_initial : int, default=50
        Rows labeled before the first query.
    n_instances : int, default=50
        Rows labeled per query (modAL's ``n_instances``).
    n_rounds : int, default=6
        Number of queries after the initial fit; ``learning_curve_`` gets
        ``n_rounds + 1`` entries.
    initial : {"stratified", "random"}, default="stratified"
        How the first rows are drawn; ``stratified`` needs ``n_initial`` at
        least the number of classes.
    validation_fraction : float in (0, 1), default=None
        Hold out this stratified fraction of ``X`` to record validation
        accuracy every round (needed by :func:`skfisher.active.aulc_score`).
        The held-out rows are never labeled.
    random_state : int, RandomState instance or None, default=None
        Draws the initial rows and the validation split, and seeds every
        unset ``random_state`` of the estimator and the strategy: a fixed
        value gives identical results on the CPU.
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    estimator_ : classifier
        The model fitted on all labeled rows at the end.
    query_strategy_ : callable
        The strategy used.
    labeled_indices_ : ndarray of shape (n_initial + n_rounds * n_instances,)
        Rows of ``X`` labeled, in the order they were labeled.
    learning_curve_ : list of dict
        Per round: ``round``, ``n_labels``, ``accuracy`` (validation accuracy,
        None without ``validation_fraction``), ``query_seconds``,
        ``fit_seconds``.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Values per row of ``X`` (product of its trailing dimensions).

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : a meta-estimator that
        also loops inside ``fit``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.datasets import load_iris
    >>> from skfisher import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ActiveLearningClassifier(LogisticRegression(), "margin", n_initial=6,
    ...                                n_instances=6, n_rounds=3, random_state=0)
    >>> len(clf.fit(X, y).labeled_indices_)
    24
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "query_strategy": [StrOptions(set(STRATEGIES)), callable],
        "n_initial": [Integers(1)],
        "n_instances": [Integers(1)],
        "n_rounds": [Integers(0)],
        "initial": [StrOptions({"stratified", "random"})],
        "validation_fraction": [Reals(0, 1, closed="neither"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        query_strategy="fisher_mask",
        *,
        n_initial=50,
        n_instances=50,
        n_rounds=6,
        initial="stratified",
        validation_fraction=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.n_initial = n_initial
        self.n_instances = n_instances
        self.n_rounds = n_rounds
        self.initial = initial
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    def _make_strategy(self, rng):
        seed = int(rng.randint(np.iinfo(np.int32).max))
        if isinstance(self.query_strategy, str):
            return get_strategy(self.query_strategy, random_state=seed)
        if hasattr(self.query_strategy, "get_params"):
            return _fill_random_states(clone(self.query_strategy), np.random.RandomState(seed))
        return self.query_strategy

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Run the active-learning loop with ``y`` as the oracle.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The pool, in any form the estimator accepts (rows or images).
        y : array-like of shape (n_samples,)
            Labels, revealed only for the rows the loop picks.

        Returns
        -------
        self : ActiveLearningClassifier
        """
        X = check_array(X, allow_nd=True, ensure_2d=False, dtype=None, ensure_all_finite=True)
        if X.ndim < 2:
            raise ValueError(f"X must have at least 2 dimensions; got shape {X.shape}.")
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        rng = check_random_state(self.random_state)
        n_classes = len(np.unique(y))
        if n_classes < 2:
            raise ValueError("y has 1 class; a classifier needs at least 2.")

        rows = np.arange(_num_samples(X))
        val_rows = None
        if self.validation_fraction is not None:
            rows, val_rows = train_test_split(
                rows, test_size=self.validation_fraction, stratify=y, random_state=rng
            )
            rows, val_rows = np.sort(rows), np.sort(val_rows)
        needed = self.n_initial + self.n_rounds * self.n_instances
        if needed > len(rows):
            raise ValueError(
                f"n_initial + n_rounds * n_instances = {needed} exceeds the {len(rows)} "
                "rows available for labeling"
                + (" after the validation split." if val_rows is not None else ".")
            )
        estimator = clone(self.estimator) if self.estimator is not None else ResNet18Classifier()
        estimator = _fill_random_states(estimator, rng)
        strategy = self._make_strategy(rng)
        curve, labeled = run_active_learning(
            estimator,
            strategy,
            X[rows],
            y[rows],
            None if val_rows is None else X[val_rows],
            None if val_rows is None else y[val_rows],
            n_initial=self.n_initial,
            n_instances=self.n_instances,
            n_rounds=self.n_rounds,
            initial=self.initial,
            random_state=rng,
            progress=self.verbose > 0,
        )
        self.estimator_ = estimator
        self.query_strategy_ = strategy
        self.labeled_indices_ = rows[labeled]
        self.learning_curve_ = curve
        self.classes_ = estimator.classes_
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        return self

    def predict(self, X):
        """Predict with the final model.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the final model.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

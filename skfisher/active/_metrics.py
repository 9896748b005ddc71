"""Scores of active-learning runs."""

import numpy as np

from ..utils._validation import HasMethods, validate_params

__all__ = ["aulc", "aulc_score"]


@validate_params(
    {"n_labels": ["array-like"], "accuracy": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def aulc(n_labels, accuracy):
    """Area under the learning curve, normalised to [0, 1].

    The trapezoidal area under accuracy against the number of labels,
    divided by the label range: the mean accuracy over the budget. A curve of
    one point scores its accuracy.

    Parameters
    ----------
    n_labels : array-like of shape (n_rounds,)
        Increasing label counts.
    accuracy : array-like of shape (n_rounds,)
        Accuracies in [0, 1].

    Returns
    -------
    score : float

    Examples
    --------
    >>> aulc([10, 20, 30], [0.5, 0.7, 0.9])
    0.7
    """
    x = np.asarray(n_labels, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if x.ndim != 1 or x.shape != a.shape or len(x) == 0:
        raise ValueError(
            f"n_labels and accuracy must be 1-D of the same non-zero length; got "
            f"shapes {x.shape} and {a.shape}."
        )
    if np.any(np.diff(x) <= 0):
        raise ValueError("n_labels must be strictly increasing.")
    if not np.all(np.isfinite(a)) or np.any((a < 0) | (a > 1)):
        raise ValueError("accuracy must hold finite values in [0, 1].")
    if len(x) == 1:
        return float(a[0])
    return float(np.sum((a[1:] + a[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


@validate_params(
    {"estimator": [HasMethods(["fit"])], "X": "no_validation", "y": "no_validation"},
    prefer_skip_nested_validation=True,
)
def aulc_score(estimator, X=None, y=None):
    """Scorer for GridSearchCV: the AULC of a fitted ``ActiveLearningClassifier``.

    Reads the validation accuracies recorded in ``learning_curve_`` (set
    ``validation_fraction``); ``X`` and ``y`` are ignored. A Pipeline is
    scored by its last step.

    Examples
    --------
    ``GridSearchCV(ActiveLearningClassifier(..., validation_fraction=0.2),
    param_grid, scoring=aulc_score)``
    """
    final = getattr(estimator, "_final_estimator", estimator)
    curve = getattr(final, "learning_curve_", None)
    if curve is None:
        raise ValueError("aulc_score needs a fitted ActiveLearningClassifier (learning_curve_).")
    if any(r["accuracy"] is None for r in curve):
        raise ValueError(
            "The learning curve has no accuracies: fit the ActiveLearningClassifier with "
            "validation_fraction set."
        )
    return aulc([r["n_labels"] for r in curve], [r["accuracy"] for r in curve])

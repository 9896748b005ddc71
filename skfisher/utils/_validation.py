"""Declarative validation: scikit-learn's parameter constraints, and ours.

scikit-learn's constraint API (``sklearn.utils._param_validation``) and
``_fit_context`` are private; this is the one module of skfisher that imports
them, so that a change in scikit-learn touches one file. Every other module
imports its constraints from here.

scikit-learn's ``Interval(Integral, ...)`` and ``Interval(Real, ...)`` accept
``True`` and ``False`` (bool is a subclass of int); counts, sizes and rates
are never bools, so :class:`Integers` and :class:`Reals` refuse them.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Hidden",
    "Integers",
    "Interval",
    "InvalidParameterError",
    "Options",
    "Reals",
    "StrOptions",
    "check_param",
    "fit_context",
    "validate_parameter_constraints",
    "validate_params",
]

#: ``@fit_context(prefer_skip_nested_validation=...)``: validates an
#: estimator's parameters before its ``fit``
fit_context = _fit_context


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


class Integers(Interval):
    """Integers in ``[left, right]`` (by default ``left`` and up), never a bool.

    Parameters
    ----------
    left : int or None
        The lower bound; None for none.
    right : int or None, default=None
        The upper bound; None for none.
    closed : {"left", "right", "both", "neither"}, default="both"
        Which bounds belong to the interval (an absent bound is open).

    Examples
    --------
    >>> from skfisher.utils._validation import Integers
    >>> positive = Integers(1)
    >>> positive.is_satisfied_by(3), positive.is_satisfied_by(0), positive.is_satisfied_by(True)
    (True, False, False)
    """

    def __init__(self, left, right=None, *, closed="both"):
        super().__init__(Integral, left, right, closed=_closed(left, right, closed))

    def is_satisfied_by(self, val):
        return not _is_bool(val) and super().is_satisfied_by(val)


class Reals(Interval):
    """Real numbers in ``[left, right]``, never a bool; NaN never satisfies it.

    Parameters as :class:`Integers`.

    Examples
    --------
    >>> from skfisher.utils._validation import Reals
    >>> Reals(0, 1, closed="neither").is_satisfied_by(0.5)
    True
    """

    def __init__(self, left, right=None, *, closed="both"):
        super().__init__(Real, left, right, closed=_closed(left, right, closed))

    def is_satisfied_by(self, val):
        return not _is_bool(val) and super().is_satisfied_by(val)


def _closed(left, right, closed):
    """scikit-learn refuses a closed bound at None: close only the bounds that exist."""
    if closed != "both":
        return closed
    if left is None and right is None:
        return "neither"
    if left is None:
        return "right"
    if right is None:
        return "left"
    return "both"


def check_param(name, value, constraints, *, caller):
    """Check one value against constraints, with scikit-learn's error message.

    For values that arrive outside a parameter list (a record read from a
    file, a function's own computed argument); parameters of estimators and
    public functions are declared in ``_parameter_constraints`` or
    :func:`validate_params` instead.

    Parameters
    ----------
    name : str
        The name the message gives the value.
    value : object
        The value to check.
    constraints : list
        Constraints as in ``_parameter_constraints``; any one may hold.
    caller : str
        The function or estimator the message names.

    Returns
    -------
    value : object
        ``value`` unchanged.

    Raises
    ------
    InvalidParameterError
        A subclass of ValueError and TypeError whose message names ``name``,
        ``caller`` and what was expected.

    Examples
    --------
    >>> from skfisher.utils._validation import Integers, check_param
    >>> check_param("n_instances", 0, [Integers(1)], caller="query")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'n_instances' parameter of query must be an int in the range [1, inf). Got 0 instead.
    """  # noqa: E501
    validate_parameter_constraints({name: constraints}, {name: value}, caller)
    return value

"""Renamed keywords: the one shim behind every deprecated alias.

A renamed keyword keeps its old name for a release. The old name defaults to
:data:`DEPRECATED` (a string, so ``get_params`` and ``clone`` keep it); a
value given under it is used, with a FutureWarning that points at the user's
line, and giving both names is a ValueError.
"""

import os
import sys
import warnings

from sklearn.base import _fit_context
from sklearn.utils._param_validation import validate_params

__all__ = ["DEPRECATED", "renamed"]

#: The default of a renamed keyword's old name: the caller did not give it.
DEPRECATED = "deprecated"

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# files of sklearn's validation wrappers, which stand between a user and skfisher
_WRAPPERS = frozenset(f.__code__.co_filename for f in (validate_params, _fit_context))


def _user_stacklevel():
    """The ``stacklevel`` for ``warnings.warn`` called by this function's caller
    that names the first frame outside skfisher and sklearn's validation wrappers."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE) or frame.f_code.co_filename in _WRAPPERS
    ):
        frame, level = frame.f_back, level + 1
    return level


def renamed(owner, new_name, new, old_name, old, *, default=None, message=None):
    """The value of a renamed keyword: ``new``, or ``old`` when the caller gave it.

    Parameters
    ----------
    owner : str
        The function or class as messages name it, e.g. ``"FisherMask"``.
    new_name : str
        The keyword's current name.
    new : object
        The value given under ``new_name``.
    old_name : str
        The keyword's former name.
    old : object
        The value given under ``old_name``; :data:`DEPRECATED` when not given.
    default : object, default=None
        The default of ``new_name``: a ``new`` of its type and equal to it
        counts as not given.
    message : str, default=None
        The FutureWarning's text. None: ``"{owner}({old_name}=...) is
        deprecated and will be removed in the next release; use
        {new_name}=... instead."``

    Returns
    -------
    value : object
        ``new`` when ``old`` is :data:`DEPRECATED`, else ``old``.

    Raises
    ------
    ValueError
        When both names were given.

    Warns
    -----
    FutureWarning
        When ``old`` was given, attributed to the first caller outside
        skfisher (and outside sklearn's ``validate_params``/``_fit_context``
        wrappers).
    """
    if isinstance(old, str) and old == DEPRECATED:
        return new
    if not (isinstance(new, type(default)) and new == default):
        raise ValueError(
            f"{owner} got both {new_name}={new!r} and its deprecated alias "
            f"{old_name}={old!r}; give only {new_name}."
        )
    if message is None:
        message = (
            f"{owner}({old_name}=...) is deprecated and will be removed in the next "
            f"release; use {new_name}=... instead."
        )
    warnings.warn(message, FutureWarning, stacklevel=_user_stacklevel())
    return old

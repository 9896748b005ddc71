"""Compatibility fix for modAL-python 0.4.2.1 on scikit-learn >= 1.8.

modAL's learners call ``check_X_y(..., force_all_finite=...)``. scikit-learn
1.6 renamed that argument to ``ensure_all_finite`` and 1.8 removed the old
name, so ``ActiveLearner(...)``, ``teach`` and ``fit`` raise ``TypeError``.
:func:`patch_modal` replaces the ``check_X_y`` that ``modAL.models.learners``
imported with a wrapper that renames the argument. ``import skfisher`` calls
it once; it does nothing when modAL is not installed, when scikit-learn still
accepts ``force_all_finite``, or when it has run before.
"""

import functools
import importlib.util
import inspect

from sklearn.utils import validation

__all__ = ["patch_modal"]


def _accepts_force_all_finite():
    return "force_all_finite" in inspect.signature(validation.check_X_y).parameters


def patch_modal():
    """Make modAL's learners call ``check_X_y`` with ``ensure_all_finite``.

    Returns
    -------
    patched : bool
        True when modAL's ``check_X_y`` is (now or already) the wrapper,
        False when modAL is absent or needs no fix.
    """
    if importlib.util.find_spec("modAL") is None or _accepts_force_all_finite():
        return False
    from modAL.models import learners

    original = learners.check_X_y
    if getattr(original, "__skfisher_patch__", False):
        return True

    @functools.wraps(original)
    def check_X_y(*args, force_all_finite=None, **kwargs):
        if force_all_finite is not None:
            kwargs.setdefault("ensure_all_finite", force_all_finite)
        return original(*args, **kwargs)

    check_X_y.__skfisher_patch__ = True
    learners.check_X_y = check_X_y
    return True

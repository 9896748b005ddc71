"""Compatibility fixes for modAL-python 0.4.2.1 on today's numpy, pandas and scikit-learn.

modAL-python 0.4.2.1 (June 2023) is unmaintained. Three of its calls are gone
from the libraries it runs on, and one of its helpers fails on images:

``check_X_y``
    modAL's learners call ``check_X_y(..., force_all_finite=...)``.
    scikit-learn 1.6 renamed that argument to ``ensure_all_finite`` and 1.8
    removed the old name, so ``ActiveLearner(...)``, ``teach`` and ``fit`` raise
    ``TypeError``. A wrapper renames the argument.
``expected_error``
    ``modAL.expected_error`` annotates a parameter with ``np.float``, which
    numpy 1.24 removed, so the module fails to import. It is imported with
    ``np.float`` bound to ``float`` (what the alias was) for the duration of
    the import only; the name is only used in that annotation.
``data_vstack``
    ``modAL.utils.data.data_vstack`` stacks data frames with
    ``DataFrame.append``, which pandas 2.0 removed, so ``teach`` and the query
    strategies fail on pandas input. Data frames are stacked with
    ``pandas.concat`` as ``DataFrame.append`` did (rows given as Series become
    one row each); every other input goes to modAL's own function.
``add_row``
    ``modAL.utils.data.add_row`` appends a row with ``np.vstack``, which
    cannot append one image of shape ``(C, H, W)`` to images of shape
    ``(N, C, H, W)``, so ``expected_error_reduction`` fails on any data with
    more than two dimensions (modAL's ``example_tests/multidimensional_data.py``).
    This one is a modAL bug on every numpy, not a removed name; such rows are
    appended with ``np.concatenate``, everything else goes to modAL's function.

Each wrapper replaces the function in every loaded modAL module that imported
it; modAL modules imported later import the wrapper.

``import skfisher`` calls :func:`patch_modal`, which imports neither modAL nor
pandas: when modAL is already loaded it fixes it at once; otherwise it puts a
finder on ``sys.meta_path`` that fixes modAL as soon as the ``modAL`` package
is imported, and imports ``modAL.expected_error`` with ``np.float`` bound
whenever that module is loaded. So ``import skfisher`` works, and stays quick,
with only the required dependencies installed (pandas is only imported inside
the fixes, which run only once modAL, which needs it, is loaded). Each fix is
applied only when its failure shows (a probe call, or the import itself), so
each one does nothing when modAL is not installed, when the library still has
the old name, or when modAL is fixed upstream; running it again changes nothing.
"""

import functools
import importlib
import importlib.util
import inspect
import sys

import numpy as np
from scipy import sparse
from sklearn.utils import validation

__all__ = ["patch_modal"]


def _accepts_force_all_finite():
    return "force_all_finite" in inspect.signature(validation.check_X_y).parameters


def _is_patch(obj):
    return getattr(obj, "__skfisher_patch__", False)


def _wrap_modal(module, name, fails, wrapper_for):
    """Replace ``module.name`` with ``wrapper_for(original)`` if ``fails(original)``.

    The wrapper is bound wherever a loaded modAL module holds the original.
    Returns True when the wrapper is (now or already) in place.
    """
    original = getattr(module, name)
    if _is_patch(original):
        return True
    if not fails(original):
        return False
    wrapper = functools.wraps(original)(wrapper_for(original))
    wrapper.__skfisher_patch__ = True
    for module_name, loaded in list(sys.modules.items()):
        if module_name.split(".")[0] == "modAL" and getattr(loaded, name, None) is original:
            setattr(loaded, name, wrapper)
    return True


def _renaming_check_X_y(original):
    def check_X_y(*args, force_all_finite=None, **kwargs):
        if force_all_finite is not None:
            kwargs.setdefault("ensure_all_finite", force_all_finite)
        return original(*args, **kwargs)

    return check_X_y


def _patch_check_X_y():
    from modAL.models import learners

    return _wrap_modal(
        learners, "check_X_y", lambda _: not _accepts_force_all_finite(), _renaming_check_X_y
    )


def _append_frames(frame, others):
    """``frame.append(others)`` as pandas 1.5 computed it, for a list ``others``."""
    import pandas as pd

    if others and not isinstance(others[0], pd.DataFrame):
        rows = pd.DataFrame(others)  # each Series or dict is one row
        if frame.index.name is not None:
            rows.index.name = frame.index.name
        others = [rows]
    return pd.concat([frame, *others])


def _data_vstack_fails(data_vstack):
    import pandas as pd

    try:
        data_vstack([pd.DataFrame([[0]]), pd.DataFrame([[1]])])
    except AttributeError:
        return True
    return False


def _concat_data_vstack(original):
    import pandas as pd

    def data_vstack(blocks):
        # modAL's own order: anything sparse goes to scipy first
        if isinstance(blocks[0], pd.DataFrame) and not any(sparse.issparse(b) for b in blocks):
            return _append_frames(blocks[0], list(blocks[1:]))
        return original(blocks)

    return data_vstack


def _add_row_fails(add_row):
    try:
        add_row(np.zeros((1, 1, 1)), np.zeros((1, 1)))
    except ValueError:
        return True
    return False


def _image_add_row(original):
    def add_row(X, row):
        if isinstance(X, np.ndarray) and X.ndim > 2 and np.ndim(row) == X.ndim - 1:
            return np.concatenate((X, np.asarray(row)[np.newaxis]))
        return original(X, row)

    return add_row


def _patch_data_vstack():
    from modAL.utils import data

    return _wrap_modal(data, "data_vstack", _data_vstack_fails, _concat_data_vstack)


def _patch_add_row():
    from modAL.utils import data

    return _wrap_modal(data, "add_row", _add_row_fails, _image_add_row)


def _exec_expected_error(loader, module):
    """Run ``modAL.expected_error``'s code, with ``np.float`` bound if it needs it."""
    try:
        loader.exec_module(module)
        return
    except AttributeError as exc:
        if hasattr(np, "float") or "'float'" not in str(exc):
            raise
    np.float = float  # noqa: NPY001 (the alias numpy < 1.24 had, for this import only)
    try:
        loader.exec_module(module)  # again, from the top: it only defines names
    finally:
        del np.float  # noqa: NPY001
    module.__skfisher_patch__ = True


def _import_expected_error():
    name = "modAL.expected_error"
    if name not in sys.modules:
        _install_finder()
        importlib.import_module(name)
    return _is_patch(sys.modules[name])


_FIXES = {
    "check_X_y": _patch_check_X_y,
    "data_vstack": _patch_data_vstack,
    "add_row": _patch_add_row,
    "expected_error": _import_expected_error,
}


def _apply_fixes():
    return tuple(name for name, fix in _FIXES.items() if fix())


class _PatchingLoader:
    """A module's own loader, with ``exec_module`` replaced by ``run(loader, module)``."""

    def __init__(self, loader, run):
        self._loader, self._run = loader, run

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._run(self._loader, module)

    def __getattr__(self, name):  # get_source, is_package, ... as the loader has them
        return getattr(self._loader, name)


def _exec_then_fix(loader, module):
    loader.exec_module(module)
    _apply_fixes()


class _ModalFinder:
    """Fixes modAL when it is imported: the package once loaded, and the
    import of ``modAL.expected_error``; the other finders find the files."""

    _RUN = {"modAL": _exec_then_fix, "modAL.expected_error": _exec_expected_error}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._RUN:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, self._RUN[fullname])
                return spec
        return None


def _install_finder():
    if not any(isinstance(finder, _ModalFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ModalFinder())


def patch_modal():
    """Make modAL-python 0.4.2.1 work on the installed numpy, pandas and scikit-learn.

    Applies each fix described in :mod:`skfisher.utils._compat` that the
    installed versions need: at once when modAL is already imported, otherwise
    as soon as it is (so calling this imports neither modAL nor pandas).
    ``import skfisher`` calls it; calling it again changes nothing.

    Returns
    -------
    fixes : tuple of str
        Names of the fixes in effect, now or from an earlier call, out of
        ``"check_X_y"``, ``"data_vstack"``, ``"add_row"`` and
        ``"expected_error"``. Empty when modAL is not installed, not imported
        yet, or needs no fix.
    """
    if importlib.util.find_spec("modAL") is None:
        return ()
    _install_finder()
    if sys.modules.get("modAL") is None:
        return ()  # not imported yet: the finder fixes it when it is
    return _apply_fixes()

"""Renamed keywords: one shim (skfisher.utils._deprecation.renamed) behind every
deprecated alias, with its FutureWarning attributed to the user's line and
one ValueError for giving both names."""

import linecache
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from skfisher import ActiveLearningClassifier
from skfisher.active import run_active_learning
from skfisher.experiments import run_comparison
from skfisher.utils._deprecation import DEPRECATED, renamed


def test_renamed_returns_the_new_value_when_the_old_name_is_not_given():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert renamed("f", "n_instances", 3, "batch_size", DEPRECATED) == 3


def test_renamed_warns_at_the_callers_line_outside_the_package():
    with pytest.warns(FutureWarning) as record:
        assert renamed("f", "n_instances", None, "batch_size", 5) == 5
    (w,) = record
    assert str(w.message) == (
        "f(batch_size=...) is deprecated and will be removed in the next release; "
        "use n_instances=... instead."
    )
    assert w.filename == __file__


@pytest.mark.parametrize("new, default", [(4, None), (4, 5), (5.0, 5)])
def test_renamed_refuses_both_names(new, default):
    with pytest.raises(ValueError) as info:
        renamed("f", "n_instances", new, "batch_size", 5, default=default)
    assert str(info.value) == (
        f"f got both n_instances={new!r} and its deprecated alias batch_size=5; "
        "give only n_instances."
    )


def _first_rows(learner, X_pool, n_instances):
    return np.arange(n_instances), None


def _loop(**params):
    X = np.random.RandomState(0).randn(40, 3)
    y = np.arange(40) % 2
    run_active_learning(
        LogisticRegression(),
        _first_rows,
        X,
        y,
        n_initial=4,
        n_rounds=1,
        progress=False,
        **params,
    )


def _comparison(tmp_path, **params):
    try:
        run_comparison("digits", ["nope"], [0], tmp_path, **params)
    except ValueError as e:  # the check after the shim: nothing runs
        if "Unknown strategies" not in str(e):
            raise


def _meta_estimator(**params):
    X, y = load_iris(return_X_y=True)
    params = {"n_initial": 6, "random_state": 0, **params}
    ActiveLearningClassifier(LogisticRegression(), "entropy", **params).fit(X, y)


_LOOP_WARNING = (
    "{owner}(batch_size=...) is deprecated and will be removed in the next release; "
    "use n_instances=... instead."
)
_SIZE_WARNING = "{old} was renamed {new} in 0.2 and will be removed in 0.3; use {new}=2."

#: Every shim: (what is called, the owner messages name, old name, new name, warning).
SHIMS = [
    ("run_active_learning", "run_active_learning", "batch_size", "n_instances", _LOOP_WARNING),
    ("run_comparison", "run_comparison", "batch_size", "n_instances", _LOOP_WARNING),
    (
        "ActiveLearningClassifier",
        "ActiveLearningClassifier",
        "batch_size",
        "n_instances",
        _SIZE_WARNING,
    ),
    (
        "ActiveLearningClassifier",
        "ActiveLearningClassifier",
        "n_queries",
        "n_rounds",
        _SIZE_WARNING,
    ),
]


@pytest.fixture(params=SHIMS, ids=lambda shim: f"{shim[0]}-{shim[2]}")
def shim(request, tmp_path):
    """``(call(**params), name, owner, old, new, warning)``."""
    name, owner, old, new, warning = request.param
    if name == "run_active_learning":
        call = _loop
    elif name == "run_comparison":
        call = lambda **p: _comparison(tmp_path, **p)  # noqa: E731
    else:
        call = _meta_estimator
    return call, name, owner, old, new, warning.format(owner=owner, old=old, new=new)


def test_every_shim_warns_once_at_the_users_line(shim):
    """The warning names the line of this file that calls ``name``."""
    call, name, _, old, _, warning = shim
    with pytest.warns(FutureWarning) as record:
        call(**{old: 2})
    got = [
        (str(w.message), w.filename, f"{name}(" in linecache.getline(w.filename, w.lineno))
        for w in record
        if w.category is FutureWarning
    ]
    assert got == [(warning, __file__, True)]


def test_every_shim_refuses_both_names(shim):
    call, _, owner, old, new, _ = shim
    with pytest.raises(ValueError) as info:
        call(**{old: 2, new: 3})
    assert str(info.value) == (
        f"{owner} got both {new}=3 and its deprecated alias {old}=2; give only {new}."
    )

"""modAL's ActiveLearner driving skfisher on today's scikit-learn."""

import numpy as np
import pytest
import sklearn
from modAL.models import ActiveLearner, learners

import skfisher
from skfisher import _compat, entropy_sampling, least_confidence, margin_sampling, random_sampling

from conftest import make_net


def test_import_patches_modal_check_X_y():
    assert getattr(learners.check_X_y, "__skfisher_patch__", False)
    assert skfisher.patch_modal() is True  # idempotent
    assert not getattr(learners.check_X_y.__wrapped__, "__skfisher_patch__", False)


def test_patched_check_X_y_translates_force_all_finite():
    X = np.array([[1.0, np.nan], [0.0, 1.0]])
    learners.check_X_y(X, [0, 1], force_all_finite=False)
    with pytest.raises(ValueError, match="NaN"):
        learners.check_X_y(X, [0, 1], force_all_finite=True)


def test_patch_is_harmless_without_modal_or_when_not_needed(monkeypatch):
    monkeypatch.setattr(_compat.importlib.util, "find_spec", lambda name: None)
    assert _compat.patch_modal() is False
    monkeypatch.undo()
    monkeypatch.setattr(_compat, "_accepts_force_all_finite", lambda: True)
    original = learners.check_X_y
    assert _compat.patch_modal() is False
    assert learners.check_X_y is original


def test_unpatched_modal_fails_on_this_scikit_learn(monkeypatch, digits):
    """Guards the reason for the patch: without it ``teach`` fails."""
    if _compat._accepts_force_all_finite():
        pytest.skip(f"scikit-learn {sklearn.__version__} still accepts force_all_finite")
    monkeypatch.setattr(learners, "check_X_y", learners.check_X_y.__wrapped__)
    X, y, _, _ = digits
    learner = ActiveLearner(
        estimator=make_net(max_epochs=1), X_training=X[:20], y_training=y[:20]
    )
    with pytest.raises(TypeError, match="force_all_finite"):
        learner.teach(X[20:22], y[20:22])


@pytest.mark.parametrize(
    "strategy", [random_sampling, entropy_sampling, margin_sampling, least_confidence]
)
def test_active_learner_query_teach_score(digits, strategy):
    X, y, X_test, y_test = digits
    calls = []

    def counted(classifier, X_pool, n_instances=1):
        calls.append(1)
        return strategy(classifier, X_pool, n_instances)

    learner = ActiveLearner(
        estimator=make_net(max_epochs=3), query_strategy=counted,
        X_training=X[:40], y_training=y[:40],
    )
    pool = X[40:240]
    idx, rows = learner.query(pool, n_instances=2)
    assert len(calls) == 1  # a tuple is returned, so modAL calls the strategy once
    assert idx.shape == (2,) and len(set(idx.tolist())) == 2
    np.testing.assert_array_equal(rows, pool[idx])
    learner.teach(rows, y[40:240][idx])
    assert learner.X_training.shape == (42, 1, 8, 8)
    assert 0.0 <= learner.score(X_test, y_test) <= 1.0

"""modAL's ActiveLearner driving skfisher on today's scikit-learn."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import make_net
from modAL.models import ActiveLearner, learners
from modAL.utils import data
from scipy import sparse as sp

import skfisher
from skfisher import entropy_sampling, least_confidence, margin_sampling, random_sampling
from skfisher.utils import _compat

NEEDED = {
    "check_X_y": not _compat._accepts_force_all_finite(),
    "data_vstack": not hasattr(pd.DataFrame, "append"),
    "add_row": True,  # a modAL bug on every numpy
    "expected_error": not hasattr(np, "float"),
}


def test_import_applies_each_needed_fix_once():
    fixes = skfisher.utils.patch_modal()
    assert fixes == tuple(name for name, needed in NEEDED.items() if needed)
    assert skfisher.utils.patch_modal() == fixes  # idempotent
    for fixed in (learners.check_X_y, data.data_vstack, data.add_row):
        if _compat._is_patch(fixed):
            assert not _compat._is_patch(fixed.__wrapped__)  # wrapped once


def test_modal_imported_after_skfisher_is_fixed_on_import():
    """``import skfisher`` leaves modAL unloaded; importing modAL later applies the fixes."""
    code = (
        "import sys, skfisher\n"
        "assert 'modAL' not in sys.modules\n"
        "import modAL.expected_error\n"
        "from modAL.models import learners\n"
        "from modAL.utils import data\n"
        "from skfisher.utils import _compat\n"
        "print(*(n for n, f in [('check_X_y', learners.check_X_y), ('data_vstack',"
        " data.data_vstack), ('add_row', data.add_row), ('expected_error',"
        " modAL.expected_error)] if _compat._is_patch(f)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert tuple(proc.stdout.split()) == tuple(name for name, needed in NEEDED.items() if needed)


def test_patched_check_X_y_translates_force_all_finite():
    X = np.array([[1.0, np.nan], [0.0, 1.0]])
    learners.check_X_y(X, [0, 1], force_all_finite=False)
    with pytest.raises(ValueError, match="NaN"):
        learners.check_X_y(X, [0, 1], force_all_finite=True)


def test_patch_is_harmless_without_modal_or_when_not_needed(monkeypatch):
    monkeypatch.setattr(_compat.importlib.util, "find_spec", lambda name: None)
    assert _compat.patch_modal() == ()
    monkeypatch.undo()
    monkeypatch.setattr(_compat, "_accepts_force_all_finite", lambda: True)
    monkeypatch.setattr(learners, "check_X_y", learners.check_X_y.__wrapped__)
    original = learners.check_X_y
    assert _compat._patch_check_X_y() is False
    assert learners.check_X_y is original


def test_every_modal_module_gets_the_wrappers():
    import modAL.batch
    import modAL.utils

    for module in (modAL.utils, modAL.batch, learners, modAL.expected_error):
        assert _compat._is_patch(module.data_vstack)
    assert modAL.expected_error.add_row is data.add_row


def _frame(rows, index):
    return pd.DataFrame(rows, columns=["a", "b"], index=index)


def test_data_vstack_stacks_frames_as_dataframe_append_did():
    top, bottom = _frame([[1, 2]], [5]), _frame([[3, 4], [5, 6]], [0, 1])
    pd.testing.assert_frame_equal(
        data.data_vstack([top, bottom]), _frame([[1, 2], [3, 4], [5, 6]], [5, 0, 1])
    )
    # add_row(frame, series) as expected_error_reduction calls it: one more row
    _, row = next(bottom.iterrows())
    pd.testing.assert_frame_equal(data.add_row(top, row), _frame([[1, 2], [3, 4]], [5, 0]))
    # everything else goes to modAL's own function
    stacked = data.data_vstack([sp.csr_matrix(np.eye(2)), sp.csr_matrix(np.ones((1, 2)))])
    np.testing.assert_array_equal(stacked.toarray(), [[1, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(data.data_vstack((np.zeros(2), np.ones(1))), [0, 0, 1])


def test_unpatched_data_vstack_fails_on_this_pandas():
    if not NEEDED["data_vstack"]:
        pytest.skip(f"pandas {pd.__version__} still has DataFrame.append")
    with pytest.raises(AttributeError, match="append"):
        data.data_vstack.__wrapped__([_frame([[1, 2]], [0]), _frame([[3, 4]], [1])])


def test_add_row_appends_an_image_to_images():
    images, image = np.zeros((3, 1, 4, 4)), np.ones((1, 4, 4))
    stacked = data.add_row(images, image)
    assert stacked.shape == (4, 1, 4, 4)
    np.testing.assert_array_equal(stacked[-1], image)
    np.testing.assert_array_equal(
        data.add_row(np.zeros((2, 3)), np.ones(3)), [[0] * 3] * 2 + [[1] * 3]
    )
    with pytest.raises(ValueError):  # the bug the fix is for
        data.add_row.__wrapped__(images, image)


def test_fixes_leave_a_fixed_modal_alone(monkeypatch):
    def fixed_vstack(blocks):
        return pd.concat(blocks)

    def fixed_add_row(X, row):
        return np.concatenate((X, [row]))

    monkeypatch.setattr(data, "data_vstack", fixed_vstack)
    monkeypatch.setattr(data, "add_row", fixed_add_row)
    assert _compat._patch_data_vstack() is False
    assert _compat._patch_add_row() is False
    assert data.data_vstack is fixed_vstack and data.add_row is fixed_add_row


@pytest.fixture
def fresh_expected_error(monkeypatch):
    """Forget modAL.expected_error for one test; the old module comes back after."""
    import modAL

    monkeypatch.delitem(sys.modules, "modAL.expected_error")
    monkeypatch.setattr(modAL, "expected_error", modAL.expected_error)


def test_expected_error_imports_without_leaving_np_float(fresh_expected_error):
    assert _compat._import_expected_error() is True
    module = sys.modules["modAL.expected_error"]
    assert module.expected_error_reduction.__annotations__["p_subsample"] is float
    assert not hasattr(np, "float")


def test_expected_error_import_is_left_alone_where_it_works(fresh_expected_error, monkeypatch):
    monkeypatch.setattr(np, "float", float, raising=False)  # numpy < 1.24, or modAL fixed
    assert _compat._import_expected_error() is False
    assert not _compat._is_patch(sys.modules["modAL.expected_error"])


def test_unpatched_expected_error_fails_on_this_numpy():
    if not NEEDED["expected_error"]:
        pytest.skip(f"numpy {np.__version__} still has np.float")
    proc = subprocess.run(
        [sys.executable, "-c", "import modAL.expected_error"], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "np.float" in proc.stderr


def test_unpatched_modal_fails_on_this_scikit_learn(monkeypatch, digits):
    """Guards the reason for the patch: without it ``teach`` fails."""
    if _compat._accepts_force_all_finite():
        pytest.skip(f"scikit-learn {sklearn.__version__} still accepts force_all_finite")
    monkeypatch.setattr(learners, "check_X_y", learners.check_X_y.__wrapped__)
    X, y, _, _ = digits
    learner = ActiveLearner(estimator=make_net(max_epochs=1), X_training=X[:20], y_training=y[:20])
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
        estimator=make_net(max_epochs=3),
        query_strategy=counted,
        X_training=X[:40],
        y_training=y[:40],
    )
    pool = X[40:240]
    idx, rows = learner.query(pool, n_instances=2)
    assert len(calls) == 1  # a tuple is returned, so modAL calls the strategy once
    assert idx.shape == (2,) and len(set(idx.tolist())) == 2
    np.testing.assert_array_equal(rows, pool[idx])
    learner.teach(rows, y[40:240][idx])
    assert learner.X_training.shape == (42, 1, 8, 8)
    assert 0.0 <= learner.score(X_test, y_test) <= 1.0

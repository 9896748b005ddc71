"""The calling contract, checked for every registered strategy.

``strategy(classifier, X_pool, n_instances=1, **kw) -> (indices, scores)``:
distinct int64 rows of the pool, as many as asked for; the same picks for the
same ``random_state``; ``n_instances`` refused before any work; a modAL
learner, a bare estimator and a Pipeline all accepted.
"""

import inspect
import warnings

import numpy as np
import pytest
from conftest import make_net
from modAL.models import ActiveLearner
from sklearn.pipeline import make_pipeline

from skfisher import ImageReshaper
from skfisher.strategies import _SEEDED, STRATEGIES, get_strategy

NAMES = sorted(STRATEGIES)
N_POOL = 40


@pytest.fixture(scope="module")
def classifiers(digits):
    """The three forms of classifier a strategy accepts, fitted on 60 digits."""
    X, y = digits[0][:60], digits[1][:60]
    learner = ActiveLearner(estimator=make_net(), X_training=X, y_training=y)
    pipeline = make_pipeline(ImageReshaper((8, 8)), make_net()).fit(X.reshape(len(X), -1), y)
    return {"net": learner.estimator, "learner": learner, "pipeline": pipeline}


def _pool(digits, kind):
    pool = digits[0][200 : 200 + N_POOL]
    return pool.reshape(len(pool), -1) if kind == "pipeline" else pool


def _query(name, classifier, pool, n, seed=0):
    kwargs = {"random_state": seed} if name in _SEEDED else {}
    return STRATEGIES[name](classifier, pool, n, **kwargs)


@pytest.mark.parametrize("kind", ["net", "learner", "pipeline"])
@pytest.mark.parametrize("name", NAMES)
def test_distinct_int64_indices_of_the_right_length(classifiers, digits, name, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the defaults use no deprecated name
        idx, scores = _query(name, classifiers[kind], _pool(digits, kind), 5)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64 and idx.shape == (5,)
    assert len(set(idx.tolist())) == 5
    assert idx.min() >= 0 and idx.max() < N_POOL
    assert np.shape(scores) == (5,)


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_picks(classifiers, digits, name):
    pool = _pool(digits, "net")
    a = _query(name, classifiers["net"], pool, 4, seed=3)
    b = _query(name, classifiers["net"], pool, 4, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_seeded_strategies_are_those_with_a_random_state():
    for name, strategy in STRATEGIES.items():
        seeded = "random_state" in inspect.signature(strategy).parameters
        assert (name in _SEEDED) == seeded
        assert (get_strategy(name, random_state=0) is strategy) != seeded
    assert {"random", "fisher_mask", "bait", "badge", "kcenter_greedy"} <= _SEEDED


def test_random_sampling_depends_on_the_seed(digits):
    pool = _pool(digits, "net")
    picks = {tuple(_query("random", None, pool, 5, seed=s)[0]) for s in range(3)}
    assert len(picks) > 1


@pytest.mark.parametrize("n_instances", [0, -1, N_POOL + 1, 2.0, True, "3", None])
@pytest.mark.parametrize("name", NAMES)
def test_n_instances_refused_before_any_forward_pass(
    monkeypatch, classifiers, digits, name, n_instances
):
    net = classifiers["net"]
    rows = []
    forward = net.module_.forward
    monkeypatch.setattr(
        net.module_, "forward", lambda x, **k: rows.append(len(x)) or forward(x, **k)
    )
    with pytest.raises(ValueError, match=r"n_instances must be an int in \[1, \d+\]"):
        _query(name, net, _pool(digits, "net"), n_instances)
    assert rows == []


@pytest.mark.parametrize("name", NAMES)
def test_the_whole_pool_can_be_asked_for(classifiers, digits, name):
    pool = _pool(digits, "net")[:6]
    n = 3 if name == "bait" else 6  # bait over-selects twice as many, then drops
    idx, _ = _query(name, classifiers["net"], pool, n)
    assert sorted(idx.tolist()) == list(range(6)) if n == 6 else len(set(idx.tolist())) == 3

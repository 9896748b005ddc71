"""The calling contract and the estimator shape, checked for every registered strategy.

``strategy(classifier, X_pool, n_instances=1, **kw) -> (indices, scores)``:
distinct int64 rows of the pool, as many as asked for; the same picks for the
same ``random_state``; ``n_instances`` refused before any work; a modAL
learner, a bare estimator and a Pipeline all accepted. Every strategy is a
clonable :class:`QueryStrategy`, and its function form picks the same rows.
"""

import inspect

import numpy as np
import pytest
from conftest import make_net
from modAL.models import ActiveLearner
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

import skfisher
from skfisher import ImageReshaper
from skfisher.strategies import STRATEGIES, QueryStrategy, get_strategy

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


def _seeded(name):
    return "random_state" in STRATEGIES[name]().get_params()


def _query(name, classifier, pool, n, seed=0):
    return get_strategy(name, random_state=seed)(classifier, pool, n)


@pytest.mark.parametrize("kind", ["net", "learner", "pipeline"])
@pytest.mark.parametrize("name", NAMES)
def test_distinct_int64_indices_of_the_right_length(classifiers, digits, name, kind):
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
    seeded = {name for name in NAMES if _seeded(name)}
    assert seeded == {"random", "fisher_mask", "bait", "badge", "kcenter_greedy"}
    for name in NAMES:
        strategy = get_strategy(name, random_state=7)
        assert strategy.get_params().get("random_state", 7) == 7


# --- one shape: clonable estimators, the registry maps names to classes ---


@pytest.mark.parametrize("name", NAMES)
def test_every_strategy_is_a_clonable_estimator(name):
    cls = STRATEGIES[name]
    assert inspect.isclass(cls) and issubclass(cls, QueryStrategy)
    assert getattr(skfisher, cls.__name__) is cls  # exported at the top level
    estimator = cls()
    check_parameters_default_constructible(cls.__name__, estimator)
    check_no_attributes_set_in_init(cls.__name__, estimator)
    check_get_params_invariance(cls.__name__, estimator)
    params = estimator.get_params()
    assert set(params) == set(cls._parameter_constraints)
    assert "batch_size" not in params
    tuned = get_strategy(name, random_state=3)
    assert clone(tuned).get_params() == tuned.get_params()
    assert type(clone(tuned)) is cls
    assert repr(clone(tuned)) == repr(tuned)


#: The modAL-style function form of each registered strategy.
FUNCTIONS = {
    "fisher_mask": skfisher.fisher_mask,
    "bait": skfisher.bait,
    "random": skfisher.random_sampling,
    "entropy": skfisher.entropy_sampling,
    "margin": skfisher.margin_sampling,
    "least_confidence": skfisher.least_confidence,
    "kcenter_greedy": skfisher.kcenter_greedy,
    "badge": skfisher.badge,
}


def test_every_strategy_has_a_function_form():
    assert set(FUNCTIONS) == set(STRATEGIES)


@pytest.mark.parametrize("name", NAMES)
def test_the_function_and_the_class_pick_the_same_rows(classifiers, digits, name):
    pool, learner = _pool(digits, "net"), classifiers["learner"]
    params = {"random_state": 4} if _seeded(name) else {}
    by_function = FUNCTIONS[name](learner, pool, 4, **params)
    by_class = STRATEGIES[name](**params)(learner, pool, 4)
    np.testing.assert_array_equal(by_function[0], by_class[0])
    np.testing.assert_array_equal(by_function[1], by_class[1])


@pytest.mark.parametrize("name", ["fisher_mask", "bait", "kcenter_greedy"])
def test_x_labeled_is_a_call_argument(classifiers, digits, name):
    pool, net = _pool(digits, "net"), classifiers["net"]
    labeled = classifiers["learner"].X_training
    by_function = FUNCTIONS[name](net, pool, 3, X_labeled=labeled, random_state=0)
    by_learner = STRATEGIES[name](random_state=0)(classifiers["learner"], pool, 3)
    np.testing.assert_array_equal(by_function[0], by_learner[0])


def test_an_unknown_call_argument_is_refused(classifiers, digits):
    with pytest.raises(
        TypeError, match=r"MarginSampling takes no call argument\(s\) \['X_labeled'\]"
    ):
        STRATEGIES["margin"]()(classifiers["net"], _pool(digits, "net"), 2, X_labeled=None)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("coreset", {}, r"Unknown query strategy 'coreset'; choose one of \['badge', "),
        ("margin", {"lam": 1.0}, r"'margin' has no parameter\(s\) \['lam'\]; it takes none"),
        (
            "badge",
            {"sparsity": 0.1, "batch_size": 8},
            r"'badge' has no parameter\(s\) \['batch_size', 'sparsity'\]; it takes "
            r"\['forward_batch_size', 'output_layer'\] \(see skfisher.Badge\)",
        ),
        ("kcenter_greedy", {"forward_batch_size": 0}, "'forward_batch_size' parameter of"),
        ("fisher_mask", {"sparsity": 2.0}, "'sparsity' parameter of FisherMask"),
    ],
)
def test_registry_errors_name_the_strategy_and_its_parameters(name, params, message):
    with pytest.raises(ValueError, match=message):
        get_strategy(name, **params)


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

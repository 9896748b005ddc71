import copy

import numpy as np
import pytest
import torch
from conftest import make_net
from modAL.models import ActiveLearner, Committee
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfisher import (
    Bait,
    EntropySampling,
    FisherMask,
    ImageReshaper,
    badge,
    bait,
    entropy_sampling,
    fisher_mask,
    kcenter_greedy,
    least_confidence,
    margin_sampling,
    random_sampling,
)
from skfisher.active import PoolLearner
from skfisher.strategies import get_strategy, uncertainty_scores


class FixedProba:
    """An estimator whose predict_proba returns fixed rows."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, X):
        return self.proba[np.asarray(X, dtype=int).ravel()]


PROBA = [
    [0.5, 0.5, 0.0],  # 0: margin 0, entropy ln 2
    [0.9, 0.05, 0.05],  # 1: confident
    [1 / 3, 1 / 3, 1 / 3],  # 2: max entropy, least confident
    [0.5, 0.5, 0.0],  # 3: tie with 0
    [0.6, 0.3, 0.1],  # 4
]
POOL = np.arange(5)[:, None]


def test_scores_match_the_definitions():
    p = np.asarray(PROBA)
    ent = -np.array([sum(v * np.log(v) for v in row if v > 0) for row in p])
    np.testing.assert_allclose(uncertainty_scores(p, "entropy"), ent)
    np.testing.assert_allclose(uncertainty_scores(p, "margin"), [1, 0.15, 1, 1, 0.7])
    np.testing.assert_allclose(
        uncertainty_scores(p, "least_confidence"), [0.5, 0.1, 2 / 3, 0.5, 0.4]
    )
    with pytest.raises(ValueError, match="'method' parameter of uncertainty_scores"):
        uncertainty_scores(p, "variance")


@pytest.mark.parametrize(
    "strategy, expected",
    [(entropy_sampling, [2, 4, 0]), (margin_sampling, [0, 2, 3]), (least_confidence, [2, 0, 3])],
)
def test_uncertainty_picks_best_first_ties_to_lowest_index(strategy, expected):
    idx, scores = strategy(FixedProba(PROBA), POOL, n_instances=3)
    assert idx.tolist() == expected and idx.dtype == np.int64
    assert np.all(np.diff(scores) <= 0)


def test_learner_view_is_unwrapped():
    idx, _ = entropy_sampling(PoolLearner(FixedProba(PROBA), None), POOL, 1)
    assert idx.tolist() == [2]


def test_random_sampling_is_seeded_and_without_replacement():
    a, s = random_sampling(None, np.zeros((50, 2)), 20, random_state=1)
    b, _ = random_sampling(None, np.zeros((50, 2)), 20, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 20 and s.shape == (20,)
    with pytest.raises(ValueError, match="'random_state' parameter of RandomSampling"):
        random_sampling(None, np.zeros((50, 2)), 20, random_state="seed")


@pytest.mark.parametrize("n", [0, -1, 6, 2.0, True])
@pytest.mark.parametrize("strategy", [entropy_sampling, margin_sampling, random_sampling])
def test_n_instances_is_checked(strategy, n):
    with pytest.raises(ValueError, match=r"n_instances must be an int in \[1, 5\]"):
        strategy(FixedProba(PROBA), POOL, n_instances=n)


def test_get_strategy_names():
    assert isinstance(get_strategy("entropy"), EntropySampling)
    assert get_strategy("entropy") is not get_strategy("entropy")  # a new instance each time
    seeded = get_strategy("random", random_state=3)
    assert (
        seeded(None, POOL, 2)[0].tolist()
        == random_sampling(None, POOL, 2, random_state=3)[0].tolist()
    )
    with pytest.raises(ValueError, match="Unknown query strategy 'coreset'"):
        get_strategy("coreset")


# --- the estimators a strategy accepts: one resolution for all (strategies/_base.py) ---

GRADIENT_STRATEGIES = [fisher_mask, bait, badge, kcenter_greedy]
UNCERTAINTY = [entropy_sampling, margin_sampling, least_confidence]


@pytest.fixture(scope="module")
def flat_pipeline(digits):
    """ImageReshaper + net fitted on flat 64-column digit rows."""
    X, y = digits[0][:100], digits[1][:100]
    return make_pipeline(ImageReshaper((8, 8)), make_net(max_epochs=10)).fit(
        X.reshape(len(X), -1), y
    )


@pytest.mark.parametrize("strategy", GRADIENT_STRATEGIES + UNCERTAINTY)
def test_a_pipeline_is_queried_through_its_earlier_steps(flat_pipeline, digits, strategy):
    images = digits[0][200:260]
    flat = images.reshape(len(images), -1)
    kwargs = {} if strategy in UNCERTAINTY else {"random_state": 0}
    idx, _ = strategy(flat_pipeline, flat, 3, **kwargs)
    net = flat_pipeline[-1]
    expected, _ = strategy(net, images, 3, **kwargs)
    np.testing.assert_array_equal(idx, expected)


def test_modal_learner_with_a_pipeline_and_fisher_mask(flat_pipeline, digits):
    X, y = digits[0], digits[1]
    flat = X.reshape(len(X), -1)
    learner = ActiveLearner(
        estimator=copy.deepcopy(flat_pipeline),
        query_strategy=FisherMask(random_state=0),
        X_training=flat[:100],
        y_training=y[:100],
    )
    idx, rows = learner.query(flat[200:300], n_instances=4)
    # the labeled rows pass through the reshaper too
    by_hand, _ = FisherMask(random_state=0)(learner.estimator[-1], X[200:300], 4, X_labeled=X[:100])
    np.testing.assert_array_equal(idx, by_hand)
    assert rows.shape == (4, 64)


def test_a_committee_is_scored_by_its_consensus_or_refused():
    X = np.random.RandomState(0).randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    committee = Committee(
        [ActiveLearner(LogisticRegression(C=c), X_training=X, y_training=y) for c in (0.1, 1.0)]
    )
    idx, _ = entropy_sampling(committee, X, 3)
    expected, _ = entropy_sampling(FixedProbaFn(committee.predict_proba), X, 3)
    np.testing.assert_array_equal(idx, expected)
    for strategy in GRADIENT_STRATEGIES:
        with pytest.raises(ValueError, match="Committee has 2"):
            strategy(committee, X, 2)


class FixedProbaFn:
    def __init__(self, fn):
        self.predict_proba = fn


@pytest.mark.parametrize("strategy", GRADIENT_STRATEGIES)
def test_an_estimator_without_a_torch_module_is_named(strategy):
    X = np.random.RandomState(0).randn(30, 4)
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(ValueError, match="needs a skorch/torch classifier.*LogisticRegression"):
        strategy(clf, X, 2)
    assert entropy_sampling(clf, X, 2)[0].shape == (2,)  # any predict_proba will do


@pytest.mark.parametrize("strategy", UNCERTAINTY)
def test_non_finite_probabilities_are_an_error(strategy):
    proba = np.array(PROBA)
    proba[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        strategy(FixedProba(proba), POOL, 2)


@pytest.mark.parametrize("strategy", GRADIENT_STRATEGIES)
def test_non_finite_network_outputs_are_an_error(fitted_net, digits, strategy):
    broken = copy.deepcopy(fitted_net)
    with torch.no_grad():
        broken.module_.fc.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinity"):
        strategy(broken, digits[0][200:240], 3)


# --- parameters bound by get_strategy, and the reference preset ---


def test_get_strategy_binds_checked_parameters():
    seeded = get_strategy("fisher_mask", random_state=3, sparsity=0.005, layers=["layer4"])
    assert type(seeded) is FisherMask
    assert (
        seeded.get_params()
        == FisherMask(sparsity=0.005, layers=["layer4"], random_state=3).get_params()
    )
    assert get_strategy("kcenter_greedy", forward_batch_size=64).get_params() == {
        "forward_batch_size": 64,
        "output_layer": None,
        "random_state": None,
    }
    bait_ = get_strategy("bait", lam=0.01)
    assert type(bait_) is Bait and (bait_.lam, bait_.mask, bait_.backward_steps) == (
        0.01,
        "output",
        1,
    )
    with pytest.raises(
        ValueError,
        match=r"'fisher_mask' has no parameter\(s\) \['sparsty'\]; "
        r"it takes \['backward_steps', .*\(see skfisher.FisherMask\)",
    ):
        get_strategy("fisher_mask", sparsty=0.005)
    with pytest.raises(ValueError, match="'lam' parameter of Bait must be a float"):
        get_strategy("bait", lam=-1.0)
    with pytest.raises(
        ValueError,
        match=r"'entropy' has no parameter\(s\) \['lam'\]; it takes "
        r"none \(see skfisher.EntropySampling\)",
    ):
        get_strategy("entropy", lam=1.0)
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['n_instances'\]"):
        get_strategy("badge", n_instances=3)
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['batch_size'\]"):
        get_strategy("kcenter_greedy", batch_size=3)


#: The reference code's settings (sgchr273/FisherMask), stated here, not read from the defaults.
REFERENCE = dict(
    sparsity=0.002,
    mask="global",
    layers=None,
    fisher="exact",
    fisher_samples=1024,
    weighting="unweighted",
    lam=1.0,
    backward_steps=0,
)


def test_reference_preset_has_the_reference_settings():
    import re

    from sklearn.base import clone

    params = FisherMask.reference().get_params()
    defaults = FisherMask().get_params()
    assert {k: params[k] for k in REFERENCE} == REFERENCE
    assert {k: v for k, v in params.items() if k not in REFERENCE} == {
        k: v for k, v in defaults.items() if k not in REFERENCE
    }
    # the docstring names exactly the parameters where the preset leaves the defaults
    stated = re.search(r"Differs from the defaults in: (.*)\.", FisherMask.reference.__doc__)
    differing = {k for k in REFERENCE if params[k] != defaults[k]}
    assert set(re.findall(r"``(\w+)``", stated.group(1))) == differing
    # overrides win, and the preset round-trips through clone
    tuned = FisherMask.reference(random_state=0, lam=0.1)
    assert (tuned.random_state, tuned.lam, tuned.weighting) == (0, 0.1, "unweighted")
    assert clone(tuned).get_params() == tuned.get_params()


def test_reference_preset_queries_with_its_fisher_rows(fitted_net, digits):
    strategy = FisherMask.reference(random_state=0)
    idx, _ = strategy(fitted_net, digits[0][200:500], n_instances=4)
    assert len(set(idx.tolist())) == 4
    assert strategy.last_query_["fisher_rows"] == 300  # every row, up to 1024 ("auto": 100)

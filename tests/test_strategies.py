import numpy as np
import pytest

from skfisher import entropy_sampling, least_confidence, margin_sampling, random_sampling
from skfisher.experiments import PoolLearner
from skfisher.strategies import get_strategy, uncertainty_scores


class FixedProba:
    """An estimator whose predict_proba returns fixed rows."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, X):
        return self.proba[np.asarray(X, dtype=int).ravel()]


PROBA = [
    [0.5, 0.5, 0.0],   # 0: margin 0, entropy ln 2
    [0.9, 0.05, 0.05],  # 1: confident
    [1 / 3, 1 / 3, 1 / 3],  # 2: max entropy, least confident
    [0.5, 0.5, 0.0],   # 3: tie with 0
    [0.6, 0.3, 0.1],   # 4
]
POOL = np.arange(5)[:, None]


def test_scores_match_the_definitions():
    p = np.asarray(PROBA)
    ent = -np.array([sum(v * np.log(v) for v in row if v > 0) for row in p])
    np.testing.assert_allclose(uncertainty_scores(p, "entropy"), ent)
    np.testing.assert_allclose(uncertainty_scores(p, "margin"), [1, 0.15, 1, 1, 0.7])
    np.testing.assert_allclose(uncertainty_scores(p, "least_confidence"), [0.5, 0.1, 2 / 3, 0.5, 0.4])
    with pytest.raises(ValueError, match="method"):
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


@pytest.mark.parametrize("n", [0, -1, 6, 2.0, True])
@pytest.mark.parametrize("strategy", [entropy_sampling, margin_sampling, random_sampling])
def test_n_instances_is_checked(strategy, n):
    with pytest.raises(ValueError, match=r"n_instances must be an int in \[1, 5\]"):
        strategy(FixedProba(PROBA), POOL, n_instances=n)


def test_get_strategy_names():
    assert get_strategy("entropy") is entropy_sampling
    seeded = get_strategy("random", random_state=3)
    assert seeded(None, POOL, 2)[0].tolist() == random_sampling(None, POOL, 2, random_state=3)[0].tolist()
    with pytest.raises(ValueError, match="Unknown query strategy 'coreset'"):
        get_strategy("coreset")

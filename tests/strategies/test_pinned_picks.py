"""The rows each strategy picks on a fixed small problem, pinned before the
package was restructured: a move of code must not move a pick."""

import numpy as np
import pytest
import torch
from conftest import make_net

from skfisher import FisherMask, badge, bait, kcenter_greedy, margin_sampling
from skfisher.datasets import load_digits_images

PICKS = {
    "fisher_mask": [35, 30, 66, 52, 23, 96, 71, 82],
    "bait": [66, 67, 33, 82, 71, 44, 23, 27],
    "badge": [22, 54, 73, 63, 59, 41, 64, 42],
    "margin": [62, 58, 43, 61, 97, 46, 30, 57],
    "kcenter_greedy": [39, 69, 24, 36, 61, 16, 94, 27],
}


@pytest.fixture(scope="module")
def problem():
    # one thread for the module: float32 sums, and so weights and picks, depend on the count
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    X, y = load_digits_images(return_X_y=True)
    net = make_net(max_epochs=3).fit(X[:60], y[:60])
    yield net, X[60:160], X[:60]
    torch.set_num_threads(threads)


STRATEGIES = {
    "fisher_mask": lambda net, pool, labeled: FisherMask(random_state=0)(net, pool, 8),
    "bait": lambda net, pool, labeled: bait(net, pool, 8, random_state=0),
    "badge": lambda net, pool, labeled: badge(net, pool, 8, random_state=0),
    "margin": lambda net, pool, labeled: margin_sampling(net, pool, 8),
    "kcenter_greedy": lambda net, pool, labeled: kcenter_greedy(
        net, pool, 8, X_labeled=labeled, random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(PICKS))
def test_picks_are_pinned(problem, name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        indices, scores = STRATEGIES[name](*problem)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(indices, PICKS[name])
    assert len(scores) == 8

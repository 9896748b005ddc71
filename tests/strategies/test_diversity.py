"""Core-Set and BADGE against small brute-force versions."""

import numpy as np
import pytest
import torch

from skfisher import badge, kcenter_greedy
from skfisher.active import PoolLearner
from skfisher.strategies import badge_embeddings, kcenter_select, kmeanspp_select


def brute_kcenter(pool, labeled, k):
    chosen = []
    for _ in range(k):
        centers = np.concatenate([labeled, pool[chosen]]) if chosen else labeled
        d = np.array(
            [
                -1 if i in chosen else min(np.linalg.norm(p - c) for c in centers)
                for i, p in enumerate(pool)
            ]
        )
        chosen.append(int(np.argmax(d)))
    return chosen


def brute_kmeanspp(points, k, seed):
    rng = np.random.RandomState(seed)
    chosen = [int(np.argmax(np.linalg.norm(points, axis=1)))]
    while len(chosen) < k:
        d2 = np.array([min(np.sum((p - points[c]) ** 2) for c in chosen) for p in points])
        chosen.append(int(rng.choice(len(points), p=d2 / d2.sum())))
    return chosen


def test_kcenter_matches_brute_force():
    rng = np.random.RandomState(0)
    pool, labeled = rng.randn(40, 3), rng.randn(5, 3)
    idx, gaps = kcenter_select(torch.tensor(pool), 6, torch.tensor(labeled))
    assert idx.tolist() == brute_kcenter(pool, labeled, 6)
    assert np.all(np.diff(gaps) <= 0)


def test_kcenter_without_labeled_rows_starts_at_random():
    pool = torch.tensor(np.random.RandomState(1).randn(30, 2))
    a, gaps = kcenter_select(pool, 4, random_state=3)
    b, _ = kcenter_select(pool, 4, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert gaps[0] == np.inf and len(set(a.tolist())) == 4
    rest = brute_kcenter(pool.numpy(), pool.numpy()[a[:1]], 3)
    assert a[1:].tolist() == rest


def test_kmeanspp_matches_brute_force_draws():
    points = np.random.RandomState(2).randn(25, 4)
    idx, _ = kmeanspp_select(torch.tensor(points), 7, random_state=5)
    assert idx.tolist() == brute_kmeanspp(points, 7, 5)


def test_badge_embedding_is_the_loss_gradient_at_the_predicted_label():
    torch.manual_seed(0)
    fc = torch.nn.Linear(4, 3, bias=False).double()
    h = torch.randn(5, 4, dtype=torch.float64)
    logits = fc(h)
    expected = []
    for i in range(5):
        loss = torch.nn.functional.cross_entropy(logits[i : i + 1], logits[i : i + 1].argmax(1))
        expected.append(torch.autograd.grad(loss, fc.weight, retain_graph=True)[0].reshape(-1))
    torch.testing.assert_close(badge_embeddings(h, logits.detach()), torch.stack(expected))


def test_strategies_on_a_fitted_net(fitted_net, digits):
    X = digits[0]
    pool, labeled = X[200:320], X[:100]
    idx, _ = kcenter_greedy(PoolLearner(fitted_net, labeled), pool, 5)
    from skfisher.fisher._network import output_layer_inputs

    feats, _ = output_layer_inputs(fitted_net.module_, pool)
    lab, _ = output_layer_inputs(fitted_net.module_, labeled)
    assert idx.tolist() == brute_kcenter(feats.numpy(), lab.numpy(), 5)
    a, _ = badge(fitted_net, pool, 5, random_state=0)
    b, _ = badge(fitted_net, pool, 5, random_state=0)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 5
    with pytest.raises(ValueError, match="n_instances"):
        badge(fitted_net, pool, 0)


@pytest.mark.parametrize("strategy", [kcenter_greedy, badge])
@pytest.mark.parametrize(
    "params, message",
    [
        ({"forward_batch_size": 0}, "'forward_batch_size' parameter of"),
        ({"forward_batch_size": True}, "'forward_batch_size' parameter of"),
        ({"output_layer": 3}, "'output_layer' parameter of"),
        ({"random_state": "seed"}, "'random_state' parameter of"),
    ],
)
def test_bad_parameters_are_refused_before_any_forward_pass(
    monkeypatch, fitted_net, digits, strategy, params, message
):
    rows = []
    forward = fitted_net.module_.forward
    monkeypatch.setattr(
        fitted_net.module_, "forward", lambda x, **k: rows.append(len(x)) or forward(x, **k)
    )
    with pytest.raises(ValueError, match=message):
        strategy(fitted_net, digits[0][200:240], 2, **params)
    assert rows == []


@pytest.mark.parametrize("strategy", [kcenter_greedy, badge])
def test_batch_size_is_not_a_parameter(fitted_net, digits, strategy):
    with pytest.raises(TypeError, match="batch_size"):
        strategy(fitted_net, digits[0][200:240], 2, batch_size=8)

import copy

import numpy as np
import pytest
import torch
from _reference import exact_greedy_select
from conftest import make_net
from modAL.models import ActiveLearner
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from skfisher import Bait, FisherMask, bait, config_context, fisher_mask
from skfisher.active import PoolLearner
from skfisher.fisher import (
    FactoredRows,
    ParamLayout,
    build_mask,
    fisher_diagonal,
    masked_embeddings,
)
from skfisher.fisher._network import _PROBE_ROWS
from skfisher.selection import select_batch


def test_params_clone_and_grid(fitted_net):
    strategy = FisherMask(sparsity=0.005, lam=0.5, random_state=1)
    assert clone(strategy).get_params() == strategy.get_params()
    for params in ParameterGrid({"sparsity": [0.002, 0.01], "lam": [0.1, 1.0]}):
        est = clone(strategy).set_params(**params)
        assert est.sparsity == params["sparsity"] and est.lam == params["lam"]
        assert est.random_state == 1


def test_bare_estimator_equals_the_pipeline_by_hand(fitted_net, digits):
    pool = digits[0][200:400]
    idx, gains = FisherMask(fisher_samples=64, random_state=0)(fitted_net, pool, n_instances=6)
    # by hand: the same 64 Fisher rows, mask, embeddings and selection
    model = fitted_net.module_
    rows = np.sort(np.random.RandomState(0).choice(200, 64, replace=False))
    mask = build_mask(
        fisher_diagonal(model, pool[rows], forward_batch_size=128), ParamLayout(model), 0.002
    )
    V = masked_embeddings(model, pool, mask)
    np.testing.assert_array_equal(idx, select_batch(V.double(), 6, device="cpu"))
    assert gains.shape == (6,) and np.all(gains > 0)


def test_labeled_rows_enter_both_fisher_matrices(fitted_net, digits):
    X = digits[0]
    pool, labeled = X[200:400], X[:100]
    strategy = FisherMask(mask="output", random_state=0)
    idx, _ = strategy(PoolLearner(fitted_net, labeled), pool, n_instances=5)
    mask = build_mask(None, ParamLayout(fitted_net.module_), 0, method="output")
    V = masked_embeddings(fitted_net.module_, pool, mask)
    L = masked_embeddings(fitted_net.module_, labeled, mask)
    expected = select_batch(
        V.double(), 5, pool_fisher=torch.cat([V, L]), labeled_fisher=L, n_labeled=100, device="cpu"
    )
    np.testing.assert_array_equal(idx, expected)
    assert strategy.last_query_["mask_size"] == 1280


def test_same_random_state_same_picks(fitted_net, digits):
    pool = digits[0][200:500]
    a = fisher_mask(fitted_net, pool, 8, fisher_samples=50, random_state=7)[0]
    b = fisher_mask(fitted_net, pool, 8, fisher_samples=50, random_state=7)[0]
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 8


def test_diagnostics_of_the_last_query(fitted_net, digits):
    strategy = FisherMask(sparsity=0.004, random_state=0)
    strategy(fitted_net, digits[0][200:300], n_instances=3)
    info = strategy.last_query_
    n_params = sum(p.numel() for p in fitted_net.module_.parameters())
    assert info["mask_size"] == int(0.004 * n_params)
    assert sum(info["mask_layers"].values()) == info["mask_size"]
    assert info["mask_layers"]["fc.weight"] == fitted_net.module_.fc.weight.numel()
    assert set(info["seconds"]) == {"fisher_diagonal", "embeddings", "selection"}
    assert info["peak_memory"] == dict.fromkeys(info["seconds"])  # None: no GPU statistics
    assert info["storage"] == "device"
    assert info["objective"] > 0


@pytest.mark.parametrize("factored", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_low_precision_embeddings_stored_once(monkeypatch, fitted_net, digits, dtype, factored):
    from skfisher.strategies import _fisher_mask

    X = digits[0]
    pool, labeled = X[200:400], X[:60]
    seen = {}
    prepare = _fisher_mask.prepare

    def spy(V, *args, **kwargs):
        seen.update(V=V, L=kwargs["labeled_fisher"], pool=kwargs["pool_fisher"])
        return prepare(V, *args, **kwargs)

    with config_context(factored_output=factored):
        exact = FisherMask(random_state=0)
        idx64, _ = exact(PoolLearner(fitted_net, labeled), pool, n_instances=6)
        monkeypatch.setattr(_fisher_mask, "prepare", spy)
        low = FisherMask(embedding_dtype=dtype, random_state=0)
        idx, _ = low(PoolLearner(fitted_net, labeled), pool, n_instances=6)
    V, L = seen["V"], seen["L"]
    assert seen["pool"][0] is V and seen["pool"][1] is L  # blocks: no concatenation
    if factored:  # the output layer's factors, and the other masked entries stored
        assert isinstance(V, FactoredRows) and V.n_out == fitted_net.module_.fc.weight.numel()
        V, L = V.G.data, L.G.data
    assert V.dtype == L.dtype == getattr(torch, dtype)
    # pool and labeled rows are two views of one buffer
    assert V.untyped_storage().data_ptr() == L.untyped_storage().data_ptr()
    rel = abs(low.last_query_["objective"] - exact.last_query_["objective"])
    assert rel <= 1e-3 * exact.last_query_["objective"]
    assert len(set(idx) & set(idx64)) >= 5


@pytest.mark.parametrize(
    "params", [{}, {"mask": "output", "backward_steps": 1}, {"weighting": "unweighted", "lam": 0.1}]
)
def test_factored_output_layer_gives_the_dense_picks(fitted_net, digits, params):
    X = digits[0]
    pool, labeled = X[200:500], X[:60]
    runs = []
    for factored in (False, True):
        strategy = FisherMask(random_state=0, **params)
        with config_context(factored_output=factored):
            picks = strategy(PoolLearner(fitted_net, labeled), pool, n_instances=10)
        runs.append((*picks, strategy.last_query_["objective"]))
    (idx_dense, gains_dense, obj_dense), (idx, gains, obj) = runs
    np.testing.assert_array_equal(idx, idx_dense)
    np.testing.assert_allclose(gains, gains_dense, rtol=1e-6)
    # the dense path rounds the output block to float32 (the model's type) first
    assert obj == pytest.approx(obj_dense, rel=1e-6)


def test_bait_is_the_output_layer_with_a_backward_step(fitted_net, digits):
    pool = digits[0][200:300]
    a = bait(fitted_net, pool, 4)[0]
    b = FisherMask(mask="output", backward_steps=1)(fitted_net, pool, 4)[0]
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"times 2 for the backward steps"):
        bait(fitted_net, pool, 60)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lam": -1}, "'lam' parameter of FisherMask must be a float in the range"),
        ({"lam": float("inf")}, "'lam' parameter"),
        ({"sparsity": True}, "'sparsity' parameter of FisherMask must be a float in the range"),
        ({"lam": True}, "'lam' parameter"),
        ({"backward_steps": False}, "'backward_steps' parameter"),
        ({"max_candidates": True}, "'max_candidates' parameter"),
        ({"sparsity": 1.5}, "'sparsity' parameter"),
        ({"sparsity": 0.001}, "use sparsity >="),
        ({"output_layer": "head"}, "output_layer='head' names no module with parameters"),
        ({"weighting": "sqrt"}, "'weighting' parameter"),
        ({"mask": "magnitude"}, "'mask' parameter"),
        ({"fisher_samples": 0}, "'fisher_samples' parameter"),
        ({"backward_steps": -1}, "'backward_steps' parameter"),
        ({"forward_batch_size": 0}, "'forward_batch_size' parameter"),
        ({"forward_batch_size": True}, "'forward_batch_size' parameter"),
        ({"embedding_dtype": "int8"}, "'embedding_dtype' parameter"),
        ({"storage": "disk"}, "'storage' parameter"),
    ],
)
def test_bad_parameters_are_refused_before_any_forward_pass(
    monkeypatch, fitted_net, digits, params, message
):
    rows = []  # rows of each forward call
    forward = fitted_net.module_.forward
    monkeypatch.setattr(
        fitted_net.module_, "forward", lambda x, **k: rows.append(len(x)) or forward(x, **k)
    )
    with pytest.raises(ValueError, match=message):
        FisherMask(**params)(fitted_net, digits[0][200:260], 2)
    # at most the module's checks on a few probe rows, never the pool
    assert all(n <= _PROBE_ROWS for n in rows)


def test_numpy_scalars_are_accepted(fitted_net, digits):
    pool = digits[0][200:300]
    a = FisherMask(
        sparsity=np.float32(0.004), lam=np.float64(0.5), fisher_samples=np.int64(30), random_state=0
    )(fitted_net, pool, 3)[0]
    b = FisherMask(sparsity=float(np.float32(0.004)), lam=0.5, fisher_samples=30, random_state=0)(
        fitted_net, pool, 3
    )[0]
    np.testing.assert_array_equal(a, b)


def test_unfitted_estimator_is_refused(digits):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fisher_mask(make_net(), digits[0][:20], 2)


def test_bait_at_the_published_lam_is_exact_greedy(fitted_net, digits):
    # official BAIT's lam=0.01 against features 30 times larger (same predictions):
    # the removals used to lose their digits and pick another batch (docs/design.md, "Numerics")
    big = copy.deepcopy(fitted_net)
    with torch.no_grad():
        big.module_.fc.weight /= 30
    big.module_.fc.register_forward_pre_hook(lambda module, args: (args[0] * 30,))
    pool = digits[0][200:240]
    idx, _ = bait(big, pool, 5, lam=0.01)
    mask = build_mask(None, ParamLayout(big.module_), 0, method="output")
    V = masked_embeddings(big.module_, pool, mask).double().numpy()
    assert idx.tolist() == exact_greedy_select(V, 5, lam=0.01, backward_steps=1)[0]  # d=1280


def test_active_learner_with_fisher_mask_end_to_end(digits):
    X, y, X_test, y_test = digits
    strategy = FisherMask(random_state=0)
    learner = ActiveLearner(
        estimator=make_net(max_epochs=10),
        query_strategy=strategy,
        X_training=X[:50],
        y_training=y[:50],
    )
    pool_X, pool_y = X[50:650], y[50:650]
    before = learner.score(X_test, y_test)
    for _ in range(2):
        idx, rows = learner.query(pool_X, n_instances=12)
        assert len(set(idx.tolist())) == 12
        learner.teach(rows, pool_y[idx])
        pool_X, pool_y = np.delete(pool_X, idx, 0), np.delete(pool_y, idx, 0)
    assert learner.X_training.shape[0] == 74
    assert strategy.last_query_["mask_size"] == 1402
    assert learner.score(X_test, y_test) > before


@pytest.mark.parametrize("strategy", [fisher_mask, bait])
def test_a_lam_below_float64_resolution_is_a_clear_error(fitted_net, digits, strategy):
    with pytest.raises(ValueError, match="lam=1e-20 is too small against the scale"):
        strategy(fitted_net, digits[0][200:260], 3, lam=1e-20)


def _rows_per_forward(monkeypatch, net):
    rows = []
    forward = net.module_.forward
    monkeypatch.setattr(
        net.module_, "forward", lambda x, **k: rows.append(len(x)) or forward(x, **k)
    )
    return rows


def test_forward_batch_size_bounds_every_forward_pass(monkeypatch, fitted_net, digits):
    rows = _rows_per_forward(monkeypatch, fitted_net)
    FisherMask(forward_batch_size=7, fisher_samples=20, random_state=0)(
        fitted_net, digits[0][200:240], 2
    )
    assert rows and max(rows) <= 7


def test_batch_size_is_not_a_parameter():
    for cls in (FisherMask, Bait):
        assert "batch_size" not in cls().get_params()
        with pytest.raises(TypeError, match="batch_size"):
            cls(batch_size=8)


def test_bait_is_fisher_mask_with_bait_defaults():
    assert issubclass(Bait, FisherMask)
    params, defaults = Bait().get_params(), FisherMask().get_params()
    assert {k for k in params if params[k] != defaults[k]} == {"mask", "backward_steps"}
    assert (params["mask"], params["backward_steps"]) == ("output", 1)
    assert type(Bait.reference()) is FisherMask  # the reference preset is FisherMask's

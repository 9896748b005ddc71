"""The cheap query: the sampled Fisher diagonal, max_candidates, fisher_samples="auto",
and the --floor benchmark's result keys."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _reference import autograd_problem, randomise_batchnorm
from sklearn.base import clone
from torch import nn

from skfisher import FisherMask, config_context
from skfisher.fisher import ParamLayout, fisher_diagonal
from skfisher.fisher._paths import group_sq_sums, split_paths


def wide_net():
    """Conv with 36 positions (the per-pass matmul path of the exact squares),
    conv with 4 (the position-pair path), BN, a LayerNorm (the generic path), linear."""
    torch.manual_seed(0)
    return randomise_batchnorm(
        nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1),
            nn.BatchNorm2d(3),
            nn.ReLU(),
            nn.Conv2d(3, 4, 3, stride=3, bias=True),
            nn.ReLU(),
            nn.Flatten(),
            nn.LayerNorm(16),
            nn.Linear(16, 6),
        ).double(),
        affine=False,
    )


@pytest.fixture(scope="module")
def problem():
    return autograd_problem(wide_net(), n_rows=5, seed=2)


def test_exact_diagonal_matches_autograd_on_both_square_paths(problem):
    net, X, J, p = problem
    expected = (p[:, :, None] * J**2).sum(1).mean(0)
    torch.testing.assert_close(
        fisher_diagonal(net, X, forward_batch_size=2), expected, rtol=1e-10, atol=1e-14
    )


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_diagonal_in_chunks_of_one_row_is_unchanged(problem, method):
    net, X, _, _ = problem
    whole = fisher_diagonal(net, X, forward_batch_size=5, method=method, random_state=0)
    with config_context(square_elements=1):  # one row per product
        chunked = fisher_diagonal(net, X, forward_batch_size=5, method=method, random_state=0)
    torch.testing.assert_close(
        chunked,
        whole,
        rtol=1e-12,
        atol=1e-15,
    )


def test_sampled_diagonal_of_a_class_is_its_squared_gradient(problem):
    """Each draw gives one class's squared gradient, on the hooked and generic paths;
    weighted by p the draws sum to the exact diagonal (the estimator is unbiased)."""
    net, X, J, p = problem
    layout = ParamLayout(net)
    groups = [(j, None) for j in range(len(layout.names))]
    hooked, generic = split_paths(net, layout, X, groups)
    assert hooked and generic
    expectation = torch.zeros(layout.n_params, dtype=torch.float64)
    for c in range(p.shape[1]):
        sums = group_sq_sums(
            net, X, layout, hooked, generic, lambda prob, c=c: torch.full((len(prob),), c)
        )
        got = torch.cat([sums[j] for j in range(len(layout.names))])
        torch.testing.assert_close(got, (J[:, c] ** 2).sum(0), rtol=1e-10, atol=1e-14)
        expectation += (p[:, c, None] * J[:, c] ** 2).sum(0)
    torch.testing.assert_close(
        expectation / len(X), fisher_diagonal(net, X), rtol=1e-10, atol=1e-14
    )


def test_sampled_draws_follow_p_and_average_to_the_exact_diagonal(problem):
    net, X, J, p = problem
    exact = fisher_diagonal(net, X)
    draws = [fisher_diagonal(net, X, method="sampled", random_state=s) for s in range(400)]
    mean = torch.stack(draws).mean(0)
    # 400 draws: the relative error of the largest entries is a few percent
    top = exact > exact.quantile(0.5)
    assert ((mean[top] - exact[top]).abs() / exact[top]).median() < 0.1
    torch.testing.assert_close(fisher_diagonal(net, X, method="sampled", random_state=3), draws[3])


def test_unknown_method_is_refused(problem):
    net, X, _, _ = problem
    with pytest.raises(ValueError, match="method must be one of"):
        fisher_diagonal(net, X, method="mc")


@pytest.fixture(scope="module")
def pool(digits):
    return digits[0][100:220]


def test_new_parameters_round_trip():
    s = FisherMask(fisher="sampled", max_candidates=50, fisher_samples="auto")
    params = s.get_params()
    assert {k: params[k] for k in ("fisher", "max_candidates", "fisher_samples")} == {
        "fisher": "sampled",
        "max_candidates": 50,
        "fisher_samples": "auto",
    }
    assert clone(s).get_params() == params


@pytest.mark.parametrize(
    "params, message",
    [
        ({"fisher": "mc"}, "The 'fisher' parameter of FisherMask must be a str among"),
        ({"max_candidates": 0}, r"The 'max_candidates' parameter of FisherMask must be an int"),
        ({"max_candidates": 2.5}, r"The 'max_candidates' parameter of FisherMask must be an int"),
        ({"max_candidates": True}, r"'max_candidates' parameter of FisherMask must be an int"),
        ({"fisher_samples": "all"}, r"The 'fisher_samples' parameter of FisherMask must be"),
        (
            {"max_candidates": 5, "backward_steps": 1},
            r"max_candidates=5 scores fewer rows than n_instances=3 times 2 for the backward "
            r"steps; use max_candidates >= 6",
        ),
    ],
)
def test_bad_parameters_are_refused_before_work(fitted_net, pool, params, message):
    strategy = FisherMask(**params)
    with pytest.raises(ValueError, match=message):
        strategy(fitted_net, pool, n_instances=3)
    assert not hasattr(strategy, "last_query_")


def test_fisher_samples_auto(fitted_net, pool):
    exact = FisherMask(random_state=0)
    exact(fitted_net, pool, n_instances=2)
    assert exact.last_query_["fisher_rows"] == 40  # ceil(120 / 3)
    sampled = FisherMask(fisher="sampled", random_state=0)
    sampled(fitted_net, pool, n_instances=2)
    assert sampled.last_query_["fisher_rows"] == 120
    assert FisherMask()._fisher_rows(10**6) == 1024
    bait = FisherMask(mask="output")
    bait(fitted_net, pool, n_instances=2)
    assert bait.last_query_["fisher_rows"] == 0


def test_sampled_query_is_deterministic(fitted_net, pool):
    picks = [
        FisherMask(fisher="sampled", fisher_samples=120, random_state=0)(fitted_net, pool, 5)[0]
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*picks)


def test_max_candidates_at_least_the_pool_changes_nothing(fitted_net, pool):
    base = FisherMask(random_state=0, backward_steps=1)
    want = base(fitted_net, pool, n_instances=4)
    for bound in (len(pool), len(pool) + 7):
        s = FisherMask(random_state=0, backward_steps=1, max_candidates=bound)
        got = s(fitted_net, pool, n_instances=4)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1])
        assert s.last_query_["candidates"] is None


def test_max_candidates_picks_from_a_seeded_subset(fitted_net, pool):
    s = FisherMask(random_state=0, max_candidates=30)
    idx, gains = s(fitted_net, pool, n_instances=4)
    scored = s.last_query_["candidates"]
    assert len(scored) == 30 and np.all(np.diff(scored) > 0)
    assert set(idx) <= set(scored)
    # the same as querying the subset with the same mask
    again = FisherMask(random_state=0, max_candidates=30)(fitted_net, pool, n_instances=4)
    np.testing.assert_array_equal(again[0], idx)
    other = FisherMask(random_state=1, max_candidates=30)
    other(fitted_net, pool, n_instances=4)
    assert not np.array_equal(other.last_query_["candidates"], scored)


def test_bench_query_floor_quick_writes_its_keys(tmp_path, monkeypatch):
    bench = Path(__file__).parents[2] / "benchmarks"
    monkeypatch.syspath_prepend(str(bench))
    sys.modules.pop("bench_query", None)
    import bench_query

    path = bench_query.main(["--floor", "--quick", "--output-dir", str(tmp_path)])
    result = json.loads(Path(path).read_text())
    assert {"machine", "threads", "settings"} <= set(result)
    (setting,) = result["settings"]
    assert {
        "name",
        "data",
        "pool",
        "K",
        "predict_seconds",
        "fit_seconds",
        "queries",
        "sampled_mask_overlap",
    } <= set(setting)
    assert set(setting["queries"]) == {
        "fisher_mask",
        "fisher_mask_sampled",
        "bait",
        "fisher_mask_dense",
        "bait_dense",
    }
    assert not setting["queries"]["bait_dense"]["factored_output_layer"]
    assert setting["queries"]["bait"]["factored_output_layer"]
    query = setting["queries"]["fisher_mask"]
    assert {
        "passes_per_row",
        "seconds",
        "fisher_rows",
        "mask_layers",
        "peak_memory_bytes",
        "query_over_fit",
    } <= set(query)
    assert set(query["passes_per_row"]) == {"fisher_diagonal", "embeddings", "selection", "total"}
    assert setting["queries"]["bait"]["fisher_rows"] == 0
    assert 0 <= setting["sampled_mask_overlap"] <= 1
    table = bench_query.floor_table(result).splitlines()
    assert len(table) == 2 + 5 and table[2].startswith("| digits (main job) | FisherMask | ")
    assert result["targets"] == []  # --quick runs digits only; the targets are at 28x28


def test_floor_targets_say_met_or_by_how_much_missed():
    bench = Path(__file__).parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        import bench_query
    finally:
        sys.path.remove(str(bench))
    passes = {"fisher_diagonal": 30.0, "embeddings": 12.0, "selection": 2.5, "total": 26.0}
    queries = {
        q: {"passes_per_row": dict(passes)} for q in ("fisher_mask", "fisher_mask_sampled", "bait")
    }
    targets = bench_query.floor_targets([{"name": "28x28", "queries": queries}])
    assert len(targets) == len(bench_query.TARGETS)
    diagonal = next(
        t for t in targets if t["query"] == "fisher_mask" and t["phase"] == "fisher_diagonal"
    )
    assert diagonal == {
        "setting": "28x28",
        "query": "fisher_mask",
        "phase": "fisher_diagonal",
        "target": 25,
        "measured": 30.0,
        "met": False,
        "missed_by": 5.0,
    }
    embeddings = next(t for t in targets if t["phase"] == "embeddings")
    assert embeddings["met"] and embeddings["missed_by"] == 0  # at the limit counts as met
    assert bench_query.floor_targets([{"name": "digits", "queries": queries}]) == []

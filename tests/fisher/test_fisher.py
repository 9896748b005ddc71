"""Fisher diagonal, mask and embeddings against plain autograd and closed forms."""

import numpy as np
import pytest
import torch
from _reference import autograd_problem, randomise_batchnorm
from torch import nn

from skfisher import ResNet18, config_context, get_config
from skfisher.fisher import (
    ParamLayout,
    build_mask,
    fisher_diagonal,
    mask_summary,
    masked_embeddings,
)


def small_net():
    """Conv (stride, padding, bias; 9 positions) -> BN -> conv (1 position) -> BN -> linear."""
    torch.manual_seed(0)
    return randomise_batchnorm(
        nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1, stride=2),
            nn.BatchNorm2d(3),
            nn.ReLU(inplace=True),
            nn.Conv2d(3, 4, 3, bias=False),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4, 5),
        ).double()
    )


@pytest.fixture(scope="module")
def problem():
    return autograd_problem(small_net(), n_rows=7, seed=1)


def test_fisher_diagonal_matches_autograd(problem):
    net, X, J, p = problem
    expected = (p[:, :, None] * J**2).sum(1).mean(0)
    got = fisher_diagonal(net, X, forward_batch_size=3)
    assert got.dtype == torch.float64 and got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("weighting", ["fisher", "unweighted"])
def test_masked_embeddings_match_autograd(problem, weighting):
    net, X, J, p = problem
    indices = np.sort(np.random.RandomState(0).choice(J.shape[2], 40, replace=False))
    got = masked_embeddings(
        net, X, indices, weighting=weighting, forward_batch_size=4, dtype=torch.float64
    )
    expected = J[:, :, indices]
    if weighting == "fisher":
        expected = expected * p.sqrt()[:, :, None]
    assert got.shape == (7, 5, 40)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-14)


def test_masked_embeddings_write_into_out(problem):
    net, X, J, p = problem
    indices = np.arange(0, J.shape[2], 3)
    expected = masked_embeddings(net, X, indices, forward_batch_size=3, dtype=torch.float64)
    out = torch.full((7, 5, len(indices)), np.nan, dtype=torch.bfloat16)
    got = masked_embeddings(net, X, indices, forward_batch_size="auto", out=out)
    assert got is out and torch.isfinite(got.float()).all()
    torch.testing.assert_close(got, expected.to(torch.bfloat16), rtol=0, atol=0)
    with pytest.raises(ValueError, match=rf"out must have shape \(7, n_classes, {len(indices)}\)"):
        masked_embeddings(net, X, indices, out=out[:6])
    with pytest.raises(ValueError, match="out has 4 classes but the model outputs 5"):
        masked_embeddings(net, X, indices, out=out[:, :4].contiguous())
    for bad in (0, -2, 2.5, "big", True):
        with pytest.raises(ValueError, match="forward_batch_size must be an int >= 1 or 'auto'"):
            fisher_diagonal(net, X, forward_batch_size=bad)


def test_auto_forward_batch_size_on_the_cpu_is_the_default(problem):
    from skfisher.fisher._persample import auto_forward_batch_size

    net, X = problem[0], problem[1]
    probe = lambda xb: pytest.fail("no probe on the CPU")  # noqa: E731
    assert auto_forward_batch_size(net, X, probe) == get_config()["cpu_forward_batch_size"]
    with config_context(cpu_forward_batch_size=7):
        assert auto_forward_batch_size(net, X, probe) == 7


def test_eval_mode_is_restored(problem):
    net = problem[0]
    net.train()
    fisher_diagonal(net, problem[1][:2])
    assert net.training and net[1].training
    net.eval()


def test_last_layer_embedding_has_the_closed_form():
    model = ResNet18(1, 4, width=16).double().eval()
    X = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    layout = ParamLayout(model)
    fc = layout.names.index("fc.weight")
    indices = np.arange(layout.offsets[fc], layout.offsets[fc] + layout.sizes[fc])
    got = masked_embeddings(model, X, indices, dtype=torch.float64)
    with torch.no_grad():
        h = model.features(X)
        p = torch.softmax(model.fc(h), 1)
    # ∇_W log p_c = (e_c - p) ⊗ h, weighted by √p_c
    expected = (torch.eye(4, dtype=torch.float64)[None] - p[:, None, :])[..., None] * h[
        :, None, None, :
    ]
    expected = (expected * p.sqrt()[:, :, None, None]).reshape(6, 4, -1)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_layers_without_hooks_take_the_generic_path():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.LayerNorm(3))
    layout = ParamLayout(net)
    assert layout.hookable == [True, True, False, False]


@pytest.fixture(scope="module")
def resnet():
    model = ResNet18(1, 10, width=16).eval()
    layout = ParamLayout(model)
    diag = torch.rand(layout.n_params, generator=torch.Generator().manual_seed(0))
    return model, layout, diag.numpy()


def test_global_mask_is_output_layer_plus_top_middle_entries(resnet):
    _, layout, diag = resnet
    indices = build_mask(diag, layout, 0.002)
    assert len(indices) == int(0.002 * layout.n_params)
    assert np.all(np.diff(indices) > 0)
    fc = layout.names.index("fc.weight")
    out = np.arange(layout.offsets[fc], layout.offsets[fc] + layout.sizes[fc])
    assert np.isin(out, indices).all()
    middle = np.setdiff1d(np.arange(layout.n_params), out)
    top = middle[np.argsort(-diag[middle])[: len(indices) - len(out)]]
    np.testing.assert_array_equal(np.setdiff1d(indices, out), np.sort(top))


def test_mask_ties_go_to_the_lowest_index(resnet):
    _, layout, _ = resnet
    indices = build_mask(np.ones(layout.n_params), layout, 0.002)
    n_mid = int(0.002 * layout.n_params) - 1280
    np.testing.assert_array_equal(indices[:n_mid], np.arange(n_mid))


def test_per_layer_random_output_and_layer_options(resnet):
    _, layout, diag = resnet
    k = int(0.01 * layout.n_params)
    per_layer = mask_summary(build_mask(diag, layout, 0.01, method="per_layer"), layout)
    middle = [s for s in per_layer if not s["name"].startswith("fc")]
    assert sum(s["selected"] for s in per_layer) == k
    share = (k - 1280) / sum(s["size"] for s in middle)
    assert all(abs(s["selected"] - share * s["size"]) < 1 for s in middle)
    r1 = build_mask(diag, layout, 0.01, method="random", random_state=0)
    r2 = build_mask(diag, layout, 0.01, method="random", random_state=0)
    np.testing.assert_array_equal(r1, r2)
    assert len(r1) == k
    out = build_mask(None, layout, 0.5, method="output")
    assert len(out) == 1280
    only = mask_summary(build_mask(diag, layout, 0.01, layers=["layer4"]), layout)
    assert {s["name"].split(".")[0] for s in only if s["selected"]} == {"layer4", "fc"}


def test_too_small_sparsity_names_the_smallest_that_works(resnet):
    _, layout, diag = resnet
    with pytest.raises(ValueError, match=r"use sparsity >= ([0-9.]+)") as info:
        build_mask(diag, layout, 0.0015)
    smallest = float(info.value.args[0].rsplit(">= ", 1)[1].rstrip("."))
    assert len(build_mask(diag, layout, smallest)) > 1280


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparsity": 0.0}, "sparsity must be"),
        ({"sparsity": 0.01, "method": "magnitude"}, "mask method"),
        ({"sparsity": 0.01, "output_layer": "head"}, "names no parameter"),
        ({"sparsity": 0.01, "layers": ["layer9"]}, "matches no parameter"),
    ],
)
def test_mask_errors(resnet, kwargs, message):
    _, layout, diag = resnet
    with pytest.raises(ValueError, match=message):
        build_mask(diag, layout, **kwargs)


def test_a_layer_that_does_not_reach_the_output_has_zero_gradients():
    class WithDeadBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.unused = nn.Linear(3, 4)

        def forward(self, x):
            self.unused(x)  # computed, never used
            return self.fc(x)

    net = WithDeadBranch().double()
    X = torch.randn(4, 3, dtype=torch.float64)
    diag = fisher_diagonal(net, X)
    layout = ParamLayout(net)
    dead = slice(layout.offsets[2], layout.n_params)
    assert torch.all(diag[dead] == 0) and torch.all(diag[: layout.offsets[2]] > 0)


@pytest.mark.parametrize("pattern", ["dense", "sparse"])
def test_weight_entries_both_paths_match_the_full_gradient(pattern):
    from skfisher.fisher import _entries

    g = torch.Generator().manual_seed(0)
    G, U = torch.randn(3, 6, 5, generator=g), torch.randn(3, 40, 5, generator=g)
    full = torch.bmm(G, U.transpose(1, 2)).reshape(3, -1)  # (B, O * K)
    # dense: most entries of two output rows; sparse: one entry in each of five rows
    index = torch.tensor(
        [41, 45, 50, 60, 79, 120, 121, 150, 159] if pattern == "dense" else [3, 47, 95, 130, 201]
    )
    rows = torch.unique(index // 40)
    assert (len(rows) * 40 <= 10 * len(index)) == (pattern == "dense")
    with config_context(dense_ratio=10, gather_elements=3 * 5 * 2):  # two entries a chunk
        entries = _entries.WeightEntries(index, 40)
        assert entries.dense == (pattern == "dense")
        torch.testing.assert_close(_entries.weight_entries(G, U, entries), full[:, index])

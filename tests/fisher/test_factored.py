"""Factored embedding rows (output block D_x ⊗ h_x) against their dense matrix."""

import numpy as np
import pytest
import torch
from _reference import brute_force_select
from torch import nn

from skfisher import config_context
from skfisher.fisher import (
    EmbeddingRows,
    ParamLayout,
    factorable_output,
    factored_embeddings,
    masked_embeddings,
)
from skfisher.fisher._embeddings import factored_rows
from skfisher.fisher._factored import FactoredRows, output_factor
from skfisher.selection._greedy import LocalPool
from skfisher.selection._problem import prepare


def _factors(n, C, h, m, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    prob = torch.softmax(3 * torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    H = torch.randn(n, h, generator=g, dtype=torch.float64)
    G = torch.randn(n, C, m, generator=g, dtype=torch.float64).to(dtype) if m else None
    return prob, H, G


def _rows(prob, H, G, weighting="fisher", scale=1.0):
    C = prob.shape[1]
    rows = None if G is None else EmbeddingRows(G.reshape(-1, G.shape[2]), "cpu", group=C)
    return FactoredRows(output_factor(prob, weighting), H, rows, scale=scale)


def _dense(prob, H, G, weighting="fisher", scale=1.0):
    """V_x = [w_c (e_c - p) ⊗ h | G_x] written out entry by entry."""
    n, C = prob.shape
    w = prob.sqrt() if weighting == "fisher" else torch.ones_like(prob)
    V = torch.zeros(n, C, C * H.shape[1] + (0 if G is None else G.shape[2]), dtype=torch.float64)
    for x in range(n):
        for c in range(C):
            e = -prob[x].clone()
            e[c] += 1
            V[x, c, : C * H.shape[1]] = w[x, c] * torch.outer(e, H[x]).reshape(-1)
            if G is not None:
                V[x, c, C * H.shape[1] :] = G[x, c].double()
    return V * scale


@pytest.mark.parametrize("m", [0, 7])
@pytest.mark.parametrize("weighting", ["fisher", "unweighted"])
@pytest.mark.parametrize("chunk_bytes", [None, 1])  # 1: one candidate a chunk
def test_products_match_the_dense_matrix(m, weighting, chunk_bytes):
    n, C, h, scale = 9, 4, 5, 0.7
    prob, H, G = _factors(n, C, h, m)
    with config_context(factored_chunk_bytes=chunk_bytes):  # None: the default
        rows = _rows(prob, H, G, weighting, scale)
    assert (rows.chunk == 1) == bool(chunk_bytes)
    V = _dense(prob, H, G, weighting, scale)
    d = C * h + m
    flat = V.reshape(n * C, d)
    g = torch.Generator().manual_seed(1)
    M = torch.randn(d, d, generator=g, dtype=torch.float64)
    W = torch.randn(d, 3, generator=g, dtype=torch.float64)
    assert rows.shape == (n * C, d)
    torch.testing.assert_close(rows.dense(), flat, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rows.rows(2 * C, 5 * C), flat[2 * C : 5 * C])
    torch.testing.assert_close(rows.matmul(W), flat @ W)
    torch.testing.assert_close(rows.quad(M), V @ M @ V.transpose(1, 2))
    torch.testing.assert_close(rows.quad(), V @ V.transpose(1, 2))
    out = torch.eye(d, dtype=torch.float64)
    torch.testing.assert_close(
        rows.gram(out=out), torch.eye(d, dtype=torch.float64) + flat.T @ flat
    )
    torch.testing.assert_close(rows.traces(), (V * V).sum((1, 2)))
    torch.testing.assert_close(rows.scaled(2.0).matmul(W), 2 * flat @ W)
    dense = EmbeddingRows(V.reshape(n * C, d), "cpu", group=C)
    torch.testing.assert_close(dense.quad(M), rows.quad(M))
    torch.testing.assert_close(dense.traces(), rows.traces())


def test_low_precision_other_entries_compute_in_float32():
    prob, H, G = _factors(6, 3, 4, 5, dtype=torch.bfloat16)
    rows, V = _rows(prob, H, G), _dense(prob, H, G)
    W = torch.randn(3 * 4 + 5, 2, dtype=torch.float64)
    torch.testing.assert_close(rows.matmul(W), V.reshape(18, -1) @ W, rtol=1e-6, atol=1e-6)


def test_a_factored_candidate_costs_about_a_factor_C_less():
    prob, H, G = _factors(10, 10, 128, 122)
    rows = _rows(prob, H, G)
    dense = EmbeddingRows(torch.zeros(100, 10 * 128 + 122), "cpu", group=10)
    assert rows.matmul_cost() < dense.matmul_cost() / 5
    assert rows.gram_cost() < dense.gram_cost() / 5


@pytest.mark.parametrize("space", ["covariance", "gram"])
@pytest.mark.parametrize("n_labeled, b", [(0, 0), (5, 0), (5, 1)])
def test_selection_on_factored_rows_is_exact_greedy(space, n_labeled, b):
    n, C, h, m, K = 30, 3, 4, 3, 4
    prob, H, G = _factors(n + n_labeled, C, h, m, seed=2)
    V = _dense(prob, H, G)
    pool, lab = _rows(prob[:n], H[:n], G[:n]), _rows(prob[n:], H[n:], G[n:])
    kwargs = dict(
        n_labeled=n_labeled,
        lam=0.5,
        backward_steps=b,
        device="cpu",
        space=space,
        make_pool=LocalPool,
    )
    if n_labeled:
        kwargs.update(pool_fisher=[pool, lab], labeled_fisher=lab)
    idx, gains, objective = prepare(pool, K, **kwargs).solve()
    F_lab = None if not n_labeled else np.einsum("xcd,xce->de", V[n:], V[n:]) / n_labeled
    F_pool = np.einsum("xcd,xce->de", V, V) / len(V) if n_labeled else None
    expected, expected_objective = brute_force_select(
        V[:n], K, F_pool=F_pool, F_lab=F_lab, n_labeled=n_labeled, lam=0.5, backward_steps=b
    )
    np.testing.assert_array_equal(np.sort(idx) if b else idx, np.sort(expected) if b else expected)
    assert objective == pytest.approx(expected_objective, rel=1e-9)


class _Head(nn.Module):
    """An MLP whose output layer has a bias: h gets a trailing 1."""

    def __init__(self, log_softmax=False, twice=False):
        super().__init__()
        # LayerNorm's parameters take the torch.func path, the Linears' the hooks
        self.body = nn.Sequential(
            nn.Linear(6, 5), nn.LayerNorm(5), nn.Tanh(), nn.Linear(5, 4), nn.Tanh()
        )
        self.head = nn.Linear(4, 3)
        self.log_softmax, self.twice = log_softmax, twice

    def forward(self, x):
        z = self.head(self.body(x))
        if self.twice:
            z = z + self.head(self.body(x))
        return torch.log_softmax(z, 1) if self.log_softmax else z


def _head_mask(layout, mid):
    head = [j for j, name in enumerate(layout.names) if name.startswith("head.")]
    out_idx = np.concatenate(
        [np.arange(layout.offsets[j], layout.offsets[j] + layout.sizes[j]) for j in head]
    )
    return head, np.sort(np.concatenate([mid, out_idx]))


@pytest.mark.parametrize("weighting", ["fisher", "unweighted"])
def test_factored_embeddings_are_the_masked_embeddings(weighting):
    torch.manual_seed(0)
    model = _Head().double()
    X = torch.randn(11, 6, dtype=torch.float64)
    layout = ParamLayout(model)
    mid = np.array([2, 9, 31, 36, 40, 47])  # entries of body.0, body.1 and body.3
    head, indices = _head_mask(layout, mid)
    dense = masked_embeddings(
        model, X, indices, weighting=weighting, forward_batch_size=4, dtype=torch.float64
    )
    D, H, G = factored_embeddings(
        model,
        X,
        indices,
        output_layer="head",
        weighting=weighting,
        forward_batch_size=4,
        out=torch.empty(11, 3, 6, dtype=torch.float64),
        reduced=False,
    )
    assert H.shape == (11, 5) and torch.all(H[:, -1] == 1)  # the bias's trailing 1
    V = FactoredRows(D, H, EmbeddingRows(G.reshape(-1, 6), "cpu", group=3)).dense()
    # factored columns: head (k, j) with j = 4 the bias, then the middle entries
    w0, b0 = layout.offsets[head[0]], layout.offsets[head[1]]
    order = [w0 + k * 4 + j if j < 4 else b0 + k for k in range(3) for j in range(5)]
    order += list(mid)
    position = {int(i): p for p, i in enumerate(indices)}
    expected = dense[:, :, [position[i] for i in order]].reshape(33, -1)
    torch.testing.assert_close(V, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("weighting", ["fisher", "unweighted"])
@pytest.mark.parametrize("mid", [[2, 9, 31, 47], []])  # body.0 and body.3 (hooks), or none
def test_reduced_rows_have_the_fisher_of_the_class_rows(weighting, mid):
    torch.manual_seed(1)
    model = _Head().double()
    X = torch.randn(9, 6, dtype=torch.float64)
    layout = ParamLayout(model)
    _, indices = _head_mask(layout, np.array(mid, dtype=np.int64))
    assert factored_rows(model, X, indices, "head") == 2  # C - 1 = 2 rows
    classes = FactoredRows(*_embedded(model, X, indices, weighting, reduced=False)).dense()
    reduced = FactoredRows(*_embedded(model, X, indices, weighting, reduced=True)).dense()
    assert reduced.shape == (9 * 2, classes.shape[1])
    fisher = lambda V, r: torch.einsum("xcd,xce->xde", V.view(9, r, -1), V.view(9, r, -1))
    torch.testing.assert_close(fisher(reduced, 2), fisher(classes, 3), rtol=1e-10, atol=1e-13)
    # an entry on the torch.func path (LayerNorm) keeps the classes' rows
    _, with_norm = _head_mask(layout, np.array(mid + [36], dtype=np.int64))
    assert factored_rows(model, X, with_norm, "head") == 3
    assert factored_embeddings(model, X, with_norm, output_layer="head")[0].shape == (9, 3, 3)


def _embedded(model, X, indices, weighting, reduced):
    r, m = (2 if reduced else 3), len(indices) - 15  # 15 entries in the head
    out = torch.empty(len(X), r, m, dtype=torch.float64)
    D, H, G = factored_embeddings(
        model,
        X,
        indices,
        output_layer="head",
        weighting=weighting,
        forward_batch_size=4,
        reduced=reduced,
        out=out,
    )
    rows = None if G is None else EmbeddingRows(G.reshape(-1, m), "cpu", group=r)
    return D, H, rows


@pytest.mark.parametrize("weighting", ["fisher", "unweighted"])
def test_reduced_output_factor_keeps_the_output_fisher(weighting):
    prob, _, _ = _factors(20, 5, 1, 0, seed=3)
    prob[0] = torch.tensor([1 - 4e-30, 1e-30, 1e-30, 1e-30, 1e-30], dtype=torch.float64)
    D = output_factor(prob, weighting)
    R = output_factor(prob, weighting, reduced=True)
    assert R.shape == (20, 4, 5)
    torch.testing.assert_close(R.transpose(1, 2) @ R, D.transpose(1, 2) @ D, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(
        R.sum(2), torch.zeros(20, 4, dtype=torch.float64), atol=1e-12, rtol=0
    )  # rows orthogonal to the all-ones vector


def test_output_layer_only_needs_no_other_entries():
    torch.manual_seed(0)
    model = _Head().double()
    layout = ParamLayout(model)
    indices = np.arange(layout.offsets[-2], layout.n_params)
    D, H, G = factored_embeddings(
        model, torch.randn(5, 6, dtype=torch.float64), indices, output_layer="head"
    )
    assert G is None and D.shape == (5, 2, 3) and H.shape == (5, 5)  # C - 1 reduced rows
    with pytest.raises(ValueError, match="whole output layer"):
        factored_embeddings(model, torch.randn(5, 6), indices[1:], output_layer="head")


def test_factorable_output_needs_a_linear_whose_output_is_the_logits():
    X = torch.randn(4, 6)
    assert factorable_output(_Head(), X, "head")
    assert not factorable_output(_Head(log_softmax=True), X, "head")  # output is not z
    assert not factorable_output(_Head(twice=True), X, "head")  # called twice
    assert not factorable_output(_Head(), X, "body.3")  # not the output
    assert not factorable_output(_Head(), X, "body")  # not a Linear

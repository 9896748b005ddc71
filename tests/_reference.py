"""Brute-force oracles used by the tests: the formulas of docs/design.md, in float64."""

import numpy as np
import torch
from torch import nn


def brute_force_select(V, K, *, F_pool=None, F_lab=None, n_labeled=0, lam=1.0, backward_steps=0):
    """Greedy BAIT selection recomputing every gain from the explicit d x d ``A``."""
    V = np.asarray(V, dtype=np.float64)
    n, C, d = V.shape
    if F_pool is None:
        F_pool = np.einsum("xcd,xce->de", V, V) / n
    F_lab = np.zeros((d, d)) if F_lab is None else F_lab
    A = np.linalg.inv(lam * np.eye(d) + n_labeled / (n_labeled + K) * F_lab)
    Vt = np.sqrt(K / (n_labeled + K)) * V
    I = np.eye(C)

    def score(x, sign):
        M = Vt[x] @ A
        return np.trace(np.linalg.solve(sign * I + M @ Vt[x].T, M @ F_pool @ M.T))

    def update(x, sign):
        nonlocal A
        W = A @ Vt[x].T
        A = A - W @ np.linalg.solve(sign * I + Vt[x] @ W, W.T)

    chosen = []
    for _ in range((backward_steps + 1) * K):
        gains = [-np.inf if x in chosen else score(x, 1.0) for x in range(n)]
        u = int(np.argmax(gains))
        chosen.append(u)
        update(u, 1.0)
    while len(chosen) > K:
        members = sorted(chosen)
        u = members[int(np.argmax([score(x, -1.0) for x in members]))]
        chosen.remove(u)
        update(u, -1.0)
    return np.array(chosen), np.trace(A @ F_pool)


def autograd_reference(net, X):
    """Per-sample, per-class full gradients by a plain loop: (n, C, P) and probabilities."""
    params = list(net.parameters())
    jac, probs = [], []
    for x in X:
        logp = torch.log_softmax(net(x[None]), 1)[0]
        rows = [
            torch.cat(
                [g.reshape(-1) for g in torch.autograd.grad(logp[c], params, retain_graph=True)]
            )
            for c in range(len(logp))
        ]
        jac.append(torch.stack(rows))
        probs.append(logp.exp().detach())
    return torch.stack(jac), torch.stack(probs)


def randomise_batchnorm(net, affine=True):
    """``net`` in eval mode, its BatchNorm layers given random running statistics
    (and, with ``affine``, random weights and biases) so that none is the identity."""
    for bn in net.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            if affine:
                bn.weight.data.uniform_(0.5, 1.5)
                bn.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def autograd_problem(net, n_rows, seed, shape=(2, 6, 6)):
    """``(net, X, J, p)``: float64 inputs X of shape (n_rows, *shape) drawn with
    ``seed``, and :func:`autograd_reference` of ``net`` on them."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn((n_rows, *shape), dtype=torch.float64, generator=gen)
    J, p = autograd_reference(net, X)
    return net, X, J, p


def exact_objective(rows, F, lam):
    """``tr[(lam I + RᵀR)^-1 F]`` from scratch, for rows ``R`` of shape (r, d).

    In an orthonormal basis of R's row space and of its complement, so that the
    complement's ``1/lam`` part is computed directly, never as a difference.
    """
    d = F.shape[0]
    if len(rows) == 0:
        return np.trace(F) / lam
    Q, R = np.linalg.qr(rows.T, mode="complete")  # rowsᵀ = Q R
    k = min(len(rows), d)
    T = R[:k] @ R[:k].T
    Q1, Q2 = Q[:, :k], Q[:, k:]
    inner = np.linalg.solve(lam * np.eye(k) + T, Q1.T @ F @ Q1)
    return np.trace(inner) + np.trace(Q2.T @ F @ Q2) / lam


def exact_greedy_select(V, K, *, L=None, lam=1.0, backward_steps=0):
    """Exact greedy: every step recomputes ``tr[(lam I + c F_lab + Σ_S ṼᵀṼ)^-1 F_pool]``.

    ``L`` are the labeled rows' embeddings (n_L, C, d); ``F_pool`` is the mean
    Fisher of the candidates and ``L``, ``F_lab`` that of ``L`` (as FisherMask
    passes them). Ties (relative 1e-12) go to the lowest index.

    Returns
    -------
    chosen : list of int
        In the order chosen (forward picks, less the removed ones).
    objective : float
    """
    V = np.asarray(V, dtype=np.float64)
    n, C, d = V.shape
    L = np.zeros((0, C, d)) if L is None else np.asarray(L, dtype=np.float64)
    n_L = len(L)
    F = np.einsum("xcd,xce->de", V, V) + np.einsum("xcd,xce->de", L, L)
    F /= n + n_L
    lab = (np.sqrt(n_L / (n_L + K) / n_L) * L).reshape(-1, d) if n_L else np.zeros((0, d))
    Vt = np.sqrt(K / (n_L + K)) * V

    rows = np.concatenate([lab, Vt.reshape(-1, d)])
    if len(rows) < d // 2:  # the rows never span: Grams, tr(A F) = (tr F - tr(K⁻¹ R F Rᵀ)) / lam
        G, H = rows @ rows.T, rows @ F @ rows.T

    def obj(S):
        if len(rows) >= d // 2:
            return exact_objective(np.concatenate([lab] + [Vt[x] for x in S]), F, lam)
        i = np.concatenate(
            [np.arange(len(lab))] + [len(lab) + np.arange(x * C, (x + 1) * C) for x in S]
        ).astype(int)
        inner = np.linalg.solve(lam * np.eye(len(i)) + G[np.ix_(i, i)], H[np.ix_(i, i)])
        return (np.trace(F) - np.trace(inner)) / lam

    def best(values):  # the minimum, near-ties to the first
        values = np.asarray(values)
        return int(np.flatnonzero(values <= values.min() + 1e-12 * abs(values.min()))[0])

    chosen = []
    for _ in range((backward_steps + 1) * K):
        values = [np.inf if x in chosen else obj(chosen + [x]) for x in range(n)]
        chosen.append(best(values))
    while len(chosen) > K:
        members = sorted(chosen)
        chosen.remove(members[best([obj([y for y in chosen if y != x]) for x in members])])
    return chosen, obj(chosen)

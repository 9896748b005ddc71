"""Brute-force oracles used by the tests: straight from the design notes, float64."""

import numpy as np
import torch


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
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(logp[c], params, retain_graph=True)])
            for c in range(len(logp))
        ]
        jac.append(torch.stack(rows))
        probs.append(logp.exp().detach())
    return torch.stack(jac), torch.stack(probs)

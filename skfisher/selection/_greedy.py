"""The greedy loop of the Fisher selection: forward steps on the incremental
per-candidate state, then backward (removal) steps on a fresh factorisation.

The loop (:func:`greedy_loop`) asks a :class:`~skfisher.selection._backends.Backend`
for the products of a step and a pool object where the candidates live:
:class:`LocalPool` (all in this process), or a pool sharded over processes
(:class:`skfisher.selection._sharded.ShardedPool`). A pool also says what ``F_pool``
defaults to and combines a figure over processes (:meth:`LocalPool.max`).
"""

import numpy as np
import torch

from ._backends import check_gain
from ._fishers import FisherFactor

__all__ = ["LocalPool", "greedy_loop"]


def _update_state(P, Q, T, R, S_inv, Qu):
    """Rank-C update of every candidate's P_x, Q_x after a step (docs/design.md,
    Greedy selection and Woodbury updates).

    ``P -= T S⁻¹ Tᵀ`` and ``Q -= R S⁻¹ Tᵀ + T S⁻¹ Rᵀ - T S⁻¹ Qu S⁻¹ Tᵀ``,
    written as ``Q -= X Tᵀ + T Xᵀ`` with ``X = R S⁻¹ - ½ T S⁻¹ Qu S⁻¹``; in
    place, to avoid fresh (n, C, C) buffers.
    """
    n, C, _ = T.shape
    T2 = T.reshape(n * C, C)
    Tt = T.transpose(1, 2)
    P.baddbmm_((T2 @ S_inv).view(n, C, C), Tt, alpha=-1)
    X = torch.addmm(R.reshape(n * C, C) @ S_inv, T2, S_inv @ Qu @ S_inv, alpha=-0.5)
    XT = torch.bmm(X.view(n, C, C), Tt)
    Q -= XT
    Q -= XT.transpose(1, 2)


def _scores(P, Q, sign):
    """tr[(sign I + P_x)^-1 Q_x] for every candidate (Q_x symmetric)."""
    C = P.shape[-1]
    eye = torch.eye(C, dtype=P.dtype, device=P.device)
    return (torch.linalg.inv(sign * eye + P) * Q).sum((1, 2))


TIE_RTOL = 1e-12  # gains this close to the best are ties (rounding differs by row)


def argmax_lowest(score):
    """Index of the maximum; among near-equal maxima, the lowest index (-1 if empty)."""
    if score.numel() == 0:
        return -1
    best = score.max().item()
    return int(torch.nonzero(score >= best - TIE_RTOL * abs(best))[0])


class LocalPool:
    """All candidates live in this process (see :mod:`skfisher.selection._sharded`)."""

    where = ""  # for messages: where the candidates are

    def __init__(self, n, device=None):
        self.offset, self.n_total = 0, n

    def fisher(self, rows):
        """The default ``F_pool``: the mean of ``V_xᵀ V_x`` over the candidates."""
        return FisherFactor([rows], 1.0 / self.n_total)

    def max(self, value):
        """``value``'s maximum over the processes that hold the pool."""
        return value

    def best(self, score, index):
        """Global index and value of the best entry; near-ties go to the lowest index."""
        k = argmax_lowest(score)
        return int(index[k]), score[k].item()

    def winner(self, u, P, Q, backend):
        """``P_u``, ``Q_u`` and ``Ũ_u`` of the chosen candidate (global index ``u``)."""
        return P[u].clone(), Q[u].clone(), backend.rows(u)


def greedy_loop(P, Q, objective, backend, n_instances, b, pool):
    """Forward then backward greedy steps on the per-candidate state (in place).

    ``pool`` says where candidates live: :class:`LocalPool` or a sharded pool
    whose ``best`` and ``winner`` talk to the other processes. The removals
    of the backward steps run on a fresh factorisation of the chosen set
    (:func:`_backward`), not on the incremental state.

    Returns
    -------
    order : list of int
        Global indices in the order chosen.
    gains : list of float
    objective : float
        ``tr(A F_pool)`` of the returned batch.
    """
    n, C = P.shape[0], P.shape[1]
    dev = P.device
    eye = torch.eye(C, dtype=P.dtype, device=dev)
    local_index = torch.arange(n, device=dev) + pool.offset
    chosen = torch.zeros(n, dtype=torch.bool, device=dev)
    order, gains, picked_rows = [], [], []
    built = backend.objective(objective)  # tr(A F) when the state was last built

    for _ in range((b + 1) * n_instances):
        score = _scores(P, Q, 1.0).masked_fill(chosen, -torch.inf)
        u, gain = pool.best(score, local_index)
        check_gain(gain, objective)
        order.append(u)
        gains.append(gain)
        objective -= gain
        Pu, Qu, rows_u = pool.winner(u, P, Q, backend)
        picked_rows.append(rows_u)
        S_inv = torch.linalg.inv(eye + Pu)
        mine = pool.offset <= u < pool.offset + n
        T, R = backend.step(u - pool.offset if mine else None, rows_u, S_inv)
        _update_state(P, Q, T, R, S_inv, Qu)
        if mine:
            chosen[u - pool.offset] = True
        # the state's rounding errors are relative to its build: when tr(A F)
        # has dropped far below that, rebuild it (docs/design.md, Numerics); the running
        # value is accurate to rounding relative to the build, ample for this test
        if built > 0 and not objective > backend.rebuild_below * built:
            try:
                P[:], Q[:], objective = backend.refresh(torch.cat(picked_rows))
            except torch.linalg.LinAlgError:
                check_gain(float("nan"), objective)
            built = objective
    objective = backend.objective(objective)
    if b:
        order, gains, objective = _backward(
            order, gains, objective, picked_rows, backend, n_instances
        )
    return order, gains, objective


def _block_diagonal(M, C):
    m = len(M) // C
    idx = torch.arange(m, device=M.device)
    return M.view(m, C, m, C)[idx, :, idx, :]


def _members(backend, rows, objective):
    """The backend's fresh ``(E, W)`` for the chosen ``rows``, checked finite."""
    try:
        E, W = backend.members(torch.cat(rows))
    except torch.linalg.LinAlgError:
        E = W = torch.tensor(float("nan"))
    if not (torch.isfinite(E).all() and torch.isfinite(W).all()):
        check_gain(float("nan"), objective)
    return E, W


def _backward(order, gains, objective, rows, backend, n_instances):
    """Backward steps: drop the chosen row whose removal raises ``tr(A F)`` least.

    For the chosen rows ``B`` (``rows``, in the order chosen), the backend's
    ``members`` gives ``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` from a fresh
    factorisation: removing ``x`` raises ``tr(A F)`` by ``tr(E_xx⁻¹ W_xx)``,
    and leaves ``E`` and ``W`` downdated by the Schur complement of the
    block ``E_xx``. They are factorised afresh when the rows left stop
    spanning the parameter space (the regime whose small ``E`` a downdate
    cannot resolve). The objective is recomputed for the final batch where
    the backend can.
    """
    order, gains, rows = list(order), list(gains), list(rows)
    C, d = rows[0].shape
    E, W = _members(backend, rows, objective)
    while len(order) > n_instances:
        Ed = _block_diagonal(E, C)
        inc = (torch.linalg.inv(Ed) * _block_diagonal(W, C)).sum((1, 2))
        by_index = np.argsort(order)  # near-ties go to the lowest row index
        j = int(by_index[argmax_lowest(-inc[by_index])])
        check_gain(inc[j].item(), objective)
        objective += inc[j].item()
        del order[j], gains[j], rows[j]
        if len(rows) * C < d <= (len(rows) + 1) * C:
            E, W = _members(backend, rows, objective)
            continue
        u = torch.arange(j * C, (j + 1) * C, device=E.device)
        r = torch.cat(
            [
                torch.arange(j * C, device=E.device),
                torch.arange((j + 1) * C, len(E), device=E.device),
            ]
        )
        T = E[r][:, u] @ torch.linalg.inv(E[u][:, u])
        Wru = W[r][:, u]
        E = E[r][:, r] - T @ E[u][:, r]
        W = W[r][:, r] - T @ Wru.T - Wru @ T.T + T @ W[u][:, u] @ T.T
    return order, gains, backend.final_objective(torch.cat(rows), objective)

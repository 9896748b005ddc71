"""The Gram backend of the greedy selection: products from Grams of the
stacked embeddings, with no d x d matrix (``space="gram"``)."""

import torch

from ._backends import check_gain, removal_state

__all__ = ["GramSpace"]


class GramSpace:
    """Products of a step from Grams of the stacked embeddings (no d x d matrix).

    With ``H`` the candidates' rows followed by the pool Fisher's factor rows,
    it keeps ``Z = Ṽ A Hᵀ``; ``A0`` is applied through Woodbury on the
    labeled factor ``Ψ``: ``A0 = (I - Ψᵀ (lam I + ΨΨᵀ)^-1 Ψ) / lam``.
    """

    rebuild_below = 1e-9  # no rebuild: below this, the problem is refused

    def __init__(self, V, n_classes, pool, labeled, lam, alpha):
        V = V.dense()
        n = len(V) // n_classes
        Phi = pool.scaled_rows()
        H = torch.cat([V, Phi])
        Z = V @ H.T
        self.V, self.Phi, self.Psi, self.lam = V, Phi, None, lam
        if labeled is not None:
            Psi = labeled.scaled_rows(alpha)
            M = lam * torch.eye(len(Psi), dtype=V.dtype, device=V.device) + Psi @ Psi.T
            self.Psi, self.M = Psi, M
            Z -= (V @ Psi.T) @ torch.linalg.solve(M, Psi @ H.T)
            PhiPsi = Phi @ Psi.T
            tr0 = (Phi * Phi).sum() - torch.trace(PhiPsi @ torch.linalg.solve(M, PhiPsi.T))
        else:
            tr0 = (Phi * Phi).sum()
        self.Z = Z / lam
        self.tr0 = (tr0 / lam).item()
        self.shape, self.dim = (n, n_classes), V.shape[1]

    def initial_state(self):
        n, C = self.shape
        Zv = self.Z[:, : n * C].view(n, C, n, C)
        idx = torch.arange(n, device=self.Z.device)
        P = Zv[idx, :, idx, :]
        Y = self.Z[:, n * C :].view(n, C, -1)
        Q = torch.einsum("xcm,xem->xce", Y, Y)
        return P, Q, self.tr0

    def objective(self, running):
        return running

    def final_objective(self, B, running):
        return running

    def refresh(self, B):
        """Not available: the Woodbury form of ``A`` cannot be rebuilt accurately."""
        check_gain(float("nan"), 0.0, ", or use space='covariance'")

    def rows(self, u):
        C = self.shape[1]
        return self.V[u * C : (u + 1) * C]

    def members(self, B):
        """``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` for the chosen rows ``B``, from
        Grams of the rows (see :func:`~skfisher.selection._backends.removal_state`)."""
        BA0 = B
        if self.Psi is not None:  # A0 = (I - Ψᵀ M⁻¹ Ψ) / lam
            BA0 = B - (B @ self.Psi.T) @ torch.linalg.solve(self.M, self.Psi)
        E, X = removal_state(BA0 / self.lam, B)
        Y = X @ self.Phi.T
        return E, Y @ Y.T

    def step(self, u, rows_u, S_inv):
        n, C = self.shape
        Zu = self.Z[u * C : (u + 1) * C].clone()  # C x cols
        T = self.Z[:, u * C : (u + 1) * C].reshape(n, C, C).clone()
        R = (self.Z[:, n * C :] @ Zu[:, n * C :].T).view(n, C, C)
        self.Z -= T.reshape(n * C, C) @ (S_inv @ Zu)
        return T, R

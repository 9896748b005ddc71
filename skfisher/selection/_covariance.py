"""The covariance backend of the greedy selection: ``A`` and ``F_pool`` as
explicit d x d matrices (``space="covariance"``)."""

import torch

from ._backends import removal_state
from ._fishers import FisherFactor

__all__ = ["CovarianceSpace"]


class CovarianceSpace:
    """Products of a step from explicit d x d matrices ``A`` and ``F`` (float64).

    ``V`` (:class:`EmbeddingRows`, the scaled candidates ``Ṽ``) stays in its
    storage: the per-step pass over it runs in its compute type, chunk by
    chunk, everything else in float64.
    """

    #: rebuild the state when tr(A F) falls below this fraction of its value
    #: at the last build (the state's rounding errors are relative to that)
    rebuild_below = 1e-2

    def __init__(self, V, n_classes, pool, labeled, lam, alpha):
        self.V = V
        self.shape = (V.shape[0] // n_classes, n_classes)
        self.dim = V.shape[1]
        self.F = pool.dense()
        self.lam, self.labeled, self.alpha = lam, labeled, alpha
        self.A = None  # A0 = lam⁻¹ I unless labeled; d x d buffers are updated in place
        # Woodbury's factors of A0 when the labeled Fisher has few rows (else None)
        self.low_rank = None if labeled is None else _low_rank(labeled, alpha, lam, self.dim)
        self._a_is_a0 = True
        if self.low_rank is not None:
            self.A = _woodbury_inverse(*self.low_rank, lam)
        elif labeled is not None:
            self.A = _inverse(self._precision())

    def _precision(self, B=None):
        """``lam I + alpha F_lab + BᵀB`` (d x d, a new tensor) for chosen rows ``B``."""
        d = self.F.shape[0]
        if self.labeled is None:
            M = torch.zeros(d, d, dtype=torch.float64, device=self.F.device)
        else:
            M = self.labeled.scaled_dense(self.alpha)
        if B is not None:
            M.addmm_(B.T, B)
        M.diagonal().add_(self.lam)
        return M

    def final_objective(self, B, running):
        """``tr(A F)`` for the chosen rows ``B``, from a fresh factorisation of
        ``A⁻¹`` when they span the space (else ``running`` is the accurate one)."""
        if len(B) < B.shape[1]:
            return running
        factor = torch.linalg.cholesky(self._precision(B))
        return torch.trace(torch.cholesky_solve(self.F, factor)).item()

    def refresh(self, B):
        """The state rebuilt from ``A = (lam I + alpha F_lab + BᵀB)⁻¹`` for the
        chosen rows ``B``, factorised afresh: ``(P, Q, objective)``."""
        self.A = None
        self.A = _inverse(self._precision(B))
        self._a_is_a0 = False
        return self.initial_state()

    def initial_state(self):
        """``P_x = Ṽ_x A Ṽ_xᵀ`` and ``Q_x = Ṽ_x A F A Ṽ_xᵀ`` of every candidate, ``tr(A F)``."""
        if self.A is None:  # A0 = lam⁻¹ I
            P = self.V.quad().div_(self.lam)
            Q = self.V.quad(self.F).div_(self.lam**2)
            d = self.dim
            self.A = torch.eye(d, dtype=torch.float64, device=self.F.device).div_(self.lam)
        else:
            P = self.V.quad(self.A)
            Q = self.V.quad(self._afa())
        return P, Q, self.objective(None)

    def _afa(self):
        """``A F A`` (d x d): in O(d² r) from Woodbury's factors while ``A`` is
        ``A0``, else by two d x d products."""
        if self.low_rank is None or not self._a_is_a0:
            return self.A @ self.F @ self.A
        Psi, X = self.low_rank  # lam A = I - Ψᵀ X
        T = self.F - Psi.T @ (X @ self.F)  # lam A F
        AFA = T - (T @ Psi.T) @ X  # lam² A F A
        return AFA.add_(AFA.T.clone()).div_(2 * self.lam**2)

    def objective(self, running):
        """``tr(A F)`` from the state (A and F symmetric): exact, where the
        running value (initial trace minus the gains) loses digits to
        cancellation."""
        return torch.dot(self.A.reshape(-1), self.F.reshape(-1)).item()

    def rows(self, u):
        """Ũ_u, the scaled embedding rows of local candidate ``u``, in float64."""
        C = self.shape[1]
        return self.V.rows(u * C, (u + 1) * C)

    def members(self, B):
        """``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` for the chosen rows ``B`` (m C x d).

        Computed afresh from the smaller Gram (see
        :func:`~skfisher.selection._backends.removal_state`); the incremental
        ``A`` is not used again, and its memory goes to the factorisation.
        """
        self.A = None
        if len(B) >= B.shape[1]:  # B spans (nearly) everything: factor A⁻¹ (d x d)
            X = torch.cholesky_solve(B.T, torch.linalg.cholesky(self._precision(B))).T  # B A
            E = torch.eye(len(B), dtype=B.dtype, device=B.device) - X @ B.T
            E = (E + E.T) / 2
        else:
            if self.labeled is None:
                BA0 = B / self.lam
            elif self.low_rank is not None:
                Psi, X = self.low_rank
                BA0 = (B - (B @ Psi.T) @ X) / self.lam
            else:
                BA0 = torch.cholesky_solve(B.T, torch.linalg.cholesky(self._precision())).T
            E, X = removal_state(BA0, B)
        return E, X @ self.F @ X.T

    def step(self, u, rows_u, S_inv):
        n, C = self.shape
        W = self.A @ rows_u.T  # d x C
        # T = Ṽ A Ũᵀ and R = Ṽ A F A Ũᵀ in one pass over the embeddings
        TR = self.V.matmul(torch.cat([W, self.A @ (self.F @ W)], dim=1))
        self.A.addmm_(W @ S_inv, W.T, alpha=-1)
        return TR[:, :C].reshape(n, C, C), TR[:, C:].reshape(n, C, C)


#: Woodbury's ``A0 = (I - Ψᵀ M⁻¹ Ψ) / lam`` loses about log10(tr(ΨᵀΨ) / lam) digits
#: to cancellation; above this ratio A0 is factorised from the d x d precision
_WOODBURY_SCALE = 1e4


def _low_rank(labeled, alpha, lam, d):
    """``(Ψ, X)`` with ``ΨᵀΨ = alpha F_lab`` and ``X = (lam I + ΨΨᵀ)⁻¹ Ψ``: Woodbury's
    factors of ``A0``, when ``F_lab`` is a factor of fewer than d / 2 rows (then
    cheaper than factorising the d x d precision) and ``lam`` is not far below
    its scale; else None."""
    if not isinstance(labeled, FisherFactor) or 2 * labeled.n_rows >= d:
        return None
    Psi = labeled.scaled_rows(alpha)
    if (Psi * Psi).sum().item() > _WOODBURY_SCALE * lam:
        return None
    M = Psi @ Psi.T
    M.diagonal().add_(lam)
    return Psi, torch.cholesky_solve(Psi, torch.linalg.cholesky(M))


def _woodbury_inverse(Psi, X, lam):
    """``A0 = (lam I + ΨᵀΨ)⁻¹ = (I - Ψᵀ X) / lam``, made exactly symmetric."""
    A = Psi.T @ X
    A = A.add_(A.T.clone()).mul_(-0.5 / lam)
    A.diagonal().add_(1.0 / lam)
    return A


def _inverse(M):
    """The inverse of a symmetric positive definite ``M`` by Cholesky, row-major.

    ``cholesky_inverse`` returns a column-major matrix, and products of it with
    a transposed operand (``A @ Ũᵀ`` in every step) take a slow path on the
    CPU (measured 10x slower): the copy costs far less.
    """
    return torch.cholesky_inverse(torch.linalg.cholesky(M)).contiguous()

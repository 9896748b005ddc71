"""The two algebra backends of the greedy selection, and the Fishers they read.

A Fisher reaches a backend as a :class:`FisherMatrix` (an explicit d x d
matrix) or a :class:`FisherFactor` (stored embedding rows ``Φ`` with
``F = w ΦᵀΦ``). Both backends implement :class:`Backend`, the products one
greedy step needs (:mod:`skfisher._greedy` runs the steps):

* :class:`CovarianceSpace` (``space="covariance"``): ``A`` and ``F_pool`` as
  d x d matrices;
* :class:`GramSpace` (``space="gram"``): Grams of the stacked embeddings, so
  no d x d matrix is formed; cheaper when d is large against their rows.

:func:`cheaper_space` counts the multiply-adds of both.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ..utils._device import fits

__all__ = [
    "BACKENDS",
    "Backend",
    "CovarianceSpace",
    "FisherFactor",
    "FisherMatrix",
    "GramSpace",
    "cheaper_space",
]


@dataclass(eq=False)
class FisherMatrix:
    """A Fisher given as its d x d float64 matrix (the caller's; never modified)."""

    matrix: torch.Tensor

    n_rows = 0  # no factor rows

    def gram_cost(self):
        return 0

    def dense(self):
        return self.matrix

    def scaled_dense(self, scale):
        """``scale * F`` as a new tensor."""
        return self.matrix * scale


@dataclass(eq=False)
class FisherFactor:
    """A Fisher ``F = weight * Σ_i rows_iᵀ rows_i`` over blocks of stored rows."""

    rows: list
    weight: float

    @property
    def n_rows(self):
        return sum(r.shape[0] for r in self.rows)

    def gram_cost(self):
        """Multiply-adds of :meth:`dense`."""
        return sum(r.gram_cost() for r in self.rows)

    def dense(self):
        """The d x d float64 matrix (a new tensor)."""
        d = self.rows[0].shape[1]
        out = torch.zeros(d, d, dtype=torch.float64, device=self.rows[0].device)
        for rows in self.rows:
            rows.gram(out=out)
        return out.mul_(self.weight)

    def scaled_dense(self, scale):
        return self.dense().mul_(scale)

    def scaled_rows(self, scale=1.0):
        """Rows Φ (float64) with ``scale * F = Φᵀ Φ``."""
        return torch.cat([r.dense() for r in self.rows]) * np.sqrt(self.weight * scale)


def _n_rows(fisher):
    return 0 if fisher is None else fisher.n_rows


class Backend(Protocol):
    """The products of a greedy step (see :func:`skfisher._greedy.greedy_loop`).

    ``shape`` is ``(n, C)``, the local candidates and classes; ``dim`` is
    ``d``. Below ``rebuild_below`` times its value at the last build,
    ``tr(A F)`` triggers :meth:`refresh`.
    """

    shape: tuple
    dim: int
    rebuild_below: float

    def initial_state(self):
        """``(P, Q, objective)``: every candidate's C x C ``P_x``, ``Q_x`` and ``tr(A0 F)``."""

    def objective(self, running):
        """``tr(A F)``: exact where the backend can, else ``running``."""

    def final_objective(self, B, running):
        """``tr(A F)`` for the chosen rows ``B``, refactorised where the backend can."""

    def refresh(self, B):
        """The state rebuilt for the chosen rows ``B``: ``(P, Q, objective)``."""

    def rows(self, u):
        """The scaled embedding rows ``Ũ_u`` of local candidate ``u`` (C x d, float64)."""

    def members(self, B):
        """``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` of the chosen rows, afresh."""

    def step(self, u, rows_u, S_inv):
        """Add candidate ``u`` (None when another process holds it): ``(T, R)``."""


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

        Computed afresh from the smaller Gram (see :func:`_removal_state`);
        the incremental ``A`` is not used again, and its memory goes to the
        factorisation.
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
            E, X = _removal_state(BA0, B)
        return E, X @ self.F @ X.T

    def step(self, u, rows_u, S_inv):
        n, C = self.shape
        W = self.A @ rows_u.T  # d x C
        # T = Ṽ A Ũᵀ and R = Ṽ A F A Ũᵀ in one pass over the embeddings
        TR = self.V.matmul(torch.cat([W, self.A @ (self.F @ W)], dim=1))
        self.A.addmm_(W @ S_inv, W.T, alpha=-1)
        return TR[:, :C].reshape(n, C, C), TR[:, C:].reshape(n, C, C)


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
        Grams of the rows (see :func:`_removal_state`)."""
        BA0 = B
        if self.Psi is not None:  # A0 = (I - Ψᵀ M⁻¹ Ψ) / lam
            BA0 = B - (B @ self.Psi.T) @ torch.linalg.solve(self.M, self.Psi)
        E, X = _removal_state(BA0 / self.lam, B)
        Y = X @ self.Phi.T
        return E, Y @ Y.T

    def step(self, u, rows_u, S_inv):
        n, C = self.shape
        Zu = self.Z[u * C : (u + 1) * C].clone()  # C x cols
        T = self.Z[:, u * C : (u + 1) * C].reshape(n, C, C).clone()
        R = (self.Z[:, n * C :] @ Zu[:, n * C :].T).view(n, C, C)
        self.Z -= T.reshape(n * C, C) @ (S_inv @ Zu)
        return T, R


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


def _removal_state(BA0, B):
    """``E = N⁻¹`` and ``B A = N⁻¹ B A0`` with ``N = I + B A0 Bᵀ``, by Cholesky.

    ``E = I - B A Bᵀ`` is small for rows that ``A`` pins down well; taken
    from ``N`` it keeps its digits, where ``I - B A Bᵀ`` would not (design
    notes §6). For rows that span the space, factor ``A⁻¹`` instead.
    """
    N = BA0 @ B.T
    N = (N + N.T) / 2
    N.diagonal().add_(1.0)
    factor = torch.linalg.cholesky(N)
    return torch.cholesky_inverse(factor), torch.cholesky_solve(BA0, factor)


def _costs(V, C, steps, pool, labeled):
    """Multiply-adds of each backend (set-up plus all steps) for candidate rows
    ``V`` (dense or factored), to pick the cheaper."""
    nC, d = V.shape
    n_phi, n_psi = _n_rows(pool), _n_rows(labeled)
    pass_cost = V.matmul_cost()  # one product V @ (d x 1)
    # F (and F_lab, A0), the set-up's V A Vᵀ and V A F A Vᵀ, then per step
    # V @ (d x 2C) and the d x d update
    parameter = pool.gram_cost() + 2 * pass_cost * d + steps * (2 * C * pass_cost + 3 * d * d * C)
    if labeled is not None and 2 * n_psi < d:  # Woodbury: A0, A F A and their factors
        parameter += 5 * d * d * n_psi + 2 * n_psi * n_psi * d
    elif labeled is not None:  # F_lab, then a Cholesky, its inverse and A F A
        parameter += labeled.gram_cost() + 3 * d**3
    cols = nC + n_phi
    sample = nC * cols * d + nC * C * n_phi + steps * 2 * nC * cols * C
    if labeled is not None:
        sample += (nC + cols) * n_psi * d + n_psi**3
    return {"covariance": parameter, "gram": sample}


def check_gain(gain, objective, remedy=""):
    """A gain is >= 0 in exact arithmetic: a negative one (beyond rounding) or a
    non-finite one means float64 cannot resolve the problem."""
    if not np.isfinite(gain) or gain < -1e-9 * abs(objective):
        raise ValueError(
            f"The selection is numerically ill-conditioned (a step's gain is {gain!r}): "
            f"lam is too small against the scale of the embeddings; increase lam{remedy}."
        )


BACKENDS = {"covariance": CovarianceSpace, "gram": GramSpace}


def cheaper_space(V, C, steps, pool, labeled, device):
    """``"gram"`` when the Fishers are factors, it needs fewer multiply-adds and
    its float64 Grams fit in memory; else ``"covariance"``."""
    if isinstance(pool, FisherMatrix) or isinstance(labeled, FisherMatrix):
        return "covariance"
    nC, d = V.shape
    costs = _costs(V, C, steps, pool, labeled)
    rows = nC + _n_rows(pool) + _n_rows(labeled)
    sample_bytes = 8 * (rows * d + nC * (nC + _n_rows(pool)))
    if costs["gram"] < costs["covariance"] and fits(device, sample_bytes):
        return "gram"
    return "covariance"

"""The protocol of the two algebra backends of the greedy selection, and the
numerics they share.

A Fisher reaches a backend as a :class:`~skfisher.selection._fishers.FisherMatrix`
(an explicit d x d matrix) or a :class:`~skfisher.selection._fishers.FisherFactor`
(stored embedding rows ``Φ`` with ``F = w ΦᵀΦ``). Both backends implement
:class:`Backend`, the products one greedy step needs
(:mod:`skfisher.selection._greedy` runs the steps):

* :class:`~skfisher.selection._covariance.CovarianceSpace`
  (``space="covariance"``): ``A`` and ``F_pool`` as d x d matrices;
* :class:`~skfisher.selection._gram.GramSpace` (``space="gram"``): Grams of
  the stacked embeddings, so no d x d matrix is formed; cheaper when d is
  large against their rows.

:mod:`skfisher.selection._space` picks one.
"""

from typing import Protocol

import numpy as np
import torch

__all__ = ["Backend", "check_gain", "removal_state"]


class Backend(Protocol):
    """The products of a greedy step (see :func:`skfisher.selection._greedy.greedy_loop`).

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


def removal_state(BA0, B):
    """``E = N⁻¹`` and ``B A = N⁻¹ B A0`` with ``N = I + B A0 Bᵀ``, by Cholesky.

    ``E = I - B A Bᵀ`` is small for rows that ``A`` pins down well; taken
    from ``N`` it keeps its digits, where ``I - B A Bᵀ`` would not
    (docs/design.md, Numerics). For rows that span the space, factor ``A⁻¹`` instead.
    """
    N = BA0 @ B.T
    N = (N + N.T) / 2
    N.diagonal().add_(1.0)
    factor = torch.linalg.cholesky(N)
    return torch.cholesky_inverse(factor), torch.cholesky_solve(BA0, factor)


def check_gain(gain, objective, remedy=""):
    """A gain is >= 0 in exact arithmetic: a negative one (beyond rounding) or a
    non-finite one means float64 cannot resolve the problem."""
    if not np.isfinite(gain) or gain < -1e-9 * abs(objective):
        raise ValueError(
            f"The selection is numerically ill-conditioned (a step's gain is {gain!r}): "
            f"lam is too small against the scale of the embeddings; increase lam{remedy}."
        )

"""Which backend a selection runs on: the multiply-adds of each, and the
memory of the Gram form."""

from ..utils._device import fits
from ._covariance import CovarianceSpace
from ._fishers import FisherMatrix, n_factor_rows
from ._gram import GramSpace

__all__ = ["BACKENDS", "cheaper_space"]

BACKENDS = {"covariance": CovarianceSpace, "gram": GramSpace}


def _costs(V, C, steps, pool, labeled):
    """Multiply-adds of each backend (set-up plus all steps) for candidate rows
    ``V`` (dense or factored), to pick the cheaper."""
    nC, d = V.shape
    n_phi, n_psi = n_factor_rows(pool), n_factor_rows(labeled)
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


def cheaper_space(V, C, steps, pool, labeled, device):
    """``"gram"`` when the Fishers are factors, it needs fewer multiply-adds and
    its float64 Grams fit in memory; else ``"covariance"``."""
    if isinstance(pool, FisherMatrix) or isinstance(labeled, FisherMatrix):
        return "covariance"
    nC, d = V.shape
    costs = _costs(V, C, steps, pool, labeled)
    rows = nC + n_factor_rows(pool) + n_factor_rows(labeled)
    sample_bytes = 8 * (rows * d + nC * (nC + n_factor_rows(pool)))
    if costs["gram"] < costs["covariance"] and fits(device, sample_bytes):
        return "gram"
    return "covariance"

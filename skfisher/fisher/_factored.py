"""Embedding rows whose output-layer block is a Kronecker product.

For a linear output layer ``z = W h (+ b)`` followed by a softmax, the
gradient of ``log p_c`` with respect to ``W`` is ``(e_c - p) ⊗ h`` (and
``e_c - p`` for ``b``, as if ``h`` had a trailing 1). A candidate's embedding
is therefore

    V_x = [D_x ⊗ h_xᵀ | G_x],   D_x[c, k] = w_c (δ_ck - p_k),

with ``w_c = √p_c`` (or 1 unweighted), ``h_x`` of length ``h`` and the
gradients of the other masked entries in ``G_x`` (C x m). Stored this way a
candidate takes ``h + C² + C m`` numbers instead of ``C (C h + m)``, and every
product the selection needs costs about a factor ``C`` less on the output
block. :class:`FactoredRows` serves the same products as
:class:`~skfisher.fisher._storage.EmbeddingRows`; its columns are the output
layer's ``(k, j)`` entries, class-major, followed by the ``m`` others (the
selection does not depend on the order of the columns, as long as every
Fisher it reads uses the same).

The selection depends on a candidate's rows only through its Fisher
``V_xᵀ V_x = J_xᵀ D_xᵀ D_x J_x`` (``J_x`` the Jacobian of the logits), and
``D_xᵀ D_x`` has rank ``C - 1`` (its null vector is the all-ones vector), so
``C - 1`` rows ``R_x`` with ``R_xᵀ R_x = D_xᵀ D_x`` serve as well
(:func:`output_factor` with ``reduced=True``): one backward pass and one row
fewer per candidate.
"""

import torch

from .._config import get_config
from ..utils._device import fitting_rows, free_memory

__all__ = ["FactoredRows", "output_factor"]


def output_factor(prob, weighting="fisher", *, reduced=False):
    """The output-gradient factor of every row, float64.

    Parameters
    ----------
    prob : Tensor of shape (n, C)
    weighting : {"fisher", "unweighted"}, default="fisher"
    reduced : bool, default=False
        False: ``D`` of shape (n, C, C), ``D[c, k] = w_c (δ_ck - p_k)``. True:
        ``R`` of shape (n, C - 1, C) with ``Rᵀ R = Dᵀ D``, from the
        eigendecomposition of ``Dᵀ D`` without its zero eigenvalue; each row
        of ``R`` sums to 0.
    """
    prob = prob.double()
    eye = torch.eye(prob.shape[1], dtype=prob.dtype, device=prob.device)
    D = eye - prob[:, None, :]
    if weighting == "fisher":
        D = D * prob.sqrt()[:, :, None]
    if not reduced:
        return D
    values, vectors = torch.linalg.eigh(D.transpose(1, 2) @ D)  # ascending; the first is 0
    return values[:, 1:, None].clamp(min=0).sqrt() * vectors[:, :, 1:].transpose(1, 2)


class FactoredRows:
    """Stacked embeddings ``scale * V`` (n r x d) with ``V_x = [D_x ⊗ h_xᵀ | G_x]``.

    Parameters
    ----------
    D : Tensor of shape (n, r, C)
        Output-gradient factors (see :func:`output_factor`): ``r = C`` rows a
        candidate, or ``C - 1`` reduced ones; on the compute device.
    H : Tensor of shape (n, h)
        The output layer's inputs (with a trailing 1 when it has a bias), on
        the same device.
    G : EmbeddingRows of shape (n r, m) or None
        The other masked entries in the same rows, stored in chunks (None
        when ``m = 0``); products with it run in its compute type.
    scale : float, default=1.0

    Attributes
    ----------
    group : int
        ``r``, the rows of a candidate.
    n_out : int
        ``C h``, the output block's columns.
    """

    def __init__(self, D, H, G=None, *, scale=1.0):
        self.D, self.H = D.double(), H.double()
        self.G, self.scale = G, float(scale)
        self.device = D.device
        _, self.group, self.n_classes = D.shape
        self.h = H.shape[1]
        self.n_out = self.n_classes * self.h
        self.m = 0 if G is None else G.shape[1]
        row_bytes = 8 * self.group * (self.n_out + self.m) + 8 * self.n_classes**2 * self.h
        config = get_config()
        if self.device.type == "cuda":
            budget = config["chunk_memory_fraction"] * free_memory(self.device)
        else:
            budget = config["factored_chunk_bytes"]
        self.chunk = fitting_rows(row_bytes, budget)

    @property
    def shape(self):
        return (len(self.D) * self.group, self.n_out + self.m)

    def scaled(self, scale):
        """The same factors times ``scale`` (no copy)."""
        return FactoredRows(self.D, self.H, self.G, scale=self.scale * scale)

    def matmul_cost(self):
        r, C = self.group, self.n_classes
        return len(self.D) * (self.n_out + r * C + r * self.m)

    def gram_cost(self):
        r, C, m = self.group, self.n_classes, self.m
        return len(self.D) * (self.n_out**2 + (self.n_out + r * C) * m + r * m * m)

    def _ranges(self):
        n = len(self.D)
        for x in range(0, n, self.chunk):
            yield x, min(x + self.chunk, n)

    def _G(self, x0, x1, dtype=torch.float64):
        """``G_x`` of candidates x0..x1 as (x1 - x0, r, m), unscaled."""
        r = self.group
        return self.G.data[x0 * r : x1 * r].to(self.device, dtype).view(x1 - x0, r, self.m)

    def _times(self, x0, x1, M, dtype=None):
        """``V_x M`` (unscaled, float64) of candidates x0..x1 as (x1 - x0, r, k), for M
        (d, k) float64; the ``G`` part in ``dtype`` (default: its compute type)."""
        C, h, k = self.n_classes, self.h, M.shape[1]
        Mo = M[: self.n_out].view(C, h, k).transpose(0, 1).reshape(h, C * k)
        out = torch.bmm(self.D[x0:x1], (self.H[x0:x1] @ Mo).view(-1, C, k))
        if self.m:  # transposed: BLAS is several times faster for a skinny M
            G = self._G(x0, x1, dtype or self.G.compute_dtype)
            Mr = M[self.n_out :].to(G.dtype)
            out += (Mr.T @ G.reshape(-1, self.m).T).T.reshape(out.shape).double()
        return out

    def matmul(self, M):
        """``(scale V) @ M`` in float64, for M of shape (d, k); shape (n r, k)."""
        out = torch.empty(self.shape[0], M.shape[1], dtype=torch.float64, device=self.device)
        r = self.group
        for x0, x1 in self._ranges():
            out[x0 * r : x1 * r] = self._times(x0, x1, M).reshape(-1, M.shape[1])
        return out.mul_(self.scale)

    def quad(self, M=None):
        """Every candidate's ``V_x M V_xᵀ`` (r x r, float64); None stands for the identity."""
        r, C, h = self.group, self.n_classes, self.h
        out = torch.empty(len(self.D), r, r, dtype=torch.float64, device=self.device)
        for x0, x1 in self._ranges():
            D, H = self.D[x0:x1], self.H[x0:x1]
            if M is None:  # D Dᵀ |h|² + G Gᵀ
                out[x0:x1] = D @ D.transpose(1, 2) * (H * H).sum(1)[:, None, None]
                if self.m:
                    G = self._G(x0, x1)
                    out[x0:x1] += G @ G.transpose(1, 2)
                continue
            Z = self._times(x0, x1, M, torch.float64)  # (b, r, d)
            Zh = torch.einsum("bckj,bj->bck", Z[:, :, : self.n_out].view(-1, r, C, h), H)
            out[x0:x1] = Zh @ D.transpose(1, 2)
            if self.m:
                out[x0:x1] += Z[:, :, self.n_out :] @ self._G(x0, x1).transpose(1, 2)
        return out.mul_(self.scale**2)

    def gram(self, out=None):
        """``(scale V)ᵀ (scale V)`` (d x d, float64), added to ``out`` when given."""
        r, C, h, n_out, m = self.group, self.n_classes, self.h, self.n_out, self.m
        d = self.shape[1]
        if out is None:
            out = torch.zeros(d, d, dtype=torch.float64, device=self.device)
        s2 = self.scale**2
        for x0, x1 in self._ranges():
            D, H = self.D[x0:x1], self.H[x0:x1]
            b = x1 - x0
            K = D.transpose(1, 2) @ D  # (b, C, C): Σ_c D[c, k] D[c, l]
            KH = (K.reshape(b, C * C, 1) * H[:, None, :]).reshape(b, C * C * h)
            oo = (KH.T @ H).view(C, C, h, h).transpose(1, 2).reshape(n_out, n_out)
            out[:n_out, :n_out].add_(oo, alpha=s2)
            if m:
                G = self._G(x0, x1)
                E = (D.transpose(1, 2) @ G).reshape(b, C * m)  # Σ_c D[c, k] G[c, r]
                om = (H.T @ E).view(h, C, m).transpose(0, 1).reshape(n_out, m)
                out[:n_out, n_out:].add_(om, alpha=s2)
                out[n_out:, :n_out].add_(om.T, alpha=s2)
                G2 = G.reshape(b * r, m)
                out[n_out:, n_out:].addmm_(G2.T, G2, alpha=s2)
        return out

    def rows(self, start, stop):
        """Rows ``start:stop`` (whole candidates) of ``scale * V``, dense float64."""
        r = self.group
        x0, x1 = start // r, stop // r
        out = torch.empty(x1 - x0, r, self.shape[1], dtype=torch.float64, device=self.device)
        out[:, :, : self.n_out] = (
            self.D[x0:x1, :, :, None] * self.H[x0:x1, None, None, :]
        ).reshape(x1 - x0, r, self.n_out)
        if self.m:
            out[:, :, self.n_out :] = self._G(x0, x1)
        return out.reshape(-1, self.shape[1]).mul_(self.scale)

    def dense(self):
        """The whole of ``scale * V``, dense float64 (small problems only)."""
        return self.rows(0, self.shape[0])

    def traces(self):
        """``tr(V_xᵀ V_x)`` of every candidate, float64."""
        out = (self.D * self.D).sum((1, 2)) * (self.H * self.H).sum(1)
        if self.m:
            out = out + self.G.traces()
        return out * self.scale**2

    def check_finite(self, name):
        if not (torch.isfinite(self.D.sum()) and torch.isfinite(self.H.sum())):
            raise ValueError(f"{name} contains NaN or infinity.")
        if self.m:
            self.G.check_finite(name)

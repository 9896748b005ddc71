"""The Fishers a selection backend reads: an explicit d x d matrix, or stored
embedding rows whose mean outer product it is."""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["FisherFactor", "FisherMatrix", "n_factor_rows"]


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


def n_factor_rows(fisher):
    """Rows of a Fisher's factor: 0 for a matrix or None."""
    return 0 if fisher is None else fisher.n_rows

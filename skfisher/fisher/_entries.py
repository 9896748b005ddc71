"""Chosen entries of a Linear or Conv2d weight's per-sample gradients.

A weight entry ``(o, k)`` of a sample's gradient is ``Σ_l G[b, o, l] U[b, k, l]``
over the layer's positions ``l`` (``G`` the output gradient, ``U`` the input
or its unfolded patches), so a sparse mask needs no full per-sample
gradient. Entries that fill enough of their output rows (the configuration's
``dense_ratio``) come from one batched matmul over those rows; sparse ones
from products of the gathered rows, in chunks of ``gather_elements``
(see :func:`skfisher.set_config`).
"""

import torch
from torch import nn

from .._config import get_config

__all__ = ["WeightEntries", "plan_entries", "weight_entries"]


class WeightEntries:
    """Flat weight entries ``index = o * K + k`` and how to compute them, planned
    once a call: the output rows they fall in, and whether those rows are
    dense enough for one matmul."""

    def __init__(self, index, n_k):
        self.index = index
        self.rows, self.pos = torch.unique(index // n_k, return_inverse=True)
        self.cols = index % n_k
        self.dense = len(self.rows) * n_k <= get_config()["dense_ratio"] * len(index)


def plan_entries(module, pname, index):
    """``index`` as :class:`WeightEntries` for a Linear or Conv2d weight; else as given."""
    if index is None or pname != "weight" or isinstance(module, nn.BatchNorm2d):
        return index
    return WeightEntries(index, module.weight[0].numel())


def weight_entries(G, U, entries):
    """Per-sample ``Σ_l G[b, o, l] U[b, k, l]`` at :class:`WeightEntries` (None: all).

    Entries that fill enough of their output rows come from one batched
    matmul over those rows (BLAS-efficient); sparse ones from products of
    the gathered rows, in chunks that bound the temporaries.
    """
    B, _, L = G.shape
    if entries is None:
        return torch.bmm(G, U.transpose(1, 2)).reshape(B, -1)
    if entries.dense:
        return torch.bmm(G[:, entries.rows], U.transpose(1, 2))[:, entries.pos, entries.cols]
    n_k = U.shape[1]
    step = max(get_config()["gather_elements"] // (B * L), 1)
    return torch.cat(
        [(G[:, i // n_k] * U[:, i % n_k]).sum(-1) for i in entries.index.split(step)], dim=1
    )

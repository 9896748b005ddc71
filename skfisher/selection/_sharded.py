"""Greedy Fisher selection over a pool sharded across processes (torch.distributed).

Each rank holds its shard's embeddings and their C x C state; ``A`` and
``F_pool`` (d x d) are replicated. Per step, an all-gather of every rank's
best (score, global index) finds the global winner, whose owner broadcasts
its ``P_u``, ``Q_u`` and embedding rows; every rank then applies the same
Woodbury update to its shard. The picks are those of
:func:`skfisher.selection.select_batch` on the pool concatenated in rank order.
"""

import numpy as np
import torch
import torch.distributed as dist

from ..utils._validation import validate_params
from ._fishers import FisherMatrix
from ._greedy import TIE_RTOL, argmax_lowest
from ._problem import COMMON_CONSTRAINTS, prepare

__all__ = ["ShardedPool", "select_batch_sharded"]


class ShardedPool:
    """This rank's part of a pool split, in rank order, over a process group.

    Parameters
    ----------
    n_local : int
        Candidates on this rank.
    device : torch.device
        Where this rank's tensors (and the collectives' buffers) live.
    group : ProcessGroup, default=None
        The default group when None.
    """

    def __init__(self, n_local, device, group=None):
        self.group, self.device = group, device
        self.rank = dist.get_rank(group)
        counts = [
            torch.zeros(1, dtype=torch.int64, device=device)
            for _ in range(dist.get_world_size(group))
        ]
        dist.all_gather(counts, torch.tensor([n_local], device=device), group=group)
        self.offsets = np.concatenate([[0], np.cumsum([int(c) for c in counts])])
        self.offset, self.n_total = int(self.offsets[self.rank]), int(self.offsets[-1])

    where = " over all ranks"  # for messages: where the candidates are

    def fisher(self, rows):
        """``F_pool``: the mean of ``V_xᵀ V_x`` over every rank's candidates."""
        F = rows.gram()
        dist.all_reduce(F, group=self.group)
        return FisherMatrix(F.div_(self.n_total))

    def max(self, value):
        """``value``'s maximum over the ranks, so that every rank decides alike."""
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.group)
        return t.item()

    def _owner(self, u):
        return int(np.searchsorted(self.offsets, u, side="right") - 1)

    def best(self, score, index):
        """Global winner: the best value over ranks, near-ties to the lowest index."""
        k = argmax_lowest(score)
        mine = (
            torch.tensor([score[k].item(), float(index[k])], dtype=torch.float64)
            if k >= 0
            else torch.tensor([-np.inf, np.inf], dtype=torch.float64)
        ).to(self.device)
        every = [torch.empty_like(mine) for _ in range(len(self.offsets) - 1)]
        dist.all_gather(every, mine, group=self.group)
        every = torch.stack(every).cpu()
        top = every[:, 0].max().item()
        near = every[every[:, 0] >= top - TIE_RTOL * abs(top)]
        pick = near[torch.argmin(near[:, 1])]
        return int(pick[1]), float(pick[0])

    def winner(self, u, P, Q, backend):
        """``P_u``, ``Q_u`` and ``Ũ_u``, broadcast by the rank that holds ``u``."""
        C = P.shape[1]
        owner = self._owner(u)
        if owner == self.rank:
            local = u - self.offset
            buf = torch.cat(
                [P[local].reshape(-1), Q[local].reshape(-1), backend.rows(local).reshape(-1)]
            )
        else:
            d = backend.dim
            buf = torch.empty(2 * C * C + C * d, dtype=P.dtype, device=P.device)
        src = owner if self.group is None else dist.get_global_rank(self.group, owner)
        dist.broadcast(buf, src=src, group=self.group)
        return (
            buf[: C * C].view(C, C),
            buf[C * C : 2 * C * C].view(C, C),
            buf[2 * C * C :].view(C, -1),
        )


@validate_params(
    {**COMMON_CONSTRAINTS, "group": [None, object]},
    prefer_skip_nested_validation=True,
)
def select_batch_sharded(
    embeddings,
    n_instances,
    *,
    labeled_fisher=None,
    n_labeled=0,
    lam=1.0,
    backward_steps=0,
    device=None,
    group=None,
):
    """:func:`~skfisher.selection.select_batch` over a pool sharded across ranks.

    Call it on every rank of an initialised process group with that rank's
    rows; the pool is the ranks' rows concatenated in rank order and
    ``F_pool`` is the mean over all of them.

    Parameters
    ----------
    embeddings : array-like or Tensor of shape (n_rank, C, d)
        This rank's unscaled candidate embeddings (may be empty on some ranks).
    n_instances : int
        ``(backward_steps + 1) * n_instances`` at most the total pool size.
    labeled_fisher : array-like of shape (d, d) or (m, C, d), default=None
        The same on every rank.
    n_labeled, lam, backward_steps : as in ``select_batch``
    device : str or torch.device, default=None
        This rank's device (None: CUDA when available).
    group : ProcessGroup, default=None

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
        Global indices in the order chosen, identical on every rank.
    """
    problem = prepare(
        embeddings,
        n_instances,
        labeled_fisher=labeled_fisher,
        n_labeled=n_labeled,
        lam=lam,
        backward_steps=backward_steps,
        device=device,
        storage="device",
        make_pool=lambda n, dev: ShardedPool(n, dev, group),
    )
    return problem.solve()[0]

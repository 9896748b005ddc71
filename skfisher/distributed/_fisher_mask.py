"""FisherMask and BAIT over a pool sharded across ranks: the diagonal, the mask,
the embeddings, both Fishers and the selection, each rank on its own rows.

Every rank draws the same Fisher rows and candidates from ``random_state``
(over the whole pool), computes the diagonal on the drawn rows it holds and
sums it over the ranks, so the mask is the single-process one and is then
broadcast from rank 0. Each rank embeds its candidates only; the labeled
rows are split over the ranks and their Gram summed. The greedy selection is
:func:`skfisher.selection.select_batch_sharded`'s, and every rank returns the
same global indices.
"""

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._config import get_config
from ..fisher._diagonal import fisher_diagonal
from ..fisher._embeddings import block_tensors, stored_embeddings
from ..fisher._factored import FactoredRows
from ..fisher._mask import build_mask, mask_candidates
from ..fisher._storage import EmbeddingRows, storage_dtype
from ..selection._problem import prepare
from ..selection._sharded import ShardedPool
from ..strategies._base import check_finite_outputs
from ..utils._device import model_device, phase

__all__ = ["fisher_mask_sharded"]


def _diagonal_sum(strategy, model, rows, layout, mask_args, rng, skip):
    """This rank's sum of the diagonal over its Fisher ``rows`` (float64, n_params).

    ``rng`` is a copy of the query's state advanced by ``skip`` draws: the
    sampled classes of the rows held by the ranks before this one."""
    names = [
        layout.names[j]
        for j in mask_candidates(
            layout,
            output_layer=mask_args["output_layer"],
            layers=mask_args["layers"],
            trainable_only=mask_args["trainable_only"],
        )
    ]
    if strategy.fisher == "sampled":
        rng.random_sample(skip)
    if not len(rows):
        return torch.zeros(layout.n_params, dtype=torch.float64, device=model_device(model))
    diag = fisher_diagonal(
        model,
        rows,
        names=names,
        forward_batch_size=strategy.forward_batch_size,
        method=strategy.fisher,
        random_state=rng,
    )
    return diag * len(rows)


def _mask(ranks, strategy, model, pool, layout, mask_args, rng, shard):
    """``(indices, m)``: the mask, identical on every rank, and its diagonal's rows."""
    if mask_args["method"] in ("output", "random"):
        indices = build_mask(None, layout, float(strategy.sparsity), random_state=rng, **mask_args)
        return indices, 0
    offset, n_local, n_total = shard
    m = strategy._fisher_rows(n_total)
    rows = np.sort(rng.choice(n_total, size=m, replace=False))
    mine = rows[(rows >= offset) & (rows < offset + n_local)] - offset
    local_rng = np.random.RandomState()
    local_rng.set_state(rng.get_state())
    if strategy.fisher == "sampled":
        rng.random_sample(m)  # the query's state moves on as in one process
    skip = int(np.count_nonzero(rows < offset))
    diag = ranks.run(
        lambda: _diagonal_sum(
            strategy, model, pool[mine] if len(mine) else [], layout, mask_args, local_rng, skip
        )
    )
    diag = ranks.all_reduce(diag).div_(m)  # the squared gradients, summed over every rank
    check_finite_outputs(diag, "Fisher diagonal", type(strategy).__name__)
    indices = build_mask(diag, layout, float(strategy.sparsity), random_state=rng, **mask_args)
    indices = torch.as_tensor(indices, dtype=torch.int64, device=diag.device)
    return ranks.broadcast(indices, 0).cpu().numpy(), m


def _gram(block, d, device):
    """``Σ V_xᵀ V_x`` (d x d, float64) of stored embeddings (factored or (n, C, d))."""
    out = torch.zeros(d, d, dtype=torch.float64, device=device)
    if block is None:
        return out
    if isinstance(block, torch.Tensor):
        if not len(block):
            return out
        block = EmbeddingRows(block.reshape(-1, d), device, group=block.shape[1])
    return block.gram(out=out)


def _embed(strategy, model, X, indices, mask_args, device):
    """Stored embeddings of rows ``X`` on the mask (None when X is empty)."""
    if not len(X):
        return None
    (block,) = stored_embeddings(
        model,
        [X],
        indices,
        output_layer=mask_args["output_layer"],
        weighting=strategy.weighting,
        dtype=storage_dtype(strategy.embedding_dtype),
        device=device,
        storage=strategy.storage,
        forward_batch_size=strategy.forward_batch_size,
        factored=get_config()["factored_output"],
    )
    return block


def _fishers(ranks, V, labeled, n_candidates, d, device):
    """``(F_pool, F_lab, n_labeled)``: the pool Fisher over every candidate and
    labeled row (as one process averages them), and the labeled one (None)."""
    G = _gram(V, d, device)
    G_lab = _gram(labeled[0], d, device)
    both = ranks.all_reduce(torch.stack([G, G_lab]))
    n_labeled = labeled[1]
    F_pool = (both[0] + both[1]) / (n_candidates + n_labeled)
    return F_pool, (both[1] / n_labeled if n_labeled else None), n_labeled


def _labeled_rows(ranks, labeled):
    """This rank's share of the labeled rows (contiguous, by rank) and their total."""
    if labeled is None:
        return [], 0
    bounds = np.linspace(0, len(labeled), ranks.size + 1).astype(int)
    return labeled[bounds[ranks.rank] : bounds[ranks.rank + 1]], len(labeled)


def fisher_mask_sharded(ranks, strategy, model, shard, n_instances, layout_probe):
    """One FisherMask (or BAIT) query over the ranks; see :func:`query_sharded`.

    ``shard`` is ``(pool, labeled, offset, n_total)`` with ``pool`` this
    rank's converted rows (or []) and ``labeled`` every labeled row (or
    None); ``layout_probe`` a few converted rows to set the mask up on.
    """
    pool, labeled, offset, n_total = shard
    layout, mask_args = ranks.run(lambda: strategy._mask_setup(model, layout_probe))
    rng = check_random_state(strategy.random_state)
    device = strategy._device_for(model)
    seconds, peaks = {}, {}
    with phase("fisher_diagonal", device, seconds, peaks):
        indices, m = _mask(
            ranks, strategy, model, pool, layout, mask_args, rng, (offset, len(pool), n_total)
        )
    scored = strategy._candidates(n_total, rng)
    local = None
    if scored is not None:
        local = scored[(scored >= offset) & (scored < offset + len(pool))] - offset
        pool = pool[local] if len(local) else []
    n_candidates = n_total if scored is None else len(scored)
    with phase("embeddings", device, seconds, peaks):
        V, lab = ranks.run(
            lambda: _embed_both(ranks, strategy, model, pool, labeled, indices, mask_args, device)
        )
    with phase("selection", device, seconds, peaks):
        if V is None:  # an empty shard: no candidates, stored as the others store them
            V = _no_rows(_embed(strategy, model, layout_probe[:1], indices, mask_args, device))
        chosen, gains, objective = _select(
            ranks, strategy, (V, lab, n_candidates, len(indices)), n_instances, device
        )
    if scored is not None:
        chosen = scored[chosen]
    strategy.last_query_ = {
        "mask_size": len(indices),
        "seconds": seconds,
        "peak_memory": peaks,
        "objective": objective,
        "fisher_rows": m,
        "candidates": scored,
        "rank": ranks.rank,
        "n_ranks": ranks.size,
    }
    return chosen, gains


def _select(ranks, strategy, embedded, n_instances, device):
    """``(chosen, gains, objective)``: the greedy selection over every rank's
    candidates, with both Fishers summed over the ranks. ``embedded`` is
    ``(V, (L, n_labeled), n_candidates, d)``."""
    V, labeled, n_candidates, d = embedded
    F_pool, F_lab, n_labeled = _fishers(ranks, V, labeled, n_candidates, d, device)
    return prepare(
        V,
        n_instances,
        pool_fisher=F_pool,
        labeled_fisher=F_lab,
        n_labeled=n_labeled,
        lam=float(strategy.lam),
        backward_steps=strategy.backward_steps,
        device=device,
        storage=strategy.storage,
        make_pool=lambda n, dev: ShardedPool(n, dev, ranks.group),
    ).solve()


def _embed_both(ranks, strategy, model, pool, labeled, indices, mask_args, device):
    """``(V, (L, n_labeled))``: this rank's candidates' and labeled share's embeddings."""
    V = _embed(strategy, model, pool, indices, mask_args, device)
    rows, n_labeled = _labeled_rows(ranks, labeled)
    L = _embed(strategy, model, rows, indices, mask_args, device)
    for block in (V, L):
        for part in [] if block is None else block_tensors(block):
            check_finite_outputs(part, "gradient embeddings", type(strategy).__name__)
    return V, (L, n_labeled)


def _no_rows(block):
    """An empty block of the same kind (factored or dense) and row layout as ``block``."""
    if isinstance(block, torch.Tensor):
        return block[:0]
    G = block.G
    if G is not None:
        G = EmbeddingRows(G.data[:0], G.device, scale=G.scale, group=G.group)
    return FactoredRows(block.D[:0], block.H[:0], G, scale=block.scale)

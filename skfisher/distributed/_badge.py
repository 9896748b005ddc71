"""BADGE over a pool sharded across ranks: each rank embeds its own rows, and the
k-means++ seeding draws from the whole pool's D² weights, as one process would."""

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..fisher._network import find_output_layer, output_layer_inputs
from ..strategies._base import check_finite_outputs
from ..strategies._diversity import badge_embeddings

__all__ = ["badge_sharded", "kmeanspp_sharded"]


def _owner(offsets, u):
    return int(np.searchsorted(offsets, u, side="right") - 1)


def _point(ranks, points, offsets, u):
    """Row ``u`` (global) of the points, broadcast by the rank that holds it."""
    owner = _owner(offsets, u)
    buf = (
        points[u - offsets[ranks.rank]].clone()
        if owner == ranks.rank
        else torch.empty(points.shape[1], dtype=points.dtype, device=points.device)
    )
    return ranks.broadcast(buf, owner)


def kmeanspp_sharded(ranks, points, n_instances, offsets, random_state):
    """:func:`skfisher.strategies.kmeanspp_select` over points sharded by rank.

    ``points`` (n_rank, D) are this rank's rows, ``offsets`` every rank's first
    global row. The D² weights of the whole pool are gathered at each draw,
    so every rank draws the same global row from ``random_state``.
    """
    rng = check_random_state(random_state)
    offset, n_total = int(offsets[ranks.rank]), int(offsets[-1])
    norms = torch.linalg.vector_norm(points, dim=1)
    k = int(torch.argmax(norms)) if len(points) else -1
    best = [b for b in ranks.gather((float(norms[k]), offset + k) if k >= 0 else None) if b]
    top = max(v for v, _ in best)
    u = min(i for v, i in best if v == top)  # the first largest norm, as torch.argmax
    x = _point(ranks, points, offsets, u)
    picks, scores = [u], [float(x.square().sum())]

    d2 = torch.linalg.vector_norm(points - x, dim=1).square().double()
    if offset <= u < offset + len(points):
        d2[u - offset] = 0.0
    while len(picks) < n_instances:
        full = torch.cat([torch.from_numpy(a) for a in ranks.gather(d2.cpu().numpy())])
        total = float(full.sum())
        if total > 0:
            u = int(rng.choice(n_total, p=(full / total).numpy()))
        else:  # all remaining points coincide with picks: lowest unpicked index
            u = int(np.setdiff1d(np.arange(n_total), picks)[0])
        picks.append(u)
        scores.append(float(full[u]))
        x = _point(ranks, points, offsets, u)
        d2 = torch.minimum(d2, torch.linalg.vector_norm(points - x, dim=1).square().double())
        if offset <= u < offset + len(points):
            d2[u - offset] = 0.0
    return np.asarray(picks, dtype=np.int64), np.asarray(scores)


def badge_sharded(ranks, strategy, model, shard, n_instances, probe):
    """One BADGE query over the ranks; see :func:`query_sharded`."""
    pool = shard[0]
    name = type(strategy).__name__
    layer = ranks.run(lambda: find_output_layer(model, probe, strategy.output_layer))

    def embed():
        X = pool if len(pool) else probe[:1]
        features, logits = output_layer_inputs(
            model, X, output_layer=layer, forward_batch_size=strategy.forward_batch_size
        )
        check_finite_outputs(features, "penultimate features", name)
        check_finite_outputs(logits, "logits", name)
        points = badge_embeddings(features.double(), logits.double())
        return points if len(pool) else points[:0]

    points = ranks.run(embed)
    _, offsets = ranks.counts(len(points))
    return kmeanspp_sharded(ranks, points, n_instances, offsets, strategy.random_state)

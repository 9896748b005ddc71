"""One query over a process group: each rank passes its shard of the pool, and every
rank gets the same global indices."""

import hashlib

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import _num_samples

from ..strategies._base import images_for, resolve_estimator
from ..strategies._diversity import Badge
from ..strategies._fisher_mask import FisherMask
from ._agree import Ranks, model_checksum
from ._badge import badge_sharded
from ._fisher_mask import fisher_mask_sharded

__all__ = ["query_sharded"]

_PROBE_ROWS = 8


def _seed_fact(random_state):
    """What must agree about ``random_state`` (a RandomState by its state)."""
    if isinstance(random_state, np.random.RandomState):
        keys, pos = random_state.get_state()[1:3]
        return hashlib.sha256(keys.tobytes() + str(pos).encode()).hexdigest()
    return repr(random_state)


def _local(strategy, classifier, X_shard, X_labeled, n_instances):
    """This rank's checked inputs: ``(model, pool, labeled, facts)``."""
    if not isinstance(strategy, (FisherMask, Badge)):
        raise TypeError(
            "query_sharded runs FisherMask, Bait and Badge; got "
            f"{type(strategy).__name__} (other strategies need no sharding of the work)."
        )
    strategy._check_params()
    if isinstance(strategy, FisherMask):
        strategy._check_max_candidates(n_instances)
    elif X_labeled is not None:
        raise TypeError("Badge takes no X_labeled.")
    name = type(strategy).__name__
    estimator, X_pool, X_lab = resolve_estimator(classifier, X_shard, X_labeled, strategy=name)
    n_local = _num_samples(X_pool)
    pool = images_for(estimator, X_pool) if n_local else []
    labeled = None if X_lab is None or isinstance(strategy, Badge) else images_for(estimator, X_lab)
    raw_shape = getattr(X_pool, "shape", None)
    facts = {
        "the pool's row shape": tuple(raw_shape[1:]) if n_local and raw_shape else None,
        "the pool's dtype": str(X_pool.dtype) if n_local and hasattr(X_pool, "dtype") else None,
        "the images' shape": tuple(pool.shape[1:]) if n_local else None,
        "the model parameters (SHA-256)": model_checksum(estimator.module_),
        "the strategy": repr(strategy),
        "random_state": _seed_fact(strategy.random_state),
        "n_instances": repr(n_instances),
        "the labeled rows": None if labeled is None else (len(labeled), tuple(labeled.shape[1:])),
    }
    return estimator.module_, pool, labeled, facts


def _check_total(strategy, n_instances, n_total, n_ranks):
    factor = strategy._n_instances_factor()
    if factor * n_instances > n_total:
        extra = f" (times {factor} for the backward steps)" if factor > 1 else ""
        raise ValueError(
            f"n_instances must be an int in [1, {n_total // factor}]{extra} for a pool of "
            f"{n_total} rows over {n_ranks} ranks; got {n_instances!r}."
        )


def query_sharded(strategy, classifier, X_shard, n_instances=1, *, X_labeled=None, group=None):
    """Run ``strategy`` on a pool sharded over the ranks of a process group.

    Call it on every rank of an initialised ``torch.distributed`` group (e.g.
    under ``torchrun``; gloo on CPUs, NCCL on GPUs), each rank with its own
    rows. The pool is the ranks' rows concatenated in rank order; the picks
    are those of ``strategy(classifier, pool, n_instances)`` in one process
    with the same ``random_state``, and every rank returns them.

    Parameters
    ----------
    strategy : FisherMask, Bait or Badge
        Its parameters must be the same on every rank. With
        ``random_state=None`` rank 0 draws the seed for all.
    classifier : ActiveLearner, fitted estimator or Pipeline
        The same network on every rank (its parameters are compared).
    X_shard : array-like of shape (n_rank, ...)
        This rank's rows, in any form a strategy takes (a numpy or
        memory-mapped array, an h5py or zarr array,
        :class:`skfisher.datasets.DatasetRows`); converted a forward batch at
        a time. May be empty on some ranks.
    n_instances : int, default=1
        Rows to pick from the whole pool.
    X_labeled : array-like of shape (n_labeled, ...), default=None
        FisherMask and BAIT: every labeled row, the same on every rank (a
        learner's ``X_training`` by default); each rank embeds its share and
        the labeled Fisher is summed over the ranks.
    group : ProcessGroup, default=None
        None: the default group.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
        Global pool indices (into the concatenated pool) in the order
        chosen, identical on every rank.
    scores : ndarray of shape (n_instances,)
        The strategy's score of each pick, identical on every rank.

    Raises
    ------
    ValueError
        On every rank, when the ranks disagree on the images' shape or type,
        the model's parameters or the strategy; when ``n_instances`` exceeds
        the whole pool; or when one rank's inputs fail validation.
    RuntimeError
        Without a process group, or when a rank fails otherwise. A rank
        that dies makes the others raise, at the latest after the group's
        ``timeout`` (``init_process_group(timeout=...)``).

    Notes
    -----
    Memory per rank: its forward batches, its candidates' embeddings, the
    selection's d x d matrices (replicated) and, for BADGE, one float64
    weight per pool row.
    """
    what = f"query_sharded({type(strategy).__name__})"
    ranks = Ranks(group, what)
    model, pool, labeled, facts = ranks.run(
        lambda: _local(strategy, classifier, X_shard, X_labeled, n_instances)
    )
    ranks.check_same(facts)
    counts, offsets = ranks.counts(len(pool))
    n_total = int(offsets[-1])
    _check_total(strategy, n_instances, n_total, ranks.size)
    probe = _probe(ranks, pool)
    run = clone(strategy)
    if strategy.random_state is None:  # one seed for every rank: rank 0's
        run.set_params(
            random_state=ranks.gather(int(np.random.default_rng().integers(2**31 - 1)))[0]
        )
    elif isinstance(strategy.random_state, np.random.RandomState):
        run.set_params(random_state=strategy.random_state)  # advanced as in one process
    shard = (pool, labeled, int(offsets[ranks.rank]), n_total)
    query = badge_sharded if isinstance(strategy, Badge) else fisher_mask_sharded
    indices, scores = query(ranks, run, model, shard, n_instances, probe)
    if hasattr(run, "last_query_"):
        strategy.last_query_ = run.last_query_
    return indices, scores


def _probe(ranks, pool):
    """A few converted rows to set the network up on: this rank's first rows, or
    zeros of the images' shape on a rank with an empty shard (a collective)."""
    shapes = ranks.gather(tuple(pool.shape[1:]) if len(pool) else None)
    if len(pool):
        return np.asarray(pool[:_PROBE_ROWS])
    shape = next(s for s in shapes if s is not None)
    return np.zeros((1,) + shape, dtype=np.float32)

"""A query sharded over 2 gloo processes (CPU) picks what one process picks on the
concatenated pool, and bad input is an error on every rank, never a hang."""

import copy
import datetime
import os
import pickle
import socket
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.base import clone

from skfisher import Bait, FisherMask, ResNet18Classifier
from skfisher.datasets import load_digits_images
from skfisher.distributed import query_sharded
from skfisher.strategies import Badge

#: strategy, rows of rank 0 (of 120), with the labeled rows
CASES = [
    (FisherMask(sparsity=0.05, fisher_samples=50, random_state=0), 47, True),
    (Bait(random_state=3), 0, True),  # rank 0 holds nothing
    (FisherMask(sparsity=0.05, max_candidates=70, fisher="sampled", random_state=1), 81, False),
    (Badge(random_state=2), 64, False),
]
N_POOL, K = 120, 4


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A float64 net on 8x8 digits, a memory-mapped uint8 pool and labeled rows."""
    X, y = load_digits_images(return_X_y=True)
    net = ResNet18Classifier(max_epochs=2, module__width=4, random_state=0, device="cpu")
    net.fit(X[:60], y[:60])
    net.module_.double()
    path = tmp_path_factory.mktemp("pool") / "pool.npy"
    np.save(path, np.round(X[60 : 60 + N_POOL] * 255).astype(np.uint8))
    return pickle.dumps(net), str(path), X[:20]  # bytes: spawn shares no tensor memory


def _init(rank, port, timeout=60):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(
        "gloo", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=timeout)
    )
    torch.set_num_threads(1)


def _picks_worker(rank, port, setting, out):
    net, path, X_lab = setting
    net = pickle.loads(net)
    _init(rank, port)
    try:
        pool = np.load(path, mmap_mode="r")
        for i, (strategy, split, labeled) in enumerate(CASES):
            shard = pool[:split] if rank == 0 else pool[split:]
            kw = {"X_labeled": X_lab} if labeled else {}
            idx, scores = query_sharded(clone(strategy), net, shard, K, **kw)
            out[(rank, i)] = (idx.tolist(), scores.tolist())
        _bad_input(rank, net, pool, out)
    finally:
        dist.destroy_process_group()


def _error(out, key, call):
    try:
        call()
        out[key] = None
    except Exception as exc:  # recorded for the parent to check
        out[key] = (type(exc).__name__, str(exc))


def _bad_input(rank, net, pool, out):
    shard = pool[:60] if rank == 0 else pool[60:]
    strategy = FisherMask(sparsity=0.05, random_state=0)
    # rank 1 gives float rows where rank 0 gives uint8
    mixed = shard if rank == 0 else shard.astype(np.float32) / 255
    _error(out, (rank, "dtype"), lambda: query_sharded(strategy, net, mixed, 2))
    # rank 1's network differs by one parameter
    model = copy.deepcopy(net)
    if rank == 1:
        with torch.no_grad():
            next(model.module_.parameters()).view(-1)[0] += 1e-9
    _error(out, (rank, "model"), lambda: query_sharded(strategy, model, shard, 2))
    _error(out, (rank, "too many"), lambda: query_sharded(strategy, net, shard, 121))
    # a bad shape on rank 1 only: its validation error reaches rank 0 too
    bad = shard if rank == 0 else shard[:, :, :4]
    _error(out, (rank, "shape"), lambda: query_sharded(strategy, net, bad, 2))


def test_two_ranks_pick_what_one_process_picks(setting):
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_picks_worker, args=(_free_port(), setting, out), nprocs=2, join=True)
        out = dict(out)
    net, path, X_lab = setting
    net = pickle.loads(net)
    pool = np.load(path, mmap_mode="r")
    for i, (strategy, _, labeled) in enumerate(CASES):
        kw = {"X_labeled": X_lab} if labeled else {}
        idx, scores = clone(strategy)(net, pool, K, **kw)
        assert out[(0, i)] == out[(1, i)], strategy
        assert out[(0, i)][0] == idx.tolist(), strategy
        np.testing.assert_allclose(out[(0, i)][1], scores, rtol=1e-9)
    for rank in (0, 1):
        kind, message = out[(rank, "dtype")]
        assert kind == "ValueError" and "disagree on the pool's dtype" in message
        assert "rank 0: uint8, rank 1: float32" in message
        kind, message = out[(rank, "model")]
        assert kind == "ValueError" and "disagree on the model parameters" in message
        kind, message = out[(rank, "too many")]
        assert kind == "ValueError"
        assert "n_instances must be an int in [1, 120] for a pool of 120 rows over 2" in message
        kind, message = out[(rank, "shape")]
        assert kind == "ValueError" and "failed on rank 1" in message


def _dead_worker(rank, port, out):
    _init(rank, port, timeout=5)
    if rank == 1:
        os._exit(0)  # dies without a word
    X = np.zeros((10, 1, 8, 8), dtype=np.uint8)
    net = ResNet18Classifier(max_epochs=1, module__width=4, random_state=0, device="cpu")
    net.fit(np.random.RandomState(0).rand(20, 1, 8, 8).astype(np.float32), np.arange(20) % 2)
    tic = time.perf_counter()
    _error(out, "dead", lambda: query_sharded(Bait(random_state=0), net, X, 2))
    out["seconds"] = time.perf_counter() - tic


def test_a_dead_rank_is_an_error_not_a_hang():
    with mp.Manager() as manager:
        out = manager.dict()
        ctx = mp.start_processes(
            _dead_worker, args=(_free_port(), out), nprocs=2, join=False, start_method="spawn"
        )
        ctx.join(timeout=60)
        for p in ctx.processes:
            p.join(timeout=30)
        out = dict(out)
    kind, message = out["dead"]  # gloo: the peer's connection closed, or the timeout
    assert kind == "RuntimeError" and "query_sharded(Bait)" not in message
    assert out["seconds"] < 30

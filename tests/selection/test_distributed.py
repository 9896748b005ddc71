"""Pool sharding with torch.distributed (gloo, 2 CPU processes) = single process."""

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _reference import brute_force_select, exact_greedy_select

from skfisher.selection import select_batch, select_batch_sharded

CASES = [
    # n, C, d, K, n_labeled, backward_steps, split, storage type of the embeddings, lam
    (40, 3, 8, 6, 0, 0, 17, "float64", 1.0),
    (40, 3, 8, 5, 10, 1, 25, "float64", 1.0),
    (30, 4, 6, 4, 0, 2, 0, "float64", 1.0),  # rank 0 holds nothing
    (50, 3, 12, 6, 8, 0, 21, "bfloat16", 1.0),  # shards stay bfloat16
    (20, 3, 40, 4, 0, 1, 9, "float64", 0.01),  # removals with a small lam
    (24, 3, 30, 3, 4, 1, 12, "float64", 1e-3),
]


def _problem(i):
    n, C, d, _, n_labeled, _, _, dtype, lam = CASES[i]
    rng = np.random.RandomState(i)
    V, L = rng.randn(n, C, d), rng.randn(max(n_labeled, 1), C, d)
    if lam < 1:  # norms over orders of magnitude: removals lose digits incrementally
        V *= 30 * rng.gamma(1, 1, (n, 1, 1))
    return torch.from_numpy(V).to(getattr(torch, dtype)), L


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        for i, (_n, _C, _d, K, n_labeled, b, split, _, lam) in enumerate(CASES):
            V, L = _problem(i)
            shard = V[:split] if rank == 0 else V[split:]
            picks = select_batch_sharded(
                shard,
                K,
                labeled_fisher=L if n_labeled else None,
                n_labeled=n_labeled,
                backward_steps=b,
                lam=lam,
                device="cpu",
            )
            out[(rank, i)] = picks.tolist()
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_pick_what_one_process_picks():
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
        out = dict(out)
    for i, (_n, _C, _d, K, n_labeled, b, _, dtype, lam) in enumerate(CASES):
        V, L = _problem(i)
        single = select_batch(
            V,
            K,
            labeled_fisher=L if n_labeled else None,
            n_labeled=n_labeled,
            backward_steps=b,
            lam=lam,
            device="cpu",
        )
        F_lab = np.einsum("xcd,xce->de", L, L) / len(L) if n_labeled else None
        assert out[(0, i)] == out[(1, i)] == single.tolist()
        if dtype == "float64" and lam == 1:
            assert (
                single.tolist()
                == brute_force_select(
                    V.numpy(), K, F_lab=F_lab, n_labeled=n_labeled, backward_steps=b
                )[0].tolist()
            )
        elif dtype == "float64" and not n_labeled:  # F_pool: the candidates' mean
            assert (
                single.tolist() == exact_greedy_select(V.numpy(), K, lam=lam, backward_steps=b)[0]
            )


@pytest.fixture
def one_rank():
    """A gloo group of this process alone."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    dist.init_process_group("gloo", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_bad_parameters_fail_before_any_collective():
    # no process group: validate_params answers first
    V = np.ones((5, 2, 3))
    with pytest.raises(ValueError, match="'n_instances' parameter of select_batch_sharded"):
        select_batch_sharded(V, 0, device="cpu")
    with pytest.raises(ValueError, match="'lam' parameter of select_batch_sharded"):
        select_batch_sharded(V, 2, lam=-1.0, device="cpu")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lam": True}, "'lam' parameter of select_batch"),
        ({"lam": float("inf")}, r"'lam' parameter of select_batch(_sharded)? must be a float"),
        ({"lam": 1e-20}, "lam=1e-20 is too small against the scale of the embeddings"),
        ({"labeled_fisher": np.eye(3)}, "n_labeled is 0"),
    ],
)
def test_one_validation_for_single_and_sharded(one_rank, kwargs, message):
    V = 1e3 * np.random.RandomState(0).randn(6, 2, 3)
    for select in (select_batch, select_batch_sharded):
        with pytest.raises(ValueError, match=message):
            select(V, 2, device="cpu", **kwargs)


def test_one_rank_picks_what_select_batch_picks(one_rank):
    V, L = _problem(1)
    kwargs = dict(labeled_fisher=L, n_labeled=10, backward_steps=1, device="cpu")
    np.testing.assert_array_equal(
        select_batch_sharded(V, 5, **kwargs), select_batch(V, 5, **kwargs)
    )

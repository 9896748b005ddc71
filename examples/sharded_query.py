"""
A FisherMask query sharded over processes
=========================================

Every rank of a ``torch.distributed`` group opens the same memory-mapped uint8
pool, keeps only its own contiguous shard of it, and calls
:func:`skfisher.distributed.query_sharded`: the Fisher diagonal's squared
gradients are summed over the ranks, each rank embeds only its shard, and the
greedy selection runs over all of them. Every rank gets the same global pool
indices, the ones a single process would pick on the whole pool with the same
``random_state``. Launch it with
``torchrun --nproc-per-node 2 examples/sharded_query.py`` (gloo on CPUs, NCCL
on GPUs); run with plain ``python`` it is a group of one rank. Set
``SKFISHER_FAST=1`` for a quick check.
"""

import datetime
import os
import tempfile

import numpy as np
import torch
import torch.distributed as dist

from skfisher import FisherMask, ResNet18Classifier
from skfisher.datasets import load_digits_images
from skfisher.distributed import query_sharded

FAST = os.environ.get("SKFISHER_FAST") == "1"

# %%
# Join the group. torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
# plain ``python`` makes a group of one. The timeout bounds every collective:
# a rank that dies makes the others raise instead of waiting forever.
os.environ.setdefault("RANK", "0")
os.environ.setdefault("WORLD_SIZE", "1")
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29512")
backend = "nccl" if torch.cuda.is_available() else "gloo"
if backend == "nccl":
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
dist.init_process_group(backend, timeout=datetime.timedelta(seconds=120))
rank, world = dist.get_rank(), dist.get_world_size()
torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
device = f"cuda:{torch.cuda.current_device()}" if backend == "nccl" else "cpu"

# %%
# The same network on every rank: fit it on rank 0 and broadcast its weights
# (the query compares a checksum of them and refuses ranks that differ).
X, y = load_digits_images(return_X_y=True)
labeled = np.arange(60)
net = ResNet18Classifier(
    max_epochs=1 if FAST else 20, module__width=8 if FAST else 64, random_state=0, device=device
)
net.fit(X[labeled], y[labeled])
for tensor in net.module_.state_dict().values():
    dist.broadcast(tensor, src=0)

# %%
# The pool: a uint8 file on disk, memory-mapped. Each rank slices its rows;
# nothing is read until a forward batch needs it.
pool_dir = tempfile.gettempdir()
path = os.path.join(pool_dir, f"skfisher_sharded_pool_{os.environ['MASTER_PORT']}.npy")
if rank == 0:
    np.save(path, np.round(X[60 : 460 if FAST else 1300] * 255).astype(np.uint8))
dist.barrier()
pool = np.load(path, mmap_mode="r")
bounds = np.linspace(0, len(pool), world + 1).astype(int)
shard = pool[bounds[rank] : bounds[rank + 1]]

# %%
# The query: every rank passes its shard and the same labeled rows.
strategy = FisherMask(sparsity=0.01, max_candidates=None if FAST else 1000, random_state=0)
picks, gains = query_sharded(strategy, net, shard, n_instances=10, X_labeled=X[labeled])
seconds = {k: round(v, 2) for k, v in strategy.last_query_["seconds"].items()}
print(f"rank {rank}/{world}: {len(shard)} rows, picks {picks.tolist()}, seconds {seconds}")

# %%
# Label the picks (here: the digits' own labels) and retrain; every rank has
# the same picks, so every rank can go on with the same model.
chosen = 60 + picks
net.fit(X[np.r_[labeled, chosen]], y[np.r_[labeled, chosen]])
if rank == 0:
    print(f"accuracy after one sharded query: {net.score(X[1300:], y[1300:]):.3f}")
dist.barrier()
if rank == 0:
    os.remove(path)
dist.destroy_process_group()

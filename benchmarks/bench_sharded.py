"""Sharded FisherMask queries on memory-mapped pools: 1 rank x 2 threads against 2 ranks x 1 thread.

For each pool size (``--pools``, 28x28 uint8 images in a ``.npy`` file opened
with ``mmap_mode="r"``), one ``query_sharded(FisherMask(...))`` runs in a gloo
group of 1 rank with 2 threads and of 2 ranks with 1 thread each. Each rank
records the seconds of each phase (``last_query_["seconds"]``) and its memory:
RSS before the query and the peak during it, sampled every 5 ms, both as the
whole RSS and as its anonymous part (``RssAnon``: what the process allocates;
the whole RSS also counts the pool file's pages mapped in, which the kernel
can drop at any time). A separate run checks that a ``max_candidates=10000``
query (one process, 2 threads) on a 100 000-image pool peaks within 1.2x of
the same query on a 10 000-image pool.

Targets (the issue's): at 2 ranks each rank's query memory (peak minus
before) is at most 0.6x that of 1 rank; the embeddings phase at 2x1 is no
slower than at 1x2; the max_candidates peak ratio is at most 1.2. Each is
recorded as met or missed, by how much. Results accumulate in
``benchmarks/results/bench_sharded-cpu.json`` (an entry per measurement,
skipped when already there unless ``--fresh``), so a run cut short resumes.

Usage: python benchmarks/bench_sharded.py [--pools 4000 16000 40000] [--width 4] [--fresh]
"""

import argparse
import datetime
import json
import os
import pickle
import socket
import tempfile
import threading
import time

import numpy as np
import psutil
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _common import RESULTS

from skfisher import FisherMask, ResNet18Classifier
from skfisher.distributed import query_sharded

OUT = RESULTS / "bench_sharded-cpu.json"
N_INSTANCES = 50
MEMORY_RATIO, CANDIDATES_RATIO = 0.6, 1.2


def _anon_bytes():
    """RssAnon of this process (bytes), from /proc; None where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak RSS and RssAnon of this process while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.before = (self.proc.memory_info().rss, _anon_bytes())
        self.peak = list(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak[0] = max(self.peak[0], self.proc.memory_info().rss)
            anon = _anon_bytes()
            if anon is not None:
                self.peak[1] = max(self.peak[1], anon)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def record(self):
        mb = 2**20
        return {
            "rss_before_mb": self.before[0] / mb,
            "rss_peak_mb": self.peak[0] / mb,
            "query_rss_mb": (self.peak[0] - self.before[0]) / mb,
            "anon_before_mb": self.before[1] / mb,
            "anon_peak_mb": self.peak[1] / mb,
            "query_anon_mb": (self.peak[1] - self.before[1]) / mb,
        }


def make_pool(path, n, seed=0):
    """A uint8 pool of n 1x28x28 images in a .npy file, written in chunks."""
    pool = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 1, 28, 28))
    rng = np.random.RandomState(seed)
    for start in range(0, n, 10000):
        stop = min(n, start + 10000)
        pool[start:stop] = rng.randint(0, 256, (stop - start, 1, 28, 28), dtype=np.uint8)
    pool.flush()
    del pool


def make_net(width):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, (200, 1, 28, 28)).astype(np.uint8)
    net = ResNet18Classifier(max_epochs=1, module__width=width, random_state=0, device="cpu")
    return net.fit(X, rng.randint(0, 10, 200))


def _strategy(**params):
    return FisherMask(
        sparsity=0.01, fisher_samples=256, forward_batch_size=64, random_state=0, **params
    )


def _rank(rank, world, port, threads, net, path, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=600)
    )
    torch.set_num_threads(threads)
    try:
        net = pickle.loads(net)
        pool = np.load(path, mmap_mode="r")
        bounds = np.linspace(0, len(pool), world + 1).astype(int)
        shard = pool[bounds[rank] : bounds[rank + 1]]
        strategy = _strategy()
        dist.barrier()
        with PeakMemory() as memory:
            tic = time.perf_counter()
            picks, _ = query_sharded(strategy, net, shard, N_INSTANCES)
            seconds = time.perf_counter() - tic
        out[rank] = {
            "rows": len(shard),
            "seconds": {**strategy.last_query_["seconds"], "total": seconds},
            "memory": memory.record(),
            "picks_head": picks[:5].tolist(),
        }
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sharded(net, path, world, threads):
    with mp.Manager() as manager:
        out = manager.dict()
        args = (world, _free_port(), threads, pickle.dumps(net), path, out)
        mp.spawn(_rank, args=args, nprocs=world, join=True)
        return [out[r] for r in range(world)]


def _candidates_run(net, path, out):
    torch.set_num_threads(2)
    net = pickle.loads(net)
    pool = np.load(path, mmap_mode="r")
    strategy = _strategy(max_candidates=10000)
    with PeakMemory() as memory:
        strategy(net, pool, n_instances=N_INSTANCES)
    out["memory"] = memory.record()
    out["seconds"] = strategy.last_query_["seconds"]


def candidates(net, path):
    """One max_candidates=10000 query in a fresh process (its own peak)."""
    ctx = mp.get_context("spawn")
    with mp.Manager() as manager:
        out = manager.dict()
        p = ctx.Process(target=_candidates_run, args=(pickle.dumps(net), path, out))
        p.start()
        p.join()
        return dict(out)


def _verdict(value, target, better="lower"):
    met = value <= target if better == "lower" else value >= target
    return {"value": value, "target": target, "met": bool(met), "by": target - value}


def targets(result, pools):
    """Each target as met or missed, with the margin (positive: met by that much)."""
    verdicts = {}
    for n in pools:
        one, two = result.get(f"{n}:1x2"), result.get(f"{n}:2x1")
        if not (one and two):
            continue
        base = one[0]["memory"]["query_anon_mb"]
        worst = max(r["memory"]["query_anon_mb"] for r in two)
        verdicts[f"{n}: query memory per rank, 2x1 / 1x2"] = _verdict(worst / base, MEMORY_RATIO)
        emb1 = one[0]["seconds"]["embeddings"]
        emb2 = max(r["seconds"]["embeddings"] for r in two)
        verdicts[f"{n}: embeddings seconds, 2x1 / 1x2"] = _verdict(emb2 / emb1, 1.0)
    small, big = result.get("candidates:10000"), result.get("candidates:100000")
    if small and big:
        ratio = big["memory"]["anon_peak_mb"] / small["memory"]["anon_peak_mb"]
        verdicts["max_candidates=10000: peak 100000 / 10000 pool"] = _verdict(
            ratio, CANDIDATES_RATIO
        )
    return verdicts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[4000, 16000])
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--candidate-pools", type=int, nargs="*", default=[10000, 100000])
    parser.add_argument("--fresh", action="store_true", help="measure everything again")
    parser.add_argument("--note", default="", help="recorded with the results")
    args = parser.parse_args()
    result = {} if args.fresh or not OUT.exists() else json.loads(OUT.read_text())
    runs = result.setdefault("runs", {})
    net = make_net(args.width)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.pools:
            path = os.path.join(tmp, f"pool{n}.npy")
            for world, threads in ((1, 2), (2, 1)):
                key = f"{n}:{world}x{threads}"
                if key in runs:
                    continue
                if not os.path.exists(path):
                    make_pool(path, n)
                runs[key] = sharded(net, path, world, threads)
                _save(result, args, runs)
        for n in args.candidate_pools:
            key = f"candidates:{n}"
            if key not in runs:
                path = os.path.join(tmp, f"pool{n}.npy")
                if not os.path.exists(path):
                    make_pool(path, n)
                runs[key] = candidates(net, path)
                _save(result, args, runs)
    print(json.dumps(result["targets"], indent=2))


def _save(result, args, runs):
    result.update(
        machine="2-core CPU shared with other work (gloo; torch threads as in each run's key)",
        device_type="cpu",
        note=args.note,
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        cpu_count=os.cpu_count(),
        torch=torch.__version__,
        setting={
            "net": f"ResNet18Classifier(module__width={args.width}), fitted 1 epoch on 200 "
            "random 28x28 images",
            "strategy": "FisherMask(sparsity=0.01, fisher_samples=256, forward_batch_size=64, "
            "random_state=0)",
            "n_instances": N_INSTANCES,
            "pool": "uint8 (n, 1, 28, 28) .npy, np.load(mmap_mode='r'), random pixels",
            "memory": "query memory = peak minus before, of RssAnon (anonymous memory); "
            "RSS also counts the pool file's mapped pages",
        },
        date=datetime.date.today().isoformat(),
        targets=targets(runs, args.pools),
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

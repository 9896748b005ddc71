"""Whole FisherMask queries at scale: pool size x network width x labels per query x storage type.

For every combination of ``--pools``, ``--widths`` (16: the reference's
narrow ResNet-18, d = 1402 at sparsity 0.002; 64: torchvision's width,
d = 22 347), ``--n-instances`` (K) and ``--dtypes`` (embedding storage), one query of
``FisherMask(embedding_dtype=...)`` on random CIFAR-shaped images reports
the seconds and peak GPU memory of each phase, where the embeddings were
kept, and the final objective ``tr(A F_pool)``. Each low-precision run is
compared with the float64 run of the same (pool, width, K) when that fits
on the device (``objective_rel_diff``); otherwise the reason is recorded.

Results accumulate in ``benchmarks/results/bench_scale-<cpu|gpu>.json``
(one entry per combination, replaced when re-measured), so the grid can be
run in pieces that each fit a time limit.

Usage: python benchmarks/bench_scale.py [--device cuda] [--widths 16] [--pools 5750 50000]
       [--n-instances 250 1000] [--dtypes bfloat16 float32 float64]
"""

import argparse
import datetime
import json
import resource

import numpy as np
import torch
from _common import RESULTS, device_name, synchronize, timed, write_result

from skfisher import FisherMask, ResNet18Classifier, get_config, profile_memory
from skfisher.fisher import STORAGE_DTYPES

TARGETS = {  # the targets on one H100, as (width, pool, K): limits
    (16, 50000, 1000): {"seconds_total": 15.0},
    (64, 50000, 1000): {"seconds_total": 60.0, "peak_gpu_gb": 40.0},
}
BF16_OBJECTIVE_RTOL = 1e-3


def make_net(width, device):
    rng = np.random.RandomState(0)
    X = rng.rand(64, 3, 32, 32).astype(np.float32)
    net = ResNet18Classifier(width=width, max_epochs=1, random_state=0, device=device)
    return net.fit(X, np.arange(64) % 10)  # initialises the net on the device


def query(net, pool, K, dtype, args):
    """One timed query; returns the picks and the entry of the results file."""
    strategy = FisherMask(
        sparsity=args.sparsity,
        fisher_samples=args.fisher_samples,
        embedding_dtype=dtype,
        random_state=0,
    )
    with profile_memory():
        (idx, _), seconds = timed(lambda: strategy(net, pool, n_instances=K), net.device)
    info = strategy.last_query_
    peaks = [p for p in info["peak_memory"].values() if p is not None]
    return idx, {
        "embedding_dtype": dtype,
        "storage": info["storage"],
        "mask_size": info["mask_size"],
        "seconds": {k: round(v, 3) for k, v in info["seconds"].items()},
        "seconds_total": round(seconds, 3),
        "peak_gpu_gb": round(max(peaks) / 2**30, 3) if peaks else None,
        "objective": info["objective"],
    }


def check_targets(entry):
    limits = TARGETS.get((entry["width"], entry["pool"], entry["K"]))
    verdict = {}
    if limits:
        for key, limit in limits.items():
            if entry[key] is not None:
                verdict[f"{key}<={limit}"] = entry[key] <= limit
    if entry["embedding_dtype"] == "bfloat16" and entry["objective_rel_diff"] is not None:
        verdict[f"objective_rel_diff<={BF16_OBJECTIVE_RTOL}"] = (
            entry["objective_rel_diff"] <= BF16_OBJECTIVE_RTOL
        )
    return verdict


def _fits(device, nbytes):
    """Whether ``nbytes`` of embeddings fit where FisherMask would keep them on the GPU."""
    free = torch.cuda.mem_get_info(device)[0]
    return nbytes <= get_config()["embedding_memory_fraction"] * free


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[5750, 20000, 50000])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64], choices=[16, 64])
    parser.add_argument("--n-instances", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32", "float64"])
    parser.add_argument("--sparsity", type=float, default=0.002)
    parser.add_argument("--fisher-samples", type=int, default=1024)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.dtypes) - set(STORAGE_DTYPES))
    if unknown:
        parser.error(f"--dtypes must be among {sorted(STORAGE_DTYPES)}; got {unknown}")
    device = torch.device(args.device)
    tag = "gpu" if device.type == "cuda" else "cpu"
    path = RESULTS / f"bench_scale-{tag}.json"
    previous = json.loads(path.read_text())["runs"] if path.exists() else []

    images = np.random.RandomState(1).rand(max(args.pools), 3, 32, 32).astype(np.float32)
    runs = []
    for width in args.widths:
        net = make_net(width, device)
        FisherMask(sparsity=args.sparsity, fisher_samples=64)(net, images[:64], 2)  # warm-up
        synchronize(device)
        d = int(args.sparsity * sum(p.numel() for p in net.module_.parameters()))
        for n in args.pools:
            for K in args.n_instances:
                # float64 first: the reference of the low-precision runs
                reference, reason = None, "float64 not in --dtypes"
                for dtype in sorted(args.dtypes, key=lambda t: t != "float64"):
                    nbytes = n * 10 * d * STORAGE_DTYPES[dtype].itemsize
                    if dtype == "float64" and device.type == "cuda" and not _fits(device, nbytes):
                        reason = f"float64 embeddings ({nbytes / 2**30:.1f} GB) do not fit"
                        continue
                    _, entry = query(net, images[:n], K, dtype, args)
                    entry = {"width": width, "pool": n, "K": K, **entry}
                    if dtype == "float64":
                        reference = entry["objective"]
                    entry["objective_rel_diff"] = (
                        None
                        if reference is None
                        else abs(entry["objective"] - reference) / abs(reference)
                    )
                    if reference is None:
                        entry["no_reference"] = reason
                    entry["targets"] = check_targets(entry)
                    runs.append(entry)
                    print(json.dumps(entry), flush=True)
                    # saved after every run: a piece stopped by a time limit keeps its runs
                    path.write_text(
                        json.dumps(results(previous, runs, device, args), indent=2) + "\n"
                    )
    write_result("bench_scale", results(previous, runs, device, args))


def results(previous, runs, device, args):
    """The results file: ``runs`` replacing the ``previous`` runs of the same combination."""
    keys = {(r["width"], r["pool"], r["K"], r["embedding_dtype"]) for r in runs}
    kept = [
        r for r in previous if (r["width"], r["pool"], r["K"], r["embedding_dtype"]) not in keys
    ]
    return {
        "benchmark": "bench_scale",
        "date": datetime.date.today().isoformat(),
        "device": device_name(device),
        "device_type": device.type,
        "setting": "random 3x32x32 images, 10 classes, sparsity "
        f"{args.sparsity}, {args.fisher_samples} Fisher rows",
        "peak_host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "runs": sorted(
            kept + runs, key=lambda r: (r["width"], r["pool"], r["K"], r["embedding_dtype"])
        ),
    }


if __name__ == "__main__":
    main()

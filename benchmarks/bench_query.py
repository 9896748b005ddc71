"""A whole FisherMask query split into Fisher diagonal / embeddings / selection.

Default: the reference's settings (narrow ResNet-18 on 3x32x32 inputs, 10
classes, sparsity 0.002 -> d = 1402, pool 5750, K = 250, 1024 Fisher rows)
on random CIFAR-shaped images. ``--digits`` instead times the default
estimator on a 600-row digits pool with K = 12 (a CPU-sized check).

Usage: python benchmarks/bench_query.py [--digits] [--device cuda] [--pool 5750 --K 250]
"""

import argparse
import datetime
import time

import numpy as np
import torch

from skfisher import FisherMask, ResNet18Classifier
from skfisher.datasets import load_digits_images

from _common import device_name, synchronize, write_result


def reference_setting(args, device):
    rng = np.random.RandomState(0)
    X = rng.rand(args.pool + 64, 3, 32, 32).astype(np.float32)
    y = np.arange(len(X)) % 10
    net = ResNet18Classifier(max_epochs=1, random_state=0, device=device)
    net.fit(X[:64], y[:64])  # initialises the 701 456-parameter net on the device
    return net, X[64:], "narrow ResNet-18, random 3x32x32 images, 10 classes"


def digits_setting(args, device):
    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    net = ResNet18Classifier(random_state=0, device=device).fit(X[order[:50]], y[order[:50]])
    return net, X[order[50 : 50 + args.pool]], "default estimator on digits, 50 labels"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", action="store_true")
    parser.add_argument("--pool", type=int, default=None)
    parser.add_argument("--K", type=int, default=None)
    parser.add_argument("--fisher-samples", type=int, default=1024)
    parser.add_argument("--batch-size", type=lambda v: v if v == "auto" else int(v),
                        default="auto", help="rows per forward pass, or 'auto'")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    args.pool = args.pool or (600 if args.digits else 5750)
    args.K = args.K or (12 if args.digits else 250)
    device = torch.device(args.device)

    net, pool, setting = (digits_setting if args.digits else reference_setting)(args, device)
    strategy = FisherMask(
        fisher_samples=args.fisher_samples, forward_batch_size=args.batch_size, random_state=0
    )
    strategy(net, pool[:64], n_instances=2)  # warm-up (kernels, allocator)
    synchronize(device)
    tic = time.perf_counter()
    strategy(net, pool, n_instances=args.K)
    synchronize(device)
    total = time.perf_counter() - tic
    info = strategy.last_query_
    result = {
        "benchmark": "bench_query",
        "date": datetime.date.today().isoformat(),
        "device": device_name(device),
        "device_type": device.type,
        "setting": setting,
        "pool": args.pool,
        "K": args.K,
        "fisher_samples": min(args.fisher_samples, args.pool),
        "mask_size": info["mask_size"],
        "seconds": {k: round(v, 3) for k, v in info["seconds"].items()},
        "seconds_total": round(total, 3),
        "reference_code_seconds_h100": (
            None if args.digits else
            {"fisher_diagonal": 177, "embeddings": 342, "selection": 234, "total": 753}
        ),
    }
    write_result("bench_query_digits" if args.digits else "bench_query", result)


if __name__ == "__main__":
    main()

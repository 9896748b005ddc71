"""A whole FisherMask query split into Fisher diagonal / embeddings / selection.

Default: the reference's settings (narrow ResNet-18 on 3x32x32 inputs, 10
classes, sparsity 0.002 -> d = 1402, pool 5750, K = 250, 1024 Fisher rows)
on random CIFAR-shaped images. ``--digits`` instead times the default
estimator on a 600-row digits pool with K = 12 (a CPU-sized check).

``--floor`` measures the cost of a query in forward passes (issue 13): on
the same rows, each phase's seconds divided by one ``predict_proba`` pass
(batch 256) over those rows -- the Fisher diagonal by a pass over its Fisher
rows, the embeddings and the selection by a pass over the pool -- for the
default FisherMask, FisherMask(fisher="sampled") and BAIT (mask="output",
backward_steps=1), with the Fisher rows, the mask's layers, peak memory, the
whole query against the fit of the same round, and the top-k overlap of the
sampled mask with the exact one. Settings: digits (the main job's: ``skfisher
run`` defaults, 50 labels, K = 50) and the narrow net on 28x28 images (pool
1000, K = 40, FashionMNIST if installed, else random images); ``--reference``
adds 3x32x32 random images, pool 5750, K = 250 (slow on the CPU); ``--quick``
is a seconds-long smoke test on a tiny digits pool. Time it alone: a second
busy process stalls torch's threads.

Usage: python benchmarks/bench_query.py [--digits] [--device cuda] [--pool 5750 --n-instances 250]
       python benchmarks/bench_query.py --floor [--reference] [--quick] [--threads 2]
"""

import argparse
import datetime
import os
import platform
import resource
import time

import numpy as np
import torch
from _common import RESULTS, device_name, synchronize, timed, write_result

from skfisher import FisherMask, ResNet18Classifier, config_context
from skfisher.datasets import FASHION_MNIST_DEFAULT_PATH, load_digits_images, load_split
from skfisher.fisher import ParamLayout, build_mask, fisher_diagonal, mask_candidates


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


# --floor ---------------------------------------------------------------------

QUERIES = {
    "fisher_mask": {},
    "fisher_mask_sampled": {"fisher": "sampled"},
    "bait": {"mask": "output", "backward_steps": 1},
}
#: the same queries with every embedding stored densely (no output-layer factors),
#: for the ratio of the two in one run
DENSE = {"fisher_mask_dense": "fisher_mask", "bait_dense": "bait"}
LABELS = {
    "fisher_mask": "FisherMask",
    "fisher_mask_sampled": "FisherMask, sampled",
    "bait": "BAIT",
    "fisher_mask_dense": "FisherMask, dense embeddings",
    "bait_dense": "BAIT, dense embeddings",
}


def _digits_round(quick):
    """The main job's first round: ``skfisher run`` defaults on digits (seed 0)."""
    X_pool, y_pool, _, _ = load_split("digits", random_state=0)
    order = np.random.RandomState(0).permutation(len(X_pool))
    n_lab, pool_size, K, epochs = (20, 60, 3, 1) if quick else (50, None, 50, 30)
    lab, rest = order[:n_lab], order[n_lab:][:pool_size]
    return dict(
        name="digits",
        title="digits (main job)",
        data="digits 8x8 (skfisher run defaults, seed 0)",
        X_lab=X_pool[lab],
        y_lab=y_pool[lab],
        X_pool=X_pool[rest],
        K=K,
        estimator=dict(max_epochs=epochs),
    )


def _images_28(quick):
    """The narrow net on 28x28 images, 100 labels, pool 1000, K = 40."""
    try:
        X, y, _, _ = load_split("fashion_mnist", data_dir=FASHION_MNIST_DEFAULT_PATH)
        data = "FashionMNIST 28x28"
    except (OSError, ValueError):
        rng = np.random.RandomState(0)
        X = rng.rand(1100, 1, 28, 28).astype(np.float32)
        y = np.arange(len(X)) % 10
        data = "random 1x28x28 images, 10 classes (FashionMNIST not installed)"
    order = np.random.RandomState(0).permutation(len(X))[:1100]
    return dict(
        name="28x28",
        title="28x28, pool 1000, K = 40",
        data=data,
        X_lab=X[order[:100]],
        y_lab=y[order[:100]],
        X_pool=X[order[100:1100]],
        K=40,
        estimator={},
    )


def _reference(quick):
    """The reference's setting: 3x32x32 random images, pool 5750, K = 250."""
    rng = np.random.RandomState(0)
    X = rng.rand(5750 + 64, 3, 32, 32).astype(np.float32)
    y = np.arange(len(X)) % 10
    return dict(
        name="reference",
        title="3x32x32, pool 5750, K = 250",
        data="random 3x32x32 images, 10 classes",
        X_lab=X[:64],
        y_lab=y[:64],
        X_pool=X[64:],
        K=250,
        estimator=dict(max_epochs=1),
    )


def _mask_overlap(net, pool, fisher_rows, device):
    """Share of the exact mask's non-output entries that the sampled mask keeps,
    both from the same Fisher rows (the query's default sparsity)."""
    model = net.module_
    layout = ParamLayout(model)
    names = [layout.names[j] for j in mask_candidates(layout, output_layer="fc")]
    rows = pool[np.sort(np.random.RandomState(0).choice(len(pool), fisher_rows, replace=False))]
    sparsity = FisherMask().sparsity
    masks = [
        set(
            build_mask(
                fisher_diagonal(model, rows, names=names, method=e, random_state=0),
                layout,
                sparsity,
            ).tolist()
        )
        for e in ("exact", "sampled")
    ]
    fc = set(range(layout.offsets[layout.names.index("fc.weight")], layout.n_params))
    exact, sampled = masks[0] - fc, masks[1] - fc
    return round(len(exact & sampled) / max(len(exact), 1), 4)


def _query_record(net, pool, strategy, params, seconds, predict_seconds, fit_seconds, device):
    """One query's phases in seconds and in passes per row, and its diagnostics."""
    info = strategy.last_query_
    m = info["fisher_rows"]
    predict_fisher = timed(lambda: net.predict_proba(pool[:m]), device)[1] if m else None
    phase = info["seconds"]
    return {
        "params": params,
        "seconds": {k: round(v, 3) for k, v in phase.items()} | {"total": round(seconds, 3)},
        "passes_per_row": {
            "fisher_diagonal": round(phase["fisher_diagonal"] / predict_fisher, 2) if m else None,
            "embeddings": round(phase["embeddings"] / predict_seconds, 2),
            "selection": round(phase["selection"] / predict_seconds, 2),
            "total": round(seconds / predict_seconds, 2),
        },
        "predict_fisher_rows_seconds": round(predict_fisher, 4) if m else None,
        "fisher_rows": m,
        "mask_size": info["mask_size"],
        "mask_layers": info["mask_layers"],
        "peak_memory_bytes": {
            "process_max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "device_per_phase": info["peak_memory"],
        },
        "query_over_fit": round(seconds / fit_seconds, 3),
    }


#: issue 13's targets at 28x28: (setting, query, phase, the most passes per row)
TARGETS = [
    ("28x28", "fisher_mask", "total", 40),
    ("28x28", "fisher_mask", "fisher_diagonal", 25),
    ("28x28", "fisher_mask_sampled", "fisher_diagonal", 4),
    ("28x28", "fisher_mask", "embeddings", 12),
    ("28x28", "fisher_mask", "selection", 3),
    ("28x28", "bait", "selection", 3),
    ("28x28", "bait", "total", 3),
]


def floor_targets(settings):
    """Each target of ``TARGETS`` whose setting was run: the measured passes per
    row, whether it is met, and by how much it is missed (0 when met)."""
    by_name = {s["name"]: s for s in settings}
    out = []
    for name, query, phase, most in TARGETS:
        if name in by_name:
            measured = by_name[name]["queries"][query]["passes_per_row"][phase]
            out.append(
                {
                    "setting": name,
                    "query": query,
                    "phase": phase,
                    "target": most,
                    "measured": measured,
                    "met": measured <= most,
                    "missed_by": round(max(measured - most, 0), 2),
                }
            )
    return out


def floor_table(result):
    """The table of docs/user_guide/query_cost.md of a ``--floor`` result, as Markdown."""
    lines = [
        "| setting | query | diagonal | embeddings | selection | total | query / fit |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting in result["settings"]:
        for name, q in setting["queries"].items():
            p = q["passes_per_row"]
            cells = [p["fisher_diagonal"], p["embeddings"], p["selection"], p["total"]]
            cells = ["–" if v is None else f"{v:.1f}" for v in cells]
            lines.append(
                f"| {setting['title']} | {LABELS[name]} | "
                + " | ".join(cells)
                + f" | {q['query_over_fit']:.1f} |"
            )
    return "\n".join(lines)


def floor_setting(spec, device):
    """Fit, predict and the three queries of one round, timed on the same rows."""
    net = ResNet18Classifier(random_state=0, device=device, **spec["estimator"])
    net, fit_seconds = timed(lambda: net.fit(spec["X_lab"], spec["y_lab"]), device)
    net.set_params(batch_size=256)  # for predict_proba; the fit is done
    pool, K = spec["X_pool"], spec["K"]
    net.predict_proba(pool[:256])  # warm-up
    _, predict_seconds = timed(lambda: net.predict_proba(pool), device)
    queries = {}
    runs = [(name, params, True) for name, params in QUERIES.items()]
    runs += [(name, QUERIES[base], False) for name, base in DENSE.items()]
    for name, params, factored in runs:
        strategy = FisherMask(random_state=0, **params)
        with config_context(factored_output=factored):
            strategy(net, pool[:64], n_instances=2, X_labeled=spec["X_lab"])  # warm-up
            _, seconds = timed(
                lambda s=strategy: s(net, pool, n_instances=K, X_labeled=spec["X_lab"]), device
            )
        queries[name] = _query_record(
            net, pool, strategy, params, seconds, predict_seconds, fit_seconds, device
        )
        queries[name]["factored_output_layer"] = factored
    m = queries["fisher_mask"]["fisher_rows"]
    return {
        "name": spec["name"],
        "title": spec["title"],
        "data": spec["data"],
        "labeled": len(spec["X_lab"]),
        "pool": len(pool),
        "K": K,
        "fit_max_epochs": net.max_epochs,
        "fit_seconds": round(fit_seconds, 3),
        "predict_seconds": round(predict_seconds, 4),
        "predict_batch_size": 256,
        "queries": queries,
        "sampled_mask_overlap": _mask_overlap(net, pool, m, device),
        "sampled_mask_overlap_rows": m,
    }


def floor(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    specs = [_digits_round(args.quick)]
    if not args.quick:
        specs.append(_images_28(args.quick))
    if args.reference:
        specs.append(_reference(args.quick))
    result = {
        "benchmark": "bench_query --floor",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor()} ({os.cpu_count()} CPUs)",
        "device": device_name(device),
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "unit": "passes per row: phase seconds / one predict_proba pass (batch 256) over the "
        "same rows; the Fisher diagonal over its Fisher rows, the other phases and "
        "the total over the pool (the embeddings also cover the labeled rows)",
        "settings": [floor_setting(spec, device) for spec in specs],
    }
    result["targets"] = floor_targets(result["settings"])
    result["targets_note"] = (
        "passes per row at most; docs/user_guide/query_cost.md says why the missed ones are missed"
    )
    name = "bench_query_floor_quick" if args.quick else "bench_query_floor"
    path = write_result(name, result, args.output_dir)
    print(floor_table(result))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", action="store_true")
    parser.add_argument("--floor", action="store_true", help="passes per row (issue 13)")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="--floor: add the 3x32x32, pool 5750, K=250 setting",
    )
    parser.add_argument("--quick", action="store_true", help="--floor: a tiny smoke test")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--output-dir", default=RESULTS)
    parser.add_argument("--pool", type=int, default=None)
    parser.add_argument("--n-instances", type=int, default=None, help="labels per query (K)")
    parser.add_argument("--fisher-samples", type=int, default=1024)
    parser.add_argument(
        "--forward-batch-size",
        type=lambda v: v if v == "auto" else int(v),
        default="auto",
        help="rows per forward pass, or 'auto'",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.floor:
        return floor(args)
    args.pool = args.pool or (600 if args.digits else 5750)
    args.n_instances = args.n_instances or (12 if args.digits else 250)
    device = torch.device(args.device)

    net, pool, setting = (digits_setting if args.digits else reference_setting)(args, device)
    strategy = FisherMask(
        fisher_samples=args.fisher_samples,
        forward_batch_size=args.forward_batch_size,
        random_state=0,
    )
    strategy(net, pool[:64], n_instances=2)  # warm-up (kernels, allocator)
    synchronize(device)
    tic = time.perf_counter()
    strategy(net, pool, n_instances=args.n_instances)
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
        "K": args.n_instances,
        "fisher_samples": min(args.fisher_samples, args.pool),
        "mask_size": info["mask_size"],
        "seconds": {k: round(v, 3) for k, v in info["seconds"].items()},
        "seconds_total": round(total, 3),
        "reference_code_seconds_h100": (
            None
            if args.digits
            else {"fisher_diagonal": 177, "embeddings": 342, "selection": 234, "total": 753}
        ),
    }
    return write_result(
        "bench_query_digits" if args.digits else "bench_query", result, args.output_dir
    )


if __name__ == "__main__":
    main()

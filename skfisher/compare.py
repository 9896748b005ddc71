"""Labeling-efficiency comparison: settings x strategies x seeds, resumable.

Every finished round is appended at once as one JSON line to
``<output_dir>/rounds.jsonl``; a rerun of the same command skips what is there
and continues an interrupted run from its last finished round. The summary
(Markdown table and learning-curve plot with ±std bands) is made from that
file alone.
"""

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import datasets
from .datasets import load_own_split, load_split
from ._net import ResNet18Classifier
from .experiments import run_active_learning
from .metrics import aulc
from .strategies import STRATEGIES, get_strategy

__all__ = [
    "SETTINGS", "load_setting", "own_setting", "run_comparison", "load_rounds", "summarize",
]

#: name -> (data set, pool/test subsampling, imbalance, default schedule)
SETTINGS = {
    "digits": dict(
        dataset="digits", n_initial=30, batch_size=30, n_rounds=6,
        description="digits, 70/30 stratified split",
    ),
    "fashion": dict(
        dataset="fashion_mnist", pool_size=10_000, n_initial=250, batch_size=250, n_rounds=8,
        description="FashionMNIST balanced, 10 000-image pool, official test set",
    ),
    "fashion_imb10": dict(
        dataset="fashion_mnist", ratio=10, pool_size=10_000, n_initial=250, batch_size=250,
        n_rounds=8, description="FashionMNIST, class 0 dominant at 10:1",
    ),
    "fashion_imb100": dict(
        dataset="fashion_mnist", ratio=100, pool_size=10_000, n_initial=250, batch_size=250,
        n_rounds=8, description="FashionMNIST, class 0 dominant at 100:1",
    ),
    "fashion_4class": dict(
        dataset="fashion_mnist", class_counts={0: 250, 1: 5000, 2: 250, 3: 250},
        n_initial=250, batch_size=250, n_rounds=8,
        description="FashionMNIST classes 0-3 with 250/5000/250/250 (the reference's "
                    "imbalanced CIFAR-10 setting)",
    ),
}


def own_setting(source, *, image_size=None):
    """A setting on the user's data: an image folder (one sub-folder per class) or an .npz.

    30 % of the images (stratified) are held out for testing. The schedule
    starts with 5 % of the pool (at least one image per class), queries as
    many each round, for up to 6 rounds.

    Parameters
    ----------
    source : str or path-like
    image_size : int or (int, int), default=None
        Resize folder images to this size.

    Returns
    -------
    setting : dict
        Accepted wherever a key of :data:`SETTINGS` is; its ``name`` (the
        file or folder name) labels the records and the output folder.
    """
    data = load_own_split(source, image_size=image_size, seed=0)
    n_pool, n_classes = len(data[1]), len(np.unique(data[1]))
    step = max(n_classes, n_pool // 20)
    if 2 * step > n_pool:
        raise ValueError(f"{source}: a pool of {n_pool} images is too small for a comparison.")
    return dict(
        name=Path(source).stem or "own", dataset="own", data=data, n_initial=step,
        batch_size=step, n_rounds=min(6, (n_pool - step) // step),
        description=f"{source}: {n_pool}-image pool, {len(data[3])}-image test set "
                    f"(30 % held out), {n_classes} classes",
    )


def _spec(setting):
    """The dict of a setting given by name (a key of :data:`SETTINGS`) or as a dict."""
    if isinstance(setting, dict):
        return setting
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; choose one of {sorted(SETTINGS)}.")
    return {"name": setting, **SETTINGS[setting]}


def load_setting(name, *, data_dir=None):
    """``X_pool, y_pool, X_test, y_test`` of a setting (a name, or a dict of :func:`own_setting`).

    The pool is the same for every seed: seeds vary the initial rows, the
    network's initialisation and the strategies' draws.
    """
    spec = _spec(name)
    if "data" in spec:
        return spec["data"]
    X_pool, y_pool, X_test, y_test = load_split(spec["dataset"], data_dir=data_dir, seed=0)
    counts = spec.get("class_counts")
    if "ratio" in spec or counts:
        X_pool, y_pool = datasets.make_imbalanced(
            X_pool, y_pool, class_counts=counts, ratio=spec.get("ratio"), random_state=0
        )
        keep = np.isin(y_test, np.unique(y_pool))
        X_test, y_test = X_test[keep], y_test[keep]
    if spec.get("pool_size") and spec["pool_size"] < len(y_pool):
        keep = np.sort(np.random.RandomState(0).choice(len(y_pool), spec["pool_size"], replace=False))
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    return X_pool, y_pool, X_test, y_test


def _append(path, record):
    """Append one JSON line and make it durable before returning."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def load_rounds(path):
    """The rounds saved so far; a torn last line (a crash mid-write) is dropped."""
    path = Path(path)
    if not path.exists():
        return []
    records, good = [], 0
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good += len(line.encode())
    if good < path.stat().st_size:
        with open(path, "r+") as f:
            f.truncate(good)
    return records


def run_comparison(
    setting, strategies, seeds, output_dir, *, n_initial=None, batch_size=None,
    n_rounds=None, estimator_params=None, data_dir=None, progress=True,
):
    """Run (or finish) every (strategy, seed) of a setting; rounds go to ``rounds.jsonl``.

    Parameters
    ----------
    setting : str or dict
        A key of :data:`SETTINGS`, or a setting of :func:`own_setting`.
    strategies : list of str
        Keys of :data:`skfisher.strategies.STRATEGIES`.
    seeds : list of int
        Each seed fixes the initial rows, the network's initialisation and
        shuffling, and the strategy's draws.
    output_dir : str or Path
    n_initial, batch_size, n_rounds : int, default=None
        Override the setting's schedule.
    estimator_params : dict, default=None
        :class:`~skfisher.ResNet18Classifier` parameters (training protocol:
        ``optimizer``, ``lr``, ``max_epochs``, ``train_until``, ``device``...).
    data_dir : str, default=None
    progress : bool, default=True

    Returns
    -------
    path : Path
        The rounds file.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategies {unknown}; choose from {sorted(STRATEGIES)}.")
    spec = _spec(setting)
    schedule = {
        "n_initial": n_initial or spec["n_initial"],
        "batch_size": batch_size or spec["batch_size"],
        "n_rounds": spec["n_rounds"] if n_rounds is None else n_rounds,
    }
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rounds.jsonl"
    done = defaultdict(list)
    for rec in load_rounds(path):
        if rec["setting"] == spec["name"]:
            done[rec["strategy"], rec["seed"]].append(rec)
    X_pool, y_pool, X_test, y_test = load_setting(setting, data_dir=data_dir)
    for strategy in strategies:
        for seed in seeds:
            previous = sorted(done[strategy, seed], key=lambda r: r["round"])
            if len(previous) > schedule["n_rounds"]:
                continue
            if progress:
                print(f"{spec['name']}: {strategy}, seed {seed}"
                      + (f" (resuming after round {previous[-1]['round']})" if previous else ""),
                      flush=True)

            def save(row, new_rows, strategy=strategy, seed=seed):
                _append(path, {
                    "setting": spec["name"], "strategy": strategy, "seed": seed, **row,
                    "new_rows": [int(i) for i in new_rows], "time": time.time(),
                })

            run_active_learning(
                ResNet18Classifier(**{**(estimator_params or {}), "random_state": seed}),
                get_strategy(strategy, random_state=seed),
                X_pool, y_pool, X_test, y_test, **schedule,
                random_state=seed, progress=progress,
                resume=[r["new_rows"] for r in previous] or None, on_round=save,
            )
    return path


def summarize(records, *, markdown_path=None, plot_path=None, header=""):
    """Mean ± std accuracy at each budget and AULC per strategy; Markdown and a plot.

    Parameters
    ----------
    records : list of dict
        Rounds from :func:`load_rounds`, one setting.
    markdown_path, plot_path : path, default=None
        Where to write the table and the PNG.
    header : str, default=""
        Markdown put above the table.

    Returns
    -------
    table : str
        The Markdown table.
    """
    curves = defaultdict(dict)  # strategy -> seed -> {n_labels: accuracy}
    for r in records:
        curves[r["strategy"]].setdefault(r["seed"], {})[r["n_labels"]] = r["accuracy"]
    budgets = sorted({r["n_labels"] for r in records})
    lines = [
        "| strategy | seeds | " + " | ".join(str(b) for b in budgets) + " | AULC |",
        "|---" * (len(budgets) + 3) + "|",
    ]
    stats = {}
    for strategy in sorted(curves, key=lambda s: list(STRATEGIES).index(s) if s in STRATEGIES else 99):
        complete = [c for c in curves[strategy].values() if sorted(c) == budgets]
        if not complete:
            continue
        acc = np.array([[c[b] for b in budgets] for c in complete])
        areas = np.array([aulc(budgets, row) for row in acc])
        stats[strategy] = acc
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(acc.mean(0), acc.std(0))]
        lines.append(
            f"| {strategy} | {len(complete)} | " + " | ".join(cells)
            + f" | {areas.mean():.3f} ± {areas.std():.3f} |"
        )
    table = "\n".join(lines)
    if markdown_path is not None:
        Path(markdown_path).write_text((header + "\n\n" if header else "") + table + "\n")
    if plot_path is not None and stats:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for strategy, acc in stats.items():
            mean, std = acc.mean(0), acc.std(0)
            ax.plot(budgets, mean, "o-", ms=3, label=strategy)
            ax.fill_between(budgets, mean - std, mean + std, alpha=0.15)
        ax.set_xlabel("labeled examples")
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot_path, dpi=120)
        plt.close(fig)
    return table

"""One query round of a labeling project: fit on the labels, pick the images
to label, write ``round-XX/`` (model, ``to_label.csv``, contact sheet) and
commit the round in ``project.json``.

The pool stays on disk: the round reads the labeled rows and the candidate
rows it scores (at most ``max_candidates``, drawn at random) from the memory
map, never the whole pool."""

import math
import time
from pathlib import Path

import numpy as np

from ..utils._files import new_figure, write_atomic
from ._folder import csv_text, read_csv
from ._model import labeled_rows, project_estimator
from ._teach import teach_labels

__all__ = [
    "contact_sheet",
    "fit_and_pick",
    "MAX_CANDIDATES",
    "fold_uncommitted",
    "query_project",
    "query_round",
    "top_guesses",
    "write_round",
]

#: The model's most probable classes listed per queried image.
N_GUESSES = 3


#: Images a query scores at most, by default.
MAX_CANDIDATES = 10_000


def query_project(folder, n, *, strategy, strategy_params, device, max_candidates):
    """:meth:`LabelingProject.query`'s work, under the project's lock."""
    from ..strategies import get_strategy

    config = folder.read_config()  # read under the lock: the round number is ours
    number = len(config["rounds"]) + 1
    params = dict(strategy_params or {})
    seed = params.pop("random_state", config["random_state"] + number)
    query_fn = get_strategy(strategy, random_state=seed, **params)
    folded = fold_uncommitted(folder, number)
    result = query_round(
        folder,
        config,
        n,
        query_fn,
        strategy=strategy,
        strategy_params=strategy_params,
        device=device,
        max_candidates=max_candidates,
    )
    return {**result, "folded": folded}


def fold_uncommitted(folder, number):
    """Take in the labels filled into ``round-XX/to_label.csv`` of round
    ``number`` when an interrupted query wrote it but never committed it.

    Returns the summary of :func:`teach_labels`, or None when that folder has
    no such CSV or no label filled in. Labels that cannot be taken in raise a
    ValueError that names the file; nothing is changed then.
    """
    to_label = folder.round_dir(number) / "to_label.csv"
    if not to_label.is_file():
        return None
    rows = read_csv(to_label)
    if not any((r.get("label") or "").strip() for r in rows):
        return None
    try:
        return {**teach_labels(folder, to_label, relabel=False), "file": to_label}
    except ValueError as exc:
        raise ValueError(
            f"{to_label} was written by a query that was interrupted before it committed "
            f"round {number}, and labels were filled into it. They could not be taken in, "
            f"so nothing was changed: {exc}\nFix those rows (or teach the file) and query "
            "again."
        ) from None


def _candidates(paths, labels, waiting, max_candidates, seed):
    """The pool rows a round may pick: neither labeled nor waiting; at most
    ``max_candidates`` of them, drawn with ``seed`` (sorted)."""
    candidates = np.array(
        [i for i, p in enumerate(paths) if p not in labels and p not in waiting],
        dtype=np.int64,
    )
    if not len(candidates):
        raise ValueError(
            f"nothing left to query: all {len(paths)} images are labeled or wait for "
            f"labels ({len(waiting)} waiting); teach the earlier rounds' to_label.csv."
        )
    n_free = len(candidates)
    if max_candidates is not None and n_free > max_candidates:
        rng = np.random.RandomState(seed)
        candidates = np.sort(rng.choice(candidates, max_candidates, replace=False))
    return candidates, n_free


def query_round(
    folder, config, n, query_fn, *, strategy, strategy_params, device, max_candidates=None
):
    """Query round ``len(config["rounds"]) + 1`` with ``query_fn``; see
    :meth:`LabelingProject.query`.

    Parameters
    ----------
    folder : ProjectFolder
    config : dict
        ``project.json`` as read for this round; the round is appended to it
        and written back last (the commit).
    n : int
    query_fn : callable
        ``query_fn(learner, X_candidates, n_instances=n)``, a strategy.
    strategy, strategy_params : str, dict or None
        What the round record notes.
    device : str
    max_candidates : int, default=None
        Rows scored at most (a random draw of the free ones); None: all.
    """
    number = len(config["rounds"]) + 1
    X, paths = folder.read_pool(config)
    labels = folder.read_labels()
    waiting = {p for ps in folder.pending(config, labels).values() for p in ps}
    seed = config["random_state"] + number
    candidates, n_free = _candidates(paths, labels, waiting, max_candidates, seed)
    labeled, y = labeled_rows(paths, labels)
    record = {
        "round": number,
        "strategy": strategy,
        "strategy_params": strategy_params or {},
        "n_requested": int(n),
        "n_labels": len(labeled),
        "n_candidates": len(candidates),
        "n_free": n_free,
        "time": time.time(),
        "model": None,
        "model_params": None,
        "classes": list(config["classes"]),
    }
    net, picked = fit_and_pick(config, record, X, y, labeled, candidates, query_fn, device)
    rows = candidates[picked]
    record["paths"] = [str(p) for p in paths[rows]]
    images = X[rows]
    guesses = top_guesses(net, images)
    round_dir = write_round(folder.round_dir(number), config, record, net, images, guesses)
    config["rounds"].append(record)
    folder.write_config(config)  # the commit
    return {
        "round": number,
        "to_label": round_dir / "to_label.csv",
        "contact_sheet": round_dir / "contact_sheet.png",
        "paths": record["paths"],
        "guesses": dict(zip(record["paths"], guesses)),
    }


def fit_and_pick(config, record, X, y, labeled, candidates, query_fn, device):
    """Fit on the rows ``labeled`` (two classes at least) and pick
    ``record["n_requested"]`` of the rows ``candidates``.

    Returns the fitted model (None when fewer than two classes are labeled:
    the pick is then random) and the picked positions in ``candidates``;
    timings and the model's settings go into ``record``.
    """
    from ..active._loop import PoolLearner, _check_picks

    n, number = record["n_requested"], record["round"]
    tic = time.perf_counter()
    net = None
    X_labeled = X[labeled] if len(np.unique(y)) >= 2 else None
    if X_labeled is not None:
        net = project_estimator(config, device).fit(X_labeled, y)
        record["model_params"] = dict(config["model"])
    record["fit_seconds"] = time.perf_counter() - tic
    tic = time.perf_counter()
    if len(candidates) <= n:
        picked = np.arange(len(candidates))
    elif net is None:
        rng = np.random.RandomState(config["random_state"] + number)
        picked = np.sort(rng.choice(len(candidates), n, replace=False))
        record["strategy"] = "random (fewer than two classes labeled)"
    else:
        result = query_fn(PoolLearner(net, X_labeled), X[candidates], n_instances=n)
        picked = _check_picks(result, n, len(candidates))
    record["query_seconds"] = time.perf_counter() - tic
    return net, picked


def top_guesses(net, X):
    """Per row, the model's ``N_GUESSES`` most probable ``(class, probability)`` pairs."""
    if net is None:
        return [[] for _ in X]
    proba = net.predict_proba(X)
    top = np.argsort(-proba, axis=1, kind="stable")[:, :N_GUESSES]
    return [[(str(net.classes_[c]), float(p[c])) for c in t] for p, t in zip(proba, top)]


def write_round(round_dir, config, record, net, images, guesses):
    """Write ``round_dir`` (``round-XX/``): the model, ``to_label.csv`` and the
    contact sheet; returns ``round_dir``."""
    round_dir.mkdir(exist_ok=True)
    if net is not None:
        write_atomic(round_dir / "model.pt", lambda f: net.save_params(f_params=f))
        record["model"] = f"{round_dir.name}/model.pt"
    k = min(N_GUESSES, len(config["classes"]))
    header = ["path", "label"] + [f"{w}_{j + 1}" for j in range(k) for w in ("guess", "p")]
    csv_rows = [
        [p, ""] + [v for c, q in g for v in (c, f"{q:.3f}")]
        for p, g in zip(record["paths"], guesses)
    ]
    write_atomic(round_dir / "to_label.csv", csv_text(header, csv_rows))
    contact_sheet(
        images,
        [
            f"{i + 1}. {Path(p).name[:18]}" + (f"\n{g[0][0][:12]} {g[0][1]:.0%}" if g else "")
            for i, (p, g) in enumerate(zip(record["paths"], guesses))
        ],
        round_dir / "contact_sheet.png",
        title=f"round {record['round']}: {len(images)} images to label ({record['strategy']})",
    )
    return round_dir


def contact_sheet(images, titles, path, *, title="", columns=10):
    """A grid of (n, c, h, w) uint8 images with a title each, written as a PNG."""
    n = len(images)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = new_figure(figsize=(1.4 * cols, 1.7 * rows + 0.4), layout="constrained")
    for i, (image, name) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, cols, i + 1)
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
        ax.set_title(name, fontsize=6)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=90))

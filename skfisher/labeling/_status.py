"""The status of a labeling project: rounds, label counts, and the learning
curve (cross-validation after each teach, cached in ``cv.json``).

Status takes no lock: it reads ``project.json`` first and then the pool and
labels it names (each replaced atomically), so it sees a consistent state
while another command runs. Its own files, ``cv.json`` and
``learning_curve.png``, are caches, each replaced atomically."""

import hashlib
import json
import warnings
from collections import Counter

import numpy as np

from ..utils._files import new_figure, write_atomic
from ._model import project_estimator

__all__ = ["learning_curve", "learning_curve_plot", "project_status"]


def project_status(folder, *, cv, device, plot):
    """The status of the project in ``folder`` (a :class:`ProjectFolder`); see
    :meth:`LabelingProject.status`."""
    if not isinstance(cv, (int, np.integer)) or cv == 1 or cv < 0:
        raise ValueError(f"cv must be 0 (no cross-validation) or an int >= 2; got {cv!r}.")
    config = folder.read_config()
    labels = folder.read_labels()
    X, paths = folder.read_pool(config)
    counts = Counter(lab for lab, _ in labels.values())
    deleted = set(folder.deleted_rounds(config))
    rounds = [
        {
            "round": r["round"],
            "strategy": r["strategy"],
            "n_queried": len(r["paths"]),
            "n_labeled": sum(p in labels for p in r["paths"]),
            "n_waiting": 0 if r["round"] in deleted else sum(p not in labels for p in r["paths"]),
            "deleted": r["round"] in deleted,
            "n_candidates_again": sum(p not in labels for p in r["paths"])
            if r["round"] in deleted
            else 0,
            "to_label": str(folder.round_dir(r["round"]) / "to_label.csv"),
        }
        for r in config["rounds"]
    ]
    curve = learning_curve(folder, config, X, paths, labels, cv, device) if cv else []
    out = {
        "n_pool": len(paths),
        "n_labeled": len(labels),
        "counts": {c: counts.get(c, 0) for c in config["classes"]},
        "rounds": rounds,
        "skipped": [tuple(s) for s in config["skipped"]],
        "conversions": dict(config.get("conversions", {})),
        "learning_curve": curve,
        "plot": None,
    }
    points = [p for p in curve if p.get("accuracy") is not None]
    if plot and points:
        out["plot"] = folder.plot_file
        learning_curve_plot(points, out["plot"], cv)
    return out


def learning_curve(folder, config, X, paths, labels, cv, device):
    """Cross-validated accuracy on the labels known after each teach, cached in ``cv.json``.

    Each labeled state (with the model's settings and ``cv``) is hashed, so it
    is evaluated once; a state with too few labels per class gets a ``note``.
    ``X`` and ``paths`` are the pool, ``labels`` :meth:`ProjectFolder.read_labels`.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    row = {p: i for i, p in enumerate(paths)}
    cache = folder.read_cv_cache()
    curve, dirty = [], False
    for batch in sorted({b for _, b in labels.values()}):
        state = sorted((p, lab) for p, (lab, b) in labels.items() if b <= batch)
        y = np.array([lab for _, lab in state])
        point = {"batch": batch, "n_labels": len(state)}
        smallest = min(Counter(y).values())
        if len(set(y)) < 2 or smallest < 2 or len(y) < 2 * cv:
            curve.append(
                {**point, "accuracy": None, "note": "too few labels per class to cross-validate"}
            )
            continue
        key = hashlib.sha256(
            json.dumps([state, config["model"], config["random_state"], cv]).encode()
        ).hexdigest()
        if key not in cache:
            folds = StratifiedKFold(
                min(cv, smallest), shuffle=True, random_state=config["random_state"]
            )
            rows = np.array([row[p] for p, _ in state])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                scores = cross_val_score(project_estimator(config, device), X[rows], y, cv=folds)
            cache[key] = {"accuracy": float(scores.mean()), "std": float(scores.std())}
            dirty = True
        curve.append({**point, **cache[key]})
    if dirty:
        folder.write_cv_cache(cache)
    return curve


def learning_curve_plot(points, path, cv):
    """Accuracy (± one standard deviation) against labeled images, written as a PNG."""
    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    n = np.array([p["n_labels"] for p in points])
    acc = np.array([p["accuracy"] for p in points])
    std = np.array([p["std"] for p in points])
    ax.plot(n, acc, "o-")
    ax.fill_between(n, acc - std, acc + std, alpha=0.2)
    ax.set_xlabel("labeled images")
    ax.set_ylabel(f"accuracy ({cv}-fold cross-validation)")
    ax.set_title("learning curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110))

"""The learning curve of a labeling project: cross-validation after each teach."""

import hashlib
import json
import warnings
from collections import Counter

import numpy as np

from ._files import _write_text


def learning_curve(project, labels, cv, device):
    """Cross-validated accuracy on the labels known after each teach, cached in ``cv.json``.

    Each labeled state (with the model's settings and ``cv``) is hashed, so it
    is evaluated once; a state with too few labels per class gets a ``note``.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, paths = project._pool()
    row = {p: i for i, p in enumerate(paths)}
    cache_path = project.path / "cv.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
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
            json.dumps(
                [state, project.config["model"], project.config["random_state"], cv]
            ).encode()
        ).hexdigest()
        if key not in cache:
            folds = StratifiedKFold(
                min(cv, smallest), shuffle=True, random_state=project.config["random_state"]
            )
            rows = np.array([row[p] for p, _ in state])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                scores = cross_val_score(project._estimator(device), X[rows], y, cv=folds)
            cache[key] = {"accuracy": float(scores.mean()), "std": float(scores.std())}
            dirty = True
        curve.append({**point, **cache[key]})
    if dirty:
        _write_text(cache_path, json.dumps(cache, indent=1))
    return curve

"""One query round of a labeling project: fit, pick, and write ``round-XX/``."""

import time
from pathlib import Path

import numpy as np

from ._files import _contact_sheet, _csv_text, _write_atomic, _write_text

__all__ = ["fit_and_pick", "top_guesses", "write_round"]

#: The model's most probable classes listed per queried image.
N_GUESSES = 3


def fit_and_pick(project, record, X, y, labeled_rows, candidates, query_fn, device):
    """Fit on the labels (two classes at least) and pick ``record["n_requested"]``
    candidates; timings and the model's settings go into ``record``."""
    from ..active._loop import PoolLearner, _check_picks

    config, n, number = project.config, record["n_requested"], record["round"]
    tic = time.perf_counter()
    net = None
    if len(np.unique(y)) >= 2:
        net = project._estimator(device).fit(X[labeled_rows], y)
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
        result = query_fn(PoolLearner(net, X[labeled_rows]), X[candidates], n_instances=n)
        picked = _check_picks(result, n, len(candidates))
    record["query_seconds"] = time.perf_counter() - tic
    return net, picked


def write_round(project, number, record, net, images, guesses):
    """``round-XX/``: the model, ``to_label.csv`` and the contact sheet."""
    folder = project._round_dir(number)
    folder.mkdir(exist_ok=True)
    if net is not None:
        _write_atomic(folder / "model.pt", lambda f: net.save_params(f_params=f))
        record["model"] = f"{folder.name}/model.pt"
    k = min(N_GUESSES, len(project.classes))
    header = ["path", "label"] + [f"{w}_{j + 1}" for j in range(k) for w in ("guess", "p")]
    csv_rows = [
        [p, ""] + [v for c, q in g for v in (c, f"{q:.3f}")]
        for p, g in zip(record["paths"], guesses)
    ]
    _write_text(folder / "to_label.csv", _csv_text(header, csv_rows))
    _contact_sheet(
        images,
        [
            f"{i + 1}. {Path(p).name[:18]}" + (f"\n{g[0][0][:12]} {g[0][1]:.0%}" if g else "")
            for i, (p, g) in enumerate(zip(record["paths"], guesses))
        ],
        folder / "contact_sheet.png",
        title=f"round {number}: {len(images)} images to label ({record['strategy']})",
    )
    return folder


def top_guesses(net, X):
    """Per row, the model's ``N_GUESSES`` most probable ``(class, probability)`` pairs."""
    if net is None:
        return [[] for _ in X]
    proba = net.predict_proba(X)
    top = np.argsort(-proba, axis=1, kind="stable")[:, :N_GUESSES]
    return [[(str(net.classes_[c]), float(p[c])) for c in t] for p, t in zip(proba, top)]

"""Simulated pool-based active learning: the loop behind ``skfisher run``."""

import csv
import io
import json
import signal
import threading
import time
from collections import namedtuple
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from ._files import write_atomic

__all__ = [
    "PoolLearner", "format_table", "initial_indices", "run_active_learning", "save_results",
]

#: What a strategy sees of the loop: modAL's ``ActiveLearner`` attributes.
PoolLearner = namedtuple("PoolLearner", ["estimator", "X_training"])

ROUND_FIELDS = ("round", "n_labels", "accuracy", "query_seconds", "fit_seconds")


def initial_indices(y, n_initial, *, initial="stratified", random_state=None):
    """Pick the first labeled rows.

    Parameters
    ----------
    y : array-like of shape (n,)
    n_initial : int
    initial : {"stratified", "random"}, default="stratified"
        ``stratified`` keeps the class proportions (at least one per class).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    indices : ndarray of shape (n_initial,), dtype int64, sorted
    """
    y = np.asarray(y)
    n_classes = len(np.unique(y))
    if not isinstance(n_initial, (int, np.integer)) or not 1 <= n_initial < len(y):
        raise ValueError(f"n_initial must be an int in [1, {len(y) - 1}]; got {n_initial!r}.")
    rng = check_random_state(random_state)
    if initial == "random":
        return np.sort(rng.choice(len(y), size=n_initial, replace=False)).astype(np.int64)
    if initial != "stratified":
        raise ValueError(f"initial must be 'stratified' or 'random'; got {initial!r}.")
    if n_initial < n_classes:
        raise ValueError(
            f"n_initial={n_initial} is smaller than the {n_classes} classes; a "
            "stratified start needs one row per class (or use initial='random')."
        )
    idx, _ = train_test_split(
        np.arange(len(y)), train_size=n_initial, stratify=y, random_state=rng
    )
    return np.sort(idx).astype(np.int64)


class _InterruptWatch:
    interrupted = False

    def check(self):
        """Raise KeyboardInterrupt if Ctrl-C came, even if something swallowed it."""
        if self.interrupted:
            raise KeyboardInterrupt


@contextmanager
def _watch_interrupts():
    """Note every SIGINT during the block and deliver it as before.

    skorch's training loop catches KeyboardInterrupt and returns a net trained
    for fewer epochs; ``watch.check()`` before a round is recorded turns such a
    Ctrl-C back into KeyboardInterrupt. Outside the main thread, or where
    SIGINT is ignored, nothing is installed.
    """
    watch = _InterruptWatch()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (
        signal.SIG_IGN, None
    ):
        yield watch
        return

    def handler(signum, frame):
        watch.interrupted = True
        if callable(previous):
            previous(signum, frame)
        else:  # SIG_DFL
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield watch
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_picks(result, n_instances, n_pool):
    """The indices of a strategy's ``(indices, scores)``, checked."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(
            "query_strategy must return (indices, scores) as modAL's strategies do; "
            f"got {type(result).__name__}."
        )
    picked = np.asarray(result[0])
    if (
        picked.shape != (n_instances,)
        or not np.issubdtype(picked.dtype, np.integer)
        or len(np.unique(picked)) != n_instances
        or picked.min() < 0
        or picked.max() >= n_pool
    ):
        raise ValueError(
            f"query_strategy must return {n_instances} distinct row indices in "
            f"[0, {n_pool}); got {picked!r}."
        )
    return picked


def run_active_learning(
    estimator,
    query_strategy,
    X_pool,
    y_pool,
    X_eval=None,
    y_eval=None,
    *,
    n_initial,
    batch_size,
    n_rounds,
    initial="stratified",
    random_state=None,
    progress=True,
    resume=None,
    on_round=None,
):
    """Run rounds of query -> label -> retrain, with ``y_pool`` as the oracle.

    Round 0 trains on the initial rows; each later round queries
    ``batch_size`` unlabeled rows, reveals their labels and retrains from
    scratch. The strategy is called as ``query_strategy(PoolLearner(estimator,
    X_labeled), X_unlabeled, n_instances=batch_size)``.

    Parameters
    ----------
    estimator : classifier
        Refitted on the labeled rows every round.
    query_strategy : callable
        modAL contract, returns ``(indices, scores)``.
    X_pool, y_pool : arrays of n rows
    X_eval, y_eval : arrays, default=None
        Held out; accuracy is reported on them every round (None: not
        evaluated).
    n_initial, batch_size, n_rounds : int
    initial : {"stratified", "random"}, default="stratified"
    random_state : int, RandomState instance or None, default=None
        Picks the initial rows.
    progress : bool, default=True
        Show a tqdm bar and print each round's row.
    resume : list of array-like, default=None
        The rows labeled in each completed round (round 0 first) of an
        interrupted run: the model is refitted on them and the loop goes on
        from the next round. Returned ``rounds`` then hold the new rounds only.
    on_round : callable, default=None
        Called as ``on_round(row, new_rows)`` after every round, e.g. to save
        it at once.

    Notes
    -----
    A round is recorded (returned and passed to ``on_round``) only once its
    query, fit and evaluation have all finished. An exception, or a Ctrl-C
    (SIGINT) during the round, even one the estimator's ``fit`` catches as
    skorch does, ends the loop with that exception or ``KeyboardInterrupt``
    and records nothing of the unfinished round.

    Returns
    -------
    rounds : list of dict
        Keys :data:`ROUND_FIELDS`, one dict per round.
    labeled : ndarray of int64
        Pool rows labeled by the end, in the order they were labeled.
    """
    y_pool = np.asarray(y_pool)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    if not isinstance(n_rounds, (int, np.integer)) or n_rounds < 0:
        raise ValueError(f"n_rounds must be an int >= 0; got {n_rounds!r}.")
    needed = n_initial + n_rounds * batch_size
    if needed > len(y_pool):
        raise ValueError(
            f"n_initial + n_rounds * batch_size = {needed} exceeds the pool of "
            f"{len(y_pool)} rows."
        )
    if resume:
        labeled = [int(i) for rows in resume for i in rows]
        first = len(resume)
    else:
        labeled = initial_indices(y_pool, n_initial, initial=initial, random_state=random_state)
        labeled, first = labeled.tolist(), 0
    is_labeled = np.zeros(len(y_pool), dtype=bool)
    is_labeled[labeled] = True
    rounds = []
    with _watch_interrupts() as watch:
        if 0 < first <= n_rounds:  # the model the next query needs
            estimator.fit(X_pool[np.asarray(labeled)], y_pool[np.asarray(labeled)])
        bar = tqdm(
            range(first, n_rounds + 1), desc="active learning", unit="round",
            disable=not progress,
        )
        for r in bar:
            watch.check()
            query_seconds = 0.0
            new = np.asarray(labeled)
            if r > 0:
                unlabeled = np.flatnonzero(~is_labeled)
                tic = time.perf_counter()
                result = query_strategy(
                    PoolLearner(estimator, X_pool[np.asarray(labeled)]),
                    X_pool[unlabeled],
                    n_instances=batch_size,
                )
                query_seconds = time.perf_counter() - tic
                new = unlabeled[_check_picks(result, batch_size, len(unlabeled))]
                is_labeled[new] = True
                labeled.extend(new.tolist())
            tic = time.perf_counter()
            idx = np.asarray(labeled)
            estimator.fit(X_pool[idx], y_pool[idx])
            fit_seconds = time.perf_counter() - tic
            row = {
                "round": r,
                "n_labels": len(labeled),
                "accuracy": (
                    None if X_eval is None else float(estimator.score(X_eval, y_eval))
                ),
                "query_seconds": query_seconds,
                "fit_seconds": fit_seconds,
            }
            watch.check()  # a Ctrl-C swallowed inside fit: the round is not recorded
            rounds.append(row)
            if on_round is not None:
                on_round(row, new)
            if row["accuracy"] is not None:
                bar.set_postfix(labels=row["n_labels"], acc=f"{row['accuracy']:.3f}")
    return rounds, np.asarray(labeled, dtype=np.int64)


def format_table(rounds, accuracy_label="test acc"):
    """The per-round table as text."""
    lines = [
        f"{'round':>5}  {'labels':>6}  {accuracy_label:>8}  {'query s':>8}  {'fit s':>7}"
    ]
    for row in rounds:
        acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        lines.append(
            f"{row['round']:>5}  {row['n_labels']:>6}  {acc:>8}  "
            f"{row['query_seconds']:>8.2f}  {row['fit_seconds']:>7.2f}"
        )
    return "\n".join(lines)


def save_results(rounds, output_dir, *, meta=None, title=None, ylabel="accuracy"):
    """Write ``results.json``, ``results.csv`` and ``learning_curve.png``.

    Each file is replaced atomically, so calling this after every round
    leaves complete files whenever the process stops.

    Returns
    -------
    paths : dict of str to Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "csv": out / "results.csv",
        "plot": out / "learning_curve.png",
    }
    write_atomic(paths["json"], json.dumps({"meta": meta or {}, "rounds": rounds}, indent=2))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=ROUND_FIELDS)
    writer.writeheader()
    writer.writerows(rounds)
    write_atomic(paths["csv"], table.getvalue())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["n_labels"] for r in rounds], [r["accuracy"] for r in rounds], "o-")
    ax.set_xlabel("labeled examples")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    write_atomic(paths["plot"], png.getvalue())
    return paths

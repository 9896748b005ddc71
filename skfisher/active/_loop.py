"""The simulated pool-based loop: initial rows, then rounds of query -> label -> retrain.

The loop only calls strategies through their contract (``strategies._base``)
and writes nothing: tables, CSV, JSON and plots live in
:mod:`skfisher.experiments`.
"""

import signal
import threading
import time
from collections import namedtuple
from contextlib import contextmanager

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from ..utils._validation import HasMethods, Integers, StrOptions, validate_params

__all__ = ["PoolLearner", "ROUND_FIELDS", "initial_indices", "run_active_learning"]

#: What a strategy sees of the loop: modAL's ``ActiveLearner`` attributes.
PoolLearner = namedtuple("PoolLearner", ["estimator", "X_training"])

#: The keys of every round record :func:`run_active_learning` returns.
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
    if not Integers(1, len(y) - 1).is_satisfied_by(n_initial):
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
    idx, _ = train_test_split(np.arange(len(y)), train_size=n_initial, stratify=y, random_state=rng)
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
        signal.SIG_IGN,
        None,
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


def _check_schedule(n_initial, n_instances, n_rounds, n_pool):
    """The one check the declared constraints cannot express: the pool is big enough."""
    needed = n_initial + n_rounds * n_instances
    if needed > n_pool:
        raise ValueError(
            f"n_initial + n_rounds * n_instances = {needed} exceeds the pool of {n_pool} rows."
        )


def _progress_bar(rounds, progress):
    """``rounds`` wrapped in a tqdm bar, or a stand-in when ``progress`` is off.

    tqdm is imported only when a bar is shown, so the loop (and the
    meta-estimator built on it) import no output code.
    """
    if not progress:
        return _NoBar(rounds)
    from tqdm.auto import tqdm

    return tqdm(rounds, desc="active learning", unit="round")


class _NoBar(list):
    def set_postfix(self, **kwargs):
        pass


def _query(query_strategy, estimator, X_pool, labeled, is_labeled, n_instances):
    """Ask the strategy for ``n_instances`` unlabeled pool rows; (rows, seconds)."""
    unlabeled = np.flatnonzero(~is_labeled)
    tic = time.perf_counter()
    result = query_strategy(
        PoolLearner(estimator, X_pool[np.asarray(labeled)]),
        X_pool[unlabeled],
        n_instances=n_instances,
    )
    seconds = time.perf_counter() - tic
    return unlabeled[_check_picks(result, n_instances, len(unlabeled))], seconds


def _fit_and_score(estimator, X_pool, y_pool, labeled, X_eval, y_eval):
    """Refit on the labeled rows; (accuracy or None, fit seconds)."""
    tic = time.perf_counter()
    idx = np.asarray(labeled)
    estimator.fit(X_pool[idx], y_pool[idx])
    fit_seconds = time.perf_counter() - tic
    accuracy = None if X_eval is None else float(estimator.score(X_eval, y_eval))
    return accuracy, fit_seconds


@validate_params(
    {
        "estimator": [HasMethods(["fit", "score"])],
        "query_strategy": [callable],
        "X_pool": "no_validation",
        "y_pool": ["array-like"],
        "X_eval": "no_validation",
        "y_eval": ["array-like", None],
        "n_initial": [Integers(1)],
        "n_instances": [Integers(1)],
        "n_rounds": [Integers(0)],
        "initial": [StrOptions({"stratified", "random"})],
        "random_state": ["random_state"],
        "progress": ["boolean"],
        "resume": [list, None],
        "on_round": [callable, None],
    },
    prefer_skip_nested_validation=True,
)
def run_active_learning(
    estimator,
    query_strategy,
    X_pool,
    y_pool,
    X_eval=None,
    y_eval=None,
    *,
    n_initial,
    n_instances,
    n_rounds,
    initial="stratified",
    random_state=None,
    progress=True,
    resume=None,
    on_round=None,
):
    """Run rounds of query -> label -> retrain, with ``y_pool`` as the oracle.

    Round 0 trains on the initial rows; each later round queries
    ``n_instances`` unlabeled rows, reveals their labels and retrains from
    scratch. The strategy is called as ``query_strategy(PoolLearner(estimator,
    X_labeled), X_unlabeled, n_instances=n_instances)``.

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
    n_initial : int
        Rows labeled before the first query.
    n_instances : int
        Rows queried and labeled per round (modAL's name).
    n_rounds : int
        Queries after the initial fit.
    initial : {"stratified", "random"}, default="stratified"
    random_state : int, RandomState instance or None, default=None
        Picks the initial rows.
    progress : bool, default=True
        Show a tqdm progress bar.
    resume : list of array-like, default=None
        The rows labeled in each completed round (round 0 first) of an
        interrupted run: the model is refitted on them and the loop goes on
        from the next round. Returned ``rounds`` then hold the new rounds only.
    on_round : callable, default=None
        Called as ``on_round(row, new_rows)`` after every round, e.g. to save
        it at once.

    Returns
    -------
    rounds : list of dict
        Keys :data:`ROUND_FIELDS`, one dict per round.
    labeled : ndarray of int64
        Pool rows labeled by the end, in the order they were labeled.

    Notes
    -----
    A round is recorded (returned and passed to ``on_round``) only once its
    query, fit and evaluation have all finished. An exception, or a Ctrl-C
    (SIGINT) during the round, even one the estimator's ``fit`` catches as
    skorch does, ends the loop with that exception or ``KeyboardInterrupt``
    and records nothing of the unfinished round.
    """
    y_pool = np.asarray(y_pool)
    _check_schedule(n_initial, n_instances, n_rounds, len(y_pool))
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
        bar = _progress_bar(range(first, n_rounds + 1), progress)
        for r in bar:
            watch.check()
            new, query_seconds = np.asarray(labeled), 0.0
            if r > 0:
                new, query_seconds = _query(
                    query_strategy, estimator, X_pool, labeled, is_labeled, n_instances
                )
                is_labeled[new] = True
                labeled.extend(new.tolist())
            accuracy, fit_seconds = _fit_and_score(
                estimator, X_pool, y_pool, labeled, X_eval, y_eval
            )
            row = dict(zip(ROUND_FIELDS, (r, len(labeled), accuracy, query_seconds, fit_seconds)))
            watch.check()  # a Ctrl-C swallowed inside fit: the round is not recorded
            rounds.append(row)
            if on_round is not None:
                on_round(row, new)
            if accuracy is not None:
                bar.set_postfix(labels=row["n_labels"], acc=f"{accuracy:.3f}")
    return rounds, np.asarray(labeled, dtype=np.int64)

"""Labeling-efficiency comparison: settings x strategies x seeds, resumable.

Every finished round is appended at once as one JSON line to
``<output_dir>/rounds.jsonl``; a rerun of the same command skips what is there
and continues an interrupted run from its last finished round. The summary
(Markdown table and learning-curve plot with ±std bands) is made from that
file alone.

The folder also holds ``manifest.json`` (the protocol of its records, checked
on every run), ``.skfisher.lock`` (held by the running comparison),
``rounds.jsonl.lock`` (held for each append) and, if a line of
``rounds.jsonl`` was ever unreadable, ``rounds.rejected.txt`` with that line.
"""

import contextlib
import multiprocessing
import os
import signal
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..active._loop import run_active_learning
from ..nets._classifier import ResNet18Classifier
from ..strategies import STRATEGIES, get_strategy
from ..utils._files import results_folder
from ..utils._validation import Integers, check_param
from ._records import (
    ROUNDS_FILE,
    _append,
    _check_protocol,
    _protocol,
    _set_aside_bad_lines,
    load_rounds,
)
from ._settings import SETTINGS, _cached_setting, _spec, load_setting, own_setting
from ._summary import summarize

__all__ = [
    "SETTINGS",
    "load_setting",
    "own_setting",
    "run_comparison",
    "load_rounds",
    "summarize",
]


def _run_one(
    setting,
    label,
    name_params,
    seed,
    schedule,
    estimator_params,
    data_dir,
    path,
    resume,
    progress,
    bar,
):
    """One (strategy, seed) run, appending each finished round to ``path``.

    The strategy is ``get_strategy(*name_params)`` seeded with ``seed``; its
    records are saved under ``label``.
    """
    spec = _spec(setting)
    name = spec["name"]
    if "data" in spec:  # an own_setting carries its data
        X_pool, y_pool, X_test, y_test = spec["data"]
    else:
        X_pool, y_pool, X_test, y_test = _cached_setting(name, data_dir)
    if progress:
        print(
            f"{name}: {label}, seed {seed}"
            + (f" (resuming after round {len(resume) - 1})" if resume else ""),
            flush=True,
        )

    def save(row, new_rows):
        _append(
            path,
            {
                "setting": name,
                "strategy": label,
                "seed": seed,
                **row,
                "new_rows": [int(i) for i in new_rows],
                "time": time.time(),
            },
        )

    registered, params = name_params
    run_active_learning(
        ResNet18Classifier(**{**(estimator_params or {}), "random_state": seed}),
        get_strategy(registered, random_state=seed, **params),
        X_pool,
        y_pool,
        X_test,
        y_test,
        n_initial=schedule["n_initial"],
        n_instances=schedule["n_instances"],
        n_rounds=schedule["n_rounds"],
        random_state=seed,
        progress=bar,
        resume=resume or None,
        on_round=save,
    )
    return label, seed


_worker_sigint = signal.SIG_IGN


def _init_worker(n_threads, interruptible):
    """A pool worker: its share of the CPU threads; Ctrl-C only inside a run."""
    import torch

    global _worker_sigint
    torch.set_num_threads(n_threads)
    _worker_sigint = signal.default_int_handler if interruptible else signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_in_worker(*args):
    signal.signal(signal.SIGINT, _worker_sigint)
    try:
        return _run_one(*args)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_parallel(tasks, n_jobs, progress, n_threads=None):
    """Run ``_run_one`` argument tuples in ``n_jobs`` spawned processes, each with
    ``n_threads`` torch threads (None: an equal share of this process's)."""
    import torch

    n_threads = n_threads or max(1, torch.get_num_threads() // n_jobs)
    interruptible = signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None)
    pool = ProcessPoolExecutor(
        max_workers=n_jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(n_threads, interruptible),
    )
    try:
        futures = [pool.submit(_run_in_worker, *task) for task in tasks]
        for future in as_completed(futures):
            label, seed = future.result()
            if progress:
                print(f"{_spec(tasks[0][0])['name']}: {label}, seed {seed} done", flush=True)
    except BaseException:
        # stop the other runs at once (a run stopped mid-round records nothing of it)
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            try:
                os.kill(process.pid, signal.SIGINT)
            except OSError:  # already gone
                pass
        raise
    finally:
        pool.shutdown(wait=True)


def _variants(strategies):
    """``{label: (name, params)}`` of a list of names or a dict of variants, checked.

    Raises
    ------
    ValueError
        An unknown name or parameter (of :func:`get_strategy`), a
        ``random_state`` among the parameters (each run's seed sets it), or a
        malformed variant.
    """
    if isinstance(strategies, str):
        raise ValueError(
            f"strategies must be a list of names or a dict of variants; got {strategies!r}."
        )
    if not isinstance(strategies, dict):
        strategies = {name: name for name in strategies}
    variants = {}
    for label, variant in strategies.items():
        if isinstance(variant, str):
            variant = (variant, {})
        if not (
            isinstance(label, str)
            and label
            and isinstance(variant, (tuple, list))
            and len(variant) == 2
            and isinstance(variant[0], str)
            and isinstance(variant[1], dict)
        ):
            raise ValueError(
                f"A strategy variant is a non-empty label -> (name, dict of "
                f"parameters); got {label!r}: {variant!r}."
            )
        name, params = variant
        if "random_state" in params:
            raise ValueError(
                f"Strategy {label!r}: random_state is set by each run's seed; "
                "remove it from the parameters."
            )
        variants[label] = (name, dict(params))
    unknown = [name for name, _ in variants.values() if name not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategies {unknown}; choose from {sorted(STRATEGIES)}.")
    for label, (name, params) in variants.items():
        try:
            get_strategy(name, random_state=None, **params)
        except ValueError as exc:
            raise ValueError(f"Strategy {label!r}: {exc}") from exc
    return variants


def _resume_points(path, name, variants, seeds, n_rounds):
    """``{(label, seed): rows labeled in each saved round}`` of the runs left to do.

    A run resumes after its unbroken series of saved rounds 0, 1, ...; a later
    round already saved is recomputed identically and not appended again.
    """
    done = defaultdict(dict)
    for rec in _set_aside_bad_lines(path):
        if rec["setting"] == name:
            done[rec["strategy"], rec["seed"]][rec["round"]] = rec["new_rows"]
    resumes = {}
    for label in variants:
        for seed in seeds:
            rounds, resume = done[label, seed], []
            while len(resume) in rounds:
                resume.append(rounds[len(resume)])
            if len(resume) <= n_rounds:
                resumes[label, seed] = resume
    return resumes


def run_comparison(
    setting,
    strategies,
    seeds,
    output_dir,
    *,
    n_initial=None,
    n_instances=None,
    n_rounds=None,
    estimator_params=None,
    data_dir=None,
    progress=True,
    n_jobs=1,
    n_threads=None,
):
    """Run (or finish) every (strategy, seed) of a setting; rounds go to ``rounds.jsonl``.

    The folder keeps, per setting, the protocol its records were made with
    (``manifest.json``: schedule, estimator parameters, each strategy's
    parameters). A call with another protocol raises instead of mixing
    results; a larger ``n_rounds`` extends the saved runs. While it runs, the
    call holds the folder's lock (``.skfisher.lock``, an ``fcntl.flock``), so
    a second process into the same folder fails at once. Unreadable lines of
    ``rounds.jsonl`` are moved to ``rounds.rejected.txt`` with a warning.

    Parameters
    ----------
    setting : str or dict
        A key of :data:`SETTINGS`, or a setting of :func:`own_setting`.
    strategies : list of str or dict
        Keys of :data:`skfisher.strategies.STRATEGIES`, or variants: a dict
        ``{label: (name, params)}`` (or ``{label: name}``) that runs
        ``get_strategy(name, random_state=seed, **params)`` and records its
        rounds under ``label``, e.g. ``{"default": "fisher_mask",
        "sparsity=0.005": ("fisher_mask", {"sparsity": 0.005})}``. The
        manifest keeps each label's name and full parameters, so a label
        cannot be resumed with other parameters. Parameters are checked
        before any fit.
    seeds : list of int
        Each seed fixes the initial rows, the network's initialisation and
        shuffling, and the strategy's draws.
    output_dir : str or Path
    n_initial, n_instances, n_rounds : int, default=None
        Override the setting's schedule: initial labels, labels per round
        and rounds.
    estimator_params : dict, default=None
        :class:`~skfisher.nets.ResNet18Classifier` parameters (training protocol:
        ``optimizer``, ``lr``, ``max_epochs``, ``train_until``, ``device``...).
        All but ``device`` and ``verbose`` are part of the protocol.
    data_dir : str, default=None
    progress : bool, default=True
    n_jobs : int, default=1
        (strategy, seed) runs computed at once, each in its own process with
        its share of torch's CPU threads. Every run is deterministic, so the
        records equal those of ``n_jobs=1`` (with the same threads per run).
    n_threads : int, default=None
        Torch CPU threads of each run; None: this process's threads, shared
        equally among the ``n_jobs`` runs.

    Returns
    -------
    path : Path
        The rounds file.

    Raises
    ------
    ValueError
        Unknown setting, strategy or strategy parameter, or a protocol that
        differs from the one saved in ``output_dir``.
    skfisher.utils.FolderInUseError
        When another process holds ``output_dir``.
    """
    variants = _variants(strategies)
    spec = _spec(setting)
    counts = {"n_jobs": n_jobs, **({} if n_threads is None else {"n_threads": n_threads})}
    for count, value in counts.items():
        check_param(count, value, [Integers(1)], caller="run_comparison")
    given = {"n_initial": n_initial, "n_instances": n_instances, "n_rounds": n_rounds}
    for name, value in given.items():  # None: the setting's value
        low = 0 if name == "n_rounds" else 1
        check_param(name, value, [Integers(low), None], caller="run_comparison")
    schedule = {name: spec[name] if value is None else value for name, value in given.items()}
    out = Path(output_dir)
    path = out / ROUNDS_FILE
    with results_folder(out):
        _check_protocol(out, spec["name"], _protocol(schedule, estimator_params, variants))
        resumes = _resume_points(path, spec["name"], variants, seeds, schedule["n_rounds"])
        bar = progress and n_jobs == 1
        tasks = [
            (setting, label, variants[label], seed, schedule, estimator_params, data_dir, path)
            + (resume, progress, bar)
            for (label, seed), resume in resumes.items()
        ]
        if n_jobs == 1 or len(tasks) < 2:
            with _torch_threads(n_threads):
                for task in tasks:
                    _run_one(*task)
        else:
            _run_parallel(tasks, min(n_jobs, len(tasks)), progress, n_threads)
    return path


@contextlib.contextmanager
def _torch_threads(n_threads):
    """Torch's CPU threads set to ``n_threads`` (None: unchanged) inside the block."""
    import torch

    before = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

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

import numpy as np

from ..active._loop import run_active_learning
from ..active._metrics import aulc
from ..nets._classifier import ResNet18Classifier
from ..strategies import STRATEGIES, get_strategy
from ..utils._deprecation import renamed
from ..utils._files import results_folder, write_atomic
from ..utils._plot import new_figure, png_bytes
from ._records import (
    ROUNDS_FILE,
    _append,
    _check_protocol,
    _protocol,
    _set_aside_bad_lines,
    load_rounds,
)
from ._settings import SETTINGS, _cached_setting, _spec, load_setting, own_setting

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
        n_instances=schedule["batch_size"],
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
    batch_size="deprecated",
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
        (saved as ``batch_size`` in the setting and the manifest) and rounds.
    estimator_params : dict, default=None
        :class:`~skfisher.ResNet18Classifier` parameters (training protocol:
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
    batch_size : int
        Deprecated alias of ``n_instances``; will be removed in the next
        release.

    Returns
    -------
    path : Path
        The rounds file.

    Raises
    ------
    ValueError
        Unknown setting, strategy or strategy parameter, or a protocol that
        differs from the one saved in ``output_dir``.
    skfisher._files.FolderInUseError
        When another process holds ``output_dir``.
    """
    n_instances = renamed("run_comparison", "n_instances", n_instances, "batch_size", batch_size)
    variants = _variants(strategies)
    spec = _spec(setting)
    counts = {"n_jobs": n_jobs, **({} if n_threads is None else {"n_threads": n_threads})}
    for count, value in counts.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{count} must be a positive int; got {value!r}.")
    schedule = {
        "n_initial": n_initial or spec["n_initial"],
        "batch_size": n_instances or spec["batch_size"],
        "n_rounds": spec["n_rounds"] if n_rounds is None else n_rounds,
    }
    out = Path(output_dir)
    path = out / ROUNDS_FILE
    with results_folder(out):
        _check_protocol(out, spec["name"], _protocol(schedule, estimator_params, variants))
        done = defaultdict(dict)
        for rec in _set_aside_bad_lines(path):
            if rec["setting"] == spec["name"]:
                done[rec["strategy"], rec["seed"]][rec["round"]] = rec["new_rows"]
        tasks = []
        for label, name_params in variants.items():
            for seed in seeds:
                rounds = done[label, seed]
                # resume from the unbroken run of saved rounds 0, 1, ...; a later
                # round already saved is recomputed identically and not appended
                resume = []
                while len(resume) in rounds:
                    resume.append(rounds[len(resume)])
                if len(resume) <= schedule["n_rounds"]:
                    tasks.append(
                        (
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
                            progress and n_jobs == 1,
                        )
                    )
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


def summarize(records, *, strategies=None, markdown_path=None, plot_path=None, header=""):
    """Mean ± std accuracy at each budget and AULC per strategy; Markdown and a plot.

    Parameters
    ----------
    records : list of dict
        Rounds from :func:`load_rounds`, one setting.
    strategies : list of str or dict, default=None
        The strategies (labels) as given to :func:`run_comparison`: their rows
        come first, in that order. The others follow in the order of
        :data:`~skfisher.strategies.STRATEGIES`, then of their first record.
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
    for strategy in _ordered(curves, strategies):
        complete = [c for c in curves[strategy].values() if sorted(c) == budgets]
        if not complete:
            continue
        acc = np.array([[c[b] for b in budgets] for c in complete])
        areas = np.array([aulc(budgets, row) for row in acc])
        stats[strategy] = acc
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(acc.mean(0), acc.std(0))]
        lines.append(
            f"| {strategy} | {len(complete)} | "
            + " | ".join(cells)
            + f" | {areas.mean():.3f} ± {areas.std():.3f} |"
        )
    table = "\n".join(lines)
    if markdown_path is not None:
        Path(markdown_path).write_text((header + "\n\n" if header else "") + table + "\n")
    if plot_path is not None and stats:
        _plot_curves(budgets, stats, plot_path)
    return table


def _ordered(labels, given=None):
    """``labels`` with those ``given`` first, in that order, then registered
    strategies in registry order, then the rest as they come."""
    order = dict.fromkeys([*(given or ()), *STRATEGIES])
    rank = {s: i for i, s in enumerate(order)}
    return sorted(labels, key=lambda s: rank.get(s, len(rank)))


def _plot_curves(budgets, stats, plot_path):
    """Mean ± std learning curve per strategy, saved as a PNG."""
    fig = new_figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for strategy, acc in stats.items():
        mean, std = acc.mean(0), acc.std(0)
        ax.plot(budgets, mean, "o-", ms=3, label=strategy)
        ax.fill_between(budgets, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("labeled examples")
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomic(plot_path, png_bytes(fig))

"""The file output of a simulated run (:func:`skfisher.active.run_active_learning`):
the per-round table, CSV, JSON and plot, and the sentence on the labels saved
against a baseline."""

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..active._loop import ROUND_FIELDS
from ..utils._files import new_figure, png_bytes, write_atomic

__all__ = ["format_table", "labels_saved", "save_results", "saving_sentence"]

#: The CSV column of the baseline's accuracy, next to :data:`ROUND_FIELDS`.
BASELINE_FIELD = "baseline_accuracy"


def _accuracy(value, width=8):
    return f"{'-' if value is None else f'{value:.4f}':>{width}}"


def format_table(rounds, accuracy_label="test acc", *, baseline=None, baseline_label="random"):
    """The per-round table as text.

    Parameters
    ----------
    rounds : list of dict
        Round records with the keys of :data:`~skfisher.active.ROUND_FIELDS`.
    accuracy_label : str, default="test acc"
        Header of the accuracy column.
    baseline : list of dict, default=None
        The baseline's rounds: their accuracy becomes a column after the
        strategy's ("-" for rounds it has not finished).
    baseline_label : str, default="random"
        Names the baseline's column.

    Returns
    -------
    table : str
    """
    extra = f"{baseline_label + ' acc':>10}  " if baseline is not None else ""
    lines = [
        f"{'round':>5}  {'labels':>6}  {accuracy_label:>8}  {extra}{'query s':>8}  {'fit s':>7}"
    ]
    other = {r["round"]: r["accuracy"] for r in baseline or ()}
    for row in rounds:
        cell = _accuracy(other.get(row["round"]), 10) + "  " if baseline is not None else ""
        lines.append(
            f"{row['round']:>5}  {row['n_labels']:>6}  {_accuracy(row['accuracy'])}  {cell}"
            f"{row['query_seconds']:>8.2f}  {row['fit_seconds']:>7.2f}"
        )
    return "\n".join(lines)


def labels_saved(n_labels, accuracy, baseline_accuracy):
    """How many labels a strategy needed to reach its baseline's final accuracy.

    The target is the baseline's accuracy at its last budget. Each curve
    reaches it at the first budget where its accuracy is at least the
    target.

    Parameters
    ----------
    n_labels : array-like of shape (n_rounds,)
        Increasing label counts, shared by both curves.
    accuracy, baseline_accuracy : array-like of shape (n_rounds,)
        The strategy's and the baseline's accuracy at each budget.

    Returns
    -------
    saving : dict
        ``target`` (the baseline's final accuracy), ``baseline_labels`` (the
        labels the baseline needed to reach it), ``labels`` (the strategy's,
        None when it did not reach the target), ``fraction_saved``
        (``1 - labels / baseline_labels``, None when not reached), and
        ``best`` and ``best_labels``, the strategy's best accuracy and its
        first budget.

    Examples
    --------
    >>> saving = labels_saved([50, 100, 150], [0.8, 0.9, 0.95], [0.7, 0.8, 0.9])
    >>> saving["labels"], saving["baseline_labels"], round(saving["fraction_saved"], 3)
    (100, 150, 0.333)
    """
    x = np.asarray(n_labels)
    a = np.asarray(accuracy, dtype=float)
    b = np.asarray(baseline_accuracy, dtype=float)
    if x.ndim != 1 or len(x) == 0 or a.shape != x.shape or b.shape != x.shape:
        raise ValueError(
            "n_labels, accuracy and baseline_accuracy must be 1-D of the same non-zero "
            f"length; got shapes {x.shape}, {a.shape} and {b.shape}."
        )
    target = float(b[-1])
    baseline_labels = int(x[np.argmax(b >= target)])
    reached = a >= target
    labels = int(x[np.argmax(reached)]) if reached.any() else None
    return {
        "target": target,
        "baseline_labels": baseline_labels,
        "labels": labels,
        "fraction_saved": None if labels is None else 1 - labels / baseline_labels,
        "best": float(a.max()),
        "best_labels": int(x[np.argmax(a)]),
    }


def saving_sentence(n_labels, accuracy, baseline_accuracy, *, name="FisherMask", baseline="random"):
    """One plain sentence: did ``name`` reach ``baseline``'s final accuracy, with how many labels.

    Parameters
    ----------
    n_labels, accuracy, baseline_accuracy : array-like of shape (n_rounds,)
        As in :func:`labels_saved`.
    name, baseline : str, default="FisherMask", "random"
        How the sentence names the strategy and the baseline.

    Returns
    -------
    sentence : str

    Examples
    --------
    >>> saving_sentence([50, 100, 150], [0.8, 0.9, 0.95], [0.7, 0.8, 0.9])
    "FisherMask reached random's final accuracy (0.900) with 100 labels; random needed 150 (33 % fewer labels)."
    >>> saving_sentence([50, 100, 150], [0.6, 0.7, 0.85], [0.7, 0.8, 0.9])
    "FisherMask did not reach random's final accuracy (0.900) within 150 labels; its best was 0.850, at 150 labels."
    """  # noqa: E501
    s = labels_saved(n_labels, accuracy, baseline_accuracy)
    target = f"{baseline}'s final accuracy ({s['target']:.3f})"
    if s["labels"] is None:
        return (
            f"{name} did not reach {target} within {int(np.max(n_labels))} labels; its best "
            f"was {s['best']:.3f}, at {s['best_labels']} labels."
        )
    head = f"{name} reached {target} with {s['labels']} labels; {baseline} needed "
    if s["labels"] == s["baseline_labels"]:
        return head + f"as many ({s['baseline_labels']}): no labels saved."
    percent = round(100 * abs(s["fraction_saved"]))
    fewer = "fewer" if s["labels"] < s["baseline_labels"] else "more"
    return head + f"{s['baseline_labels']} ({percent} % {fewer} labels)."


def save_results(
    rounds, output_dir, *, meta=None, title=None, ylabel="accuracy", baseline=None, labels=None
):
    """Write ``results.json``, ``results.csv`` and ``learning_curve.png``.

    Each file is replaced atomically, so calling this after every round
    leaves complete files whenever the process stops.

    Parameters
    ----------
    rounds : list of dict
        The strategy's round records (keys :data:`~skfisher.active.ROUND_FIELDS`).
    output_dir : str or Path
    meta : dict, default=None
        Saved under ``"meta"`` in the JSON.
    title : str, default=None
        The plot's title.
    ylabel : str, default="accuracy"
        The plot's y label.
    baseline : list of dict, default=None
        A baseline's rounds (e.g. random sampling with the same initial
        labels): saved under ``"baseline_rounds"`` in the JSON, as the CSV's
        ``baseline_accuracy`` column and as a second curve.
    labels : (str, str), default=None
        The legend of the strategy's and the baseline's curves.

    Returns
    -------
    paths : dict of str to Path
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "csv": out / "results.csv",
        "plot": out / "learning_curve.png",
    }
    record = {"meta": meta or {}, "rounds": rounds}
    if baseline is not None:
        record["baseline_rounds"] = baseline
    write_atomic(paths["json"], json.dumps(record, indent=2))
    write_atomic(paths["csv"], _csv(rounds, baseline))
    write_atomic(paths["plot"], _plot(rounds, baseline, title, ylabel, labels))
    return paths


def _csv(rounds, baseline):
    fields = ROUND_FIELDS if baseline is None else (*ROUND_FIELDS, BASELINE_FIELD)
    other = {r["round"]: r["accuracy"] for r in baseline or ()}
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=fields)
    writer.writeheader()
    for row in rounds:
        writer.writerow(
            row if baseline is None else {**row, BASELINE_FIELD: other.get(row["round"])}
        )
    return table.getvalue()


def _plot(rounds, baseline, title, ylabel, labels):
    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    names = labels or ("strategy", "baseline")
    curves = [(rounds, "o-", names[0])] + ([(baseline, "s--", names[1])] if baseline else [])
    for rows, style, label in curves:
        ax.plot([r["n_labels"] for r in rows], [r["accuracy"] for r in rows], style, label=label)
    ax.set_xlabel("labeled examples")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    if baseline is not None:
        ax.legend()
    fig.tight_layout()
    return png_bytes(fig)

"""The summary of a comparison: mean ± std accuracy per budget and AULC per
strategy, as a Markdown table and a learning-curve plot with ±std bands."""

from collections import defaultdict
from pathlib import Path

import numpy as np

from ..active._metrics import aulc
from ..strategies import STRATEGIES
from ..utils._files import new_figure, png_bytes, write_atomic

__all__ = ["summarize"]


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

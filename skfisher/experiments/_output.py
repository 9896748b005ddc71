"""The file output of a simulated run (:func:`skfisher.active.run_active_learning`):
the per-round table, CSV, JSON and plot."""

import csv
import io
import json
from pathlib import Path

from ..active._loop import ROUND_FIELDS
from ..utils._files import new_figure, png_bytes, write_atomic

__all__ = ["format_table", "save_results"]


def format_table(rounds, accuracy_label="test acc"):
    """The per-round table as text."""
    lines = [f"{'round':>5}  {'labels':>6}  {accuracy_label:>8}  {'query s':>8}  {'fit s':>7}"]
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
    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot([r["n_labels"] for r in rounds], [r["accuracy"] for r in rounds], "o-")
    ax.set_xlabel("labeled examples")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(paths["plot"], png_bytes(fig))
    return paths

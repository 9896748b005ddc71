"""The files a labeling project writes: atomic writes, CSV text, contact sheets, plots."""

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from ..utils._plot import new_figure


def _write_atomic(path, write):
    """Write ``path`` through ``write(binary_file)``: a temporary file, fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_text(path, text):
    _write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def _csv_text(header, rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _read_csv(path):
    """Rows of a CSV file (``,``, ``;`` or tab separated, optional BOM) as dicts."""
    text = Path(path).read_text(encoding="utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def _norm(path):
    """A path as the project stores it: absolute, symlinks resolved."""
    return str(Path(path).expanduser().resolve())


def _contact_sheet(images, titles, path, *, title="", columns=10):
    """A grid of (n, c, h, w) uint8 images with a title each, written as a PNG."""
    n = len(images)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = new_figure(figsize=(1.4 * cols, 1.7 * rows + 0.4), layout="constrained")
    for i, (image, name) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, cols, i + 1)
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
        ax.set_title(name, fontsize=6)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    _write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=90))


def _learning_curve_plot(points, path, cv):
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
    _write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110))

"""The folder of a labeling project: which files it holds, and reading and writing them.

One folder holds the whole state::

    PROJECT/
      project.json       settings, classes, skipped files and the committed rounds
      pool.npz           every image (uint8, resized) and its path
      labels.csv         every label given so far: path, label, batch, time
      round-01/          what query round 1 wrote: to_label.csv,
                         contact_sheet.png, model.pt (skorch's save_params)
      cv.json            cross-validated accuracy of each labeled state (a cache)
      learning_curve.png

Every file is written under a temporary name and renamed into place
(:func:`~skfisher.utils._files.write_atomic`), so a reader sees the old file
or the new one, never a part. Each command commits with one rename: ``init``
and ``query`` by writing ``project.json`` last (:meth:`ProjectFolder.write_config`),
``teach`` by replacing ``labels.csv`` (:meth:`ProjectFolder.write_labels`). A
round folder that ``project.json`` does not list is what an interrupted query
left; the next query writes that round again. Labels therefore survive any
interrupt, and teaching the same file twice adds nothing.
"""

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..utils._files import write_atomic

__all__ = ["ProjectFolder", "csv_text", "norm_path", "read_csv"]

#: The columns of ``labels.csv``.
LABEL_COLUMNS = ("path", "label", "batch", "time")


class ProjectFolder:
    """The files of a labeling project's folder and the state they hold.

    Every read goes to the disk afresh; nothing is cached. Creating the object
    checks nothing: :meth:`read_config` fails for a folder that is no project.

    Parameters
    ----------
    path : str or path-like
    """

    def __init__(self, path):
        self.path = Path(path)

    # ------------------------------------------------------------------ layout
    @property
    def config_file(self):
        return self.path / "project.json"

    @property
    def pool_file(self):
        return self.path / "pool.npz"

    @property
    def labels_file(self):
        return self.path / "labels.csv"

    @property
    def cv_file(self):
        return self.path / "cv.json"

    @property
    def plot_file(self):
        return self.path / "learning_curve.png"

    def round_dir(self, number):
        """``round-XX/``, the files of query round ``number``."""
        return self.path / f"round-{number:02d}"

    # ------------------------------------------------------------ project.json
    def read_config(self):
        """``project.json``: classes, image size, model settings, skipped files, rounds."""
        if not self.config_file.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a labeling project (no project.json); create it with "
                "LabelingProject.create (an interrupted create is simply run again)."
            )
        return json.loads(self.config_file.read_text())

    def write_config(self, config):
        """Write ``project.json``: the commit of ``create`` and of a query round."""
        write_atomic(self.config_file, json.dumps(config, indent=1))

    # ---------------------------------------------------------------- pool.npz
    def read_pool(self):
        """``(X, paths)``: every image of the pool, uint8 ``(n, c, h, w)``, and its path."""
        with np.load(self.pool_file) as f:
            return f["X"], f["paths"].astype(str)

    def write_pool(self, X, paths):
        write_atomic(self.pool_file, lambda f: np.savez(f, X=X, paths=paths))

    # -------------------------------------------------------------- labels.csv
    def read_labels(self):
        """``path -> (label, batch)`` of every label given so far."""
        return {r["path"]: (r["label"], int(r["batch"])) for r in read_csv(self.labels_file)}

    def label_times(self):
        """``path -> time`` (as written) of every label given so far."""
        return {r["path"]: r["time"] for r in read_csv(self.labels_file)}

    def write_labels(self, rows):
        """Replace ``labels.csv`` by ``(path, label, batch, time)`` rows: a teach's commit."""
        write_atomic(self.labels_file, csv_text(LABEL_COLUMNS, rows))

    def pending(self, config=None, labels=None):
        """Paths queried in a committed round and not labeled yet, by round.

        ``config`` and ``labels`` are read from the folder when not given.
        """
        config = self.read_config() if config is None else config
        labels = self.read_labels() if labels is None else labels
        return {r["round"]: [p for p in r["paths"] if p not in labels] for r in config["rounds"]}

    # ----------------------------------------------------------------- cv.json
    def read_cv_cache(self):
        """The cached cross-validation results, by key; empty when there are none."""
        return json.loads(self.cv_file.read_text()) if self.cv_file.exists() else {}

    def write_cv_cache(self, cache):
        write_atomic(self.cv_file, json.dumps(cache, indent=1))


def csv_text(header, rows):
    """CSV text (``,``-separated, ``\\n`` line ends) of a header and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def read_csv(path):
    """Rows of a CSV file (``,``, ``;`` or tab separated, optional BOM) as dicts."""
    text = Path(path).read_text(encoding="utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def norm_path(path):
    """A path as the project stores it: absolute, symlinks resolved."""
    return str(Path(path).expanduser().resolve())

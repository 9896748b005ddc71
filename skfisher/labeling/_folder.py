"""The folder of a labeling project: which files it holds, and reading and writing them.

One folder holds the whole state::

    PROJECT/
      project.json       settings, classes, skipped files, the pool's size
                         (n_pool) and the committed rounds
      pool.npy           every image, uint8 (n, c, h, w), opened memory-mapped
      pool.csv           each pool row's path, content hash and Pillow mode
      labels.csv         every label given so far: path, label, batch, time
      round-01/          what query round 1 wrote: to_label.csv,
                         contact_sheet.png, model.pt (skorch's save_params)
      cv.json            cross-validated accuracy of each labeled state (a cache)
      learning_curve.png
      .skfisher.lock     held by the command that writes (one at a time)

Every file is written under a temporary name and renamed into place
(:func:`~skfisher.utils._files.write_atomic`), so a reader sees the old file
or the new one, never a part. Each command commits with one rename: ``init``,
``add`` and ``query`` by writing ``project.json`` last
(:meth:`ProjectFolder.write_config`), ``teach`` by replacing ``labels.csv``
(:meth:`ProjectFolder.write_labels`). A round folder that ``project.json``
does not list is what an interrupted query left; the next query takes in the
labels filled into its CSV and writes that round again. A committed round
whose folder was deleted by hand waits for nothing: its images are candidates
again. Labels therefore survive any interrupt, and teaching the same file
twice adds nothing. Every command that writes holds the folder's lock
(:meth:`ProjectFolder.lock`), so two commands never interleave.

A damaged file (truncated, edited into another shape, not UTF-8) raises a
ValueError that names it and says how to recover.
"""

import csv
import io
import json
import warnings
from pathlib import Path

import numpy as np

from ..utils._files import folder_lock, write_atomic
from ._pool import read_index, write_index

__all__ = ["ProjectFolder", "csv_text", "norm_path", "read_csv"]

#: The columns of ``labels.csv``.
LABEL_COLUMNS = ("path", "label", "batch", "time")
#: Seconds a command waits for another one to finish with the project.
LOCK_TIMEOUT = 5.0
#: What to do with a project whose state files are damaged.
_RECOVER = (
    "restore it from a backup; or create a new project with `skfisher label init` and "
    "teach it this project's labels.csv (it has the columns path and label)"
)
#: ``project.json``'s keys and their types.
_CONFIG_TYPES = {
    "format": int,
    "classes": list,
    "image_size": list,
    "channels": int,
    "model": dict,
    "random_state": int,
    "skipped": list,
    "rounds": list,
    "n_pool": int,
}


def damaged(path, why, todo=_RECOVER):
    """The ValueError of a damaged project file."""
    return ValueError(f"{path} is damaged ({why}); {todo}.")


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
        return self.path / "pool.npy"

    @property
    def index_file(self):
        return self.path / "pool.csv"

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
        try:
            config = json.loads(self.config_file.read_bytes())
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise damaged(self.config_file, f"not JSON: {exc}") from None
        problem = _config_problem(config)
        if problem:
            raise damaged(self.config_file, problem)
        return config

    def write_config(self, config):
        """Write ``project.json``: the commit of ``create``, ``add`` and a query round."""
        write_atomic(self.config_file, json.dumps(config, indent=1))

    def lock(self, timeout=LOCK_TIMEOUT):
        """Hold the project's lock (``.skfisher.lock``) for a ``with`` block.

        Waits up to ``timeout`` seconds for another command to finish, then
        raises :class:`~skfisher.utils.FolderInUseError` naming its process.
        """
        return folder_lock(
            self.path,
            timeout=timeout,
            advice="only one command at a time can change a labeling project; try "
            "again when it has finished",
        )

    # ---------------------------------------------------------------- the pool
    def read_pool(self, config=None):
        """``(X, paths)``: the pool, uint8 ``(n, c, h, w)`` memory-mapped, and its paths."""
        config = self.read_config() if config is None else config
        return self.open_pool(config), np.array([r[0] for r in self.read_index(config)], dtype=str)

    def open_pool(self, config):
        """The pool images, uint8 ``(n_pool, c, h, w)``, memory-mapped (read-only)."""
        n, shape = config["n_pool"], (config["channels"], *config["image_size"])
        try:
            X = np.load(self.pool_file, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise damaged(self.pool_file, "it is missing") from None
        except Exception as exc:  # noqa: BLE001  truncated or not an .npy
            raise damaged(self.pool_file, f"{type(exc).__name__}: {exc}") from None
        if X.dtype != np.uint8 or X.ndim != 4 or X.shape[1:] != shape or len(X) < n:
            raise damaged(
                self.pool_file,
                f"it holds {X.dtype} {X.shape}, the project needs uint8 ({n}, "
                f"{', '.join(map(str, shape))})",
            )
        return X[:n]

    def read_index(self, config):
        """The ``(path, sha256, mode)`` of each pool row (``pool.csv``)."""
        try:
            rows = read_index(self.index_file)
        except FileNotFoundError:
            raise damaged(self.index_file, "it is missing") from None
        except (ValueError, csv.Error) as exc:  # UnicodeDecodeError too
            raise damaged(self.index_file, str(exc)) from None
        if len(rows) < config["n_pool"]:
            raise damaged(self.index_file, f"{len(rows)} rows, the pool has {config['n_pool']}")
        return rows[: config["n_pool"]]

    def write_index(self, rows):
        write_index(lambda text: write_atomic(self.index_file, text), rows)

    # -------------------------------------------------------------- labels.csv
    def _label_table(self):
        if not self.labels_file.is_file():
            raise damaged(self.labels_file, "it is missing")
        try:
            table = read_csv(self.labels_file)
        except ValueError as exc:
            raise damaged(self.labels_file, str(exc), todo=_FIX_LABELS) from None
        for i, r in enumerate(table):
            batch = r.get("batch")
            if None in r or not (r.get("path") and r.get("label")) or not _is_int(batch):
                raise damaged(
                    self.labels_file,
                    f"row {i + 2} is not path,label,batch,time with a whole-number batch",
                    todo=_FIX_LABELS,
                )
        return table

    def read_labels(self):
        """``path -> (label, batch)`` of every label given so far."""
        return {r["path"]: (r["label"], int(r["batch"])) for r in self._label_table()}

    def label_times(self):
        """``path -> time`` (as written) of every label given so far."""
        return {r["path"]: r["time"] for r in self._label_table()}

    def write_labels(self, rows):
        """Replace ``labels.csv`` by ``(path, label, batch, time)`` rows: a teach's commit."""
        write_atomic(self.labels_file, csv_text(LABEL_COLUMNS, rows))

    def pending(self, config=None, labels=None):
        """Paths queried in a committed round and not labeled yet, by round.

        ``config`` and ``labels`` are read from the folder when not given.
        """
        config = self.read_config() if config is None else config
        labels = self.read_labels() if labels is None else labels
        return {
            r["round"]: [p for p in r["paths"] if p not in labels]
            for r in config["rounds"]
            if self.round_dir(r["round"]).is_dir()
        }

    def deleted_rounds(self, config):
        """The committed rounds whose folder was deleted by hand."""
        return [r["round"] for r in config["rounds"] if not self.round_dir(r["round"]).is_dir()]

    # ----------------------------------------------------------------- cv.json
    def read_cv_cache(self):
        """The cached cross-validation results, by key; empty when there are none
        or the cache is unreadable (it is only a cache)."""
        try:
            cache = json.loads(self.cv_file.read_bytes()) if self.cv_file.exists() else {}
        except ValueError:
            cache = None
        return cache if isinstance(cache, dict) else {}

    def write_cv_cache(self, cache):
        write_atomic(self.cv_file, json.dumps(cache, indent=1))


def csv_text(header, rows):
    """CSV text (``,``-separated, ``\\n`` line ends) of a header and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


_FIX_LABELS = (
    "fix that row (the columns are path,label,batch,time, saved as UTF-8) or restore "
    "the file from a backup"
)


def _is_int(text):
    try:
        int(text)
    except (TypeError, ValueError):
        return False
    return True


def _config_problem(config):
    """What makes ``config`` no ``project.json`` of this version, or None."""
    if not isinstance(config, dict):
        return f"it holds a JSON {type(config).__name__}, not an object"
    if config.get("format") == 1:
        return "an early development version made it with pool.npz; create it again"
    for key, kind in _CONFIG_TYPES.items():
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            return f"{key!r} is missing or not a {kind.__name__}"
    for r in config["rounds"]:
        if not (
            isinstance(r, dict)
            and isinstance(r.get("round"), int)
            and isinstance(r.get("paths"), list)
        ):
            return "an entry of 'rounds' is not a round record"
    if len(config["image_size"]) != 2 or config["channels"] not in (1, 3):
        return "'image_size' or 'channels' is not an image shape"
    return None


def _decode(data, path):
    """CSV bytes as text: UTF-8 (with or without BOM), else Windows-1252 with a warning."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ValueError(
                f"{path} is not UTF-8 text ({exc}); save it as 'CSV UTF-8' and try again"
            ) from None
    warnings.warn(
        f"{path} is not UTF-8; it was read as Windows-1252 (cp1252), the encoding Excel "
        "uses for 'CSV'. Check the paths with accents, or save it as 'CSV UTF-8'.",
        UserWarning,
        stacklevel=4,
    )
    return text


def read_csv(path):
    """Rows of a CSV file (``,``, ``;`` or tab separated, optional BOM) as dicts.

    UTF-8 is expected; a Windows-1252 file (Excel's 'CSV') is read with a
    warning, and anything else raises a ValueError that names the file.
    """
    text = _decode(Path(path).read_bytes(), path)
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(csv.DictReader(io.StringIO(text), dialect=dialect))
    except csv.Error as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None


def norm_path(path):
    """A path as the project stores it: absolute, symlinks resolved."""
    return str(Path(path).expanduser().resolve())

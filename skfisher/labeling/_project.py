"""A labeling project on disk: query -> a person labels -> teach, over days.

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
(``os.replace``), so a reader sees the old file or the new one, never a part.
Each command commits with one rename: ``init`` and ``query`` by writing
``project.json`` last, ``teach`` by replacing ``labels.csv``. A round folder
that ``project.json`` does not list is what an interrupted query left; the
next query writes that round again. Labels therefore survive any interrupt,
and teaching the same file twice adds nothing.
"""

import json
import pickle
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ._create import create_project
from ._files import (
    _learning_curve_plot,
    _read_csv,
    _write_atomic,
    _write_text,
)
from ._model import project_estimator, restore_model
from ._query import fit_and_pick, top_guesses, write_round
from ._status import learning_curve
from ._teach import check_labels, commit_labels, label_rows

__all__ = ["LabelingProject"]


class LabelingProject:
    """A human-in-the-loop labeling project stored in one folder.

    Create one with :meth:`create` (``skfisher label init``), then repeat
    :meth:`query` (which images should a person label next?) and
    :meth:`teach` (take in their labels); :meth:`status` reports the rounds,
    the label counts and the cross-validated accuracy. Every method reads the
    folder afresh, so several notebooks or shells can take turns on it (not
    run at the same moment).

    Parameters
    ----------
    path : str or path-like
        The project folder, made by :meth:`create`.

    Attributes
    ----------
    path : Path
    config : dict
        ``project.json``, read afresh at every access: classes, image size,
        model settings, skipped files and the committed rounds.

    Examples
    --------
    >>> from skfisher import LabelingProject
    >>> project = LabelingProject.create(
    ...     "my-project", labeled="photos/labeled", unlabeled="photos/new",
    ...     image_size=32)                                   # doctest: +SKIP
    >>> project.query(100)["to_label"]                       # doctest: +SKIP
    PosixPath('my-project/round-01/to_label.csv')
    >>> project.teach("my-project/round-01/to_label.csv")    # doctest: +SKIP
    >>> project.status()["learning_curve"]                   # doctest: +SKIP
    """

    def __init__(self, path):
        self.path = Path(path)
        self.config  # fails early for a folder that is no project

    @property
    def config(self):
        """``project.json``, read afresh."""
        config_path = self.path / "project.json"
        if not config_path.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a labeling project (no project.json); create it with "
                "LabelingProject.create (an interrupted create is simply run again)."
            )
        return json.loads(config_path.read_text())

    # ------------------------------------------------------------------ set-up
    @classmethod
    def create(
        cls,
        path,
        *,
        labeled=None,
        unlabeled=None,
        classes=None,
        image_size=32,
        channels=None,
        width=16,
        max_epochs=30,
        lr=0.05,
        batch_size=32,
        random_state=0,
    ):
        """Make a project from a folder of labeled and a folder of unlabeled images.

        Parameters
        ----------
        path : str or path-like
            The project folder; created, or reused when it holds no project.
        labeled : str or path-like, default=None
            Images already labeled, in ``ImageFolder`` layout
            (``labeled/<class name>/<image>``).
        unlabeled : str or path-like, default=None
            Images to label, found recursively (the project folder excluded).
        classes : list of str, default=None
            Class names, added to the sub-folder names of ``labeled``. At least
            two classes are needed in all.
        image_size : int or (int, int), default=32
            ``(height, width)`` every image is resized to (bilinear).
        channels : {None, 1, 3}, default=None
            None: greyscale if every image is, else RGB.
        width, max_epochs, lr, batch_size : default=16, 30, 0.05, 32
            :class:`~skfisher.ResNet18Classifier` settings of the model.
        random_state : int, default=0
            Seeds the model (the same every round) and the strategies.

        Returns
        -------
        project : LabelingProject

        Notes
        -----
        The images are read once, here, and kept in ``pool.npz``; missing,
        unreadable or corrupt files are skipped with an
        :class:`~skfisher.datasets.ImageReadWarning` and listed in
        ``config["skipped"]``.
        """
        create_project(
            path,
            labeled=labeled,
            unlabeled=unlabeled,
            classes=classes,
            image_size=image_size,
            channels=channels,
            model={"width": width, "max_epochs": max_epochs, "lr": lr, "batch_size": batch_size},
            random_state=random_state,
        )
        return cls(path)

    # ------------------------------------------------------------------- state
    @property
    def classes(self):
        """The class names, sorted."""
        return list(self.config["classes"])

    @property
    def rounds(self):
        """The committed query rounds (dicts), oldest first."""
        return list(self.config["rounds"])

    def _pool(self):
        with np.load(self.path / "pool.npz") as f:
            return f["X"], f["paths"].astype(str)

    def labels(self):
        """Every label given so far.

        Returns
        -------
        labels : dict of str to (str, int)
            ``path -> (label, batch)``; batch 0 is the labeled folder of
            ``create``, batch b the b-th :meth:`teach` that added labels.
        """
        return {
            r["path"]: (r["label"], int(r["batch"])) for r in _read_csv(self.path / "labels.csv")
        }

    def pending(self):
        """Paths queried in a committed round and not labeled yet, by round."""
        labels = self.labels()
        return {
            r["round"]: [p for p in r["paths"] if p not in labels] for r in self.config["rounds"]
        }

    def _round_dir(self, number):
        return self.path / f"round-{number:02d}"

    # ------------------------------------------------------------------- model
    def _estimator(self, device):
        return project_estimator(self.config, device)

    def labeled_data(self):
        """``(X, y, paths)`` of the labeled images, in the pool's order."""
        X, paths = self._pool()
        labels = self.labels()
        rows = np.array([i for i, p in enumerate(paths) if p in labels], dtype=np.int64)
        y = np.array([labels[paths[i]][0] for i in rows], dtype=object).astype(str)
        return X[rows], y, paths[rows]

    def train_model(self, *, device="auto"):
        """A :class:`~skfisher.ResNet18Classifier` trained on every label so far."""
        X, y, _ = self.labeled_data()
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"training needs labels of at least two classes; have {dict(Counter(y))}."
            )
        return self._estimator(device).fit(X, y)

    def load_model(self, round=None, *, device="auto"):
        """The model a query round trained, restored with skorch's ``load_params``.

        Parameters
        ----------
        round : int, default=None
            The round number; None is the last round that trained a model.
        device : str, default="auto"

        Returns
        -------
        estimator : ResNet18Classifier
            Fitted: ``predict``/``predict_proba`` on images of the project's
            size (``config["channels"]``, ``*config["image_size"]``).
        """
        return restore_model(self, round, device)

    def export_model(self, path, round=None):
        """Pickle the model of a round (default: the last) to ``path`` for use in Python.

        ``pickle.load`` gives a fitted :class:`~skfisher.ResNet18Classifier`.
        """
        net = self.load_model(round, device="cpu")
        _write_atomic(path, lambda f: pickle.dump(net, f))
        return Path(path)

    # ------------------------------------------------------------------- query
    def query(self, n, *, strategy="fisher_mask", strategy_params=None, device="auto"):
        """Train on the labels so far and pick ``n`` images for a person to label.

        Writes ``round-XX/to_label.csv`` (path, a blank label column, the
        model's top guesses with probabilities), ``round-XX/contact_sheet.png``
        (the images, numbered as the CSV rows) and ``round-XX/model.pt``, then
        commits the round in ``project.json``. Images waiting for labels from
        an earlier round are not asked again. With fewer than two classes
        labeled, the images are drawn at random.

        Parameters
        ----------
        n : int
            Images to query; fewer when fewer are left.
        strategy : str, default="fisher_mask"
            A key of :data:`skfisher.strategies.STRATEGIES`.
        strategy_params : dict, default=None
            Extra parameters of the strategy, e.g. ``{"sparsity": 0.005}``.
        device : str, default="auto"

        Returns
        -------
        round : dict
            ``round``, ``to_label``, ``contact_sheet``, ``paths`` and
            ``guesses`` (per path, ``(class, probability)`` pairs).
        """
        from ..strategies import get_strategy

        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}.")
        config = self.config
        number = len(config["rounds"]) + 1
        params = dict(strategy_params or {})
        seed = params.pop("random_state", config["random_state"] + number)
        query_fn = get_strategy(strategy, random_state=seed, **params)
        X, paths = self._pool()
        labels = self.labels()
        waiting = {p for ps in self.pending().values() for p in ps}
        candidates = np.array(
            [i for i, p in enumerate(paths) if p not in labels and p not in waiting],
            dtype=np.int64,
        )
        if not len(candidates):
            raise ValueError(
                f"nothing left to query: all {len(paths)} images are labeled or wait for "
                f"labels ({len(waiting)} waiting); teach the earlier rounds' to_label.csv."
            )
        labeled_rows = np.array([i for i, p in enumerate(paths) if p in labels], dtype=np.int64)
        y = np.array([labels[paths[i]][0] for i in labeled_rows], dtype=object).astype(str)
        record = {
            "round": number,
            "strategy": strategy,
            "strategy_params": strategy_params or {},
            "n_requested": int(n),
            "n_labels": len(labeled_rows),
            "time": time.time(),
            "model": None,
            "model_params": None,
        }
        net, picked = fit_and_pick(self, record, X, y, labeled_rows, candidates, query_fn, device)
        rows = candidates[picked]
        record["paths"] = [str(p) for p in paths[rows]]
        guesses = top_guesses(net, X[rows])
        folder = write_round(self, number, record, net, X[rows], guesses)
        config["rounds"].append(record)
        _write_text(self.path / "project.json", json.dumps(config, indent=1))  # the commit
        return {
            "round": number,
            "to_label": folder / "to_label.csv",
            "contact_sheet": folder / "contact_sheet.png",
            "paths": record["paths"],
            "guesses": dict(zip(record["paths"], guesses)),
        }

    # ------------------------------------------------------------------- teach
    def teach(self, labels, *, relabel=False):
        """Take in a person's labels.

        All rows are checked before anything is written, and the new labels
        are committed with one rename: a teach is all or nothing. Rows with a
        blank label are skipped (a partly filled file is fine); labels already
        known are not counted again, so teaching a file twice is harmless.

        Parameters
        ----------
        labels : str, path-like, dict or list of (path, label)
            A CSV file with columns ``path`` and ``label`` (such as a round's
            ``to_label.csv``, filled in), ``{path: label}``, or pairs.
        relabel : bool, default=False
            Let a label replace a different one given before; otherwise that
            is an error.

        Returns
        -------
        summary : dict
            ``new``, ``changed``, ``already_known``, ``blank`` counts and the
            ``batch`` number given to the new labels.

        Raises
        ------
        ValueError
            Unknown class names (the message lists the known ones), paths not
            in the pool, an image given two different labels, or a changed
            label without ``relabel``. Nothing is written then.
        """
        rows, source = label_rows(labels)
        known = self.labels()
        given, blank = check_labels(
            rows,
            source,
            pool=set(self._pool()[1]),
            skipped=dict(self.config["skipped"]),
            known=known,
            classes=self.classes,
            relabel=relabel,
        )
        return commit_labels(self.path / "labels.csv", known, given, blank)

    # ------------------------------------------------------------------ status
    def status(self, *, cv=3, device="auto", plot=True):
        """Rounds, label counts per class, and cross-validated accuracy.

        The accuracy is ``cv``-fold stratified cross-validation of the
        project's model on the labels known after each teach (a learning
        curve). Results are cached in ``cv.json``, so each labeled state is
        evaluated once.

        Parameters
        ----------
        cv : int, default=3
            Folds; 0 skips the cross-validation.
        device : str, default="auto"
        plot : bool, default=True
            Write ``learning_curve.png``.

        Returns
        -------
        status : dict
            ``n_pool``, ``n_labeled``, ``counts`` (per class), ``rounds``
            (with ``n_queried``, ``n_labeled`` and ``n_waiting``),
            ``skipped``, ``learning_curve`` (dicts with ``batch``,
            ``n_labels``, ``accuracy``, ``std``, or ``note`` when it could not
            be computed) and ``plot`` (a path or None).
        """
        if not isinstance(cv, (int, np.integer)) or cv == 1 or cv < 0:
            raise ValueError(f"cv must be 0 (no cross-validation) or an int >= 2; got {cv!r}.")
        labels = self.labels()
        counts = Counter(lab for lab, _ in labels.values())
        rounds = [
            {
                "round": r["round"],
                "strategy": r["strategy"],
                "n_queried": len(r["paths"]),
                "n_labeled": sum(p in labels for p in r["paths"]),
                "n_waiting": sum(p not in labels for p in r["paths"]),
                "to_label": str(self._round_dir(r["round"]) / "to_label.csv"),
            }
            for r in self.config["rounds"]
        ]
        curve = learning_curve(self, labels, cv, device) if cv else []
        out = {
            "n_pool": len(self._pool()[1]),
            "n_labeled": len(labels),
            "counts": {c: counts.get(c, 0) for c in self.classes},
            "rounds": rounds,
            "skipped": [tuple(s) for s in self.config["skipped"]],
            "learning_curve": curve,
            "plot": None,
        }
        points = [p for p in curve if p.get("accuracy") is not None]
        if plot and points:
            out["plot"] = self.path / "learning_curve.png"
            _learning_curve_plot(points, out["plot"], cv)
        return out

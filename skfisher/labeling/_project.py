"""A labeling project on disk: query -> a person labels -> teach, over days.

The folder's files and the order in which they are committed are those of
``ProjectFolder`` (``_folder.py``). :class:`LabelingProject` is the public
face: it checks the arguments and hands each step what it needs, the
``ProjectFolder`` and the settings. The steps are functions, a module each:
``create_project`` (``_create.py``), ``query_round`` (``_query.py``),
``teach_labels`` (``_teach.py``) and ``project_status`` (``_status.py``); the
model, its training rows and a round's saved model are in ``_model.py``.
"""

import pickle
from collections import Counter
from pathlib import Path

import numpy as np

from ..utils._files import write_atomic
from ..utils._validation import Integers, check_param
from ._create import create_project
from ._folder import ProjectFolder
from ._model import labeled_rows, project_estimator, restore_model
from ._query import query_round
from ._status import project_status
from ._teach import teach_labels

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
        self._folder = ProjectFolder(self.path)
        self._folder.read_config()  # fails early for a folder that is no project

    @property
    def config(self):
        """``project.json``, read afresh."""
        return self._folder.read_config()

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
            :class:`~skfisher.nets.ResNet18Classifier` settings of the model.
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
            ProjectFolder(path),
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

    def labels(self):
        """Every label given so far.

        Returns
        -------
        labels : dict of str to (str, int)
            ``path -> (label, batch)``; batch 0 is the labeled folder of
            ``create``, batch b the b-th :meth:`teach` that added labels.
        """
        return self._folder.read_labels()

    def pending(self):
        """Paths queried in a committed round and not labeled yet, by round."""
        return self._folder.pending()

    # ------------------------------------------------------------------- model
    def labeled_data(self):
        """``(X, y, paths)`` of the labeled images, in the pool's order."""
        X, paths = self._folder.read_pool()
        rows, y = labeled_rows(paths, self._folder.read_labels())
        return X[rows], y, paths[rows]

    def train_model(self, *, device="auto"):
        """A :class:`~skfisher.nets.ResNet18Classifier` trained on every label so far."""
        X, y, _ = self.labeled_data()
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"training needs labels of at least two classes; have {dict(Counter(y))}."
            )
        return project_estimator(self.config, device).fit(X, y)

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
        return restore_model(self._folder, self.config, round, device)

    def export_model(self, path, round=None):
        """Pickle the model of a round (default: the last) to ``path`` for use in Python.

        ``pickle.load`` gives a fitted :class:`~skfisher.nets.ResNet18Classifier`.
        """
        net = self.load_model(round, device="cpu")
        write_atomic(path, lambda f: pickle.dump(net, f))
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

        check_param("n", n, [Integers(1)], caller="LabelingProject.query")
        config = self.config
        number = len(config["rounds"]) + 1
        params = dict(strategy_params or {})
        seed = params.pop("random_state", config["random_state"] + number)
        query_fn = get_strategy(strategy, random_state=seed, **params)
        return query_round(
            self._folder,
            config,
            n,
            query_fn,
            strategy=strategy,
            strategy_params=strategy_params,
            device=device,
        )

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
        return teach_labels(self._folder, labels, relabel=relabel)

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
        return project_status(self._folder, cv=cv, device=device, plot=plot)

"""A labeling project on disk: query -> a person labels -> teach, over days.

:class:`LabelingProject` is the public face: it checks the arguments, takes
the project's lock for every method that writes, and hands each step the
``ProjectFolder`` (``_folder.py``: the files and their commit order). The
steps are functions, a module each: ``_create``, ``_query``, ``_teach``,
``_status``, ``_agreement`` and ``_classes``; the model is ``_model.py`` and
the pool on disk ``_pool.py``.
"""

import pickle
from pathlib import Path

from ..utils._files import check_output_file, write_atomic
from ..utils._validation import Integers, Reals, check_param
from ._agreement import project_agreement
from ._classes import add_class
from ._create import add_images, create_project
from ._folder import LOCK_TIMEOUT, ProjectFolder
from ._model import labeled_data, restore_model, train_on_labels
from ._query import MAX_CANDIDATES, query_project
from ._status import project_status
from ._teach import teach_labels

__all__ = ["LabelingProject"]


class LabelingProject:
    """A human-in-the-loop labeling project stored in one folder.

    Create one with :meth:`create` (``skfisher label init``), then repeat
    :meth:`query` (which images should a person label next?) and
    :meth:`teach` (take in their labels); :meth:`status` reports the rounds,
    the label counts and the cross-validated accuracy; :meth:`add` takes in
    images that arrive later; :meth:`agreement` says when to stop, and
    :meth:`add_class` adds a class while labeling (``skfisher label serve``
    does all of it in a browser). Every method reads the folder afresh, so
    several notebooks, shells or a web app can share it: the methods that write
    hold the project's lock, one at a time (see ``lock_timeout``).

    Parameters
    ----------
    path : str or path-like
        The project folder, made by :meth:`create`.
    lock_timeout : float, default=5.0
        Seconds a writing method waits for another process that is changing
        the project; then it raises :class:`~skfisher.utils.FolderInUseError`
        (an OSError) naming that process. 0 refuses at once.

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

    def __init__(self, path, *, lock_timeout=LOCK_TIMEOUT):
        check_param(
            "lock_timeout",
            lock_timeout,
            [Reals(0, None, closed="left")],
            caller="LabelingProject",
        )
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._folder = ProjectFolder(self.path)
        self._folder.read_config()  # fails early for a folder that is no project

    def _lock(self):
        return self._folder.lock(self.lock_timeout)

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
        lock_timeout=LOCK_TIMEOUT,
    ):
        """Make a project from a folder of labeled and a folder of unlabeled images.

        Parameters
        ----------
        path : str or path-like
            The project folder: a new or empty folder (or one that an
            interrupted create left); a folder with other files is refused,
            so nothing in it is overwritten.
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
        lock_timeout : float, default=5.0
            See :class:`LabelingProject`.

        Returns
        -------
        project : LabelingProject

        Notes
        -----
        The images are read once, here, one at a time, into ``pool.npy`` (an
        uncompressed array that every command opens memory-mapped, so pools
        larger than memory work). 16-bit, float and palette images are scaled
        into 0..255, not clipped, and EXIF-rotated photos are turned upright;
        ``config["conversions"]`` says how each mode met was converted.
        Missing, unreadable or corrupt files are skipped with an
        :class:`~skfisher.datasets.ImageReadWarning` and listed in
        ``config["skipped"]``, as are copies of an image already read (same
        file content).
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
            timeout=lock_timeout,
        )
        return cls(path, lock_timeout=lock_timeout)

    def add(self, folder):
        """Add the images under ``folder`` (searched recursively) to the pool.

        Images already in the pool are skipped, by path and by content (the
        SHA-256 of the file), as are unreadable files (with an
        :class:`~skfisher.datasets.ImageReadWarning`). The images are read at
        the project's size and channels and appended to ``pool.npy``; the
        project changes only when ``project.json`` is written, last.

        Returns
        -------
        summary : dict
            ``added``, ``already_in_pool`` (same path), ``same_content``,
            ``unreadable`` and ``n_pool`` (the pool's size now).
        """
        with self._lock():
            return add_images(self._folder, folder)

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
        return labeled_data(self._folder)

    def train_model(self, *, device="auto"):
        """A :class:`~skfisher.nets.ResNet18Classifier` trained on every label so far."""
        return train_on_labels(self._folder, device)

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
        ``path`` is checked (a file in a writable folder) before the model is
        loaded.
        """
        path = check_output_file(path)
        net = self.load_model(round, device="cpu")
        write_atomic(path, lambda f: pickle.dump(net, f))
        return Path(path)

    # ------------------------------------------------------------------- query
    def query(
        self,
        n,
        *,
        strategy="fisher_mask",
        strategy_params=None,
        device="auto",
        max_candidates=MAX_CANDIDATES,
    ):
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
        max_candidates : int or None, default=10000
            The images scored at most: a random draw (seeded by the round) of
            the unlabeled, unqueried ones. It bounds the memory and time of a
            query on large pools; None scores them all.

        Returns
        -------
        round : dict
            ``round``, ``to_label``, ``contact_sheet``, ``paths``,
            ``guesses`` (per path, ``(class, probability)`` pairs) and
            ``folded`` (the teach summary of an uncommitted round's labels, or
            None).
        """
        check_param("n", n, [Integers(1)], caller="LabelingProject.query")
        check_param(
            "max_candidates", max_candidates, [Integers(1), None], caller="LabelingProject.query"
        )
        if max_candidates is not None and max_candidates < n:
            raise ValueError(f"max_candidates={max_candidates} must be at least n={n}.")
        with self._lock():
            return query_project(
                self._folder,
                n,
                strategy=strategy,
                strategy_params=strategy_params,
                device=device,
                max_candidates=max_candidates,
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
        skfisher.utils.FolderInUseError
            Another process changed the project for longer than
            ``lock_timeout`` seconds.
        """
        with self._lock():
            return teach_labels(self._folder, labels, relabel=relabel)

    def add_class(self, name):
        """Add a class while labeling, as ``classes`` does at :meth:`create`.

        Later rounds' models predict it; earlier rounds' models load with the
        classes they were trained with. Returns the classes, sorted.

        Raises
        ------
        ValueError
            An empty or non-printable name, or one that already exists.
        skfisher.utils.FolderInUseError
            Another process changed the project for longer than
            ``lock_timeout`` seconds.
        """
        with self._lock():
            return add_class(self._folder, name)

    # ------------------------------------------------------------------ status
    def agreement(self, *, n_sample=1000, since=0, device="auto"):
        """When to stop: Cohen's kappa between consecutive rounds' models.

        The models of each two consecutive rounds that trained one predict a
        fixed sample of ``n_sample`` images not labeled at :meth:`create`
        (the stop set of "stabilizing predictions"). The usual rule is to
        stop once kappa stays above about 0.99.

        Returns
        -------
        agreement : dict
            ``rounds``: dicts with ``round``, ``previous``, ``kappa``,
            ``agree`` and ``n_sample`` (pairs after round ``since`` only);
            ``advice``: a sentence on what they mean.
        """
        check_param("n_sample", n_sample, [Integers(1)], caller="LabelingProject.agreement")
        return project_agreement(self._folder, n_sample=n_sample, device=device, since=since)

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
        return project_status(self._folder, cv=cv, device=device, plot=plot)

"""The model of a labeling project: the estimator its settings describe, the
labeled rows it trains on, and the model a query round saved, restored with
skorch's ``load_params``."""

from collections import Counter

import numpy as np

from ._progress import progress_callbacks

__all__ = ["labeled_data", "labeled_rows", "project_estimator", "restore_model", "train_on_labels"]


def project_estimator(config, device, classes=None):
    """An unfitted :class:`~skfisher.nets.ResNet18Classifier` of the project's settings
    (``classes``: default the project's), reporting its epochs inside
    :func:`~skfisher.labeling._progress.reporting`."""
    from ..nets._classifier import ResNet18Classifier

    return ResNet18Classifier(
        **config["model"],
        classes=list(config["classes"] if classes is None else classes),
        device=device,
        random_state=config["random_state"],
        **progress_callbacks(),
    )


def labeled_rows(paths, labels):
    """``(rows, y)``: the pool rows with a label, in the pool's order, and their labels.

    Parameters
    ----------
    paths : array of str
        The pool's paths (:meth:`ProjectFolder.read_pool`).
    labels : dict of str to (str, int)
        :meth:`ProjectFolder.read_labels`.
    """
    rows = np.array([i for i, p in enumerate(paths) if p in labels], dtype=np.int64)
    y = np.array([labels[paths[i]][0] for i in rows], dtype=object).astype(str)
    return rows, y


def restore_model(folder, config, round, device):
    """The model of query round ``round`` (None: the last that trained one);
    see :meth:`LabelingProject.load_model`."""
    from sklearn.preprocessing import LabelEncoder

    trained = [r for r in config["rounds"] if r.get("model")]
    if round is not None:
        trained = [r for r in trained if r["round"] == round]
    else:  # the last round whose folder is still there
        trained = [r for r in trained if (folder.path / r["model"]).is_file()]
    if trained and not (folder.path / trained[-1]["model"]).is_file():
        raise ValueError(
            f"the model of round {round} ({folder.path / trained[-1]['model']}) was deleted."
        )
    if not trained:
        raise ValueError(
            "no saved model"
            + ("" if round is None else f" for round {round}")
            + "; a query round trains one once two classes are labeled."
        )
    record = trained[-1]
    classes = list(record.get("classes", config["classes"]))  # a class added later
    net = project_estimator(config, device, classes)
    net.set_params(**record["model_params"])
    net.label_encoder_ = LabelEncoder().fit(classes)
    net.image_shape_ = (config["channels"], *config["image_size"])
    net.n_features_in_ = int(np.prod(net.image_shape_))
    net.init_seed_ = net.shuffle_generator_ = None
    net.initialize()
    net.load_params(f_params=folder.path / record["model"])
    return net


def labeled_data(folder):
    """``(X, y, paths)`` of the labeled images, in the pool's order."""
    X, paths = folder.read_pool()
    rows, y = labeled_rows(paths, folder.read_labels())
    return np.asarray(X[rows]), y, paths[rows]


def train_on_labels(folder, device):
    """The project's model trained on every label so far."""
    X, y, _ = labeled_data(folder)
    if len(np.unique(y)) < 2:
        raise ValueError(f"training needs labels of at least two classes; have {dict(Counter(y))}.")
    return project_estimator(folder.read_config(), device).fit(X, y)

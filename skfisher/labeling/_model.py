"""The model of a labeling project: the estimator its settings describe, the
labeled rows it trains on, and the model a query round saved, restored with
skorch's ``load_params``."""

import numpy as np

__all__ = ["labeled_rows", "project_estimator", "restore_model"]


def project_estimator(config, device):
    """An unfitted :class:`~skfisher.nets.ResNet18Classifier` of the project's settings."""
    from ..nets._classifier import ResNet18Classifier

    return ResNet18Classifier(
        **config["model"],
        classes=list(config["classes"]),
        device=device,
        random_state=config["random_state"],
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
    if not trained:
        raise ValueError(
            "no saved model"
            + ("" if round is None else f" for round {round}")
            + "; a query round trains one once two classes are labeled."
        )
    record = trained[-1]
    net = project_estimator(config, device)
    net.set_params(**record["model_params"])
    net.label_encoder_ = LabelEncoder().fit(list(config["classes"]))
    net.image_shape_ = (config["channels"], *config["image_size"])
    net.n_features_in_ = int(np.prod(net.image_shape_))
    net.init_seed_ = net.shuffle_generator_ = None
    net.initialize()
    net.load_params(f_params=folder.path / record["model"])
    return net

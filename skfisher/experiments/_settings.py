"""The named comparison settings: a data set, its imbalance and subsampling,
and a default schedule of labels (see :func:`skfisher.experiments.run_comparison`)."""

import functools
from pathlib import Path

import numpy as np

from ..datasets import _base as datasets
from ..datasets._base import _subsample, load_own_split, load_split

__all__ = ["SETTINGS", "load_setting", "own_setting"]

#: name -> (data set, imbalance, pool/test subsampling, default schedule)
SETTINGS = {
    "digits": dict(
        dataset="digits",
        n_initial=30,
        n_instances=30,
        n_rounds=6,
        description="digits, 70/30 stratified split",
    ),
    "fashion": dict(
        dataset="fashion_mnist",
        pool_size=10_000,
        n_initial=250,
        n_instances=250,
        n_rounds=8,
        description="FashionMNIST balanced, 10 000-image pool, official test set",
    ),
    "fashion_imb10": dict(
        dataset="fashion_mnist",
        ratio=10,
        pool_size=10_000,
        n_initial=250,
        n_instances=250,
        n_rounds=8,
        description="FashionMNIST, class 0 dominant at 10:1",
    ),
    "fashion_imb10_small": dict(
        dataset="fashion_mnist",
        ratio=10,
        pool_size=1000,
        test_size=2000,
        n_initial=40,
        n_instances=40,
        n_rounds=6,
        description="FashionMNIST, class 0 dominant at 10:1, 1000-image pool, 2000-image "
        "test set (sized for a CPU)",
    ),
    "fashion_imb100": dict(
        dataset="fashion_mnist",
        ratio=100,
        pool_size=10_000,
        n_initial=250,
        n_instances=250,
        n_rounds=8,
        description="FashionMNIST, class 0 dominant at 100:1",
    ),
    "fashion_4class": dict(
        dataset="fashion_mnist",
        class_counts={0: 250, 1: 5000, 2: 250, 3: 250},
        n_initial=250,
        n_instances=250,
        n_rounds=8,
        description="FashionMNIST classes 0-3 with 250/5000/250/250 (the reference's "
        "imbalanced CIFAR-10 setting)",
    ),
}


def own_setting(source, *, image_size=None):
    """A setting on the user's data: an image folder (one sub-folder per class) or an .npz.

    30 % of the images (stratified) are held out for testing. The schedule
    starts with 5 % of the pool (at least one image per class), queries as
    many each round, for up to 6 rounds.

    Parameters
    ----------
    source : str or path-like
    image_size : int or (int, int), default=None
        Resize folder images to this size.

    Returns
    -------
    setting : dict
        Accepted wherever a key of :data:`SETTINGS` is; its ``name`` (the
        file or folder name) labels the records and the output folder.
    """
    data = load_own_split(source, image_size=image_size, random_state=0)
    n_pool, n_classes = len(data[1]), len(np.unique(data[1]))
    step = max(n_classes, n_pool // 20)
    if 2 * step > n_pool:
        raise ValueError(f"{source}: a pool of {n_pool} images is too small for a comparison.")
    return dict(
        name=Path(source).stem or "own",
        dataset="own",
        data=data,
        n_initial=step,
        n_instances=step,
        n_rounds=min(6, (n_pool - step) // step),
        description=f"{source}: {n_pool}-image pool, {len(data[3])}-image test set "
        f"(30 % held out), {n_classes} classes",
    )


def _spec(setting):
    """The dict of a setting given by name (a key of :data:`SETTINGS`) or as a dict."""
    if isinstance(setting, dict):
        return setting
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; choose one of {sorted(SETTINGS)}.")
    return {"name": setting, **SETTINGS[setting]}


def load_setting(name, *, data_dir=None):
    """``X_pool, y_pool, X_test, y_test`` of a setting (a name, or a dict of :func:`own_setting`).

    The pool is the same for every seed: seeds vary the initial rows, the
    network's initialisation and the strategies' draws. A setting's
    ``pool_size`` and ``test_size`` subsample the pool (after the imbalance)
    and the test set at random, with ``random_state=0``.
    """
    spec = _spec(name)
    if "data" in spec:
        return spec["data"]
    X_pool, y_pool, X_test, y_test = load_split(spec["dataset"], data_dir=data_dir, random_state=0)
    counts = spec.get("class_counts")
    if "ratio" in spec or counts:
        X_pool, y_pool = datasets.make_imbalanced(
            X_pool, y_pool, class_counts=counts, ratio=spec.get("ratio"), random_state=0
        )
        keep = np.isin(y_test, np.unique(y_pool))
        X_test, y_test = X_test[keep], y_test[keep]
    # after the imbalance, so the pool keeps its class ratio
    return _subsample(
        X_pool, y_pool, X_test, y_test, spec.get("pool_size"), spec.get("test_size"), random_state=0
    )


@functools.lru_cache(maxsize=1)
def _cached_setting(setting, data_dir):
    return load_setting(setting, data_dir=data_dir)

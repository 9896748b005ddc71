"""Image data sets read from local files; nothing is ever downloaded.

Every loader returns ``(X, y)`` with ``return_X_y=True`` and otherwise a
:class:`sklearn.utils.Bunch` with ``data``, ``target``, ``target_names`` and
``DESCR`` (plus ``data_test``/``target_test`` where the data set has an
official test split).
"""

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ._benchmarks import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEFAULT_PATH,
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
)
from ._own_images import (
    IMAGE_EXTENSIONS,
    ImageReadWarning,
    image_folder_files,
    list_image_files,
    load_image_folder,
    load_npz,
    load_own_data,
    read_images,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "FASHION_MNIST_DEFAULT_PATH",
    "load_digits_images",
    "load_fashion_mnist",
    "load_cifar10",
    "make_imbalanced",
    "load_split",
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "ImageReadWarning",
    "list_image_files",
    "image_folder_files",
    "read_images",
    "load_image_folder",
    "load_npz",
    "load_own_data",
    "load_own_split",
]

DATASETS = ("digits", "fashion_mnist", "cifar10")


def make_imbalanced(X, y, class_counts=None, ratio=None, random_state=None):
    """Subsample ``(X, y)`` to given per-class counts.

    Parameters
    ----------
    X : array-like of shape (n, ...)
    y : array-like of shape (n,)
    class_counts : dict, default=None
        ``{label: count}``; labels not named are dropped. Exclusive with
        ``ratio``.
    ratio : float, default=None
        Keep every example of the most frequent class (the first label on ties)
        and ``round(n_major / ratio)`` of each other class: ``ratio=10`` gives
        one dominant class at 10:1.
    random_state : int, RandomState instance or None, default=None
        Which examples are kept.

    Returns
    -------
    X_sub : ndarray of shape (m, ...)
    y_sub : ndarray of shape (m,)
        Rows in their original order.
    """
    X = np.asarray(X)
    y = column_or_1d(y)
    check_consistent_length(X, y)
    if (class_counts is None) == (ratio is None):
        raise ValueError("Give exactly one of class_counts and ratio.")
    labels, counts = np.unique(y, return_counts=True)
    available = dict(zip(labels.tolist(), counts.tolist()))
    if ratio is not None:
        if not np.isscalar(ratio) or not ratio >= 1:
            raise ValueError(f"ratio must be a number >= 1; got {ratio!r}.")
        major = labels[np.argmax(counts)].item()
        n_major = available[major]
        class_counts = {
            c: n_major if c == major else max(1, int(round(n_major / ratio))) for c in available
        }
    for label, count in class_counts.items():
        if label not in available:
            raise ValueError(f"class_counts names label {label!r}, absent from y.")
        if not (isinstance(count, (int, np.integer)) and 0 <= count <= available[label]):
            raise ValueError(
                f"class_counts[{label!r}] must be an int in [0, {available[label]}]; got {count!r}."
            )
    rng = check_random_state(random_state)
    keep = [
        rng.choice(np.flatnonzero(y == label), size=count, replace=False)
        for label, count in class_counts.items()
    ]
    keep = np.sort(np.concatenate(keep)) if keep else np.array([], dtype=int)
    return X[keep], y[keep]


def load_split(name, *, data_dir=None, pool_size=None, test_size=None, random_state=0):
    """Return ``X_pool, y_pool, X_test, y_test`` for a named data set of :data:`DATASETS`.

    digits has no official test split: 30 % of it (stratified) is held out.

    Parameters
    ----------
    name : {"digits", "fashion_mnist", "cifar10"}
    data_dir : str or path-like, default=None
        The data set's files (needed for cifar10).
    pool_size, test_size : int, default=None
        Keep a random subset of this many pool and test rows (None: all), in
        their original order: a smaller problem of the same data set.
    random_state : int, RandomState instance or None, default=0
        Draws the digits test split and the subsets.

    Returns
    -------
    X_pool, y_pool, X_test, y_test : ndarrays
    """
    if name == "digits":
        X, y = load_digits_images(return_X_y=True)
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=random_state
        )
    elif name == "fashion_mnist":
        X_pool, y_pool, X_test, y_test = load_fashion_mnist(data_dir, return_X_y=True)
    elif name == "cifar10":
        if data_dir is None:
            raise ValueError(
                "load_split('cifar10') needs data_dir, the cifar-10-batches-py folder."
            )
        X_pool, y_pool, X_test, y_test = load_cifar10(data_dir, return_X_y=True)
    else:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {DATASETS}.")
    return _subsample(X_pool, y_pool, X_test, y_test, pool_size, test_size, random_state)


def load_own_split(
    source, *, image_size=None, test_fraction=0.3, pool_size=None, test_size=None, random_state=0
):
    """``X_pool, y_pool, X_test, y_test`` from the user's data (see :func:`load_own_data`).

    A stratified ``test_fraction`` is held out (drawn with ``random_state``);
    ``pool_size``/``test_size`` subsample as :func:`load_split` does.
    """
    X, y, _ = load_own_data(source, image_size=image_size)
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=random_state
    )
    return _subsample(X_pool, y_pool, X_test, y_test, pool_size, test_size, random_state)


def _subsample(X_pool, y_pool, X_test, y_test, pool_size, test_size, random_state):
    """Random subsets of ``pool_size`` pool and ``test_size`` test rows (None: all)."""
    rng = check_random_state(random_state)
    if pool_size is not None and pool_size < len(y_pool):
        keep = np.sort(rng.choice(len(y_pool), pool_size, replace=False))
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    if test_size is not None and test_size < len(y_test):
        keep = np.sort(rng.choice(len(y_test), test_size, replace=False))
        X_test, y_test = X_test[keep], y_test[keep]
    return X_pool, y_pool, X_test, y_test

"""Image data sets read from local files; nothing is ever downloaded.

Every loader returns ``(X, y)`` with ``return_X_y=True`` and otherwise a
:class:`sklearn.utils.Bunch` with ``data``, ``target``, ``target_names`` and
``DESCR`` (plus ``data_test``/``target_test`` where the data set has an
official test split).
"""

import gzip
import os
import pickle
import struct
import warnings
import zlib
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, Options, validate_params
from sklearn.utils.validation import check_consistent_length, column_or_1d

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

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
FASHION_MNIST_DEFAULT_PATH = "/usr/share/datasets/fashion-mnist"
_FASHION_SHAPE = (28, 28)
_N_CLASSES = 10
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_digits_images(*, return_X_y=False):
    """Load scikit-learn's digits (1797 images of 8x8, 10 classes) as images.

    The data ship with scikit-learn: the embedded default data set.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    X : ndarray of shape (1797, 1, 8, 8), dtype float32
        Pixel values scaled from 0..16 to [0, 1].
    y : ndarray of shape (1797,), dtype int64
    """
    digits = load_digits()
    X = (digits.data.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X, target=y, target_names=np.arange(10), DESCR=digits.DESCR
    )


def _read_idx(path):
    """Read one idx file (optionally gzipped) of unsigned bytes into a numpy array.

    Raises
    ------
    ValueError
        Naming ``path`` when it is not an idx file of unsigned bytes, or is
        truncated, or its gzip stream is broken.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is a broken gzip file ({exc}).") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes.")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path} is truncated inside its idx header.")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(
            f"{path} declares shape {dims} but holds {arr.size} values (truncated or "
            "corrupt)."
        )
    return arr.reshape(dims)


def _check_labels(file, labels):
    """``labels`` as int64 class numbers 0..9, or a ValueError naming ``file``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size and (
        labels.dtype.kind not in "ui" or labels.min() < 0 or labels.max() >= _N_CLASSES
    ):
        raise ValueError(
            f"{file}: labels must be a 1-d list of class numbers 0..{_N_CLASSES - 1}; got "
            f"{labels.dtype} values of shape {labels.shape}"
            + (f" in [{labels.min()}, {labels.max()}]." if labels.dtype.kind in "uifb"
               and labels.size else ".")
        )
    return labels.astype(np.int64)


def _find(folder, stem):
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_fashion_mnist(path=None, *, return_X_y=False):
    """Load FashionMNIST (60 000 train / 10 000 test images, 28x28) from idx files.

    Parameters
    ----------
    path : str or path-like, default=None
        Folder holding the four official files (``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
        ``t10k-labels-idx1-ubyte``), each optionally ``.gz``. Defaults to
        the ``SKFISHER_FASHION_MNIST`` environment variable, else
        :data:`FASHION_MNIST_DEFAULT_PATH` (Debian's ``dataset-fashion-mnist``).
    return_X_y : bool, default=False
        Return ``(X_train, y_train, X_test, y_test)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (n, 1, 28, 28) uint8, ``target`` (n,) int64, ``data_test``,
        ``target_test``, ``target_names``.

    Raises
    ------
    FileNotFoundError
        When a file is missing; the message gives the install command.
    ValueError
        Naming the file, when it is corrupt, truncated or a broken gzip
        stream, when images are not 28x28 or labels lie outside 0..9.
    """
    if path is None:
        path = os.environ.get("SKFISHER_FASHION_MNIST", FASHION_MNIST_DEFAULT_PATH)
    folder = Path(path)
    arrays = {}
    for split, stems in _FASHION_FILES.items():
        for kind, stem in zip(("images", "labels"), stems):
            file = _find(folder, stem)
            if file is None:
                raise FileNotFoundError(
                    f"FashionMNIST file {stem}[.gz] not found in {folder}. Install "
                    "the data with `apt-get install -y dataset-fashion-mnist` or "
                    "pass path= (or set SKFISHER_FASHION_MNIST) to a folder with "
                    "the official idx files."
                )
            arrays[split, kind] = file, _read_idx(file)
    out = []
    for split in ("train", "test"):
        (X_file, X), (y_file, y) = arrays[split, "images"], arrays[split, "labels"]
        if X.ndim != 3 or X.shape[1:] != _FASHION_SHAPE:
            raise ValueError(f"{X_file}: expected images of 28x28; got shape {X.shape}.")
        y = _check_labels(y_file, y)
        if len(X) != len(y):
            raise ValueError(
                f"FashionMNIST {split} files disagree: {X_file} holds {len(X)} images, "
                f"{y_file} {len(y)} labels."
            )
        out += [X[:, None].copy(), y]
    if return_X_y:
        return tuple(out)
    return Bunch(
        data=out[0], target=out[1], data_test=out[2], target_test=out[3],
        target_names=np.array(FASHION_MNIST_CLASSES),
        DESCR="FashionMNIST (Xiao et al. 2017), official idx files.",
    )


try:
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray, numeric as _numeric

def _latin1_bytes(text, encoding):
    """How Python 3 pickles bytes at protocol 2 (``_codecs.encode``), latin-1 only."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"it encodes bytes as {encoding!r}, not latin1")
    return text.encode("latin1")


#: Everything a CIFAR-10 python batch may name besides dicts, lists, str and bytes:
#: numpy arrays (pickled as ``_reconstruct`` + ``ndarray`` + ``dtype``, or with
#: protocol 5 as ``_frombuffer``), under numpy 1 and numpy 2 module names, and
#: Python 3's protocol-2 bytes.
_CIFAR_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    **{(m, "_reconstruct"): _multiarray._reconstruct
       for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _numeric._frombuffer
       for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles arrays, lists, dicts and strings; refuses any other global.

    Plain ``pickle.load`` calls whatever a file names, so a crafted batch would
    run code; here no function or class outside :data:`_CIFAR_GLOBALS` is
    reachable.
    """

    def find_class(self, module, name):
        try:
            return _CIFAR_GLOBALS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a CIFAR-10 batch never holds; refusing "
                "to load it (untrusted pickles can run code)"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it holds a persistent id; refusing to load it")


def _read_cifar_batch(file):
    """``(X, y)`` of one python batch: uint8 (n, 3, 32, 32) and labels 0..9."""
    try:
        with open(file, "rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except OSError:
        raise
    except Exception as exc:  # truncated or crafted: pickle raises almost anything
        raise ValueError(f"{file} is not a readable CIFAR-10 python batch: {exc}.") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{file} is not a CIFAR-10 python batch (not a dict).")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{file} is not a CIFAR-10 python batch (no data/labels).")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype.kind not in "ui":
        raise ValueError(
            f"{file}: expected integer data of shape (n, 3072); got {data.dtype} "
            f"{data.shape}."
        )
    if data.size and (data.min() < 0 or data.max() > 255):
        raise ValueError(
            f"{file}: pixel values must lie in 0..255; got [{data.min()}, {data.max()}]."
        )
    labels = _check_labels(file, labels)
    if len(data) != len(labels):
        raise ValueError(f"{file}: {len(data)} images but {len(labels)} labels.")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32), labels


def load_cifar10(path, *, return_X_y=False):
    """Load CIFAR-10 from the official python pickle batches in a local folder.

    Parameters
    ----------
    path : str or path-like
        The ``cifar-10-batches-py`` folder: ``data_batch_1`` ..
        ``data_batch_5`` and ``test_batch``. Nothing is downloaded.
    return_X_y : bool, default=False
        Return ``(X_train, y_train, X_test, y_test)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (n, 3, 32, 32) uint8, ``target`` (n,) int64, ``data_test``,
        ``target_test``, ``target_names``.

    Raises
    ------
    ValueError
        Naming the file, when a batch is corrupt or truncated, holds anything
        but the arrays, lists, dicts and strings of the official format (it is
        read without running any code it names), or has labels outside 0..9 or
        pixel values outside 0..255.
    """
    folder = Path(path)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 batches {missing} not found in {folder}; pass the "
            "extracted cifar-10-batches-py folder (skfisher never downloads)."
        )
    train = [_read_cifar_batch(folder / n) for n in names[:5]]
    X_test, y_test = _read_cifar_batch(folder / "test_batch")
    X = np.concatenate([b[0] for b in train])
    y = np.concatenate([b[1] for b in train])
    if return_X_y:
        return X, y, X_test, y_test
    return Bunch(
        data=X, target=y, data_test=X_test, target_test=y_test,
        target_names=np.array(CIFAR10_CLASSES),
        DESCR="CIFAR-10 (Krizhevsky 2009), official python batches.",
    )


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
            c: n_major if c == major else max(1, int(round(n_major / ratio)))
            for c in available
        }
    for label, count in class_counts.items():
        if label not in available:
            raise ValueError(f"class_counts names label {label!r}, absent from y.")
        if not (isinstance(count, (int, np.integer)) and 0 <= count <= available[label]):
            raise ValueError(
                f"class_counts[{label!r}] must be an int in [0, {available[label]}]; "
                f"got {count!r}."
            )
    rng = check_random_state(random_state)
    keep = [
        rng.choice(np.flatnonzero(y == label), size=count, replace=False)
        for label, count in class_counts.items()
    ]
    keep = np.sort(np.concatenate(keep)) if keep else np.array([], dtype=int)
    return X[keep], y[keep]


def load_split(name, *, data_dir=None, pool_size=None, test_size=None, seed=0):
    """Return ``X_pool, y_pool, X_test, y_test`` for a named data set of :data:`DATASETS`.

    digits has no official test split: 30 % of it (stratified) is held out.
    ``pool_size``/``test_size`` subsample the pool and the test set at random.
    """
    if name == "digits":
        X, y = load_digits_images(return_X_y=True)
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
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
    return _subsample(X_pool, y_pool, X_test, y_test, pool_size, test_size, seed)


# --- the user's own images: ImageFolder layout, or an .npz --------------------

#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
)
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


class ImageReadWarning(UserWarning):
    """Some image files were missing, unreadable or corrupt and were skipped."""


def _check_image_size(image_size):
    """``None`` or an ``(h, w)`` tuple of positive ints from an int or a pair."""
    if image_size is None:
        return None
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if len(size) != 2 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size
    ):
        raise ValueError(
            f"image_size must be a positive int or (height, width); got {image_size!r}."
        )
    return tuple(int(s) for s in size)


def list_image_files(folder):
    """Image files under ``folder`` (recursively, sorted; hidden entries skipped).

    Parameters
    ----------
    folder : str or path-like

    Returns
    -------
    paths : list of Path
        Files whose name ends in one of :data:`IMAGE_EXTENSIONS`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder.")
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(root) / f for f in files
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(found)


def image_folder_files(folder):
    """Classes and image files of a folder in torchvision's ``ImageFolder`` layout.

    Returns
    -------
    classes : list of str
        The sub-folder names (hidden ones skipped), sorted.
    files : list of Path
        The image files of every class folder, recursively.
    labels : list of str
        The class name of each file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist.")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(
            f"{folder} has no class sub-folders; the ImageFolder layout is "
            f"{folder}/<class name>/<image file>."
        )
    files, labels = [], []
    for name in classes:
        found = list_image_files(folder / name)
        files += found
        labels += [name] * len(found)
    return classes, files, labels


def _read_one(path, image_size, channels):
    """One file as a uint8 array (h, w) (grey) or (h, w, 3), or raise."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        grey = channels == 1 or (channels is None and image.mode in _GRAY_MODES)
        image = image.convert("L" if grey else "RGB")
        if image_size is not None and image.size != image_size[::-1]:
            image = image.resize(image_size[::-1], Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


_IMAGE_SIZE = [Interval(Integral, 1, None, closed="left"), tuple, list, None]
_CHANNELS = [Options(Integral, {1, 3}), None]


@validate_params(
    {"paths": ["array-like"], "image_size": _IMAGE_SIZE, "channels": _CHANNELS},
    prefer_skip_nested_validation=True,
)
def read_images(paths, *, image_size=None, channels=None):
    """Read image files into one uint8 array; unreadable files are skipped.

    Parameters
    ----------
    paths : sequence of str or path-like
    image_size : int or (int, int), default=None
        Resize every image to ``(height, width)`` (an int: a square) with
        bilinear interpolation, not keeping the aspect ratio. None keeps the
        files' size, which must then be the same for all.
    channels : {None, 1, 3}, default=None
        1 reads everything as greyscale, 3 as RGB. None: greyscale when every
        image is greyscale, else RGB (greyscale images get three equal
        channels). Alpha channels are dropped.

    Returns
    -------
    images : ndarray of shape (n_read, channels, height, width), dtype uint8
    kept : ndarray of shape (n_read,), dtype int64
        Positions in ``paths`` of the images read.
    skipped : list of (str, str)
        ``(path, reason)`` of every file that was missing, unreadable or
        corrupt; an :class:`ImageReadWarning` lists them too.

    Raises
    ------
    ValueError
        When no image could be read, or images differ in size and
        ``image_size`` is None.
    """
    image_size = _check_image_size(image_size)
    arrays, kept, skipped = [], [], []
    for i, path in enumerate(paths):
        try:
            arrays.append(_read_one(path, image_size, channels))
        except Exception as exc:  # noqa: BLE001  one bad file must not stop the rest
            skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        kept.append(i)
    if skipped:
        shown = "\n".join(f"  {p}: {why}" for p, why in skipped[:20])
        more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        warnings.warn(
            f"skipped {len(skipped)} missing, unreadable or corrupt image file(s):\n"
            + shown + more, ImageReadWarning, stacklevel=2,
        )
    if not arrays:
        raise ValueError(f"none of the {len(paths)} image files could be read.")
    sizes = {}
    for i, a in zip(kept, arrays):
        sizes.setdefault(a.shape[:2], str(paths[i]))
    if len(sizes) > 1:
        listed = "; ".join(f"{h}x{w} (e.g. {p})" for (h, w), p in list(sizes.items())[:5])
        raise ValueError(
            f"the images differ in size: {listed}. Pass image_size=(height, width) "
            "(on the command line --image-size) to resize them all."
        )
    if channels is None:
        channels = 3 if any(a.ndim == 3 for a in arrays) else 1
    out = np.empty((len(arrays), channels) + arrays[0].shape[:2], dtype=np.uint8)
    for j, a in enumerate(arrays):
        out[j] = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return out, np.asarray(kept, dtype=np.int64), skipped


@validate_params(
    {
        "path": [str, os.PathLike], "image_size": _IMAGE_SIZE, "channels": _CHANNELS,
        "labeled": ["boolean"], "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(
    path, *, image_size=None, channels=None, labeled=True, return_X_y=False
):
    """Load a folder of PNG/JPEG/... images, in torchvision's ``ImageFolder`` layout.

    With ``labeled=True`` every sub-folder of ``path`` is a class named after
    it (``path/cat/001.png`` is a ``"cat"``), its images found recursively;
    files directly in ``path`` and hidden entries are ignored. With
    ``labeled=False`` every image under ``path`` is read and ``y`` is None.
    Missing, unreadable or corrupt files are skipped with an
    :class:`ImageReadWarning` that lists them.

    Parameters
    ----------
    path : str or path-like
    image_size : int or (int, int), default=None
        ``(height, width)`` every image is resized to (bilinear; an int gives
        a square). None keeps the files' size, which must then agree.
    channels : {None, 1, 3}, default=None
        None: 1 (greyscale) when every image is greyscale, else 3 (RGB).
    labeled : bool, default=True
        Read the class sub-folders (True) or every image, unlabeled (False).
    return_X_y : bool, default=False
        Return ``(X, y, paths)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (n, c, h, w) uint8; ``target`` (n,) class names (str) or
        None; ``paths`` (n,) str; ``target_names`` the sorted class names;
        ``skipped`` list of ``(path, reason)``.
    (X, y, paths) : tuple
        With ``return_X_y=True``.

    Examples
    --------
    >>> from skfisher.datasets import load_image_folder
    >>> X, y, paths = load_image_folder("my_images", image_size=32,
    ...                                 return_X_y=True)  # doctest: +SKIP
    """
    folder = Path(path)
    if labeled:
        classes, files, names = image_folder_files(folder)
    else:
        classes, files = [], list_image_files(folder)
    if not files:
        raise ValueError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in {folder}."
        )
    X, kept, skipped = read_images(files, image_size=image_size, channels=channels)
    paths = np.array([str(files[i]) for i in kept])
    y = np.array([names[i] for i in kept]) if labeled else None
    if return_X_y:
        return X, y, paths
    return Bunch(
        data=X, target=y, paths=paths, target_names=np.array(classes), skipped=skipped,
        DESCR=f"Images from {folder}.",
    )


@validate_params(
    {"path": [str, os.PathLike], "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_npz(path, *, return_X_y=False):
    """Load images ``X`` and labels ``y`` saved with :func:`numpy.savez`.

    Parameters
    ----------
    path : str or path-like
        An ``.npz`` file with arrays ``X`` of shape (n, h, w) or (n, c, h, w)
        and ``y`` of shape (n,).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (n, c, h, w) and ``target`` (n,), as stored.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from exc
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise ValueError(
            f"{path} has arrays {sorted(arrays)}; it needs X (images of shape "
            f"(n, h, w) or (n, c, h, w)) and y (labels of shape (n,))."
        )
    X, y = arrays["X"], column_or_1d(arrays["y"])
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4 or len(X) != len(y):
        raise ValueError(
            f"{path}: X must have shape (n, h, w) or (n, c, h, w) and y (n,); got "
            f"X {arrays['X'].shape} and y {arrays['y'].shape}."
        )
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=np.unique(y), DESCR=f"Arrays from {path}.")


def load_own_data(source, *, image_size=None):
    """``(X, y, paths)`` of an image folder (``ImageFolder`` layout) or an ``.npz``.

    Parameters
    ----------
    source : str or path-like
        A folder with one sub-folder per class, or an ``.npz`` file with
        ``X`` and ``y`` (``paths`` is then None).
    image_size : int or (int, int), default=None
        Resize folder images to this size (ignored for ``.npz``).

    Returns
    -------
    X : ndarray of shape (n, c, h, w)
    y : ndarray of shape (n,)
    paths : ndarray of shape (n,) of str, or None
    """
    source = Path(source)
    if source.is_dir():
        return load_image_folder(source, image_size=image_size, return_X_y=True)
    if source.suffix.lower() == ".npz":
        return (*load_npz(source, return_X_y=True), None)
    raise FileNotFoundError(
        f"{source} is neither an image folder (one sub-folder per class) nor an .npz file."
    )


def load_own_split(source, *, image_size=None, test_fraction=0.3, pool_size=None,
                   test_size=None, seed=0):
    """``X_pool, y_pool, X_test, y_test`` from the user's data (see :func:`load_own_data`).

    A stratified ``test_fraction`` is held out (seeded by ``seed``);
    ``pool_size``/``test_size`` subsample as :func:`load_split` does.
    """
    X, y, _ = load_own_data(source, image_size=image_size)
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    return _subsample(X_pool, y_pool, X_test, y_test, pool_size, test_size, seed)


def _subsample(X_pool, y_pool, X_test, y_test, pool_size, test_size, seed):
    """Random subsets of ``pool_size`` pool and ``test_size`` test rows (None: all)."""
    rng = check_random_state(seed)
    if pool_size is not None and pool_size < len(y_pool):
        keep = np.sort(rng.choice(len(y_pool), pool_size, replace=False))
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    if test_size is not None and test_size < len(y_test):
        keep = np.sort(rng.choice(len(y_test), test_size, replace=False))
        X_test, y_test = X_test[keep], y_test[keep]
    return X_pool, y_pool, X_test, y_test

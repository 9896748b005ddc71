"""The benchmark image data sets (digits, Fashion-MNIST, CIFAR-10), read from local files."""

import gzip
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
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
    return Bunch(data=X, target=y, target_names=np.arange(10), DESCR=digits.DESCR)


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
            f"{path} declares shape {dims} but holds {arr.size} values (truncated or corrupt)."
        )
    return arr.reshape(dims)


def _check_labels(file, labels):
    """``labels`` as int64 class numbers 0..9, or a ValueError naming ``file``."""
    labels = np.asarray(labels)
    if (
        labels.ndim != 1
        or labels.size
        and (labels.dtype.kind not in "ui" or labels.min() < 0 or labels.max() >= _N_CLASSES)
    ):
        raise ValueError(
            f"{file}: labels must be a 1-d list of class numbers 0..{_N_CLASSES - 1}; got "
            f"{labels.dtype} values of shape {labels.shape}"
            + (
                f" in [{labels.min()}, {labels.max()}]."
                if labels.dtype.kind in "uifb" and labels.size
                else "."
            )
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
        data=out[0],
        target=out[1],
        data_test=out[2],
        target_test=out[3],
        target_names=np.array(FASHION_MNIST_CLASSES),
        DESCR="FashionMNIST (Xiao et al. 2017), official idx files.",
    )


try:
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


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
    **{
        (m, "_reconstruct"): _multiarray._reconstruct
        for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    },
    **{
        (m, "_frombuffer"): _numeric._frombuffer
        for m in ("numpy.core.numeric", "numpy._core.numeric")
    },
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
            f"{file}: expected integer data of shape (n, 3072); got {data.dtype} {data.shape}."
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
        data=X,
        target=y,
        data_test=X_test,
        target_test=y_test,
        target_names=np.array(CIFAR10_CLASSES),
        DESCR="CIFAR-10 (Krizhevsky 2009), official python batches.",
    )

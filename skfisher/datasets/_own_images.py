"""The user's own images: an ImageFolder layout (one sub-folder per class) or an .npz."""

import os
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import column_or_1d

from ..utils._validation import Integers, Options, validate_params
from ._decode import CONVERSIONS, decode_image

#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
)


class ImageReadWarning(UserWarning):
    """Some image files were missing, unreadable or corrupt and were skipped."""


def _check_image_size(image_size):
    """``None`` or an ``(h, w)`` tuple of positive ints from an int or a pair."""
    if image_size is None:
        return None
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if len(size) != 2 or not all(Integers(1).is_satisfied_by(s) for s in size):
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
            Path(root) / f
            for f in files
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
    """One file as a uint8 array (h, w) (grey) or (h, w, 3), and its mode; or raise."""
    return decode_image(path, image_size, channels)


def conversions(modes):
    """``{mode: how it was converted}`` of the Pillow modes read (see :data:`CONVERSIONS`)."""
    return {m: CONVERSIONS.get(m, "converted by Pillow") for m in sorted(set(modes))}


_IMAGE_SIZE = [Integers(1), tuple, list, None]
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
    out, kept, skipped, _ = _read_files(paths, image_size, channels)
    return out, kept, skipped


def _read_files(paths, image_size, channels):
    """:func:`read_images`, and the Pillow mode of each image read."""
    image_size = _check_image_size(image_size)
    arrays, kept, skipped, modes = [], [], [], []
    for i, path in enumerate(paths):
        try:
            pixels, mode = _read_one(path, image_size, channels)
            arrays.append(pixels)
            modes.append(mode)
        except Exception as exc:  # noqa: BLE001  one bad file must not stop the rest
            skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        kept.append(i)
    warn_unreadable(skipped, stacklevel=2)
    if not arrays:
        raise ValueError(f"none of the {len(paths)} image files could be read.")
    sizes = {}
    for i, a in zip(kept, arrays):
        sizes.setdefault(a.shape[:2], str(paths[i]))
    if len(sizes) > 1:
        listed = "; ".join(f"{h}x{w} (e.g. {p})" for (h, w), p in list(sizes.items())[:5])
        raise ValueError(
            f"the images differ in size: {listed}. Pass image_size=(height, width) "
            "to resize them all."
        )
    if channels is None:
        channels = 3 if any(a.ndim == 3 for a in arrays) else 1
    out = np.empty((len(arrays), channels) + arrays[0].shape[:2], dtype=np.uint8)
    for j, a in enumerate(arrays):
        out[j] = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return out, np.asarray(kept, dtype=np.int64), skipped, modes


@validate_params(
    {
        "path": [str, os.PathLike],
        "image_size": _IMAGE_SIZE,
        "channels": _CHANNELS,
        "labeled": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(path, *, image_size=None, channels=None, labeled=True, return_X_y=False):
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
        ``skipped`` list of ``(path, reason)``; ``conversions`` how each
        Pillow mode met was brought into uint8 (e.g. ``{"I;16": "16-bit
        greyscale: 0..65535 scaled to 0..255"}``).
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
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in {folder}.")
    X, kept, skipped, modes = _read_files(files, image_size, channels)
    paths = np.array([str(files[i]) for i in kept])
    y = np.array([names[i] for i in kept]) if labeled else None
    if return_X_y:
        return X, y, paths
    return Bunch(
        data=X,
        target=y,
        paths=paths,
        target_names=np.array(classes),
        skipped=skipped,
        conversions=conversions(modes),
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
            if not hasattr(archive, "files"):
                raise ValueError("it holds one array, not named arrays")
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:  # noqa: BLE001  zip, EOF, pickle and format errors alike
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ValueError(
            f"{path} is not a readable .npz file ({why}); it may be truncated or not "
            "an .npz at all. Save the arrays again with numpy.savez(path, X=X, y=y)."
        ) from None
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


def warn_unreadable(skipped, *, stacklevel):
    """One :class:`ImageReadWarning` listing ``(path, why)`` pairs (the first 20), if any.

    ``stacklevel`` counts from the caller of this function, as in ``warnings.warn``.
    """
    if not skipped:
        return
    shown = "\n".join(f"  {p}: {why}" for p, why in skipped[:20])
    more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    warnings.warn(
        f"skipped {len(skipped)} missing, unreadable or corrupt image file(s):\n" + shown + more,
        ImageReadWarning,
        stacklevel=stacklevel + 1,
    )

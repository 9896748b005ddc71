"""Validation and conversion of image inputs shared by estimators and strategies."""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array

__all__ = ["check_images"]


def _check_image_shape(image_shape, n_values=None, *, name="image_shape"):
    """Return ``image_shape`` as a ``(c, h, w)`` tuple, or raise ValueError
    naming the parameter ``name``.

    One entry may be -1, as in :func:`numpy.reshape`: it is inferred from
    ``n_values`` (values per image) when given, and kept as -1 otherwise.
    """
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    if len(shape) == 2:
        shape = (1,) + shape
    if (
        len(shape) != 3
        or not all(isinstance(s, numbers.Integral) and (s > 0 or s == -1) for s in shape)
        or shape.count(-1) > 1
    ):
        raise ValueError(
            f"{name} must be (height, width) or (channels, height, width) of "
            f"positive ints, one of which may be -1; got {image_shape!r}."
        )
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape and n_values is not None:
        if n_values % known:
            raise ValueError(f"{name}={image_shape!r} cannot hold {n_values} values per image.")
        shape = tuple(n_values // known if s == -1 else s for s in shape)
    return tuple(int(s) for s in shape)


def _shape_of_rows(image_shape, n_values, *, name="image_shape", input_name="X"):
    """The ``(c, h, w)`` shape that rows of ``n_values`` values reshape to."""
    shape = _check_image_shape(image_shape, n_values, name=name)
    if n_values != np.prod(shape):
        raise ValueError(
            f"{input_name} has {n_values} values per row but {name}={image_shape!r} "
            f"needs {int(np.prod(shape))}."
        )
    return shape


def check_images(X, *, image_shape=None, name="X"):
    """Validate images and return them as float32 of shape (n, c, h, w).

    Parameters
    ----------
    X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)
        Images; flat rows of ``p`` values need ``image_shape``. ``uint8``
        input is scaled to [0, 1]; float input is kept as it is, with a
        warning when it looks like 8-bit pixel values (non-negative with
        values above 1, e.g. 0..255 stored as float).
    image_shape : tuple of int, default=None
        ``(h, w)`` or ``(c, h, w)`` used to reshape flat rows; one entry may
        be -1 and is then inferred from ``p``, e.g. ``(1, -1)`` for table rows.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    images : ndarray of shape (n, c, h, w), dtype float32
    """
    if sp.issparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; sparse input is not supported, images "
            "must be dense (use .toarray())."
        )
    arr = np.asarray(X)
    is_uint8 = arr.dtype == np.uint8
    arr = check_array(
        arr,
        allow_nd=True,
        ensure_2d=False,
        dtype=None if is_uint8 else [np.float32, np.float64],
        ensure_all_finite=True,
        input_name=name,
    )
    if arr.ndim == 2:
        if image_shape is None:
            raise ValueError(
                f"{name} has shape {arr.shape}: flat rows need image_shape=(h, w) "
                "or (c, h, w); otherwise pass images of shape (n, h, w) or "
                "(n, c, h, w)."
            )
        shape = _shape_of_rows(image_shape, arr.shape[1], input_name=name)
        arr = arr.reshape((arr.shape[0],) + shape)
    elif arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim != 4:
        raise ValueError(
            f"{name} must have 2 (flat rows with image_shape), 3 (n, h, w) or 4 "
            f"(n, c, h, w) dimensions; got {arr.ndim} with shape {arr.shape}."
            + (" Reshape your data: one image (or row) per sample." if arr.ndim < 2 else "")
        )
    if is_uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.size and arr.min() >= 0 and arr.max() > 1:
        warnings.warn(
            f"{name} holds non-negative float values up to {arr.max():g}; only uint8 "
            "images are scaled to [0, 1]. If these are 8-bit pixel values (0..255), "
            "divide them by 255 or pass uint8, at fit and predict alike.",
            UserWarning,
            stacklevel=3,
        )
    return np.ascontiguousarray(arr, dtype=np.float32)

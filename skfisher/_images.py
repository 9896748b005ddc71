"""Validation and conversion of image inputs shared by estimators and strategies."""

import numbers

import numpy as np
from sklearn.utils.validation import check_array

__all__ = ["check_images"]


def _check_image_shape(image_shape):
    """Return ``image_shape`` as a ``(c, h, w)`` tuple, or raise ValueError."""
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3 or not all(
        isinstance(s, numbers.Integral) and s > 0 for s in shape
    ):
        raise ValueError(
            "image_shape must be (height, width) or (channels, height, width) of "
            f"positive ints; got {image_shape!r}."
        )
    return tuple(int(s) for s in shape)


def check_images(X, *, image_shape=None, name="X"):
    """Validate images and return them as float32 of shape (n, c, h, w).

    Parameters
    ----------
    X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)
        Images; flat rows of ``p`` values need ``image_shape``. ``uint8``
        input is scaled to [0, 1]; float input is kept as it is.
    image_shape : tuple of int, default=None
        ``(h, w)`` or ``(c, h, w)`` used to reshape flat rows.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    images : ndarray of shape (n, c, h, w), dtype float32
    """
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
        shape = _check_image_shape(image_shape)
        if arr.shape[1] != np.prod(shape):
            raise ValueError(
                f"{name} has {arr.shape[1]} values per row but image_shape="
                f"{image_shape!r} needs {int(np.prod(shape))}."
            )
        arr = arr.reshape((arr.shape[0],) + shape)
    elif arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim != 4:
        raise ValueError(
            f"{name} must have 2 (flat rows with image_shape), 3 (n, h, w) or 4 "
            f"(n, c, h, w) dimensions; got {arr.ndim} with shape {arr.shape}."
        )
    if is_uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(arr, dtype=np.float32)

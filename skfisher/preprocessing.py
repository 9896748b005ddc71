"""Transformers that turn table rows into the images the networks want."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ._images import _check_image_shape

__all__ = ["ImageReshaper"]


class ImageReshaper(TransformerMixin, BaseEstimator):
    """Reshape flat rows into float32 images ``(n, c, h, w)``, optionally scaled.

    Use it in front of :class:`~skfisher.ResNet18Classifier` in a Pipeline
    for data that come as rows: digits' 64 columns, FashionMNIST's 784 uint8
    columns, or rows out of a DataFrame.

    Parameters
    ----------
    shape : tuple of int
        ``(h, w)`` or ``(c, h, w)`` of one image.
    scale : float or "auto", default="auto"
        Multiply the values by this; ``"auto"`` is ``1/255`` for uint8 input
        and 1 otherwise.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(c, h, w)``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> ImageReshaper((2, 2)).fit_transform(np.arange(8).reshape(2, 4)).shape
    (2, 1, 2, 2)
    """

    def __init__(self, shape, *, scale="auto"):
        self.shape = shape
        self.scale = scale

    def fit(self, X, y=None):
        """Check that rows hold ``prod(shape)`` values.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(shape))
        y : ignored

        Returns
        -------
        self : ImageReshaper
        """
        shape = _check_image_shape(self.shape)
        X = check_array(X, dtype=None)
        if X.shape[1] != np.prod(shape):
            raise ValueError(
                f"X has {X.shape[1]} columns but shape={self.shape!r} needs "
                f"{int(np.prod(shape))}."
            )
        if not (self.scale == "auto" or np.isscalar(self.scale) and np.isfinite(self.scale)):
            raise ValueError(f"scale must be 'auto' or a finite number; got {self.scale!r}.")
        self.image_shape_ = shape
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Reshape and scale.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(shape))

        Returns
        -------
        images : ndarray of shape (n_samples, c, h, w), dtype float32
        """
        check_is_fitted(self)
        X = check_array(X, dtype=None)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} columns; {type(self).__name__} was fitted with "
                f"{self.n_features_in_}."
            )
        scale = (1 / 255 if X.dtype == np.uint8 else 1.0) if self.scale == "auto" else self.scale
        return (X.astype(np.float32) * np.float32(scale)).reshape((len(X),) + self.image_shape_)

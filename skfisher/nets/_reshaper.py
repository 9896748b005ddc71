"""Transformers that turn table rows into the images the networks want."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..utils._images import _check_image_shape, _shape_of_rows
from ..utils._validation import Reals, StrOptions, fit_context

__all__ = ["ImageReshaper"]


class ImageReshaper(TransformerMixin, BaseEstimator):
    """Reshape flat rows into float32 images ``(n, c, h, w)``, optionally scaled.

    Use it in front of :class:`~skfisher.nets.ResNet18Classifier` in a Pipeline
    for data that come as rows: digits' 64 columns, FashionMNIST's 784 uint8
    columns, or rows out of a DataFrame.

    Parameters
    ----------
    shape : tuple of int
        ``(h, w)`` or ``(c, h, w)`` of one image. One entry may be -1 and is
        inferred from the number of columns, as in :func:`numpy.reshape`.
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

    _parameter_constraints = {
        "shape": [tuple, list],
        "scale": [StrOptions({"auto"}), Reals(None, None, closed="neither")],
    }

    def __init__(self, shape, *, scale="auto"):
        self.shape = shape
        self.scale = scale

    @fit_context(prefer_skip_nested_validation=True)
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
        _check_image_shape(self.shape, name="shape")  # the parameter alone, before X
        n_columns = check_array(X, dtype="numeric").shape[1]
        shape = _shape_of_rows(self.shape, n_columns, name="shape")
        validate_data(self, X, dtype="numeric")  # sets n_features_in_ (and names)
        self.image_shape_ = shape
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
        X = validate_data(self, X, dtype="numeric", reset=False)
        scale = (1 / 255 if X.dtype == np.uint8 else 1.0) if self.scale == "auto" else self.scale
        return (X.astype(np.float32) * np.float32(scale)).reshape((len(X),) + self.image_shape_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # images for torch
        return tags

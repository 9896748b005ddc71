"""A ``torch.utils.data.Dataset`` of images as a pool that strategies slice by row ranges."""

import numpy as np
import torch

__all__ = ["DatasetRows"]


class DatasetRows:
    """Row-range access to a ``torch.utils.data.Dataset`` of images, for query pools.

    Strategies read a pool a forward batch at a time (``pool[start:stop]``);
    a Dataset is indexed one item at a time. This adapter bridges the two:
    ``rows[a:b]`` stacks items ``a`` to ``b - 1`` into one array, so a pool
    of image files, decoded on demand, is never held whole.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Map-style: ``len(dataset)`` and ``dataset[i]``. Each item is an image
        (array or tensor of shape (h, w) or (c, h, w), uint8 or float) or a
        tuple/list whose entry ``item`` is the image (e.g. ``(image, label)``).
    item : int or None, default=0
        Which entry of a tuple item is the image; None: the item is the image.

    Attributes
    ----------
    shape : tuple of int
        ``(len(dataset),) + image shape``, read from the first item.
    dtype : numpy.dtype
        The first image's type.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skfisher.datasets import DatasetRows
    >>> images = torch.arange(5 * 4, dtype=torch.uint8).reshape(5, 1, 2, 2)
    >>> data = torch.utils.data.TensorDataset(images, torch.zeros(5))
    >>> rows = DatasetRows(data)
    >>> rows.shape, rows.dtype
    ((5, 1, 2, 2), dtype('uint8'))
    >>> rows[1:3].reshape(2, -1)
    array([[ 4,  5,  6,  7],
           [ 8,  9, 10, 11]], dtype=uint8)
    """

    def __init__(self, dataset, *, item=0):
        self.dataset = dataset
        self.item = item

    def __len__(self):
        return len(self.dataset)

    def _image(self, i):
        x = self.dataset[i]
        if self.item is not None and isinstance(x, (tuple, list)):
            x = x[self.item]
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        return np.asarray(x)

    def _first(self):
        if not len(self):
            raise ValueError("DatasetRows: the dataset is empty; a pool needs rows.")
        return self._image(0)

    @property
    def shape(self):
        return (len(self),) + self._first().shape

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def dtype(self):
        return self._first().dtype

    def __getitem__(self, key):
        if isinstance(key, slice):
            items = range(*key.indices(len(self)))
        elif np.ndim(key) == 0:
            return self._image(int(key))
        else:
            items = np.arange(len(self))[np.asarray(key)]
        if not len(items):
            return np.empty((0,) + self._first().shape, dtype=self.dtype)
        return np.stack([self._image(int(i)) for i in items])

    def __repr__(self):
        return f"DatasetRows({type(self.dataset).__name__}, n={len(self)})"

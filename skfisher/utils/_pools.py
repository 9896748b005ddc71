"""Pools read where they are: a row-range view that converts one forward batch at a time.

A strategy never holds a whole pool as float32: it wraps the caller's
array-like (a numpy array, ``np.memmap`` / ``np.load(..., mmap_mode="r")``, an
h5py or zarr array, or :class:`skfisher.datasets.DatasetRows`) in a
:class:`PoolRows`, and every slice of that view reads and converts only the
rows it names. A query's memory is then its forward batches, its embeddings
and its selection state, whatever the size of the image data.
"""

import numpy as np
import torch

__all__ = ["PoolRows", "in_memory_float32", "out_of_core", "read_rows"]


def in_memory_float32(X):
    """Whether ``X`` is already a float32 array or tensor in memory (no view needed)."""
    if isinstance(X, torch.Tensor):
        return X.dtype == torch.float32
    return type(X) is np.ndarray and X.dtype == np.float32 and X.flags.c_contiguous


def out_of_core(X):
    """Whether ``X`` is a pool read where it is: a memory-mapped array, or a
    row-sliceable array-like that is not numpy, torch, pandas or scipy.sparse
    (h5py, zarr, :class:`skfisher.datasets.DatasetRows`, ...)."""
    if isinstance(X, (np.memmap, PoolRows)):
        return True
    if isinstance(X, (np.ndarray, torch.Tensor, list, tuple)) or hasattr(X, "iloc"):
        return False
    return hasattr(X, "shape") and hasattr(X, "__getitem__") and not hasattr(X, "tocsr")


def read_rows(source, index):
    """Rows ``index`` (sorted int array) of a row-sliceable ``source`` as an ndarray.

    numpy arrays and memmaps take the index at once; zarr arrays their
    orthogonal index; h5py datasets a sorted index; anything else is read
    row by row.
    """
    index = np.asarray(index, dtype=np.int64)
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return np.asarray(source[index])
    if not len(index):
        return np.asarray(source[0:0])
    if hasattr(source, "oindex"):  # zarr
        return np.asarray(source.oindex[index])
    if np.all(np.diff(index) > 0):
        try:  # h5py: an increasing index
            return np.asarray(source[index])
        except (TypeError, ValueError, IndexError):
            pass
    return np.stack([np.asarray(source[int(i)]) for i in index])


class PoolRows:
    """A lazily converted view of a pool's rows: what strategies pass to the network.

    Parameters
    ----------
    source : array-like of shape (n, ...)
        Anything sliceable by row ranges, ``source[start:stop]`` giving an
        array: a numpy array, a memory-mapped array, an h5py or zarr array,
        or :class:`skfisher.datasets.DatasetRows`. It is never copied whole.
    convert : callable
        Turns a batch of raw rows (an ndarray) into float32 network inputs,
        validating them (e.g. ``ResNet18Classifier.transform_images``).
    index : ndarray of shape (m,), dtype int64, default=None
        Sorted rows of ``source`` this view holds; None: all of them.

    Notes
    -----
    ``view[a:b]`` reads and converts those rows only; ``view[index]`` with an
    integer array gives another lazy view (nothing is read); ``len(view)`` and
    ``view.shape`` are the converted rows'.
    """

    def __init__(self, source, convert, index=None):
        self.source, self.convert = source, convert
        self.index = None if index is None else np.asarray(index, dtype=np.int64)

    def __len__(self):
        return len(self.source) if self.index is None else len(self.index)

    @property
    def shape(self):
        """``(n,) + row shape`` of the converted rows (reads and converts one row)."""
        if not hasattr(self, "_row_shape"):
            self._row_shape = self._read(0, 1).shape[1:] if len(self) else ()
        return (len(self),) + tuple(self._row_shape)

    @property
    def ndim(self):
        return len(self.shape)

    dtype = np.dtype(np.float32)

    def _read(self, start, stop):
        if self.index is None:
            raw = np.asarray(self.source[start:stop])
        else:
            raw = read_rows(self.source, self.index[start:stop])
        return np.ascontiguousarray(self.convert(raw), dtype=np.float32)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                return self._read(start, max(start, stop))
            key = np.arange(start, stop, step)
        key = np.asarray(key)
        if key.ndim == 0:
            return self._read(int(key), int(key) + 1)[0]
        if key.dtype == bool:
            key = np.flatnonzero(key)
        rows = np.arange(len(self))[key]
        return PoolRows(self.source, self.convert, rows if self.index is None else self.index[rows])

    def __array__(self, dtype=None, copy=None):
        """All the rows, converted (a copy of the whole view: avoid on large pools)."""
        out = self._read(0, len(self))
        return out if dtype is None else out.astype(dtype)

    def __repr__(self):
        return f"PoolRows({type(self.source).__name__}, n={len(self)})"

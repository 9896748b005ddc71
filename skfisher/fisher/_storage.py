"""One stored copy of the embedding rows, read in memory-bounded chunks.

The greedy selection reads the (N, d) matrix of stacked embedding rows once a
step. :class:`EmbeddingRows` keeps it once, in its storage type (float64,
float32, bfloat16 or float16), either on the compute device or in host
memory (pinned when the device is a GPU), and serves every product from
chunks moved to the device and upcast there: float64 storage computes in
float64, the others in float32. The transient memory is a few chunks,
sized from the device's free memory.
"""

import math

import torch

from .._config import get_config
from ..utils._device import fits, fitting_rows, free_memory, resolve_device

__all__ = [
    "STORAGE_DTYPES",
    "EmbeddingRows",
    "allocate",
    "on_device",
    "storage_dtype",
]

STORAGE_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def storage_dtype(name):
    """The torch dtype of a storage name in :data:`STORAGE_DTYPES`, or a ValueError."""
    if isinstance(name, torch.dtype) and name in STORAGE_DTYPES.values():
        return name
    if name not in STORAGE_DTYPES:
        raise ValueError(f"embedding dtype must be one of {sorted(STORAGE_DTYPES)}; got {name!r}.")
    return STORAGE_DTYPES[name]


def on_device(device, storage, nbytes):
    """Whether :func:`allocate` keeps ``nbytes`` of stored rows on ``device``.

    Always off CUDA and with ``storage="device"``; never with ``"host"``;
    with ``"auto"`` when they fit (see :func:`skfisher.utils._device.fits`).
    """
    device = torch.device(device)
    return (
        device.type != "cuda" or storage == "device" or (storage == "auto" and fits(device, nbytes))
    )


def allocate(shape, dtype, device, storage="auto", reserve=0):
    """An empty tensor for stored embeddings: on ``device``, or on the host.

    ``storage="auto"`` takes the device when the tensor and ``reserve`` more
    bytes fit there; host memory is pinned when the device is a GPU, so that
    reads stream asynchronously.
    """
    nbytes = math.prod(shape) * torch.finfo(dtype).bits // 8
    if on_device(device, storage, nbytes + reserve):
        return torch.empty(shape, dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, pin_memory=True)


def _compute_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


class EmbeddingRows:
    """An (N, d) matrix of embedding rows times a scalar, read in chunks.

    Parameters
    ----------
    data : Tensor of shape (N, d)
        The stored rows, on ``device`` or on the host; used as given (no copy).
    device : torch.device
        Where products are computed and returned.
    scale : float, default=1.0
        The represented matrix is ``scale * data``.
    chunk_rows : int, default=None
        Rows per chunk that is moved or upcast; None sizes a float64 chunk
        from the device's free memory (the configuration's
        ``chunk_memory_fraction`` of it, at most ``cpu_chunk_bytes`` off
        CUDA; see :func:`skfisher.set_config`). Rows already on the device in the
        requested type are read at once, as a view.
    group : int, default=1
        Chunks hold a multiple of this many rows (a candidate's C rows).
    """

    def __init__(self, data, device, *, scale=1.0, chunk_rows=None, group=1):
        self.data = data
        self.device = resolve_device(device)
        self.scale = float(scale)
        self.compute_dtype = _compute_dtype(data.dtype)
        if chunk_rows is None:
            config = get_config()
            budget = config["chunk_memory_fraction"] * free_memory(self.device)
            if self.device.type != "cuda":
                budget = min(budget, config["cpu_chunk_bytes"])
            chunk_rows = fitting_rows(8 * data.shape[1], budget)
        self.chunk_rows = max(int(chunk_rows) // group, 1) * group
        self.group = group

    @property
    def shape(self):
        return self.data.shape

    def matmul_cost(self):
        """Multiply-adds of :meth:`matmul` per column of ``M``."""
        return self.data.shape[0] * self.data.shape[1]

    def gram_cost(self):
        """Multiply-adds of :meth:`gram`."""
        return self.matmul_cost() * self.data.shape[1]

    def scaled(self, scale):
        """The same storage times ``scale`` (no copy)."""
        out = EmbeddingRows.__new__(EmbeddingRows)
        out.__dict__.update(self.__dict__, scale=self.scale * scale)
        return out

    def chunks(self, dtype=None):
        """Yield ``(start, chunk)``: unscaled rows on the device in ``dtype``
        (default: the compute type)."""
        dtype = dtype or self.compute_dtype
        if self.data.device == self.device and self.data.dtype == dtype:
            yield 0, self.data  # stored as needed: a view, no copy
            return
        step = self.chunk_rows
        for start in range(0, len(self.data), step):
            chunk = self.data[start : start + step]
            if chunk.device != self.device:
                chunk = chunk.to(self.device, non_blocking=chunk.is_pinned())
            yield start, chunk.to(dtype)

    def rows(self, start, stop):
        """``scale * data[start:stop]`` in float64 on the device."""
        return self.data[start:stop].to(self.device, torch.float64) * self.scale

    def dense(self):
        """The whole scaled matrix in float64 on the device (small problems only)."""
        return self.rows(0, len(self.data))

    def traces(self):
        """``tr(V_xᵀ V_x)`` of every group of ``group`` rows (a candidate), in float64."""
        n_cols = self.group * self.data.shape[1]
        parts = [chunk.double().square().reshape(-1, n_cols).sum(1) for _, chunk in self.chunks()]
        return torch.cat(parts).mul_(self.scale**2)

    def quad(self, M=None):
        """Every candidate's ``V_x M V_xᵀ`` (C x C, float64) for M of shape (d, d).

        ``V_x`` are the scaled rows of a group; None stands for the identity.
        """
        C, d = self.group, self.data.shape[1]
        out = torch.empty(len(self.data) // C, C, C, dtype=torch.float64, device=self.device)
        for start, V in self.chunks(torch.float64):
            m, x = len(V) // C, start // C
            B = V if M is None else V @ M
            torch.bmm(B.view(m, C, d), V.view(m, C, d).transpose(1, 2), out=out[x : x + m])
        return out.mul_(self.scale**2)

    def check_finite(self, name):
        for _, chunk in self.chunks():
            if not torch.isfinite(chunk.sum()):  # NaN/inf propagate into the sum
                raise ValueError(f"{name} contains NaN or infinity.")

    def matmul(self, M):
        """``(scale * data) @ M`` in float64, for M of shape (d, k).

        The chunks compute in the compute type, transposed (BLAS is several
        times faster for this tall-skinny shape).
        """
        Mc = M.to(self.compute_dtype).T
        out = torch.empty(len(self.data), M.shape[1], dtype=torch.float64, device=self.device)
        for start, chunk in self.chunks():
            out[start : start + len(chunk)] = (Mc @ chunk.T).T
        return out.mul_(self.scale)

    def gram(self, out=None):
        """``(scale * data)ᵀ (scale * data)`` in float64, chunks upcast to float64.

        With ``out`` (d x d, float64), the Gram is added to it in place.
        """
        d = self.data.shape[1]
        if out is None:
            out = torch.zeros(d, d, dtype=torch.float64, device=self.device)
        for _, chunk in self.chunks(torch.float64):
            out.addmm_(chunk.T, chunk, alpha=self.scale**2)
        return out

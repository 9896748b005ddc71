"""One entry that turns the arguments of a selection into a problem to solve.

:func:`prepare` validates the inputs against each other (shapes, sizes,
finiteness, ``lam`` against float64's resolution of the embeddings), stores
the embeddings once (:class:`~skfisher.fisher._storage.EmbeddingRows`, on the device
or the host, with the memory the state needs in reserve), builds the Fishers
and picks the backend. Both :func:`skfisher.selection.select_batch` and
:func:`skfisher.selection.select_batch_sharded` go through it; the type
and range checks of their parameters are their ``validate_params``.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..fisher._factored import FactoredRows
from ..fisher._storage import STORAGE_DTYPES, EmbeddingRows
from ..utils._device import fits, resolve_device
from ..utils._validation import Integers, Reals
from ._fishers import FisherFactor, FisherMatrix
from ._greedy import greedy_loop
from ._space import BACKENDS, cheaper_space

__all__ = ["COMMON_CONSTRAINTS", "Problem", "prepare"]

#: the parameters common to every selection entry (their ``validate_params``)
COMMON_CONSTRAINTS = {
    "embeddings": ["array-like"],
    "n_instances": [Integers(1)],
    "labeled_fisher": ["array-like", list, None],
    "n_labeled": [Integers(0)],
    "lam": [Reals(0, closed="neither")],
    "backward_steps": [Integers(0)],
    "device": [str, torch.device, None],
}


def _to_tensor(name, value, ndims):
    """A real numeric array or tensor with allowed ndims, as a tensor (no copy when possible).

    Floating types of :data:`STORAGE_DTYPES` are kept; other numbers become float64.
    """
    if isinstance(value, torch.Tensor):
        t = value.detach()
    else:
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ValueError(f"{name} must be a real numeric array; got dtype {arr.dtype}.")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise ValueError(f"{name} must be a real numeric array; got dtype {t.dtype}.")
    if t.ndim not in ndims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, ndims))} dimensions; got shape "
            f"{tuple(t.shape)}."
        )
    return t if t.dtype in STORAGE_DTYPES.values() else t.double()


def _place(t, device, storage, reserve=0):
    """Where the stored rows live: ``device``, or the host when it is short of memory.

    ``storage="auto"`` keeps rows already on the device there, and moves host
    rows to the device when they and ``reserve`` bytes fit (see
    :func:`skfisher.utils._device.fits`); host rows stay as given (pass pinned
    tensors for the fastest streaming).
    """
    if storage == "device" or device.type == "cpu":
        return t.to(device)
    if storage == "host":
        return t.cpu()
    if t.device == device or fits(device, t.numel() * t.element_size() + reserve):
        return t.to(device)
    return t.cpu()


def _embedding_rows(name, t, device, storage, reserve=0):
    """:class:`EmbeddingRows` over a validated (m, C, d) tensor, checked finite."""
    m, C, d = t.shape
    rows = EmbeddingRows(_place(t, device, storage, reserve).reshape(m * C, d), device, group=C)
    rows.check_finite(name)
    return rows


def _same_tensor(a, b):
    return (
        a.data_ptr() == b.data_ptr()
        and a.shape == b.shape
        and a.dtype == b.dtype
        and a.device == b.device
        and a.stride() == b.stride()
    )


def _fisher_arg(name, value, n_classes, dim, device, storage, known=None):
    """A Fisher given as a (d, d) matrix or as (m, C, d) embeddings (their mean
    outer product), possibly as a list of such blocks.

    ``known`` is ``(tensor, rows)``: a block that is ``tensor`` reuses its
    validated :class:`EmbeddingRows`. Returns a :class:`FisherMatrix` or a
    :class:`FisherFactor`.
    """
    blocks = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(b, FactoredRows) for b in blocks):
        return _factored_fisher(name, blocks, n_classes, dim, known)
    tensors = [_to_tensor(name, b, (2, 3) if len(blocks) == 1 else (3,)) for b in blocks]
    if tensors[0].ndim == 2:
        t = tensors[0].to(device, torch.float64)
        if t.shape != (dim, dim):
            raise ValueError(
                f"{name} must have shape ({dim}, {dim}) to match the embeddings; "
                f"got {tuple(t.shape)}."
            )
        if not torch.isfinite(t.sum()):
            raise ValueError(f"{name} contains NaN or infinity.")
        return FisherMatrix(t)
    for t in tensors:
        if t.shape[1:] != (n_classes, dim) or (len(tensors) == 1 and t.shape[0] == 0):
            raise ValueError(
                f"{name} given as embeddings must have shape (m, {n_classes}, {dim}) "
                f"with m >= 1; got {tuple(t.shape)}."
            )
    m = sum(len(t) for t in tensors)
    if m == 0:
        raise ValueError(f"{name} given as blocks of embeddings holds no rows.")
    rows = [
        known[1]
        if known is not None and _same_tensor(t, known[0])
        else _embedding_rows(name, t, device, storage)
        for t in tensors
        if len(t)
    ]
    return FisherFactor(rows, 1.0 / m)


def _factored_fisher(name, blocks, n_classes, dim, known):
    """A :class:`FisherFactor` over :class:`FactoredRows` blocks (never mixed with arrays)."""
    if not all(
        isinstance(b, FactoredRows) and b.group == n_classes and b.shape[1] == dim for b in blocks
    ):
        raise ValueError(
            f"{name}: factored embedding blocks cannot be mixed with arrays, and must "
            f"have {n_classes} rows a candidate and {dim} columns like the candidates."
        )
    m = sum(b.shape[0] for b in blocks) // n_classes
    if m == 0:
        raise ValueError(f"{name} given as blocks of embeddings holds no rows.")
    for b in blocks:
        if known is None or b is not known[1]:
            b.check_finite(name)
    return FisherFactor([b for b in blocks if b.shape[0]], 1.0 / m)


def _check_int(name, value, low, high, why=""):
    if not Integers(low, high).is_satisfied_by(value):
        raise ValueError(f"{name} must be an int in [{low}, {high}]{why}; got {value!r}.")
    return int(value)


_LAM_RESOLUTION = 1e3 * np.finfo(np.float64).eps


def _largest_trace(rows):
    """The largest ``tr(Ṽ_xᵀ Ṽ_x)`` over the candidates of ``rows``."""
    traces = rows.traces()
    return traces.max().item() if len(traces) else 0.0


def _check_resolvable(lam, scale):
    """Refuse a ``lam`` below float64's resolution of the largest ``Ṽ_xᵀ Ṽ_x``
    (``scale``): ``lam I + Σ Ṽᵀ Ṽ`` would round ``lam`` away."""
    if lam < _LAM_RESOLUTION * scale:
        raise ValueError(
            f"lam={lam!r} is too small against the scale of the embeddings (the largest "
            f"tr(Ṽ_xᵀ Ṽ_x) is {scale:.3g}): the selection is numerically ill-conditioned "
            f"below lam ≈ {_LAM_RESOLUTION * scale:.1e} in float64; increase lam."
        )


def _candidates(embeddings):
    """``(V, (n, C, d))``: the embeddings as a validated tensor (None for
    FisherMask's :class:`FactoredRows`) and their shape."""
    if isinstance(embeddings, FactoredRows):  # FisherMask's output-layer factors
        C = embeddings.group
        return None, (embeddings.shape[0] // C, C, embeddings.shape[1])
    V = _to_tensor("embeddings", embeddings, (3,))
    return V, tuple(V.shape)


def _check_counts(pool, shape, n_instances, backward_steps):
    """``(backward_steps, n_instances)`` checked against the candidates of ``pool``
    (over every process) and the embeddings' ``shape``."""
    N = pool.n_total
    if N == 0 or 0 in shape[1:]:
        raise ValueError(f"embeddings must be non-empty; got shape {shape}.")
    b = _check_int("backward_steps", backward_steps, 0, N)
    where = (
        f" with (backward_steps + 1) * n_instances <= {N} candidates{pool.where}"
        if b
        else f" for {N} candidates{pool.where}"
    )
    return b, _check_int("n_instances", n_instances, 1, N // (b + 1), where)


@dataclass(eq=False)
class Problem:
    """A validated selection: ``n_instances`` picks, ``backward_steps`` removals,
    the candidates' ``pool`` and the ``backend`` that holds their state."""

    backend: object
    pool: object
    n_instances: int
    backward_steps: int

    def solve(self):
        """``(indices, gains, objective)``: global indices in the order chosen,
        each one's gain, and ``tr(A F_pool)`` of the batch."""
        P, Q, objective = self.backend.initial_state()
        order, gains, objective = greedy_loop(
            P, Q, objective, self.backend, self.n_instances, self.backward_steps, self.pool
        )
        return np.asarray(order, dtype=np.int64), np.asarray(gains), objective


def prepare(
    embeddings,
    n_instances,
    *,
    pool_fisher=None,
    labeled_fisher=None,
    n_labeled=0,
    lam=1.0,
    backward_steps=0,
    device=None,
    space="auto",
    storage="auto",
    make_pool,
):
    """A :class:`Problem` from the arguments of ``select_batch``.

    ``make_pool(n, device)`` gives the pool that holds this process's ``n``
    candidates (:class:`~skfisher.selection._greedy.LocalPool` or a sharded pool); it
    defaults ``F_pool`` and makes the ``lam`` check agree over processes.
    ``space`` is ``"auto"``, ``"covariance"`` or ``"gram"``.
    """
    dev = resolve_device(device)
    V, (n, C, d) = _candidates(embeddings)
    pool = make_pool(n, dev)
    b, n_instances = _check_counts(pool, (n, C, d), n_instances, backward_steps)
    # beside the embeddings: A, F and the set-up's A F A (d x d), P and Q, a step's products
    reserve = 8 * (4 * d * d + 4 * n * C * C)
    if V is None:
        rows = embeddings
        rows.check_finite("embeddings")
    else:
        rows = _embedding_rows("embeddings", V, dev, storage, reserve)
    pool_f = (
        pool.fisher(rows)
        if pool_fisher is None
        else _fisher_arg("pool_fisher", pool_fisher, C, d, dev, storage, known=(V, rows))
    )
    labeled = (
        None
        if labeled_fisher is None
        else _fisher_arg("labeled_fisher", labeled_fisher, C, d, dev, storage)
    )
    if labeled is not None and n_labeled == 0:
        raise ValueError("labeled_fisher is given but n_labeled is 0; pass n_labeled > 0.")
    alpha = n_labeled / (n_labeled + n_instances)
    if n_labeled:
        rows = rows.scaled(np.sqrt(n_instances / (n_labeled + n_instances)))  # Ṽ, without a copy
    _check_resolvable(lam, pool.max(_largest_trace(rows)))
    if space == "auto":
        space = cheaper_space(rows, C, (2 * b + 1) * n_instances, pool_f, labeled, dev)
    elif space == "gram" and (
        isinstance(pool_f, FisherMatrix) or isinstance(labeled, FisherMatrix)
    ):
        raise ValueError("space='gram' needs the Fisher matrices given as embeddings.")
    backend = BACKENDS[space](rows, C, pool_f, labeled, float(lam), alpha)
    return Problem(backend, pool, n_instances, b)

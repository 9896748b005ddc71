"""Per-sample, per-class gradients of log-probabilities for any parameter, by torch.func.

The generic counterpart of the layer hooks in :mod:`skfisher._persample`:
``vmap`` over the rows of ``jacrev`` of one row's log-probabilities, taken
with ``functional_call`` with respect to the requested parameter tensors
only (every other parameter and buffer is read from the model). This works
for any layer (LayerNorm, GroupNorm, attention, Conv1d, embeddings, weight
tying, ...) as long as a row's output does not depend on the other rows of
its batch. Rows are processed in chunks whose full per-class Jacobian fits in
``max_elements`` values, which bounds memory.
"""

import warnings

import torch
from torch.func import functional_call, jacrev, vmap

__all__ = ["func_class_grads", "func_rows_per_chunk"]

_MAX_ELEMENTS = 2**24  # values of one chunk's (rows, classes, params) Jacobian


def func_rows_per_chunk(n_classes, n_values, max_elements=_MAX_ELEMENTS):
    """Rows whose ``(rows, n_classes, n_values)`` Jacobian fits in ``max_elements``."""
    return max(1, max_elements // max(1, n_classes * n_values))


def _jacobian(model, params, x):
    """``(J, logp)``: J maps names to (B, C, *shape) gradients of ``log p_c``; logp (B, C)."""

    def logp_row(p, xi):
        logp = torch.log_softmax(functional_call(model, p, (xi[None],)), dim=1)[0]
        return logp, logp

    # no_grad: the outer autograd must not record (the transforms still differentiate)
    with warnings.catch_warnings(), torch.no_grad():
        # vmap falls back to a loop for some fused kernels (e.g. CPU attention)
        warnings.filterwarnings("ignore", message="There is a performance drop")
        return vmap(jacrev(logp_row, has_aux=True), in_dims=(None, 0))(params, x)


def func_class_grads(
    model, x, names, indices, *, scale_by_sqrt_p=False, sum_squares=False, classes=None,
    max_elements=_MAX_ELEMENTS,
):
    """Per-sample, per-class gradients of ``log p_c`` on chosen parameter entries.

    Parameters
    ----------
    model : torch.nn.Module in eval mode, returning logits
    x : Tensor of shape (B, ...)
    names : list of str
        Parameter names (as in ``model.named_parameters()``).
    indices : list of (Tensor or None)
        Local flat entries of each parameter (None: all entries).
    scale_by_sqrt_p : bool, default=False
        Multiply row ``c`` of each sample by ``√p_c``.
    sum_squares : bool, default=False
        Return ``Σ_b Σ_c g_bc²`` of shape (numel_j,) per parameter instead
        (``indices`` must then be all None).
    classes : callable, default=None
        With ``sum_squares``: a function of a chunk's probabilities (b, C)
        giving each row's class; only that class's gradient is squared,
        unweighted, ``Σ_b g_{b,classes[b]}²``.
    max_elements : int, default=2**24
        Bound on the values of one chunk's full Jacobian (a chunk holds at
        least one row).

    Returns
    -------
    grads : list of Tensor
        Per parameter, of shape (B, C, m_j), or (numel_j,) with ``sum_squares``.
    """
    available = dict(model.named_parameters())
    params = {n: available[n].detach() for n in names}
    n_values = sum(p.numel() for p in params.values())
    with torch.no_grad():
        n_classes = model(x[:1]).shape[1]
    step = func_rows_per_chunk(n_classes, n_values, max_elements)
    parts = [[] for _ in names]
    for start in range(0, len(x), step):
        J, logp = _jacobian(model, params, x[start : start + step].detach())
        weight = logp.exp().sqrt()[:, :, None] if scale_by_sqrt_p else None
        if classes is not None:
            drawn = classes(logp.exp())[:, None, None]
            weight = None
        for part, name, index in zip(parts, names, indices):
            g = J[name].flatten(2)
            g = g if index is None else g[:, :, index]
            if classes is not None:
                g = g.gather(1, drawn.expand(-1, 1, g.shape[2]))
            if weight is not None:
                g = g * weight
            part.append(g.square().sum((0, 1)) if sum_squares else g)
    if sum_squares:
        return [torch.stack(part).sum(0) for part in parts]
    return [torch.cat(part) for part in parts]

"""Per-sample, per-class gradients of log-probabilities for any parameter, by torch.func.

The generic counterpart of the layer hooks in :mod:`skfisher.fisher._persample`:
``vmap`` over the rows of ``jacrev`` of one row's log-probabilities, taken
with ``functional_call`` with respect to the requested parameter tensors
only (every other parameter and buffer is read from the model). This works
for any layer (LayerNorm, GroupNorm, attention, Conv1d, embeddings, weight
tying, ...) as long as a row's output does not depend on the other rows of
its batch. Rows are processed in chunks whose full per-class Jacobian fits in
``max_elements`` values, which bounds memory. :func:`func_class_grads` gives
the gradients, :func:`func_sum_sq_grads` their sums of squares for the Fisher
diagonal.
"""

import warnings

import torch
from torch.func import functional_call, jacrev, vmap

from .._config import get_config

__all__ = ["func_class_grads", "func_rows_per_chunk", "func_sum_sq_grads"]


def func_rows_per_chunk(n_classes, n_values, max_elements=None):
    """Rows whose ``(rows, n_classes, n_values)`` Jacobian fits in ``max_elements``
    (None: the configuration's ``jacobian_elements``)."""
    if max_elements is None:
        max_elements = get_config()["jacobian_elements"]
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


def _chunk_grads(model, x, names, indices, *, scale_by_sqrt_p, classes, max_elements):
    """Yield, per chunk of rows, the per-parameter (b, C, m_j) gradients of ``log p_c``.

    With ``classes`` (a function of the probabilities (B, C) of all rows,
    drawn once from one forward pass on ``x`` as the layer hooks draw them),
    only each row's class is kept, unweighted: (b, 1, m_j).
    """
    available = dict(model.named_parameters())
    params = {n: available[n].detach() for n in names}
    n_values = sum(p.numel() for p in params.values())
    with torch.no_grad():
        logits = model(x if classes is not None else x[:1])
    drawn = None if classes is None else classes(torch.log_softmax(logits, dim=1).exp())
    step = func_rows_per_chunk(logits.shape[1], n_values, max_elements)
    for start in range(0, len(x), step):
        J, logp = _jacobian(model, params, x[start : start + step].detach())
        weight = logp.exp().sqrt()[:, :, None] if scale_by_sqrt_p else None
        grads = []
        for name, index in zip(names, indices):
            g = J[name].flatten(2)
            g = g if index is None else g[:, :, index]
            if drawn is not None:
                rows = drawn[start : start + step, None, None]
                g = g.gather(1, rows.expand(-1, 1, g.shape[2]))
            elif weight is not None:
                g = g * weight
            grads.append(g)
        yield grads


def func_class_grads(model, x, names, indices, *, scale_by_sqrt_p=False, max_elements=None):
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
    max_elements : int, default=None
        Bound on the values of one chunk's full Jacobian (a chunk holds at
        least one row); None: the configuration's ``jacobian_elements``
        (see :func:`skfisher.set_config`).

    Returns
    -------
    grads : list of Tensor of shape (B, C, m_j)
        Per parameter.
    """
    chunks = list(
        _chunk_grads(
            model,
            x,
            names,
            indices,
            scale_by_sqrt_p=scale_by_sqrt_p,
            classes=None,
            max_elements=max_elements,
        )
    )
    return [torch.cat(part) for part in zip(*chunks)]


def func_sum_sq_grads(model, x, names, *, classes=None, max_elements=None):
    """Sums over the rows of ``x`` of squared per-sample gradients, for the Fisher diagonal.

    The generic counterpart of :func:`skfisher.fisher._squares.sum_sq_grads`:
    without ``classes``, ``Σ_b Σ_c p_c (∂ log p_c / ∂θ)²``; with ``classes``,
    ``Σ_b (∂ log p_{classes[b]} / ∂θ)²``.

    Parameters
    ----------
    model : torch.nn.Module in eval mode, returning logits
    x : Tensor of shape (B, ...)
    names : list of str
        Parameter names (as in ``model.named_parameters()``), all entries.
    classes : callable, default=None
        A function of the probabilities (B, C) of the rows of ``x`` giving
        each row's class (int64 of shape (B,)); called once, whatever the
        chunks.
    max_elements : int, default=None
        Bound on the values of one chunk's full Jacobian (a chunk holds at
        least one row); None: the configuration's ``jacobian_elements``
        (see :func:`skfisher.set_config`).

    Returns
    -------
    sums : list of Tensor of shape (numel_j,)
        Per parameter.
    """
    sums = None
    for grads in _chunk_grads(
        model,
        x,
        names,
        [None] * len(names),
        scale_by_sqrt_p=classes is None,
        classes=classes,
        max_elements=max_elements,
    ):
        squares = [g.square().sum((0, 1)) for g in grads]
        sums = squares if sums is None else [a.add_(b) for a, b in zip(sums, squares)]
    return sums

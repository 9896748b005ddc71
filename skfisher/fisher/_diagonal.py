"""The diagonal of a network's Fisher information under its own predictions
(docs/design.md, The algorithm).

It takes a ``torch.nn.Module`` that returns logits and inputs as a
float tensor or array of shape (n, ...) (images, sequences, tabular rows);
BatchNorm runs in eval mode and no augmentation is applied. Work is chunked
by ``forward_batch_size`` rows, which bounds memory.

Per-sample gradients come from layer hooks for the layers that allow it
(:mod:`skfisher.fisher._persample`) and from torch.func for every other parameter
(:mod:`skfisher.fisher._funcgrad`); a model may mix both. Either way a row's output
must not depend on the other rows of its batch.
"""

import torch
from sklearn.utils import check_random_state

from ..utils._device import model_device
from ._paths import group_sq_sums, split_paths
from ._persample import (
    ParamLayout,
    auto_forward_batch_size,
    check_forward_batch_size,
    eval_mode,
    iter_chunks,
)

__all__ = ["DIAGONAL_METHODS", "fisher_diagonal"]


DIAGONAL_METHODS = ("exact", "sampled")


def _class_sampler(uniform):
    """Classes drawn from each row's p by inverting its CDF at ``uniform`` (B,):
    the same draw whichever path computes p."""

    def draw(prob):
        cdf = prob.cumsum(1)
        u = torch.as_tensor(uniform, dtype=prob.dtype, device=prob.device)[:, None]
        return (cdf[:, :-1] < u * cdf[:, -1:]).sum(1)

    return draw


def fisher_diagonal(
    model, X, *, names=None, forward_batch_size="auto", method="exact", random_state=None
):
    """Diagonal of the expected Fisher under the model's own predictions.

    ``F_ii = (1/m) Σ_x Σ_c p_c(x) (∂ log p_c(x) / ∂θ_i)²`` over the ``m`` rows
    of ``X``; no labels are used.

    ``method="exact"`` takes ``C - 1`` backward passes per batch (along rows
    ``R`` with ``Rᵀ R = Σ_c p_c (e_c - p)(e_c - p)ᵀ``, which give the same sum
    on the layer hooks' path; ``C`` on the torch.func path); ``"sampled"``
    one per row: it draws a class ``c_x ~ p(x)`` for each row and returns
    ``(1/m) Σ_x (∂ log p_{c_x}(x) / ∂θ_i)²``, whose expectation over the
    draws is the exact diagonal (a Monte-Carlo estimate, BackPACK's
    DiagGGNMC).

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits; evaluated in eval mode on its own device.
    X : Tensor or ndarray of shape (m, ...)
    names : list of str, default=None
        Parameters to compute; the others are left at zero. None: all.
    forward_batch_size : int or "auto", default="auto"
        Rows per forward pass; ``"auto"`` sizes batches from the free device
        memory (see :func:`skfisher.fisher._persample.auto_forward_batch_size`).
    method : {"exact", "sampled"}, default="exact"
    random_state : int, RandomState instance or None, default=None
        Draws the classes of ``method="sampled"``.

    Returns
    -------
    diag : Tensor of shape (n_params,), dtype float64, on the model's device
        In ``model.named_parameters()`` order.
    """
    forward_batch_size = check_forward_batch_size(forward_batch_size)
    if method not in DIAGONAL_METHODS:
        raise ValueError(f"method must be one of {DIAGONAL_METHODS}; got {method!r}.")
    rng = check_random_state(random_state)
    layout = ParamLayout(model)
    if names is not None and set(names) - set(layout.names):
        raise ValueError(f"names has unknown parameters {sorted(set(names) - set(layout.names))}.")
    device = model_device(model)
    diag = torch.zeros(layout.n_params, dtype=torch.float64, device=device)
    groups = [(j, None) for j, name in enumerate(layout.names) if names is None or name in names]
    if not groups:
        return diag

    with eval_mode(model):
        hooked, generic = split_paths(model, layout, X, groups)

        def sq_sums(xb):
            classes = None
            if method == "sampled":
                classes = _class_sampler(rng.random_sample(len(xb)))
            return group_sq_sums(model, xb, layout, hooked, generic, classes)

        if forward_batch_size == "auto":
            forward_batch_size = auto_forward_batch_size(model, X, sq_sums)
        for _, xb in iter_chunks(X, forward_batch_size, model):
            for j, sq in sq_sums(xb).items():
                diag[layout.offsets[j] : layout.offsets[j] + layout.sizes[j]] += sq.double()
    return diag / len(X)

"""Which per-sample path computes each parameter, and both paths' results for a batch.

Layer hooks (:mod:`skfisher.fisher._persample`, :mod:`skfisher.fisher._squares`) serve the
layers that allow them; torch.func (:mod:`skfisher.fisher._funcgrad`) every other
parameter. A group is ``(param_no, local entries or None)`` in a
:class:`~skfisher.fisher._persample.ParamLayout`.
"""

import torch

from ._funcgrad import func_class_grads, func_sum_sq_grads
from ._persample import hook_params, iter_chunks, per_class_grads
from ._squares import sum_sq_grads

__all__ = ["group_grads", "group_sq_sums", "split_paths"]


def split_paths(model, layout, X, groups):
    """``groups`` as (hooked, generic): which path computes each parameter."""
    _, first = next(iter_chunks(X[:1], 1, model))
    hooked = hook_params(model, layout, first)
    return [g for g in groups if g[0] in hooked], [g for g in groups if g[0] not in hooked]


def group_grads(model, xb, layout, hooked, generic, *, scale_by_sqrt_p, rows=None):
    """``{param_no: grads}`` of both paths for a batch ``xb``: (B, C, m_j)
    per-sample, per-class gradients of ``log p_c`` on the group's entries.

    With ``rows`` (a function of the probabilities, see
    :func:`~skfisher.fisher._persample.per_class_grads`), the hooks' rows are those
    instead of the classes; the torch.func path has no such rows, so
    ``generic`` must then be empty.
    """
    if rows is not None and generic:
        raise ValueError("rows other than the classes need every parameter on the hooks' path.")
    out = {}
    if hooked:
        for _, _, grads in per_class_grads(
            model, xb, layout, hooked, scale_by_sqrt_p=scale_by_sqrt_p, rows=rows
        ):
            for (j, _), g in zip(hooked, grads):
                out.setdefault(j, []).append(g)
        out = {j: torch.stack(rows, dim=1) for j, rows in out.items()}
    if generic:
        grads = func_class_grads(
            model,
            xb,
            [layout.names[j] for j, _ in generic],
            [idx for _, idx in generic],
            scale_by_sqrt_p=scale_by_sqrt_p,
        )
        out.update(zip([j for j, _ in generic], grads))
    return out


def group_sq_sums(model, xb, layout, hooked, generic, classes):
    """``{param_no: Σ_b Σ_c p_c g_bc²}`` of both paths for a batch ``xb``, or
    ``Σ_b g_{b,classes(p)[b]}²`` with ``classes`` (a function of the (B, C)
    probabilities)."""
    out = {}
    if hooked:
        out.update(
            zip([j for j, _ in hooked], sum_sq_grads(model, xb, layout, hooked, classes=classes))
        )
    if generic:
        out.update(
            zip(
                [j for j, _ in generic],
                func_sum_sq_grads(
                    model, xb, [layout.names[j] for j, _ in generic], classes=classes
                ),
            )
        )
    return out

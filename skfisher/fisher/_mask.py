"""The Fisher mask: which parameters' entries the embeddings keep
(docs/design.md, The algorithm)."""

import math

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "MASK_METHODS",
    "build_mask",
    "mask_candidates",
    "mask_summary",
    "output_params",
]

MASK_METHODS = ("global", "per_layer", "random", "output")


def _is_output(name, output_layer):
    return name == output_layer or name.startswith(output_layer + ".")


def mask_candidates(layout, *, output_layer="fc", layers=None, trainable_only=False):
    """Parameters (by number in ``layout``) eligible for the mask's non-output entries.

    See :func:`build_mask` for the arguments.

    Returns
    -------
    params : list of int
    """
    return [
        j
        for j, name in enumerate(layout.names)
        if not _is_output(name, output_layer)
        and (layers is None or any(name == p or name.startswith(p + ".") for p in layers))
        and (layout.trainable[j] or not trainable_only)
    ]


def build_mask(
    diag,
    layout,
    sparsity,
    *,
    method="global",
    output_layer="fc",
    layers=None,
    trainable_only=False,
    random_state=None,
):
    """Choose the parameters of the Fisher mask.

    ``k = int(sparsity * n_params)`` entries: the whole output layer plus
    ``k - n_out`` entries among the eligible other parameters
    (``n_params`` counts the trainable ones only with ``trainable_only``).

    Parameters
    ----------
    diag : Tensor or ndarray of shape (n_params,)
        Fisher diagonal (unused by ``method="random"`` and ``"output"``).
    layout : ParamLayout
    sparsity : float in (0, 1]
    method : {"global", "per_layer", "random", "output"}, default="global"
        ``global``: top entries of ``diag`` among all eligible parameters;
        ``per_layer``: the ``k - n_out`` entries split over the eligible
        tensors in proportion to their size (largest remainders), top entries
        within each; ``random``: uniformly random eligible entries
        (ablation); ``output``: the output layer only (= BAIT), ignoring
        ``sparsity``. Ties go to the lowest index.
    output_layer : str, default="fc"
        Name of the output layer's module.
    layers : list of str, default=None
        Name prefixes of eligible parameters (e.g. ``["layer3", "layer4"]``);
        None: every parameter outside the output layer.
    trainable_only : bool, default=False
        Leave parameters with ``requires_grad=False`` (a frozen backbone)
        out of the mask and out of ``n_params``.
    random_state : int, RandomState instance or None, default=None
        For ``method="random"``.

    Returns
    -------
    indices : ndarray of shape (k,), dtype int64
        Sorted flat indices in ``layout`` order.
    """
    if method not in MASK_METHODS:
        raise ValueError(f"mask method must be one of {MASK_METHODS}; got {method!r}.")
    is_out = [_is_output(n, output_layer) for n in layout.names]
    if not any(is_out):
        raise ValueError(
            f"output_layer={output_layer!r} names no parameter; parameters start with "
            f"{sorted({n.split('.')[0] for n in layout.names})}."
        )
    ranges = [np.arange(o, o + s) for o, s in zip(layout.offsets, layout.sizes)]
    out_idx = np.concatenate([r for r, o in zip(ranges, is_out) if o])
    if method == "output":
        return out_idx
    if not (isinstance(sparsity, (int, float)) and 0 < sparsity <= 1):
        raise ValueError(f"sparsity must be a float in (0, 1]; got {sparsity!r}.")
    eligible_params = mask_candidates(
        layout, output_layer=output_layer, layers=layers, trainable_only=trainable_only
    )
    if not eligible_params:
        what = "trainable parameter" if trainable_only else "parameter"
        raise ValueError(
            f"layers={layers!r} matches no {what} outside the output layer "
            "(mask='output' keeps the output layer only)."
        )
    total = layout.n_params
    if trainable_only:
        total = sum(s for s, t, o in zip(layout.sizes, layout.trainable, is_out) if t or o)
    k = int(sparsity * total)
    if k <= len(out_idx):
        smallest = math.ceil((len(out_idx) + 1) / total * 1e6) / 1e6
        raise ValueError(
            f"sparsity={sparsity} keeps {k} of {total} parameters, no more than the "
            f"output layer's {len(out_idx)}; use sparsity >= {smallest}."
        )
    n_mid = k - len(out_idx)
    n_eligible = sum(layout.sizes[j] for j in eligible_params)
    if n_mid > n_eligible:
        raise ValueError(
            f"sparsity={sparsity} asks for {n_mid} middle entries but only "
            f"{n_eligible} are eligible."
        )
    scores = np.asarray(
        diag.detach().cpu().numpy() if isinstance(diag, torch.Tensor) else diag,
        dtype=np.float64,
    )
    mid = _middle_entries(method, scores, [ranges[j] for j in eligible_params], n_mid, random_state)
    return np.sort(np.concatenate([out_idx, mid])).astype(np.int64)


def _middle_entries(method, scores, ranges, n_mid, random_state):
    """``n_mid`` flat indices among the eligible tensors' ``ranges`` (see :func:`build_mask`)."""
    if method == "random":
        return check_random_state(random_state).choice(
            np.concatenate(ranges), size=n_mid, replace=False
        )
    if method == "global":
        pool = np.concatenate(ranges)
        return pool[np.argsort(-scores[pool], kind="stable")[:n_mid]]
    # per_layer: largest-remainder split of n_mid by tensor size
    sizes = np.array([len(r) for r in ranges], dtype=np.float64)
    share = n_mid * sizes / sizes.sum()
    quota = np.floor(share).astype(int)
    extra = np.argsort(-(share - quota), kind="stable")[: n_mid - quota.sum()]
    quota[extra] += 1
    return np.concatenate(
        [r[np.argsort(-scores[r], kind="stable")[:q]] for r, q in zip(ranges, quota)]
    )


def mask_summary(indices, layout):
    """Per-parameter count of masked entries.

    Returns
    -------
    summary : list of dict
        ``{"name", "size", "selected"}`` for every parameter, in layout order.
    """
    counts = np.bincount(
        np.searchsorted(np.asarray(layout.offsets), indices, side="right") - 1,
        minlength=len(layout.names),
    )
    return [
        {"name": n, "size": s, "selected": int(c)}
        for n, s, c in zip(layout.names, layout.sizes, counts)
    ]


def output_params(layout, output_layer):
    """Parameters (by number in ``layout``) of the module named ``output_layer``."""
    return [j for j, name in enumerate(layout.names) if _is_output(name, output_layer)]

"""Fisher information of a network: its diagonal, the sparse mask, and the
masked per-class gradient embeddings (design notes §1).

All functions take a ``torch.nn.Module`` that returns logits and inputs as a
float tensor or array of shape (n, ...) (images, sequences, tabular rows);
BatchNorm runs in eval mode and no augmentation is applied. Work is chunked
by ``batch_size`` rows, which bounds memory.

Per-sample gradients come from layer hooks for the layers that allow it
(:mod:`skfisher._persample`) and from torch.func for every other parameter
(:mod:`skfisher._funcgrad`); a model may mix both. Either way a row's output
must not depend on the other rows of its batch.
"""

import contextlib
import math

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import nn

from ._device import model_device
from ._factored import output_factor
from ._funcgrad import func_class_grads, func_sum_sq_grads
from ._persample import (
    ParamLayout,
    auto_batch_size,
    check_batch_size,
    eval_mode,
    hook_params,
    iter_chunks,
    per_class_grads,
)
from ._squares import sum_sq_grads

__all__ = [
    "FISHER_ESTIMATORS",
    "ParamLayout",
    "fisher_diagonal",
    "build_mask",
    "factorable_output",
    "factored_embeddings",
    "mask_candidates",
    "mask_summary",
    "masked_embeddings",
    "output_params",
    "MASK_METHODS",
]

MASK_METHODS = ("global", "per_layer", "random", "output")


def _split(model, layout, X, groups):
    """``groups`` as (hooked, generic): which path computes each parameter."""
    _, first = next(iter_chunks(X[:1], 1, model))
    hooked = hook_params(model, layout, first)
    return [g for g in groups if g[0] in hooked], [g for g in groups if g[0] not in hooked]


def _group_grads(model, xb, layout, hooked, generic, *, scale_by_sqrt_p):
    """``{param_no: grads}`` of both paths for a batch ``xb``: (B, C, m_j)
    per-sample, per-class gradients of ``log p_c`` on the group's entries."""
    out = {}
    if hooked:
        for _, _, grads in per_class_grads(
            model, xb, layout, hooked, scale_by_sqrt_p=scale_by_sqrt_p
        ):
            for (j, _), g in zip(hooked, grads):
                out.setdefault(j, []).append(g)
        out = {j: torch.stack(rows, dim=1) for j, rows in out.items()}
    if generic:
        grads = func_class_grads(
            model, xb, [layout.names[j] for j, _ in generic], [idx for _, idx in generic],
            scale_by_sqrt_p=scale_by_sqrt_p,
        )
        out.update(zip([j for j, _ in generic], grads))
    return out


def _group_sq_sums(model, xb, layout, hooked, generic, classes):
    """``{param_no: Σ_b Σ_c p_c g_bc²}`` of both paths for a batch ``xb``, or
    ``Σ_b g_{b,classes(p)[b]}²`` with ``classes`` (a function of the (B, C)
    probabilities)."""
    out = {}
    if hooked:
        out.update(zip([j for j, _ in hooked], sum_sq_grads(
            model, xb, layout, hooked, classes=classes
        )))
    if generic:
        out.update(zip([j for j, _ in generic], func_sum_sq_grads(
            model, xb, [layout.names[j] for j, _ in generic], classes=classes
        )))
    return out


FISHER_ESTIMATORS = ("exact", "sampled")


def _class_sampler(uniform):
    """Classes drawn from each row's p by inverting its CDF at ``uniform`` (B,):
    the same draw whichever path computes p."""

    def draw(prob):
        cdf = prob.cumsum(1)
        u = torch.as_tensor(uniform, dtype=prob.dtype, device=prob.device)[:, None]
        return (cdf[:, :-1] < u * cdf[:, -1:]).sum(1)

    return draw


def fisher_diagonal(
    model, X, *, names=None, batch_size="auto", estimator="exact", random_state=None
):
    """Diagonal of the expected Fisher under the model's own predictions.

    ``F_ii = (1/m) Σ_x Σ_c p_c(x) (∂ log p_c(x) / ∂θ_i)²`` over the ``m`` rows
    of ``X``; no labels are used.

    ``estimator="exact"`` takes one backward pass per class; ``"sampled"``
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
    batch_size : int or "auto", default="auto"
        Rows per forward pass; ``"auto"`` sizes batches from the free device
        memory (see :func:`skfisher._persample.auto_batch_size`).
    estimator : {"exact", "sampled"}, default="exact"
    random_state : int, RandomState instance or None, default=None
        Draws the classes of ``estimator="sampled"``.

    Returns
    -------
    diag : Tensor of shape (n_params,), dtype float64, on the model's device
        In ``model.named_parameters()`` order.
    """
    batch_size = check_batch_size(batch_size)
    if estimator not in FISHER_ESTIMATORS:
        raise ValueError(
            f"estimator must be one of {FISHER_ESTIMATORS}; got {estimator!r}."
        )
    rng = check_random_state(random_state)
    layout = ParamLayout(model)
    if names is not None and set(names) - set(layout.names):
        raise ValueError(f"names has unknown parameters {sorted(set(names) - set(layout.names))}.")
    device = model_device(model)
    diag = torch.zeros(layout.n_params, dtype=torch.float64, device=device)
    groups = [
        (j, None) for j, name in enumerate(layout.names) if names is None or name in names
    ]
    if not groups:
        return diag

    with eval_mode(model):
        hooked, generic = _split(model, layout, X, groups)

        def sq_sums(xb):
            classes = None
            if estimator == "sampled":
                classes = _class_sampler(rng.random_sample(len(xb)))
            return _group_sq_sums(model, xb, layout, hooked, generic, classes)

        if batch_size == "auto":
            batch_size = auto_batch_size(model, X, sq_sums)
        for _, xb in iter_chunks(X, batch_size, model):
            for j, sq in sq_sums(xb).items():
                diag[layout.offsets[j] : layout.offsets[j] + layout.sizes[j]] += sq.double()
    return diag / len(X)


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
        j for j, name in enumerate(layout.names)
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
    if method == "random":
        pool = np.concatenate([ranges[j] for j in eligible_params])
        mid = check_random_state(random_state).choice(pool, size=n_mid, replace=False)
    elif method == "global":
        pool = np.concatenate([ranges[j] for j in eligible_params])
        mid = pool[np.argsort(-scores[pool], kind="stable")[:n_mid]]
    else:  # per_layer: largest-remainder split of n_mid by tensor size
        sizes = np.array([layout.sizes[j] for j in eligible_params], dtype=np.float64)
        share = n_mid * sizes / sizes.sum()
        quota = np.floor(share).astype(int)
        extra = np.argsort(-(share - quota), kind="stable")[: n_mid - quota.sum()]
        quota[extra] += 1
        mid = np.concatenate([
            ranges[j][np.argsort(-scores[ranges[j]], kind="stable")[:q]]
            for j, q in zip(eligible_params, quota)
        ])
    return np.sort(np.concatenate([out_idx, mid])).astype(np.int64)


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


def masked_embeddings(
    model, X, indices, *, weighting="fisher", batch_size="auto", dtype=torch.float32, out=None
):
    """Per-sample, per-class gradient embeddings on the masked parameters.

    Row ``c`` of ``V_x`` is ``√p_c(x) ∇_mask log p_c(x)`` (``weighting="fisher"``,
    so that ``V_xᵀ V_x`` is x's Fisher on the mask) or ``∇_mask log p_c(x)``
    (``"unweighted"``, as the reference code does). Gradients are computed
    in the model's type, batch by batch, and each batch is written to the
    result in its storage type, so no more than one batch is ever held at
    the model's precision.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits; evaluated in eval mode on its own device.
    X : Tensor or ndarray of shape (n, ...)
    indices : ndarray of shape (d,)
        Sorted flat parameter indices (see :func:`build_mask`).
    weighting : {"fisher", "unweighted"}, default="fisher"
    batch_size : int or "auto", default="auto"
        Rows per forward pass; ``"auto"`` sizes batches from the free device
        memory (see :func:`skfisher._persample.auto_batch_size`).
    dtype : torch.dtype, default=torch.float32
        Storage type of the result when ``out`` is None.
    out : Tensor of shape (n, n_classes, d), default=None
        Where to write the result (any device and floating type, e.g. a
        pinned host buffer or bfloat16); None allocates it on the model's
        device.

    Returns
    -------
    embeddings : Tensor of shape (n, n_classes, d)
        ``out``, or a new tensor on the model's device; columns in the
        order of ``indices``.
    """
    if weighting not in ("fisher", "unweighted"):
        raise ValueError(f"weighting must be 'fisher' or 'unweighted'; got {weighting!r}.")
    batch_size = check_batch_size(batch_size)
    if out is not None and (out.ndim != 3 or len(out) != len(X) or out.shape[2] != len(indices)):
        raise ValueError(
            f"out must have shape ({len(X)}, n_classes, {len(indices)}); "
            f"got {tuple(out.shape)}."
        )
    layout = ParamLayout(model)
    device = model_device(model)
    groups = [(j, idx.to(device)) for j, idx in layout.split(indices)]

    with eval_mode(model):
        hooked, generic = _split(model, layout, X, groups)

        def embed(xb):
            grads = _group_grads(
                model, xb, layout, hooked, generic,
                scale_by_sqrt_p=weighting == "fisher",
            )
            return torch.cat([grads[j] for j, _ in groups], dim=2)

        if batch_size == "auto":
            batch_size = auto_batch_size(model, X, embed)
        for start, xb in iter_chunks(X, batch_size, model):
            rows = embed(xb)
            if out is None:
                out = torch.empty((len(X),) + rows.shape[1:], dtype=dtype, device=device)
            elif out.shape[1] != rows.shape[1]:
                raise ValueError(
                    f"out has {out.shape[1]} classes but the model outputs {rows.shape[1]}."
                )
            out[start : start + len(xb)] = rows.to(out.dtype)
    return out


def output_params(layout, output_layer):
    """Parameters (by number in ``layout``) of the module named ``output_layer``."""
    return [j for j, name in enumerate(layout.names) if _is_output(name, output_layer)]


def factorable_output(model, X, output_layer):
    """Whether the output layer's embedding block is ``D_x ⊗ h_x`` (see
    :mod:`skfisher._factored`).

    True when ``output_layer`` is a ``Linear`` owning its parameters alone,
    called once per forward pass on one vector per row, and its output, on a
    probe row of ``X``, is the model's output (the logits).
    """
    module = dict(model.named_modules()).get(output_layer)
    layout = ParamLayout(model)
    if type(module) is not nn.Linear or not all(
        layout.hookable[j] for j in output_params(layout, output_layer)
    ):
        return False
    seen = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append((args[0], out)))
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(next(iter_chunks(X[:2], 2, model))[1])
    finally:
        handle.remove()
    return (
        len(seen) == 1 and seen[0][0].ndim == 2 and isinstance(logits, torch.Tensor)
        and seen[0][1].shape == logits.shape and torch.equal(seen[0][1], logits)
    )


@contextlib.contextmanager
def _first_call(module):
    """Record ``(input, output)`` of ``module``'s first call inside the block."""
    seen = []

    def hook(m, args, out):
        if not seen:
            seen.append((args[0].detach(), out.detach()))

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def _output_inputs(model, module, xb, recorded):
    """``(prob, h)`` of a batch: the softmax of the logits and the output layer's
    input, with a trailing 1 when it has a bias. ``recorded`` is the layer's
    first call in a forward pass on ``xb`` already made, if any."""
    if not recorded:
        with _first_call(module) as recorded, torch.no_grad():
            model(xb)
    h, logits = recorded[0]
    if module.bias is not None:
        h = torch.cat([h, torch.ones_like(h[:, :1])], 1)
    return torch.softmax(logits, dim=1), h


def factored_embeddings(
    model, X, indices, *, output_layer, weighting="fisher", batch_size="auto", out=None
):
    """:func:`masked_embeddings` with the output layer's block in factored form.

    For a mask that holds the whole output layer of a model where
    :func:`factorable_output` is true, ``V_x = [D_x ⊗ h_xᵀ | G_x]`` (see
    :mod:`skfisher._factored`): the output block needs one forward pass
    (no backward pass), and ``G_x`` the masked entries of the other layers.

    Parameters
    ----------
    model : torch.nn.Module
    X : Tensor or ndarray of shape (n, ...)
    indices : ndarray of shape (d,)
        Sorted flat parameter indices, the whole output layer among them.
    output_layer : str
    weighting : {"fisher", "unweighted"}, default="fisher"
    batch_size : int or "auto", default="auto"
    out : Tensor of shape (n, n_classes, m), default=None
        Where to write ``G`` (any device and floating type); None allocates
        it (float32, on the model's device). Unused when ``m = 0``.

    Returns
    -------
    D : Tensor of shape (n, n_classes, n_classes), float64
    H : Tensor of shape (n, h), float64
        The output layer's inputs, with a trailing 1 when it has a bias.
    G : Tensor of shape (n, n_classes, m) or None
        ``out``; None when the mask holds the output layer only.
    """
    batch_size = check_batch_size(batch_size)
    layout = ParamLayout(model)
    device = model_device(model)
    module = dict(model.named_modules())[output_layer]
    outputs = set(output_params(layout, output_layer))
    groups = [(j, idx.to(device)) for j, idx in layout.split(indices) if j not in outputs]
    if sum(layout.sizes[j] for j in outputs) + sum(len(i) for _, i in groups) != len(indices):
        raise ValueError("indices must hold the whole output layer.")
    D = H = None
    with eval_mode(model):
        hooked, generic = _split(model, layout, X, groups) if groups else ([], [])

        def embed(xb):
            # the hooks' forward pass (made first) also records the output layer;
            # torch.func's batched forward passes do not count
            with _first_call(module) as recorded:
                grads = hooked and _group_grads(model, xb, layout, hooked, [],
                                                scale_by_sqrt_p=weighting == "fisher")
            prob, h = _output_inputs(model, module, xb, recorded if hooked else [])
            if not groups:
                return prob, h, None
            if generic:
                grads = {**(grads or {}), **_group_grads(
                    model, xb, layout, [], generic, scale_by_sqrt_p=weighting == "fisher")}
            return prob, h, torch.cat([grads[j] for j, _ in groups], dim=2)

        if batch_size == "auto":
            batch_size = auto_batch_size(model, X, embed)
        for start, xb in iter_chunks(X, batch_size, model):
            prob, h, G = embed(xb)
            if D is None:
                C = prob.shape[1]
                D = torch.empty(len(X), C, C, dtype=torch.float64, device=device)
                H = torch.empty(len(X), h.shape[1], dtype=torch.float64, device=device)
                if groups and out is None:
                    out = torch.empty(len(X), C, G.shape[2], dtype=torch.float32, device=device)
            stop = start + len(xb)
            D[start:stop] = output_factor(prob, weighting)
            H[start:stop] = h
            if groups:
                out[start:stop] = G.to(out.dtype)
    return D, H, out if groups else None

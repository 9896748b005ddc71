"""Masked per-class gradient embeddings (docs/design.md, The algorithm), dense or with the
output layer's block factored (:mod:`skfisher.fisher._factored`), and the one
buffer a query stores them in."""

import torch
from torch import nn

from ..utils._device import model_device
from ._factored import FactoredRows, output_factor
from ._mask import output_params
from ._network import first_call, output_inputs
from ._paths import group_grads, split_paths
from ._persample import (
    ParamLayout,
    auto_forward_batch_size,
    check_forward_batch_size,
    eval_mode,
    iter_chunks,
)
from ._storage import EmbeddingRows, allocate

__all__ = [
    "block_tensors",
    "factorable_output",
    "factored_embeddings",
    "factored_rows",
    "masked_embeddings",
    "stored_embeddings",
]


def masked_embeddings(
    model,
    X,
    indices,
    *,
    weighting="fisher",
    forward_batch_size="auto",
    dtype=torch.float32,
    out=None,
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
    forward_batch_size : int or "auto", default="auto"
        Rows per forward pass; ``"auto"`` sizes batches from the free device
        memory (see :func:`skfisher.fisher._persample.auto_forward_batch_size`).
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
    forward_batch_size = check_forward_batch_size(forward_batch_size)
    if out is not None and (out.ndim != 3 or len(out) != len(X) or out.shape[2] != len(indices)):
        raise ValueError(
            f"out must have shape ({len(X)}, n_classes, {len(indices)}); got {tuple(out.shape)}."
        )
    layout = ParamLayout(model)
    device = model_device(model)
    groups = [(j, idx.to(device)) for j, idx in layout.split(indices)]

    with eval_mode(model):
        hooked, generic = split_paths(model, layout, X, groups)

        def embed(xb):
            grads = group_grads(
                model,
                xb,
                layout,
                hooked,
                generic,
                scale_by_sqrt_p=weighting == "fisher",
            )
            return torch.cat([grads[j] for j, _ in groups], dim=2)

        if forward_batch_size == "auto":
            forward_batch_size = auto_forward_batch_size(model, X, embed)
        for start, xb in iter_chunks(X, forward_batch_size, model):
            rows = embed(xb)
            if out is None:
                out = torch.empty((len(X),) + rows.shape[1:], dtype=dtype, device=device)
            elif out.shape[1] != rows.shape[1]:
                raise ValueError(
                    f"out has {out.shape[1]} classes but the model outputs {rows.shape[1]}."
                )
            out[start : start + len(xb)] = rows.to(out.dtype)
    return out


def factorable_output(model, X, output_layer):
    """Whether the output layer's embedding block is ``D_x ⊗ h_x`` (see
    :mod:`skfisher.fisher._factored`).

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
        len(seen) == 1
        and seen[0][0].ndim == 2
        and isinstance(logits, torch.Tensor)
        and seen[0][1].shape == logits.shape
        and torch.equal(seen[0][1], logits)
    )


def _middle_groups(model, layout, indices, output_layer):
    """The mask's groups outside the output layer, checking it holds the whole of it."""
    device = model_device(model)
    outputs = set(output_params(layout, output_layer))
    groups = [(j, idx.to(device)) for j, idx in layout.split(indices) if j not in outputs]
    if sum(layout.sizes[j] for j in outputs) + sum(len(i) for _, i in groups) != len(indices):
        raise ValueError("indices must hold the whole output layer.")
    return groups


def factored_rows(model, X, indices, output_layer, *, reduced=True):
    """Rows per candidate of :func:`factored_embeddings`: ``C - 1`` when
    ``reduced`` and every other masked parameter is on the layer hooks' path
    (the torch.func path gives the classes' rows), else ``C``."""
    layout = ParamLayout(model)
    groups = _middle_groups(model, layout, indices, output_layer)
    with eval_mode(model):
        with torch.no_grad():
            n_classes = model(next(iter_chunks(X[:1], 1, model))[1]).shape[1]
        generic = split_paths(model, layout, X, groups)[1] if groups else []
    return n_classes - 1 if reduced and not generic else n_classes


def _factored_batch(model, xb, layout, module, groups, hooked, generic, weighting, reduced):
    """``(D, h, G)`` of :func:`factored_embeddings` for a batch ``xb``: the output
    block's factors and the other masked entries (None when there are none)."""
    factors = []  # the rows the hooks' passes follow, kept for the output block

    def rows(prob):
        factors.append(output_factor(prob, weighting, reduced=True))
        return factors[-1]

    scale = weighting == "fisher"
    # the hooks' forward pass (made first) also records the output layer;
    # torch.func's batched forward passes do not count
    with first_call(module) as recorded:
        grads = hooked and group_grads(
            model, xb, layout, hooked, [], scale_by_sqrt_p=scale, rows=rows if reduced else None
        )
    prob, h = output_inputs(model, module, xb, recorded if hooked else [])
    D = factors[0] if factors else output_factor(prob, weighting, reduced=reduced)
    if not groups:
        return D, h, None
    if generic:
        grads = {
            **(grads or {}),
            **group_grads(model, xb, layout, [], generic, scale_by_sqrt_p=scale),
        }
    return D, h, torch.cat([grads[j] for j, _ in groups], dim=2)


def factored_embeddings(
    model,
    X,
    indices,
    *,
    output_layer,
    weighting="fisher",
    forward_batch_size="auto",
    out=None,
    reduced=True,
):
    """:func:`masked_embeddings` with the output layer's block in factored form.

    For a mask that holds the whole output layer of a model where
    :func:`factorable_output` is true, ``V_x = [D_x ⊗ h_xᵀ | G_x]`` (see
    :mod:`skfisher.fisher._factored`): the output block needs one forward pass
    (no backward pass), and ``G_x`` the masked entries of the other layers.

    Parameters
    ----------
    model : torch.nn.Module
    X : Tensor or ndarray of shape (n, ...)
    indices : ndarray of shape (d,)
        Sorted flat parameter indices, the whole output layer among them.
    output_layer : str
    weighting : {"fisher", "unweighted"}, default="fisher"
    forward_batch_size : int or "auto", default="auto"
    out : Tensor of shape (n, r, m), default=None
        Where to write ``G`` (any device and floating type); None allocates
        it (float32, on the model's device). Unused when ``m = 0``.
    reduced : bool, default=True
        ``r = C - 1`` rows per candidate with the same Fisher ``V_xᵀ V_x`` as
        the classes' rows (one backward pass fewer), where every other masked
        parameter is on the layer hooks' path (see :func:`factored_rows`);
        False: the ``C`` classes' rows, as :func:`masked_embeddings`.

    Returns
    -------
    D : Tensor of shape (n, r, n_classes), float64
    H : Tensor of shape (n, h), float64
        The output layer's inputs, with a trailing 1 when it has a bias.
    G : Tensor of shape (n, r, m) or None
        ``out``; None when the mask holds the output layer only.
    """
    forward_batch_size = check_forward_batch_size(forward_batch_size)
    layout = ParamLayout(model)
    device = model_device(model)
    module = dict(model.named_modules())[output_layer]
    groups = _middle_groups(model, layout, indices, output_layer)
    D = H = None
    with eval_mode(model):
        hooked, generic = split_paths(model, layout, X, groups) if groups else ([], [])
        reduced = reduced and not generic

        def embed(xb):
            return _factored_batch(
                model, xb, layout, module, groups, hooked, generic, weighting, reduced
            )

        if forward_batch_size == "auto":
            forward_batch_size = auto_forward_batch_size(model, X, embed)
        for start, xb in iter_chunks(X, forward_batch_size, model):
            Db, h, G = embed(xb)
            if D is None:
                D = torch.empty((len(X),) + Db.shape[1:], dtype=torch.float64, device=device)
                H = torch.empty(len(X), h.shape[1], dtype=torch.float64, device=device)
                if groups and out is None:
                    out = torch.empty((len(X),) + G.shape[1:], dtype=torch.float32, device=device)
            stop = start + len(xb)
            D[start:stop] = Db
            H[start:stop] = h
            if groups:
                out[start:stop] = G.to(out.dtype)
    return D, H, out if groups else None


def stored_embeddings(
    model,
    sets,
    indices,
    *,
    output_layer,
    weighting="fisher",
    dtype=torch.float64,
    device=None,
    storage="auto",
    forward_batch_size="auto",
    factored=True,
):
    """The embeddings of several sets of rows (a query's pool and labeled rows),
    stored once, in one buffer of type ``dtype``.

    With ``factored`` and a model where :func:`factorable_output` holds, each
    set is a :class:`~skfisher.fisher._factored.FactoredRows` (with the reduced
    rows of :func:`factored_embeddings`) whose stored part is its non-output
    entries; otherwise an (n_i, C, d) tensor. Either way the sets are views of
    one buffer on ``device`` or in host memory (see
    :func:`~skfisher.fisher._storage.allocate`), with room for the selection's state
    kept in reserve.

    Returns
    -------
    blocks : list
        One per set, in order.
    """
    device = model_device(model) if device is None else torch.device(device)
    layout = ParamLayout(model)
    with eval_mode(model), torch.no_grad():
        n_classes = model(next(iter_chunks(sets[0][:1], 1, model))[1]).shape[1]
    factored = factored and factorable_output(model, sets[0], output_layer)
    d = len(indices)
    # stored rows and columns: all (dense), or the non-output ones (factored)
    r = factored_rows(model, sets[0], indices, output_layer) if factored else n_classes
    m = d - sum(layout.sizes[j] for j in output_params(layout, output_layer)) if factored else d
    # beside the buffer: the selection's d x d matrices and C x C state
    reserve = 8 * (4 * d * d + 4 * len(sets[0]) * n_classes**2)
    store = allocate((sum(map(len, sets)), r, m), dtype, device, storage, reserve)
    blocks, start = [], 0
    for X in sets:
        out = store[start : start + len(X)]
        start += len(X)
        if not factored:
            blocks.append(
                masked_embeddings(
                    model,
                    X,
                    indices,
                    weighting=weighting,
                    forward_batch_size=forward_batch_size,
                    out=out,
                )
            )
            continue
        D, H, G = factored_embeddings(
            model,
            X,
            indices,
            output_layer=output_layer,
            weighting=weighting,
            forward_batch_size=forward_batch_size,
            out=out if m else None,
        )
        G = None if G is None else EmbeddingRows(G.view(-1, m), device, group=r)
        blocks.append(FactoredRows(D.to(device), H.to(device), G))
    return blocks


def block_tensors(block):
    """The stored tensors of an embedding block: the tensor itself, or the
    factors of a :class:`~skfisher.fisher._factored.FactoredRows` (its stored rows last)."""
    if not isinstance(block, FactoredRows):
        return [block]
    return [block.D, block.H] + ([] if block.G is None else [block.G.data])

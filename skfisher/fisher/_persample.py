"""Per-sample, per-class gradients of log-probabilities from layer hooks.

One forward pass records each parametrised layer's input and output; one
backward pass per class gives the per-sample gradients of ``log p_c`` with
respect to every layer output (samples are independent with BatchNorm in eval
mode). A parameter's per-sample gradient then follows in closed form from its
layer's input and output gradient, and only the requested entries are
computed: a conv weight entry is a sum over positions of output gradient times
input patch, so no full per-sample gradient is formed for a sparse mask. The
Fisher diagonal's sums of squares build on the same records in
:mod:`skfisher.fisher._squares`.

Supported layers: ``Conv2d`` (groups=1, zero padding), ``Linear`` and
``BatchNorm2d`` in eval mode with running statistics, each called once per
forward pass and owning its parameters alone. Every other parameter takes the
generic path of :mod:`skfisher.fisher._funcgrad` (:func:`hook_params` decides).
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._config import get_config
from ..utils._device import fitting_rows, free_memory
from ..utils._validation import Integers
from ._entries import plan_entries, weight_entries

__all__ = [
    "ParamLayout",
    "auto_forward_batch_size",
    "check_forward_batch_size",
    "eval_mode",
    "hook_params",
    "iter_chunks",
    "per_class_grads",
]

_SUPPORTED = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` in eval mode inside the block; restore every module's flag after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def iter_chunks(X, forward_batch_size, model):
    """``(start, rows)`` chunks of X on the model's device, in its dtype.

    X is sliced a chunk at a time, so a memory-mapped or lazily converted pool
    (:class:`~skfisher.utils._pools.PoolRows`) is never read whole.
    """
    p = next(model.parameters())
    for start in range(0, len(X), forward_batch_size):
        rows = X[start : start + forward_batch_size]  # reads only these rows of a lazy pool
        if not isinstance(rows, torch.Tensor):
            rows = np.asarray(rows)
            rows = torch.from_numpy(rows if rows.flags.writeable else rows.copy())
        yield start, rows.to(device=p.device, dtype=p.dtype)


_PROBE_ROWS = 8


def auto_forward_batch_size(model, X, work):
    """Rows per pass for ``work(rows)`` on the model's device.

    On CUDA, ``work`` runs on a probe of ``_PROBE_ROWS`` rows and the batch is
    what fits, at its peak memory per row, in the configuration's
    ``forward_memory_fraction`` of the free memory (at most
    ``max_forward_batch_size``); elsewhere, or for X of at most
    ``_PROBE_ROWS`` rows, it is ``cpu_forward_batch_size`` (see
    :func:`skfisher.set_config`). The peak statistics are
    read, never reset (only :func:`skfisher.profile_memory` resets them): a
    probe whose peak rises above the peak ``P0`` before it is measured
    exactly; one that does not is hidden, ``(P0 - a0) / rows`` bounding its
    cost a row (``a0``: the memory allocated before it), so it doubles its
    rows, within the rows of X and what the budget allows at that bound,
    until its peak shows; else the batch is sized from the bound.
    """
    device = next(model.parameters()).device
    config = get_config()
    if device.type != "cuda" or len(X) <= _PROBE_ROWS:
        return config["cpu_forward_batch_size"]
    budget = config["forward_memory_fraction"] * free_memory(device)
    rows = _PROBE_ROWS
    while True:
        torch.cuda.synchronize(device)
        base, before = torch.cuda.memory_allocated(device), torch.cuda.max_memory_allocated(device)
        _, probe = next(iter_chunks(X, rows, model))
        work(probe)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        # exact when the peak shows (peak > before); else an upper bound (peak == before)
        fitting = fitting_rows((peak - base) / rows, budget, high=config["max_forward_batch_size"])
        if peak > before or rows >= min(fitting, len(X)):
            return fitting
        rows = min(2 * rows, fitting, len(X))


def check_forward_batch_size(forward_batch_size):
    """``forward_batch_size`` if it is an int >= 1 or ``"auto"``; else a ValueError."""
    if isinstance(forward_batch_size, str) and forward_batch_size == "auto":
        return forward_batch_size
    if Integers(1).is_satisfied_by(forward_batch_size):
        return int(forward_batch_size)
    raise ValueError(
        f"forward_batch_size must be an int >= 1 or 'auto'; got {forward_batch_size!r}."
    )


class ParamLayout:
    """Flat indexing of a model's parameters in ``named_parameters()`` order.

    Attributes
    ----------
    names : list of str
    shapes : list of torch.Size
    offsets : list of int
        Start of each parameter in the flat vector.
    sizes : list of int
    owners : list of (module, str)
        The layer holding each parameter and its attribute name (``weight``,
        ``bias``, ``in_proj_weight``, ...).
    hookable : list of bool
        Whether the layer hooks can give the parameter's gradients: its
        layer is a supported type and configuration and owns it alone.
    trainable : list of bool
        ``requires_grad`` of each parameter.
    n_params : int

    Raises
    ------
    ValueError
        If a BatchNorm layer has no running statistics: in eval mode it
        normalises with the batch's statistics, so a row's output depends on
        the other rows and per-sample gradients are undefined.
    """

    def __init__(self, model):
        owner, n_owners = {}, {}
        for mod_name, mod in model.named_modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.running_mean is None:
                raise ValueError(
                    f"{type(mod).__name__} {mod_name!r} has track_running_stats=False, so in "
                    "eval mode it normalises each row with its batch's statistics and rows "
                    "are not independent; FisherMask needs classifiers whose per-sample "
                    "outputs are independent (use track_running_stats=True, or GroupNorm / "
                    "LayerNorm)."
                )
            for pname, p in mod.named_parameters(recurse=False, remove_duplicate=False):
                full = f"{mod_name}.{pname}" if mod_name else pname
                owner.setdefault(full, (mod, pname))
                n_owners[id(p)] = n_owners.get(id(p), 0) + 1
        self.names, self.shapes, self.offsets, self.sizes, self.owners = [], [], [], [], []
        self.hookable, self.trainable = [], []
        offset = 0
        for name, p in model.named_parameters():
            self.names.append(name)
            self.shapes.append(p.shape)
            self.offsets.append(offset)
            self.sizes.append(p.numel())
            self.owners.append(owner[name])
            self.hookable.append(n_owners[id(p)] == 1 and _supported(*owner[name]))
            self.trainable.append(p.requires_grad)
            offset += p.numel()
        self.n_params = offset

    def split(self, flat_indices):
        """Group sorted flat indices by parameter: ``[(param_no, local_indices), ...]``."""
        flat = torch.as_tensor(flat_indices, dtype=torch.long)
        bounds = torch.tensor(self.offsets[1:] + [self.n_params])
        which = torch.bucketize(flat, bounds, right=True)
        out = []
        for j in torch.unique(which).tolist():
            out.append((j, flat[which == j] - self.offsets[j]))
        return out


def _layer_input(module, inp):
    """What a layer's per-sample gradients need of its input, computed once a batch.

    ``Linear`` and ``Conv2d``: the (B, K, L) matrix of inputs (unfolded
    patches for a conv) that multiplies the output gradient; ``BatchNorm2d``:
    the normalised input ``x̂`` that multiplies the weight's output gradient.
    """
    B = inp.shape[0]
    if isinstance(module, nn.Linear):
        return inp.reshape(B, -1, inp.shape[-1]).transpose(1, 2)
    if isinstance(module, nn.Conv2d):
        return F.unfold(inp, module.kernel_size, module.dilation, module.padding, module.stride)
    return (inp - module.running_mean[:, None, None]) * torch.rsqrt(
        module.running_var[:, None, None] + module.eps
    )


def _output_grad(module, gout):
    """The output gradient as (B, O, L) for ``Linear`` and ``Conv2d`` weights."""
    B = gout.shape[0]
    if isinstance(module, nn.Linear):
        return gout.reshape(B, -1, gout.shape[-1]).transpose(1, 2)
    return gout.reshape(B, gout.shape[1], -1)


def _supported(module, pname):
    """Whether the layer hooks compute ``module.<pname>``'s per-sample gradients."""
    if isinstance(module, nn.Conv2d):
        return (
            module.groups == 1
            and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)
            and type(module) is nn.Conv2d
        )
    if isinstance(module, nn.BatchNorm2d):
        return module.running_mean is not None and type(module) is nn.BatchNorm2d
    return isinstance(module, nn.Linear) and pname in ("weight", "bias")


def hook_params(model, layout, x):
    """Parameters (by number in ``layout``) whose gradients the layer hooks give.

    Those of :attr:`ParamLayout.hookable` whose layer runs exactly once in a
    forward pass on ``x`` (e.g. attention's output projection is a Linear
    whose weight is used without calling it: it takes the generic path).

    Returns
    -------
    hooked : set of int
    """
    calls = {}
    handles = []
    for j, (mod, _) in enumerate(layout.owners):
        if layout.hookable[j] and id(mod) not in calls:
            calls[id(mod)] = 0
            handles.append(
                mod.register_forward_hook(
                    lambda m, args, out: calls.__setitem__(id(m), calls[id(m)] + 1)
                )
            )
    try:
        with torch.enable_grad():  # as per_class_grads runs it (no fused inference paths)
            model(x.detach().requires_grad_(True))
    finally:
        for h in handles:
            h.remove()
    return {
        j for j, (mod, _) in enumerate(layout.owners) if layout.hookable[j] and calls[id(mod)] == 1
    }


def _layer_grad(module, pname, U, gout, index):
    """Per-sample gradient of ``module.<pname>`` at flat ``index`` (None: all) -> (B, m).

    ``U`` is :func:`_layer_input` of the layer; for a Linear or Conv2d weight,
    ``index`` is planned as :class:`~skfisher.fisher._entries.WeightEntries`
    (see :func:`~skfisher.fisher._entries.plan_entries`).
    """
    B = gout.shape[0]
    if isinstance(module, nn.BatchNorm2d):
        if pname == "weight":
            g = (gout * U).sum((2, 3))
        else:
            g = gout.sum((2, 3))
        return g if index is None else g[:, index]
    if pname == "bias":
        g = (
            gout.reshape(B, -1, gout.shape[-1]).sum(1)
            if isinstance(module, nn.Linear)
            else (gout.sum((2, 3)))
        )
        return g if index is None else g[:, index]
    # weight entry (o, k) = sum over positions of gout[o] * input[k]
    return weight_entries(_output_grad(module, gout), U, index)


def _record(model, x, layout, groups):
    """One forward pass on ``x`` recording the input and output of the groups' layers.

    Returns
    -------
    logp : Tensor of shape (B, C)
        Log-probabilities, differentiable to the recorded outputs.
    mods : list of nn.Module
        The recorded layers.
    records : dict
        ``id(module) -> (input, output)``.
    """
    records = {}
    handles = []
    needed = {id(layout.owners[j][0]) for j, _ in groups}

    def hook(module, args, output):
        if id(module) in records:
            raise RuntimeError("A layer is called twice in one forward pass.")
        records[id(module)] = (args[0], output)
        return output.clone()  # later in-place ops must not touch the record

    for mod, _ in layout.owners:
        if id(mod) in needed and not any(mod is h[0] for h in handles):
            handles.append((mod, mod.register_forward_hook(hook)))
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            logp = torch.log_softmax(model(x), dim=1)
    finally:
        for _, h in handles:
            h.remove()
    return logp, [m for m, _ in handles], records


def _output_grads(logp, outputs, weights=None, classes=None, rows=None):
    """Yield, per backward pass, the gradients of the weighted ``log p`` at ``outputs``.

    One pass per class ``c`` (of ``weights[:, c] · log p_c``); with
    ``classes``, a single pass of ``weights[b] · log p_{classes[b]}``; with
    ``rows`` (B, r, C), one pass per row ``k`` of ``Σ_c rows[:, k, c] log p_c``.
    A layer that does not reach the output gets zeros. (Batching the passes
    with ``is_grads_batched`` was measured 1.5x slower on the CPU.)
    """
    if rows is not None:
        targets = [(logp, rows[:, k]) for k in range(rows.shape[1])]
    elif classes is None:
        targets = [(logp[:, c], weights[:, c]) for c in range(logp.shape[1])]
    else:
        targets = [(logp.gather(1, classes[:, None])[:, 0], weights)]
    for i, (target, weight) in enumerate(targets):
        gouts = torch.autograd.grad(
            target,
            outputs,
            grad_outputs=weight,
            retain_graph=i < len(targets) - 1,
            allow_unused=True,
        )
        yield [torch.zeros_like(o) if g is None else g for o, g in zip(outputs, gouts)]


def per_class_grads(model, x, layout, groups, *, scale_by_sqrt_p=False, rows=None):
    """Yield, for each class ``c``, ``(c, p_c, grads)`` for a batch ``x``.

    Parameters
    ----------
    model : torch.nn.Module in eval mode, returning logits
    x : Tensor of shape (B, ...)
    layout : ParamLayout of ``model``
    groups : list of (int, Tensor or None)
        Parameters (by number in ``layout``) and their local flat entries
        (None: all entries).
    scale_by_sqrt_p : bool, default=False
        Multiply each sample's gradients by ``√p_c`` (gradients are linear in
        the output gradient, so this is applied once to the output gradients).
    rows : callable, default=None
        Instead of one pass per class, one pass per row ``k`` of
        ``rows(prob)`` (B, r, C): the gradients of ``Σ_c rows[:, k, c] log p_c``
        (e.g. the reduced rows of :func:`skfisher.fisher._factored.output_factor`).

    Yields
    ------
    c : int
        The class (or row ``k``).
    p_c : Tensor of shape (B,) or None
        Predicted probability of class ``c`` (None with ``rows``).
    grads : list of Tensor of shape (B, m_j)
        Per-sample gradients of ``log p_c`` (times ``√p_c`` if asked) on each
        group's entries.
    """
    logp, mods, records = _record(model, x, layout, groups)
    pos = {id(m): i for i, m in enumerate(mods)}
    prob = logp.detach().exp()
    weights = prob.sqrt() if scale_by_sqrt_p else torch.ones_like(prob)
    inputs = {id(m): _layer_input(m, records[id(m)][0].detach()) for m in mods}
    groups = [(j, plan_entries(*layout.owners[j], index)) for j, index in groups]
    outputs = [records[id(m)][1] for m in mods]
    passes = _output_grads(
        logp, outputs, weights, rows=None if rows is None else rows(prob).to(logp.dtype)
    )
    for c, gouts in enumerate(passes):
        grads = []
        for j, index in groups:
            mod, pname = layout.owners[j]
            grads.append(_layer_grad(mod, pname, inputs[id(mod)], gouts[pos[id(mod)]], index))
        yield c, None if rows is not None else prob[:, c], grads

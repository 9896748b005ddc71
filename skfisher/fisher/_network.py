"""What the strategies need to know about a user's network, found from a few
rows: that it returns logits of independent rows, which layer is its output
layer, and what that layer sees (its inputs, the penultimate features, and
the logits)."""

import contextlib

import torch
from torch import nn

from ._persample import eval_mode, iter_chunks

__all__ = [
    "check_classifier_module",
    "find_output_layer",
    "first_call",
    "output_inputs",
    "output_layer_inputs",
]

_PROBE_ROWS = 4


def _probe(model, X):
    _, x = next(iter_chunks(X[:_PROBE_ROWS], _PROBE_ROWS, model))
    return x


def check_classifier_module(model, X):
    """Check on the first rows of ``X`` that ``model`` returns logits of independent rows.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in eval mode on its own device.
    X : Tensor or ndarray of shape (n, ...)

    Raises
    ------
    ValueError
        If the output is not of shape (n, n_classes); if it looks like
        probabilities (non-negative rows that sum to 1) rather than logits;
        if it is not finite; or if a row's output changes with the other rows
        of its batch.
    """
    x = _probe(model, X)
    with eval_mode(model), torch.no_grad():
        out = model(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or len(out) != len(x):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"The module must return logits of shape (n_samples, n_classes); for "
                f"{len(x)} rows it returned {shape}."
            )
        if not torch.isfinite(out).all():
            raise ValueError(
                "The module's outputs contain NaN or infinity (a diverged or broken "
                "model?); it cannot rank the pool."
            )
        ones = torch.ones(len(out), dtype=out.dtype, device=out.device)
        if out.shape[1] > 1 and (out >= 0).all() and torch.allclose(out.sum(1), ones, atol=1e-4):
            raise ValueError(
                "The module returns probabilities (non-negative rows summing to 1), but "
                "Fisher embeddings need its logits (or log-probabilities): drop the final "
                "softmax and train with CrossEntropyLoss (or end in log_softmax with NLLLoss)."
            )
        if len(x) > 1:
            alone = model(x[:1])
            if not torch.allclose(alone[0], out[0], rtol=1e-3, atol=1e-4 * (1 + out.abs().max())):
                raise ValueError(
                    "The module mixes the rows of a batch: in eval mode a row's output "
                    "alone differs from its output in a batch (e.g. BatchNorm without "
                    "running statistics). Per-sample Fisher embeddings need rows whose "
                    "outputs are independent."
                )


def find_output_layer(model, X, output_layer=None):
    """The module name of the output layer: the last Linear whose output is the logits.

    Parameters
    ----------
    model : torch.nn.Module
    X : Tensor or ndarray of shape (n, ...)
        A few rows are run through the model (eval mode) to find it.
    output_layer : str, default=None
        Given name, checked to exist; None: found automatically.

    Returns
    -------
    name : str

    Raises
    ------
    ValueError
        If ``output_layer`` names no module with parameters, or none is given
        and no Linear layer produces the model's output.
    """
    if output_layer is not None:
        owners = [
            n
            for n, m in model.named_modules()
            if n and next(m.parameters(recurse=False), None) is not None
        ]
        module = dict(model.named_modules()).get(output_layer)
        if not output_layer or module is None or next(module.parameters(), None) is None:
            raise ValueError(
                f"output_layer={output_layer!r} names no module with parameters; layers "
                f"with parameters: {owners}."
            )
        return output_layer
    outputs = []
    handles = [
        mod.register_forward_hook(lambda m, args, out, name=name: outputs.append((name, out)))
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear)
    ]
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(_probe(model, X))
    finally:
        for h in handles:
            h.remove()
    for name, out in reversed(outputs):
        if isinstance(out, torch.Tensor) and out.shape == logits.shape and torch.equal(out, logits):
            return name
    raise ValueError(
        "No Linear layer produces the module's output, so the output layer cannot be "
        "found automatically; pass output_layer=<module name>."
    )


@contextlib.contextmanager
def first_call(module):
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


def output_inputs(model, module, xb, recorded):
    """``(prob, h)`` of a batch: the softmax of the logits and the output layer's
    input, with a trailing 1 when it has a bias. ``recorded`` is the layer's
    first call in a forward pass on ``xb`` already made, if any."""
    if not recorded:
        with first_call(module) as recorded, torch.no_grad():
            model(xb)
    h, logits = recorded[0]
    if module.bias is not None:
        h = torch.cat([h, torch.ones_like(h[:, :1])], 1)
    return torch.softmax(logits, dim=1), h


def output_layer_inputs(model, X, *, output_layer="fc", forward_batch_size=256):
    """What the output layer sees (the penultimate features) and the logits.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in eval mode on its own device.
    X : Tensor or ndarray of shape (n, c, h, w)
    output_layer : str, default="fc"
        Module name of the output layer; its input is captured by a hook.
    forward_batch_size : int, default=256

    Returns
    -------
    features : Tensor of shape (n, D)
    logits : Tensor of shape (n, C)
    """
    layer = model.get_submodule(output_layer)
    features, logits = [], []
    with eval_mode(model), torch.no_grad():
        for _, xb in iter_chunks(X, forward_batch_size, model):
            with first_call(layer) as seen:
                logits.append(model(xb))
            features.append(seen[0][0].flatten(1))
    return torch.cat(features), torch.cat(logits)

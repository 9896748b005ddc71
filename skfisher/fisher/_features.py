"""What a network's output layer sees: its inputs (the penultimate features) and the logits."""

import contextlib

import torch

from ._persample import eval_mode, iter_chunks

__all__ = ["first_call", "output_inputs", "output_layer_inputs"]


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

"""Penultimate-layer features and logits of a network, chunked."""

import torch

from ._persample import eval_mode, iter_chunks

__all__ = ["output_layer_inputs"]


def output_layer_inputs(model, X, *, output_layer="fc", batch_size=256):
    """What the output layer sees (the penultimate features) and the logits.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in eval mode on its own device.
    X : Tensor or ndarray of shape (n, c, h, w)
    output_layer : str, default="fc"
        Module name of the output layer; its input is captured by a hook.
    batch_size : int, default=256

    Returns
    -------
    features : Tensor of shape (n, D)
    logits : Tensor of shape (n, C)
    """
    layer = model.get_submodule(output_layer)
    captured = []
    handle = layer.register_forward_pre_hook(lambda mod, args: captured.append(args[0]))
    features, logits = [], []
    try:
        with eval_mode(model), torch.no_grad():
            for _, xb in iter_chunks(X, batch_size, model):
                logits.append(model(xb))
                features.append(captured.pop().flatten(1))
    finally:
        handle.remove()
    return torch.cat(features), torch.cat(logits)

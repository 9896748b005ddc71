"""Sums over rows of squared per-sample gradients, for the Fisher diagonal.

The same layer records as :mod:`skfisher.fisher._persample` (one forward pass, then
``C - 1`` backward passes to the layer outputs along the reduced output rows
of :func:`skfisher.fisher._factored.output_factor`, or one for a sampled class);
only the squares summed over rows are kept, accumulated layer by layer over
the backward passes.
"""

import torch
from torch import nn

from .._config import get_config
from ._factored import output_factor
from ._persample import _layer_grad, _layer_input, _output_grad, _output_grads, _record

__all__ = ["sum_sq_grads"]


class _SquareSum:
    """``Σ_passes Σ_b g_b²`` of one parameter's per-sample gradients, pass by pass.

    A Linear or Conv2d weight entry is ``g_b[o, k] = Σ_l G[b, o, l] U[b, k, l]``.
    With many positions L the per-sample gradients come from one batched
    matmul per pass (O K B L flops and a (B, O, K) tensor); with few, the
    square is expanded over position pairs (l, l'): the pair products of G
    are summed over the passes and met by those of U in a single matmul at
    the end (O K B L² flops in all, no (B, O, K) tensor), cheaper once L is
    at most about twice the number of passes. ``inp`` and ``out`` are the
    layer's recorded input and output; :func:`_layer_input` is formed once
    for all passes, or, for a single pass of the matmul path, chunk by chunk
    (an unfolded conv input is large and read once). The matmul path forms
    ``U Gᵀ`` (B, K, O) from ``U`` as unfolded: a transposed copy of ``U``
    cost a third as much as all the passes' products on early conv layers.
    """

    def __init__(self, module, pname, inp, out, n_passes):
        self.module, self.pname, self.inp = module, pname, inp
        self.total = self.buffer = self.U = None
        self.matmul = pname == "weight" and not isinstance(module, nn.BatchNorm2d)
        O = out.shape[-1] if isinstance(module, nn.Linear) else out.shape[1]
        L = out[0].numel() // O
        self.pairs = self.matmul and L <= get_config()["pair_factor"] * max(n_passes, 2)
        if pname == "weight" and (self.pairs or not self.matmul or n_passes > 1):
            self.U = _layer_input(module, inp)

    def _rows(self, s, step):
        """Rows ``s : s + step`` of ``U``, (b, K, L)."""
        if self.U is not None:
            return self.U[s : s + step]
        return _layer_input(self.module, self.inp[s : s + step])

    def add(self, gout):
        if self.pairs:  # Σ_passes G[b, o, l] G[b, o, l'] -> (B, O, L, L), in place
            G = _output_grad(self.module, gout).contiguous()
            B, O, L = G.shape
            if self.total is None:
                self.total = G.new_zeros(B, O, L, L)
            self.total.addcmul_(G[:, :, :, None], G[:, :, None, :])
            return
        if self.matmul:
            G = _output_grad(self.module, gout)
            B, O, L = G.shape
            K = self.module.weight[0].numel()
            step = min(max(get_config()["square_elements"] // (max(O, L) * K), 1), B)
            if self.buffer is None:  # reused by every pass: fresh pages are slow
                self.buffer = G.new_empty(step, K, O)
            GG = G.new_zeros(K, O)
            for s in range(0, B, step):
                g = torch.bmm(
                    self._rows(s, step), G[s : s + step].transpose(1, 2), out=self.buffer[: B - s]
                )
                GG += g.square_().sum(0)
            GG = GG.T.reshape(-1)
        else:
            GG = _layer_grad(self.module, self.pname, self.U, gout, None).square_().sum(0)
        self.total = GG if self.total is None else self.total.add_(GG)

    def result(self):
        """The sum of squares, of shape (numel,)."""
        if not self.pairs:
            return self.total
        B, O, L, _ = self.total.shape
        K = self.U.shape[1]
        out = self.total.new_zeros(O, K)
        step = min(max(get_config()["square_elements"] // (max(K, O) * L * L), 1), B)
        buffer = out.new_empty(K * step * L * L)  # reused by every chunk
        for s in range(0, B, step):
            # contiguous (channel, row, l, l') operands: strided products are slow
            GG = self.total[s : s + step].transpose(0, 1).reshape(O, -1)
            U = self.U[s : s + step].transpose(0, 1).contiguous()
            UU = buffer[: U.numel() * L].view(K, -1, L, L)
            torch.mul(U[:, :, :, None], U[:, :, None, :], out=UU)
            out.addmm_(GG, UU.reshape(K, -1).T)
        return out.reshape(-1)


def sum_sq_grads(model, x, layout, groups, *, classes=None):
    """Sums over the rows of ``x`` of squared per-sample gradients, for the Fisher diagonal.

    Without ``classes``: ``Σ_b Σ_c p_c (∂ log p_c / ∂θ)²`` (``C - 1`` backward
    passes, along the reduced output rows); with ``classes``:
    ``Σ_b (∂ log p_{classes[b]} / ∂θ)²`` (one backward pass; drawing
    ``classes[b]`` from ``p(x_b)`` makes it an unbiased estimate of the
    former).

    Parameters
    ----------
    model : torch.nn.Module in eval mode, returning logits
    x : Tensor of shape (B, ...)
    layout : ParamLayout of ``model``
    groups : list of (int, None)
        Parameters (by number in ``layout``), all entries.
    classes : Tensor of shape (B,), dtype int64, or callable, default=None
        The class of each row, or a function of the probabilities (B, C)
        that returns them.

    Returns
    -------
    sums : list of Tensor of shape (numel_j,)
    """
    logp, mods, records = _record(model, x, layout, groups)
    pos = {id(m): i for i, m in enumerate(mods)}
    prob = logp.detach().exp()
    if callable(classes):
        classes = classes(prob)
    # exact: C - 1 passes along rows R with Rᵀ R = Σ_c p_c (e_c - p)(e_c - p)ᵀ,
    # whose squares sum to those of the C classes' passes weighted by p_c
    rows = None if classes is not None else output_factor(prob, reduced=True).to(prob.dtype)
    weights = None if classes is None else torch.ones_like(prob[:, 0])
    n_passes = 1 if rows is None else rows.shape[1]
    sums = []
    for j, _ in groups:
        inp, out = records[id(layout.owners[j][0])]
        sums.append(_SquareSum(*layout.owners[j], inp.detach(), out.detach(), n_passes))
    outputs = [records[id(m)][1] for m in mods]
    for gouts in _output_grads(logp, outputs, weights, classes, rows):
        for (j, _), acc in zip(groups, sums):
            acc.add(gouts[pos[id(layout.owners[j][0])]])
    return [acc.result() for acc in sums]

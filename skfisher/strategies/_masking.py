"""FisherMask's first step: which parameters the embeddings keep (the mask), and
the pool rows whose Fisher diagonal chooses them (``docs/design.md``, "The
algorithm")."""

import numpy as np

from ..fisher._diagonal import fisher_diagonal
from ..fisher._mask import build_mask, mask_candidates
from ..fisher._network import check_classifier_module, find_output_layer
from ..fisher._persample import ParamLayout
from ._base import check_finite_outputs

__all__ = ["AUTO_FISHER_ROWS", "choose_mask", "fisher_rows", "mask_setup"]

#: the most rows of the Fisher diagonal that ``fisher_samples="auto"`` takes
AUTO_FISHER_ROWS = 1024
_EXACT_DIAG_COST = 3  # exact diagonal / embeddings, in forward passes per row (CPU)


def fisher_rows(fisher_samples, fisher, n_pool):
    """Rows of the Fisher diagonal for a pool of ``n_pool`` rows.

    Parameters
    ----------
    fisher_samples : int or "auto"
        See :class:`~skfisher.strategies.FisherMask`; an int is capped at ``n_pool``.
    fisher : {"exact", "sampled"}
        The diagonal's estimator, which sets the ``"auto"`` share of the pool.
    n_pool : int

    Returns
    -------
    m : int
    """
    if fisher_samples != "auto":
        return min(fisher_samples, n_pool)
    share = n_pool if fisher == "sampled" else -(-n_pool // _EXACT_DIAG_COST)
    return min(AUTO_FISHER_ROWS, share)


def mask_setup(model, pool, *, mask, sparsity, output_layer, layers, trainable_only):
    """The module, its output layer and the mask's size, checked on a few probe rows.

    Runs before any pass over the pool, so a bad network or a too small
    ``sparsity`` fails fast.

    Parameters
    ----------
    model : torch.nn.Module
    pool : ndarray of shape (n_pool, c, h, w), dtype float32
    mask, sparsity, output_layer, layers, trainable_only
        :class:`~skfisher.strategies.FisherMask`'s parameters.

    Returns
    -------
    layout : ParamLayout
    mask_args : dict
        ``method``, ``output_layer`` (found), ``layers``, ``trainable_only``:
        the keywords of :func:`~skfisher.fisher.build_mask`.
    """
    check_classifier_module(model, pool)
    layout = ParamLayout(model)
    mask_args = dict(
        method=mask,
        output_layer=find_output_layer(model, pool, output_layer),
        layers=None if layers is None else list(layers),
        trainable_only=trainable_only,
    )
    if mask in ("global", "per_layer"):
        build_mask(np.zeros(layout.n_params), layout, float(sparsity), **mask_args)
    return layout, mask_args


def choose_mask(
    model, pool, layout, mask_args, *, sparsity, n_rows, fisher, rng, forward_batch_size, strategy
):
    """The mask's flat parameter indices, from the Fisher diagonal of ``n_rows`` pool rows.

    The output and random masks read no diagonal.

    Parameters
    ----------
    model : torch.nn.Module
    pool : ndarray of shape (n_pool, c, h, w), dtype float32
    layout, mask_args
        From :func:`mask_setup`.
    sparsity : float
    n_rows : int
        Rows of the diagonal (:func:`fisher_rows`), drawn with ``rng``.
    fisher : {"exact", "sampled"}
    rng : RandomState
        Draws the rows, the sampled classes and the random mask.
    forward_batch_size : int or "auto"
        Rows per forward pass.
    strategy : str
        The strategy's name, for the error messages.

    Returns
    -------
    indices : ndarray of shape (k,), dtype int64
    m : int
        The rows the diagonal read (0: none).
    """
    if mask_args["method"] in ("output", "random"):
        return build_mask(None, layout, float(sparsity), random_state=rng, **mask_args), 0
    rows = np.sort(rng.choice(len(pool), size=n_rows, replace=False))
    candidates = mask_candidates(
        layout,
        output_layer=mask_args["output_layer"],
        layers=mask_args["layers"],
        trainable_only=mask_args["trainable_only"],
    )  # only these need the diagonal
    diag = fisher_diagonal(
        model,
        pool[rows],
        names=[layout.names[j] for j in candidates],
        forward_batch_size=forward_batch_size,
        method=fisher,
        random_state=rng,
    )
    check_finite_outputs(diag, "Fisher diagonal", strategy)
    return build_mask(diag, layout, float(sparsity), random_state=rng, **mask_args), n_rows

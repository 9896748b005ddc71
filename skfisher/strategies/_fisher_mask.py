"""FisherMask and BAIT: Fisher-masked gradient embeddings + greedy Fisher selection."""

import time

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..fisher import (
    MASK_METHODS,
    ParamLayout,
    build_mask,
    fisher_diagonal,
    mask_summary,
    masked_embeddings,
)
from ..selection import greedy_select
from ._base import check_n_instances, images_for, unwrap_classifier

__all__ = ["FisherMask", "fisher_mask", "bait"]


class FisherMask(BaseEstimator):
    """FisherMask query strategy (arXiv 2411.05752) as a configurable callable.

    Instances follow modAL's contract, ``strategy(classifier, X_pool,
    n_instances=1) -> (indices, gains)``, so ``ActiveLearner(...,
    query_strategy=FisherMask(sparsity=0.005))`` works, and the
    hyperparameters are tunable (``query_strategy__sparsity``) and clonable.

    A query (1) estimates the Fisher diagonal on ``fisher_samples`` random
    pool rows, (2) keeps the output layer plus the top entries of the other
    layers, ``int(sparsity * n_params)`` in all, (3) computes each row's
    per-class gradient embedding on the mask and (4) picks the batch by
    greedy Fisher (BAIT objective) selection with Woodbury updates.

    Parameters
    ----------
    sparsity : float, default=0.002
        Fraction of the network's parameters in the mask.
    fisher_samples : int, default=1024
        Pool rows (drawn with ``random_state``) for the Fisher diagonal; the
        whole pool when smaller.
    lam : float, default=1.0
        Ridge of the selection objective.
    backward_steps : int, default=0
        Backward (swap-out) rounds of the greedy selection; BAIT uses 1.
    weighting : {"fisher", "unweighted"}, default="fisher"
        ``√p_c``-weighted embeddings, or unweighted as the reference code.
    mask : {"global", "per_layer", "random", "output"}, default="global"
        How the non-output entries are chosen, see
        :func:`skfisher.fisher.build_mask`; ``"output"`` is BAIT's mask.
    layers : list of str, default=None
        Parameter-name prefixes eligible for the mask; None: all but the
        output layer.
    output_layer : str, default="fc"
        Module name of the output layer.
    batch_size : int, default=128
        Rows per forward pass for the Fisher diagonal and the embeddings.
    device : str or None, default=None
        Device of the selection algebra; None: the network's device.
    random_state : int, RandomState instance or None, default=None
        Draws the Fisher rows (and the random mask).

    Attributes
    ----------
    last_query_ : dict
        Diagnostics of the last call: ``mask_size``, ``mask_layers`` (entries
        per parameter), ``seconds`` per phase (``fisher_diagonal``,
        ``embeddings``, ``selection``) and ``objective`` (``tr(A F_pool)``).

    Examples
    --------
    >>> from skfisher import FisherMask, ResNet18Classifier
    >>> from skfisher.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = ResNet18Classifier(max_epochs=1, random_state=0, device="cpu")
    >>> net = net.fit(X[:50], y[:50])
    >>> idx, gains = FisherMask(random_state=0)(net, X[50:250], n_instances=5)
    >>> idx.shape
    (5,)
    """

    def __init__(
        self,
        sparsity=0.002,
        *,
        fisher_samples=1024,
        lam=1.0,
        backward_steps=0,
        weighting="fisher",
        mask="global",
        layers=None,
        output_layer="fc",
        batch_size=128,
        device=None,
        random_state=None,
    ):
        self.sparsity = sparsity
        self.fisher_samples = fisher_samples
        self.lam = lam
        self.backward_steps = backward_steps
        self.weighting = weighting
        self.mask = mask
        self.layers = layers
        self.output_layer = output_layer
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def _check_params(self):
        for name, low in (("fisher_samples", 1), ("batch_size", 1), ("backward_steps", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value!r}.")
        if self.mask not in MASK_METHODS:
            raise ValueError(f"mask must be one of {MASK_METHODS}; got {self.mask!r}.")
        if self.weighting not in ("fisher", "unweighted"):
            raise ValueError(
                f"weighting must be 'fisher' or 'unweighted'; got {self.weighting!r}."
            )

    def __call__(self, classifier, X_pool, n_instances=1, *, X_labeled=None):
        """Pick ``n_instances`` rows of ``X_pool``.

        Parameters
        ----------
        classifier : modAL ActiveLearner or fitted estimator with ``module_``
            With a learner, its ``X_training`` gives the labeled Fisher; with
            a bare estimator it is zero unless ``X_labeled`` is given.
        X_pool : array-like of shape (n_pool, ...)
            Unlabeled candidates, in any form the estimator predicts on.
        n_instances : int, default=1
        X_labeled : array-like of shape (n_labeled, ...), default=None
            Labeled rows; overrides the learner's ``X_training``.

        Returns
        -------
        indices : ndarray of shape (n_instances,), dtype int64
            Rows of ``X_pool`` in the order they were chosen.
        gains : ndarray of shape (n_instances,)
            Each row's drop of the objective ``tr(A F_pool)`` when chosen.
        """
        self._check_params()
        n_pool = check_n_instances(n_instances, X_pool, factor=self.backward_steps + 1)
        estimator, X_labeled = unwrap_classifier(classifier, X_labeled)
        check_is_fitted(estimator, "module_")
        model = estimator.module_
        pool = images_for(estimator, X_pool)
        labeled = None
        if X_labeled is not None and len(X_labeled):
            labeled = images_for(estimator, X_labeled)
        rng = check_random_state(self.random_state)
        seconds = {}

        tic = time.perf_counter()
        layout = ParamLayout(model)
        if self.mask in ("output", "random"):
            diag = None
        else:
            m = min(self.fisher_samples, n_pool)
            rows = np.sort(rng.choice(n_pool, size=m, replace=False))
            diag = fisher_diagonal(model, pool[rows], batch_size=self.batch_size)
        indices = build_mask(
            diag, layout, self.sparsity, method=self.mask,
            output_layer=self.output_layer, layers=self.layers, random_state=rng,
        )
        seconds["fisher_diagonal"] = time.perf_counter() - tic

        tic = time.perf_counter()

        def embed(X):
            return masked_embeddings(
                model, X, indices, weighting=self.weighting, batch_size=self.batch_size
            )

        V = embed(pool)
        L = embed(labeled) if labeled is not None else None
        seconds["embeddings"] = time.perf_counter() - tic

        tic = time.perf_counter()
        # the pool Fisher averages over labeled and unlabeled rows, as the reference
        pool_rows = V if L is None else torch.cat([V, L])
        # float64 embeddings: picks exactly as the brute-force algebra (float32
        # storage would halve memory at a ~1e-5 relative objective drift)
        chosen, gains, objective = greedy_select(
            V.double(), n_instances, pool_fisher=pool_rows, labeled_fisher=L,
            n_labeled=0 if L is None else len(L), lam=self.lam,
            backward_steps=self.backward_steps,
            device=self.device if self.device is not None else V.device,
        )
        seconds["selection"] = time.perf_counter() - tic

        self.last_query_ = {
            "mask_size": len(indices),
            "mask_layers": {
                s["name"]: s["selected"] for s in mask_summary(indices, layout) if s["selected"]
            },
            "seconds": seconds,
            "objective": objective,
        }
        return chosen, gains


def fisher_mask(classifier, X_pool, n_instances=1, **params):
    """FisherMask query function (modAL contract).

    ``fisher_mask(clf, X, n, **params)`` is ``FisherMask(**params)(clf, X, n)``;
    see :class:`FisherMask` for the parameters.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    gains : ndarray of shape (n_instances,)
    """
    X_labeled = params.pop("X_labeled", None)
    return FisherMask(**params)(classifier, X_pool, n_instances, X_labeled=X_labeled)


def bait(classifier, X_pool, n_instances=1, **params):
    """BAIT (Ash et al. 2021): greedy Fisher selection on the output layer only.

    ``FisherMask(mask="output", backward_steps=1)`` with any other
    :class:`FisherMask` parameter given in ``params``.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    gains : ndarray of shape (n_instances,)
    """
    params = {"mask": "output", "backward_steps": 1, **params}
    return fisher_mask(classifier, X_pool, n_instances, **params)

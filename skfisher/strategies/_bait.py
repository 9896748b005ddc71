"""BAIT (Ash et al. 2021) as FisherMask's special case: the output layer's mask
with a backward step."""

from ._fisher_mask import FisherMask

__all__ = ["Bait"]


class Bait(FisherMask):
    """BAIT (Ash et al. 2021): greedy Fisher selection on the output layer only.

    A :class:`FisherMask` whose defaults are BAIT's, ``mask="output"`` and
    ``backward_steps=1`` (over-select ``2 * n_instances`` rows, then swap
    out); every parameter, the call and the attributes are FisherMask's, and
    any of them can be set. With ``mask="output"`` the Fisher diagonal is not
    computed, so ``sparsity``, ``fisher_samples``, ``fisher``, ``layers`` and
    ``trainable_only`` have no effect.

    Parameters
    ----------
    sparsity : float, default=0.002
    fisher_samples : int or "auto", default="auto"
    fisher : {"exact", "sampled"}, default="exact"
    max_candidates : int or None, default=None
    lam : float, default=1.0
        Ridge of the selection objective.
    backward_steps : int, default=1
        Backward (swap-out) rounds of the greedy selection.
    weighting : {"fisher", "unweighted"}, default="fisher"
    mask : {"global", "per_layer", "random", "output"}, default="output"
        ``"output"``: the whole output layer, BAIT's embedding.
    layers : list of str, default=None
    output_layer : str, default=None
    trainable_only : bool, default=True
    forward_batch_size : int or "auto", default="auto"
        Rows per forward pass (not the number of rows queried).
    embedding_dtype : {"float64", "float32", "bfloat16", "float16"}, default="float64"
    storage : {"auto", "device", "host"}, default="auto"
    device : str or None, default=None
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    last_query_ : dict
        Diagnostics of the last call, as :class:`FisherMask`'s.

    See Also
    --------
    bait : The function form.
    FisherMask : The general strategy, with the parameters described.

    Examples
    --------
    >>> from skfisher import Bait, ResNet18Classifier
    >>> from skfisher.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = ResNet18Classifier(max_epochs=1, random_state=0, device="cpu")
    >>> net = net.fit(X[:50], y[:50])
    >>> idx, gains = Bait(random_state=0)(net, X[50:250], n_instances=5, X_labeled=X[:50])
    >>> idx.shape
    (5,)
    """

    def __init__(
        self,
        sparsity=0.002,
        *,
        fisher_samples="auto",
        fisher="exact",
        max_candidates=None,
        lam=1.0,
        backward_steps=1,
        weighting="fisher",
        mask="output",
        layers=None,
        output_layer=None,
        trainable_only=True,
        forward_batch_size="auto",
        embedding_dtype="float64",
        storage="auto",
        device=None,
        random_state=None,
    ):
        super().__init__(
            sparsity=sparsity,
            fisher_samples=fisher_samples,
            fisher=fisher,
            max_candidates=max_candidates,
            lam=lam,
            backward_steps=backward_steps,
            weighting=weighting,
            mask=mask,
            layers=layers,
            output_layer=output_layer,
            trainable_only=trainable_only,
            forward_batch_size=forward_batch_size,
            embedding_dtype=embedding_dtype,
            storage=storage,
            device=device,
            random_state=random_state,
        )

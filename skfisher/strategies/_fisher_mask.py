"""FisherMask: Fisher-masked gradient embeddings + greedy Fisher selection, as an estimator
(the mask step is in :mod:`._masking`; BAIT, its subclass, in :mod:`._bait`)."""

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples

from .._config import get_config
from ..fisher._diagonal import DIAGONAL_METHODS
from ..fisher._embeddings import block_tensors, stored_embeddings
from ..fisher._mask import MASK_METHODS, mask_summary
from ..fisher._storage import STORAGE_DTYPES, storage_dtype
from ..selection._greedy import LocalPool
from ..selection._problem import prepare
from ..utils._device import model_device, phase, resolve_device
from ..utils._validation import Integers, Reals, StrOptions
from ._base import QueryStrategy, check_finite_outputs, images_for, resolve_estimator
from ._masking import choose_mask, fisher_rows, mask_setup

__all__ = ["FisherMask"]


class FisherMask(QueryStrategy):
    """FisherMask query strategy (arXiv 2411.05752) as a configurable callable.

    Instances follow modAL's contract, ``strategy(classifier, X_pool,
    n_instances=1, *, X_labeled=None) -> (indices, gains)``, so
    ``ActiveLearner(..., query_strategy=FisherMask(sparsity=0.005))`` works,
    and the hyperparameters are tunable (``query_strategy__sparsity``) and
    clonable. With a learner, its ``X_training`` gives the labeled Fisher;
    with a bare estimator it is zero unless ``X_labeled`` is given. A
    Pipeline's earlier steps transform ``X_pool`` and ``X_labeled``. A modAL
    Committee is refused (several networks, no one Fisher). The gains are
    each chosen row's drop of the objective ``tr(A F_pool)``, in the order
    chosen.

    A query (1) estimates the Fisher diagonal on ``fisher_samples`` random
    pool rows, (2) keeps the output layer plus the top entries of the other
    layers, ``int(sparsity * n_params)`` in all, (3) computes each row's
    per-class gradient embedding on the mask and (4) picks the batch by
    greedy Fisher (BAIT objective) selection with Woodbury updates.

    Parameters
    ----------
    sparsity : float, default=0.002
        Fraction of the network's parameters in the mask.
    fisher_samples : int or "auto", default="auto"
        Pool rows (drawn with ``random_state``) for the Fisher diagonal; the
        whole pool when smaller. ``"auto"`` keeps the diagonal's cost at or
        below the embeddings': measured in forward passes per row, the exact
        diagonal costs about three times the embeddings (1 + 2C against
        1 + C passes, plus the per-sample products of every layer), so it
        takes ``ceil(n_pool / 3)`` rows; the sampled one costs less than the
        embeddings (about 3 passes), so it takes the whole pool. Either way
        at most 1024 rows.
    fisher : {"exact", "sampled"}, default="exact"
        Estimator of the Fisher diagonal (see
        :func:`skfisher.fisher.fisher_diagonal`): ``"exact"`` sums over the
        classes (one backward pass per class); ``"sampled"`` draws one class
        per row from the model's prediction (with ``random_state``), an
        unbiased Monte-Carlo estimate of the same diagonal for one backward
        pass per row.
    max_candidates : int or None, default=None
        Bound on the rows scored, for very large pools: when the pool has
        more rows, a uniformly random subset of ``max_candidates`` rows
        (drawn with ``random_state``, after the Fisher rows) is embedded and
        selected from, and its embeddings (with the labeled ones) also form
        the pool Fisher of the objective; the Fisher diagonal's rows are
        still drawn from the whole pool. Picks are pool indices, all in the
        subset. None, or a bound of at least the pool size, scores every row.
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
    output_layer : str, default=None
        Module name of the output layer; None finds it: the last Linear
        layer whose output is the network's output (the logits).
    trainable_only : bool, default=True
        Keep frozen parameters (``requires_grad=False``, e.g. a frozen
        pretrained backbone) out of the mask; ``sparsity`` is then a fraction
        of the trainable parameters. No effect when all are trainable.
    forward_batch_size : int or "auto", default="auto"
        Rows per forward pass for the Fisher diagonal and the embeddings;
        ``"auto"`` sizes them from the free GPU memory (128 on the CPU).
        Not the number of rows queried (``n_instances``).
    embedding_dtype : {"float64", "float32", "bfloat16", "float16"}, default="float64"
        Storage type of the embeddings' stored entries (with a linear
        output layer, whose block is kept as float64 factors, those of the
        other layers). The selection state is float64 whatever it is;
        passes over float32 or 16-bit embeddings run in float32. float64
        gives the picks of the exact algebra; bfloat16 takes a quarter of
        the memory (a full-width ResNet-18 on a 50 000-image pool needs it)
        at a small objective drift.
    storage : {"auto", "device", "host"}, default="auto"
        Where the embeddings are kept for the selection: on its device, or
        in (pinned) host memory, streamed to the device every step.
        ``"auto"`` takes the device when they fit there.
    device : str or None, default=None
        Device of the selection algebra; None: the network's device.
    random_state : int, RandomState instance or None, default=None
        Draws the Fisher rows, the sampled classes, the random mask and the
        candidate subset.
    Attributes
    ----------
    last_query_ : dict
        Diagnostics of the last call: ``mask_size``, ``mask_layers`` (entries
        per parameter), ``seconds`` per phase (``fisher_diagonal``,
        ``embeddings``, ``selection``), ``peak_memory`` per phase (bytes of
        GPU memory inside :func:`skfisher.profile_memory`, which resets the
        device's peak-memory statistics; None otherwise and on the CPU),
        ``storage`` (where the embeddings were kept), ``objective``
        (``tr(A F_pool)``), ``fisher_rows`` (rows of the Fisher diagonal, 0
        for the output and random masks) and ``candidates`` (the pool rows
        scored, sorted; None: all).

    See Also
    --------
    fisher_mask : The function form.
    Bait : BAIT, the output layer's mask with a backward step.

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
        fisher_samples="auto",
        fisher="exact",
        max_candidates=None,
        lam=1.0,
        backward_steps=0,
        weighting="fisher",
        mask="global",
        layers=None,
        output_layer=None,
        trainable_only=True,
        forward_batch_size="auto",
        embedding_dtype="float64",
        storage="auto",
        device=None,
        random_state=None,
    ):
        self.sparsity = sparsity
        self.fisher_samples = fisher_samples
        self.fisher = fisher
        self.max_candidates = max_candidates
        self.lam = lam
        self.backward_steps = backward_steps
        self.weighting = weighting
        self.mask = mask
        self.layers = layers
        self.output_layer = output_layer
        self.trainable_only = trainable_only
        self.forward_batch_size = forward_batch_size
        self.embedding_dtype = embedding_dtype
        self.storage = storage
        self.device = device
        self.random_state = random_state

    _parameter_constraints = {
        "sparsity": [Reals(0, 1, closed="right")],
        "fisher_samples": [Integers(1), StrOptions({"auto"})],
        "fisher": [StrOptions(set(DIAGONAL_METHODS))],
        "max_candidates": [Integers(1), None],
        "lam": [Reals(0, closed="neither")],
        "backward_steps": [Integers(0)],
        "weighting": [StrOptions({"fisher", "unweighted"})],
        "mask": [StrOptions(set(MASK_METHODS))],
        "layers": [list, tuple, None],
        "output_layer": [str, None],
        "trainable_only": ["boolean"],
        "forward_batch_size": [Integers(1), StrOptions({"auto"})],
        "embedding_dtype": [StrOptions(set(STORAGE_DTYPES))],
        "storage": [StrOptions({"auto", "device", "host"})],
        "device": [str, torch.device, None],
        "random_state": ["random_state"],
    }

    @classmethod
    def reference(cls, **params):
        """A FisherMask with the settings of the reference code (sgchr273/FisherMask).

        It sets ``sparsity=0.002``, ``mask="global"``, ``layers=None``,
        ``fisher="exact"``, ``fisher_samples=1024``, ``weighting="unweighted"``
        (no ``√p_c`` in the embeddings), ``lam=1.0`` and ``backward_steps=0``,
        whatever the defaults; every other parameter keeps its default. It is
        a FisherMask whichever class it is called on.
        Differs from the defaults in: ``fisher_samples``, ``weighting``.

        Parameters
        ----------
        **params
            Any :class:`FisherMask` parameter, overriding the preset, e.g.
            ``random_state=0``.

        Returns
        -------
        strategy : FisherMask

        Notes
        -----
        Only the hyperparameters are the reference's. skfisher still draws the
        Fisher rows at random from the pool (the reference takes its first
        1024 rows in storage order), applies no data augmentation and finds
        the mask's entries by index (see ``docs/design.md``, "The algorithm").

        Examples
        --------
        >>> from skfisher import FisherMask
        >>> FisherMask.reference(random_state=0).weighting
        'unweighted'
        """
        preset = dict(
            sparsity=0.002,
            mask="global",
            layers=None,
            fisher="exact",
            fisher_samples=1024,
            weighting="unweighted",
            lam=1.0,
            backward_steps=0,
        )
        return FisherMask(**{**preset, **params})

    def _n_instances_factor(self):
        """Each backward step over-selects ``n_instances`` more rows first."""
        return self.backward_steps + 1

    def _query(self, classifier, X_pool, n_instances, *, X_labeled=None):
        """The four steps of a query, timed per phase (see the class docstring)."""
        name = type(self).__name__
        n_pool = _num_samples(X_pool)
        self._check_max_candidates(n_instances)
        model, pool, labeled = _network_and_images(classifier, X_pool, X_labeled, name)
        layout, mask_args = self._mask_setup(model, pool)
        rng = check_random_state(self.random_state)
        device = self._device_for(model)
        seconds, peaks = {}, {}

        with phase("fisher_diagonal", device, seconds, peaks):
            indices, m = choose_mask(
                model,
                pool,
                layout,
                mask_args,
                sparsity=self.sparsity,
                n_rows=self._fisher_rows(len(pool)),
                fisher=self.fisher,
                rng=rng,
                forward_batch_size=self.forward_batch_size,
                strategy=name,
            )
        scored = self._candidates(n_pool, rng)
        if scored is not None:
            pool = pool[scored]
        with phase("embeddings", device, seconds, peaks):
            V, L = self._embeddings(model, pool, labeled, indices, mask_args, device)
        with phase("selection", device, seconds, peaks):
            n_labeled = 0 if labeled is None else len(labeled)
            chosen, gains, objective = self._select(V, L, n_labeled, n_instances, device)
        if scored is not None:
            chosen = scored[chosen]

        self.last_query_ = {
            "mask_size": len(indices),
            "mask_layers": {
                s["name"]: s["selected"] for s in mask_summary(indices, layout) if s["selected"]
            },
            "seconds": seconds,
            "peak_memory": peaks,
            "storage": "device" if block_tensors(V)[-1].device.type == device.type else "host",
            "objective": objective,
            "fisher_rows": m,
            "candidates": scored,
        }
        return chosen, gains

    def _embeddings(self, model, pool, labeled, indices, mask_args, device):
        """``(V, L)``: the pool's and the labeled rows' (or None) gradient embeddings
        on the mask, stored once (``docs/design.md``, "The factored output block")."""
        blocks = stored_embeddings(
            model,
            [pool] if labeled is None else [pool, labeled],
            indices,
            output_layer=mask_args["output_layer"],
            weighting=self.weighting,
            dtype=storage_dtype(self.embedding_dtype),
            device=device,
            storage=self.storage,
            forward_batch_size=self.forward_batch_size,
            factored=get_config()["factored_output"],
        )
        for block in blocks:
            for part in block_tensors(block):
                check_finite_outputs(part, "gradient embeddings", type(self).__name__)
        return blocks[0], (blocks[1] if labeled is not None else None)

    def _select(self, V, L, n_labeled, n_instances, device):
        """``(chosen, gains, objective)`` of the greedy Fisher selection
        (``docs/design.md``, "Greedy selection and Woodbury updates")."""
        # the pool Fisher averages over labeled and unlabeled rows, as the
        # reference; given as two blocks, so neither is copied
        return prepare(
            V,
            n_instances,
            pool_fisher=None if L is None else [V, L],
            labeled_fisher=L,
            n_labeled=n_labeled,
            lam=float(self.lam),
            backward_steps=self.backward_steps,
            device=device,
            storage=self.storage,
            make_pool=LocalPool,
        ).solve()

    def _mask_setup(self, model, rows):
        """The parameter layout and mask arguments of ``model``, set up on ``rows``."""
        return mask_setup(
            model,
            rows,
            mask=self.mask,
            sparsity=self.sparsity,
            output_layer=self.output_layer,
            layers=self.layers,
            trainable_only=self.trainable_only,
        )

    def _device_for(self, model):
        """``device``, or the model's own device when it is None."""
        return resolve_device(self.device if self.device is not None else model_device(model))

    def _candidates(self, n_pool, rng):
        """The sorted pool rows scored (``max_candidates`` of them), or None: all."""
        if self.max_candidates is None or self.max_candidates >= n_pool:
            return None
        return np.sort(rng.choice(n_pool, size=self.max_candidates, replace=False))

    def _check_max_candidates(self, n_instances):
        factor = self.backward_steps + 1
        if self.max_candidates is not None and factor * n_instances > self.max_candidates:
            extra = f" times {factor} for the backward steps" if factor > 1 else ""
            raise ValueError(
                f"max_candidates={self.max_candidates} scores fewer rows than "
                f"n_instances={n_instances}{extra}; use max_candidates >= "
                f"{factor * n_instances}."
            )

    def _fisher_rows(self, n_pool):
        """Rows of the Fisher diagonal (see ``fisher_samples``)."""
        return fisher_rows(self.fisher_samples, self.fisher, n_pool)


def _network_and_images(classifier, X_pool, X_labeled, strategy):
    """``(model, pool, labeled)``: the fitted torch module behind ``classifier``, and
    the pool's and the labeled rows' (None: none) images as it predicts on them."""
    estimator, X_pool, X_labeled = resolve_estimator(
        classifier, X_pool, X_labeled, strategy=strategy
    )
    pool = images_for(estimator, X_pool)
    labeled = None if X_labeled is None else images_for(estimator, X_labeled)
    return estimator.module_, pool, labeled

"""Diversity baselines on network embeddings: Core-Set (k-center greedy) and BADGE,
as estimators and as modAL-style functions (one implementation behind both)."""

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..fisher._network import check_classifier_module, find_output_layer, output_layer_inputs
from ..utils._validation import Integers
from ._base import QueryStrategy, check_finite_outputs, images_for, resolve_estimator

__all__ = [
    "Badge",
    "KCenterGreedy",
    "badge",
    "badge_embeddings",
    "kcenter_greedy",
    "kcenter_select",
    "kmeanspp_select",
]


def _distances(points, x):
    return torch.linalg.vector_norm(points - x, dim=1)


def kcenter_select(pool, n_instances, centers=None, *, random_state=None):
    """Greedy k-center: repeatedly take the pool point farthest from every center.

    Parameters
    ----------
    pool : Tensor of shape (n, D)
    n_instances : int
    centers : Tensor of shape (m, D), default=None
        Points already covered (the labeled set). With none, the first pick
        is drawn at random.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
        In the order picked; ties go to the lowest index.
    distances : ndarray of shape (n_instances,)
        Each pick's distance to its nearest center when picked (inf for a
        random first pick).
    """
    picks, gaps = [], []
    if centers is not None and len(centers):
        dist = torch.cdist(pool, centers).min(dim=1).values
    else:
        u = int(check_random_state(random_state).randint(len(pool)))
        picks, gaps = [u], [np.inf]
        dist = _distances(pool, pool[u])
        dist[u] = -1.0
    while len(picks) < n_instances:
        u = int(torch.argmax(dist))
        picks.append(u)
        gaps.append(float(dist[u]))
        dist = torch.minimum(dist, _distances(pool, pool[u]))
        dist[u] = -1.0  # chosen: never again
    return np.asarray(picks, dtype=np.int64), np.asarray(gaps)


def badge_embeddings(features, logits):
    """BADGE's gradient embeddings: ``(p - e_ŷ) ⊗ h`` with ŷ the predicted class.

    The gradient of the cross-entropy loss at the predicted label with
    respect to a bias-free linear output layer.

    Parameters
    ----------
    features : Tensor of shape (n, D)
    logits : Tensor of shape (n, C)

    Returns
    -------
    embeddings : Tensor of shape (n, C * D)
    """
    p = torch.softmax(logits, dim=1)
    p[torch.arange(len(p)), p.argmax(dim=1)] -= 1.0
    return (p[:, :, None] * features[:, None, :]).flatten(1)


def kmeanspp_select(points, n_instances, *, random_state=None):
    """k-means++ seeding: the largest-norm point, then D²-weighted draws.

    Parameters
    ----------
    points : Tensor of shape (n, D)
    n_instances : int
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    d2 : ndarray of shape (n_instances,)
        Each pick's squared distance to the nearest earlier pick (its norm²
        for the first).
    """
    rng = check_random_state(random_state)
    u = int(torch.argmax(torch.linalg.vector_norm(points, dim=1)))
    picks, scores = [u], [float(points[u].square().sum())]
    d2 = _distances(points, points[u]).square().double()
    d2[u] = 0.0
    while len(picks) < n_instances:
        total = float(d2.sum())
        if total > 0:
            u = int(rng.choice(len(points), p=(d2 / total).cpu().numpy()))
        else:  # all remaining points coincide with picks: lowest unpicked index
            u = int(np.setdiff1d(np.arange(len(points)), picks)[0])
        picks.append(u)
        scores.append(float(d2[u]))
        d2 = torch.minimum(d2, _distances(points, points[u]).square().double())
        d2[u] = 0.0
    return np.asarray(picks, dtype=np.int64), np.asarray(scores)


def _network_outputs(classifier, X_pool, X_labeled, output_layer, forward_batch_size, strategy):
    """``((features, logits), labeled)`` of the pool and the labeled rows (or None)."""
    estimator, X_pool, X_labeled = resolve_estimator(
        classifier, X_pool, X_labeled, strategy=strategy
    )
    model = estimator.module_
    pool = images_for(estimator, X_pool)
    check_classifier_module(model, pool)
    output_layer = find_output_layer(model, pool, output_layer)
    out = []
    for X in (X_pool, X_labeled):
        if X is None or not len(X):
            out.append(None)
            continue
        features, logits = output_layer_inputs(
            model,
            pool if X is X_pool else images_for(estimator, X),
            output_layer=output_layer,
            forward_batch_size=forward_batch_size,
        )
        check_finite_outputs(features, "penultimate features", strategy)
        check_finite_outputs(logits, "logits", strategy)
        out.append((features, logits))
    return out[0], out[1]


#: The parameters of the network-feature strategies (``n_instances`` is checked
#: against the pool at each call).
_CONSTRAINTS = {
    "output_layer": [str, None],
    "forward_batch_size": [Integers(1)],
    "random_state": ["random_state"],
}


class KCenterGreedy(QueryStrategy):
    """Core-Set (Sener & Savarese 2018): k-center greedy on penultimate features.

    Picks, one at a time, the pool row farthest (Euclidean) from the labeled
    rows and the rows already picked. Called as ``strategy(classifier,
    X_pool, n_instances=1, *, X_labeled=None)``: a learner's ``X_training``
    are the labeled rows unless ``X_labeled`` is given; the scores are each
    pick's distance to its nearest center when picked.

    Parameters
    ----------
    output_layer : str, default=None
        Module name of the output layer; None: the last Linear layer whose
        output is the network's output.
    forward_batch_size : int, default=256
        Rows per forward pass (not the number of rows queried).
    random_state : int, RandomState instance or None, default=None
        The first pick when nothing is labeled.

    See Also
    --------
    kcenter_greedy : The function form.
    kcenter_select : The selection on given features.

    Examples
    --------
    >>> from skfisher import KCenterGreedy, ResNet18Classifier
    >>> from skfisher.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = ResNet18Classifier(max_epochs=1, random_state=0, device="cpu")
    >>> net = net.fit(X[:50], y[:50])
    >>> strategy = KCenterGreedy(random_state=0)
    >>> strategy(net, X[50:250], n_instances=5, X_labeled=X[:50])[0].shape
    (5,)
    """

    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, output_layer=None, *, forward_batch_size=256, random_state=None):
        self.output_layer = output_layer
        self.forward_batch_size = forward_batch_size
        self.random_state = random_state

    def _query(self, classifier, X_pool, n_instances, *, X_labeled=None):
        (pool, _), labeled = _network_outputs(
            classifier,
            X_pool,
            X_labeled,
            self.output_layer,
            self.forward_batch_size,
            type(self).__name__,
        )
        centers = None if labeled is None else labeled[0]
        return kcenter_select(pool, n_instances, centers, random_state=self.random_state)


class Badge(QueryStrategy):
    """BADGE (Ash et al. 2020): k-means++ seeding on last-layer gradient embeddings.

    Called as ``strategy(classifier, X_pool, n_instances=1)``; the scores
    are each pick's squared distance to the nearest earlier pick (its norm²
    for the first) in the embedding space of :func:`badge_embeddings`.

    Parameters
    ----------
    output_layer : str, default=None
        Module name of the output layer; None: the last Linear layer whose
        output is the network's output.
    forward_batch_size : int, default=256
        Rows per forward pass (not the number of rows queried).
    random_state : int, RandomState instance or None, default=None
        The D²-weighted draws.

    See Also
    --------
    badge : The function form.
    kmeanspp_select : The selection on given embeddings.

    Examples
    --------
    >>> from skfisher import Badge, ResNet18Classifier
    >>> from skfisher.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = ResNet18Classifier(max_epochs=1, random_state=0, device="cpu")
    >>> net = net.fit(X[:50], y[:50])
    >>> Badge(random_state=0)(net, X[50:250], n_instances=5)[0].shape
    (5,)
    """

    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, output_layer=None, *, forward_batch_size=256, random_state=None):
        self.output_layer = output_layer
        self.forward_batch_size = forward_batch_size
        self.random_state = random_state

    def _query(self, classifier, X_pool, n_instances):
        (features, logits), _ = _network_outputs(
            classifier,
            X_pool,
            [],
            self.output_layer,
            self.forward_batch_size,
            type(self).__name__,
        )
        return kmeanspp_select(
            badge_embeddings(features.double(), logits.double()),
            n_instances,
            random_state=self.random_state,
        )


def kcenter_greedy(classifier, X_pool, n_instances=1, *, X_labeled=None, **params):
    """Core-Set (Sener & Savarese 2018): k-center greedy on penultimate features.

    The function form of :class:`KCenterGreedy`: ``kcenter_greedy(classifier,
    X_pool, n_instances, X_labeled=X_labeled, **params)`` is
    ``KCenterGreedy(**params)(classifier, X_pool, n_instances,
    X_labeled=X_labeled)``.

    Parameters
    ----------
    classifier : modAL ActiveLearner, fitted skorch/torch classifier, or a Pipeline ending in one
        A learner's ``X_training`` are the labeled rows.
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    X_labeled : array-like of shape (n_labeled, ...), default=None
        Overrides the learner's ``X_training``.
    **params
        Parameters of :class:`KCenterGreedy`: ``output_layer``,
        ``forward_batch_size``, ``random_state``.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    distances : ndarray of shape (n_instances,)
    """
    return KCenterGreedy(**params)(classifier, X_pool, n_instances, X_labeled=X_labeled)


def badge(classifier, X_pool, n_instances=1, **params):
    """BADGE (Ash et al. 2020): k-means++ seeding on last-layer gradient embeddings.

    The function form of :class:`Badge`: ``badge(classifier, X_pool,
    n_instances, **params)`` is ``Badge(**params)(classifier, X_pool,
    n_instances)``.

    Parameters
    ----------
    classifier : modAL ActiveLearner, fitted skorch/torch classifier, or a Pipeline ending in one
    X_pool : array-like of shape (n_pool, ...)
    n_instances : int, default=1
    **params
        Parameters of :class:`Badge`: ``output_layer``,
        ``forward_batch_size``, ``random_state``.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
    d2 : ndarray of shape (n_instances,)
    """
    return Badge(**params)(classifier, X_pool, n_instances)

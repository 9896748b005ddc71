"""Query strategies: clonable estimators whose instances are called with modAL's
contract, ``strategy(classifier, X_pool, n_instances=1) -> (indices, scores)``,
and the same strategies as modAL-style functions."""

from ._bait import Bait
from ._base import QueryStrategy
from ._diversity import (
    Badge,
    KCenterGreedy,
    badge,
    badge_embeddings,
    kcenter_greedy,
    kcenter_select,
    kmeanspp_select,
)
from ._fisher_functions import bait, fisher_mask
from ._fisher_mask import FisherMask
from ._registry import STRATEGIES, get_strategy
from ._uncertainty import (
    EntropySampling,
    LeastConfidence,
    MarginSampling,
    RandomSampling,
    entropy_sampling,
    least_confidence,
    margin_sampling,
    random_sampling,
    uncertainty_scores,
)

__all__ = [
    "STRATEGIES",
    "Badge",
    "Bait",
    "EntropySampling",
    "FisherMask",
    "KCenterGreedy",
    "LeastConfidence",
    "MarginSampling",
    "QueryStrategy",
    "RandomSampling",
    "badge",
    "badge_embeddings",
    "bait",
    "entropy_sampling",
    "fisher_mask",
    "get_strategy",
    "kcenter_greedy",
    "kcenter_select",
    "kmeanspp_select",
    "least_confidence",
    "margin_sampling",
    "random_sampling",
    "uncertainty_scores",
]

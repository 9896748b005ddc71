"""Query strategies with modAL's contract: ``f(classifier, X_pool, n_instances=1)
-> (indices, scores)``."""

import functools
import inspect

from ._diversity import badge, badge_embeddings, kcenter_greedy, kcenter_select, kmeanspp_select
from ._fisher_mask import FisherMask, bait, fisher_mask
from ._uncertainty import (
    entropy_sampling,
    least_confidence,
    margin_sampling,
    random_sampling,
    uncertainty_scores,
)

#: Strategies by the name the CLI and the meta-estimator accept.
STRATEGIES = {
    "fisher_mask": fisher_mask,
    "bait": bait,
    "random": random_sampling,
    "entropy": entropy_sampling,
    "margin": margin_sampling,
    "least_confidence": least_confidence,
    "kcenter_greedy": kcenter_greedy,
    "badge": badge,
}


#: Strategies that draw at random: those with a ``random_state`` parameter.
_SEEDED = {
    name for name, strategy in STRATEGIES.items()
    if "random_state" in inspect.signature(strategy).parameters
}


def get_strategy(name, random_state=None):
    """Return the strategy registered under ``name``, seeded when it draws at random.

    Parameters
    ----------
    name : str
        A key of :data:`STRATEGIES`.
    random_state : int, RandomState instance or None, default=None
        Bound as the strategy's ``random_state`` where it has one.

    Returns
    -------
    strategy : callable
        ``strategy(classifier, X_pool, n_instances=1) -> (indices, scores)``.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown query strategy {name!r}; choose one of {sorted(STRATEGIES)}."
        )
    if name in _SEEDED:
        return functools.partial(STRATEGIES[name], random_state=random_state)
    return STRATEGIES[name]


__all__ = [
    "FisherMask",
    "STRATEGIES",
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

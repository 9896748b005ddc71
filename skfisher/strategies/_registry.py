"""The strategies by the name the command line, the meta-estimator and the
experiments accept."""

from ._bait import Bait
from ._diversity import Badge, KCenterGreedy
from ._fisher_mask import FisherMask
from ._uncertainty import EntropySampling, LeastConfidence, MarginSampling, RandomSampling

__all__ = ["STRATEGIES", "get_strategy"]

#: Strategy classes by name.
STRATEGIES = {
    "fisher_mask": FisherMask,
    "bait": Bait,
    "random": RandomSampling,
    "entropy": EntropySampling,
    "margin": MarginSampling,
    "least_confidence": LeastConfidence,
    "kcenter_greedy": KCenterGreedy,
    "badge": Badge,
}


def get_strategy(name, random_state=None, **params):
    """A new instance of the strategy registered under ``name``, its parameters checked.

    Parameters
    ----------
    name : str
        A key of :data:`STRATEGIES`.
    random_state : int, RandomState instance or None, default=None
        Set as the strategy's ``random_state`` where it has one; ignored by
        the strategies that draw nothing.
    **params
        Other parameters of the strategy's class, e.g.
        ``get_strategy("fisher_mask", sparsity=0.005)``.

    Returns
    -------
    strategy : QueryStrategy
        ``STRATEGIES[name](**params)``: called as ``strategy(classifier,
        X_pool, n_instances=1) -> (indices, scores)``.

    Raises
    ------
    ValueError
        An unknown strategy or parameter (the message lists the valid
        ones), or an invalid parameter value.

    Examples
    --------
    >>> from skfisher.strategies import get_strategy
    >>> get_strategy("fisher_mask", random_state=0, sparsity=0.005)
    FisherMask(random_state=0, sparsity=0.005)
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown query strategy {name!r}; choose one of {sorted(STRATEGIES)}.")
    cls = STRATEGIES[name]
    allowed = sorted(set(cls._get_param_names()) - {"random_state"})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"Query strategy {name!r} has no parameter(s) {unknown}; "
            + (f"it takes {allowed}" if allowed else "it takes none")
            + f" (see skfisher.{cls.__name__})."
        )
    strategy = cls(**params)
    if "random_state" in strategy.get_params():
        strategy.set_params(random_state=random_state)
    strategy._check_params()
    return strategy

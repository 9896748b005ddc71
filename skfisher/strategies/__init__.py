"""Query strategies with modAL's contract: ``f(classifier, X_pool, n_instances=1)
-> (indices, scores)``."""

import functools
import inspect

from ._diversity import badge, badge_embeddings, kcenter_greedy, kcenter_select, kmeanspp_select
from ._fisher_functions import bait, fisher_mask
from ._fisher_mask import FisherMask
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
    name
    for name, strategy in STRATEGIES.items()
    if "random_state" in inspect.signature(strategy).parameters
}


#: Arguments of the calling contract, which a strategy's parameters never bind.
_CALL_ARGUMENTS = {"classifier", "X_pool", "n_instances", "X_labeled", "random_state"}


def _forwards_to_fisher_mask(name):
    """Whether ``name`` passes its ``**params`` on to :class:`FisherMask` (fisher_mask, bait)."""
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(STRATEGIES[name]).parameters.values()
    )


def _bindable(name):
    """The parameters :func:`get_strategy` can bind for ``name``: its keyword
    parameters (:class:`FisherMask`'s for fisher_mask and bait) but the calling
    contract's and ``random_state``."""
    names = {
        p.name
        for p in inspect.signature(STRATEGIES[name]).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    if _forwards_to_fisher_mask(name):
        names.update(FisherMask._get_param_names())
    return sorted(names - _CALL_ARGUMENTS)


def _check_name(name):
    if name not in STRATEGIES:
        raise ValueError(f"Unknown query strategy {name!r}; choose one of {sorted(STRATEGIES)}.")


def _check_strategy_params(name, params):
    """Refuse parameters ``name`` does not take, and invalid FisherMask values, before any fit."""
    allowed = _bindable(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"Query strategy {name!r} has no parameter(s) {unknown}; it takes "
            + (f"{allowed}." if allowed else "none.")
        )
    if _forwards_to_fisher_mask(name):
        FisherMask(**params)._check_params()


def get_strategy(name, random_state=None, **params):
    """Return the strategy registered under ``name``, seeded when it draws at random.

    Parameters
    ----------
    name : str
        A key of :data:`STRATEGIES`.
    random_state : int, RandomState instance or None, default=None
        Bound as the strategy's ``random_state`` where it has one.
    **params
        Other keyword parameters of the strategy to bind (for ``fisher_mask``
        and ``bait``: :class:`FisherMask`'s), e.g.
        ``get_strategy("fisher_mask", sparsity=0.005)``. They are checked
        here: an unknown name raises, and so does an invalid
        :class:`FisherMask` value for ``fisher_mask`` and ``bait``.

    Returns
    -------
    strategy : callable
        ``strategy(classifier, X_pool, n_instances=1) -> (indices, scores)``;
        the registered function itself when nothing is bound.

    Raises
    ------
    ValueError
        Unknown strategy or parameter, or an invalid parameter value.
    """
    _check_name(name)
    _check_strategy_params(name, params)
    if name in _SEEDED:
        params = {**params, "random_state": random_state}
    return functools.partial(STRATEGIES[name], **params) if params else STRATEGIES[name]


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

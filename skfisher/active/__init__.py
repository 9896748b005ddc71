"""Active learning on a simulated pool: the scikit-learn meta-estimator, the
loop it runs, and the scores of learning curves."""

from ._classifier import ActiveLearningClassifier
from ._loop import ROUND_FIELDS, PoolLearner, initial_indices, run_active_learning
from ._metrics import aulc, aulc_score

__all__ = [
    "ROUND_FIELDS",
    "ActiveLearningClassifier",
    "PoolLearner",
    "aulc",
    "aulc_score",
    "initial_indices",
    "run_active_learning",
]

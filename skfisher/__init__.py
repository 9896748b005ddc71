"""skfisher: FisherMask active learning for scikit-learn, skorch and modAL."""

from . import datasets, fisher, metrics, selection
from ._active import ActiveLearningClassifier
from ._compat import patch_modal
from ._net import ResNet18, ResNet18Classifier
from .labeling import LabelingProject
from .preprocessing import ImageReshaper
from .strategies import (
    FisherMask,
    badge,
    bait,
    entropy_sampling,
    fisher_mask,
    kcenter_greedy,
    least_confidence,
    margin_sampling,
    random_sampling,
)

__version__ = "0.1.0"

# modAL 0.4.2.1 calls check_X_y(force_all_finite=...), gone in scikit-learn 1.8
patch_modal()

__all__ = [
    "ActiveLearningClassifier",
    "FisherMask",
    "ImageReshaper",
    "LabelingProject",
    "ResNet18",
    "ResNet18Classifier",
    "badge",
    "bait",
    "datasets",
    "entropy_sampling",
    "fisher",
    "fisher_mask",
    "kcenter_greedy",
    "least_confidence",
    "margin_sampling",
    "metrics",
    "patch_modal",
    "random_sampling",
    "selection",
]

"""skfisher: FisherMask active learning for scikit-learn, skorch and modAL."""

from . import datasets, fisher, metrics, selection
from ._active import ActiveLearningClassifier
from ._compat import patch_modal
from ._device import profile_memory
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

# modAL-python 0.4.2.1 on today's numpy, pandas and scikit-learn (see _compat)
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
    "profile_memory",
    "random_sampling",
    "selection",
]

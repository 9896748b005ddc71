"""skfisher: FisherMask active learning for scikit-learn, skorch and modAL."""

from . import (
    active,
    datasets,
    distributed,
    experiments,
    fisher,
    labeling,
    nets,
    selection,
    strategies,
    utils,
)
from ._config import config_context, get_config, set_config
from .active import ActiveLearningClassifier
from .labeling import LabelingProject
from .nets import ImageReshaper, ResNet18, ResNet18Classifier
from .strategies import (
    Badge,
    Bait,
    EntropySampling,
    FisherMask,
    KCenterGreedy,
    LeastConfidence,
    MarginSampling,
    RandomSampling,
    badge,
    bait,
    entropy_sampling,
    fisher_mask,
    kcenter_greedy,
    least_confidence,
    margin_sampling,
    random_sampling,
)
from .utils import patch_modal
from .utils._device import profile_memory

__version__ = "0.1.0"

# modAL-python 0.4.2.1 on today's numpy, pandas and scikit-learn (see utils/_compat.py)
patch_modal()

__all__ = [
    "ActiveLearningClassifier",
    "Badge",
    "Bait",
    "EntropySampling",
    "FisherMask",
    "ImageReshaper",
    "KCenterGreedy",
    "LabelingProject",
    "LeastConfidence",
    "MarginSampling",
    "RandomSampling",
    "ResNet18",
    "ResNet18Classifier",
    "active",
    "badge",
    "bait",
    "config_context",
    "datasets",
    "distributed",
    "entropy_sampling",
    "experiments",
    "fisher",
    "fisher_mask",
    "get_config",
    "kcenter_greedy",
    "labeling",
    "least_confidence",
    "margin_sampling",
    "nets",
    "profile_memory",
    "random_sampling",
    "selection",
    "set_config",
    "strategies",
    "utils",
]

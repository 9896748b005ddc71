"""The networks as scikit-learn classifiers: ResNet-18 through skorch, its
training, and the transformer that turns table rows into images."""

from ._classifier import ResNet18Classifier
from ._reshaper import ImageReshaper
from ._resnet import ResNet18, load_torchvision_resnet18
from ._training import CosineLR, TrainAccuracy

__all__ = [
    "CosineLR",
    "ImageReshaper",
    "ResNet18",
    "ResNet18Classifier",
    "TrainAccuracy",
    "load_torchvision_resnet18",
]

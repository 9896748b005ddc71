"""ResNet-18 as a scikit-learn classifier, through skorch."""

import contextlib
import os
import threading

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    check_random_state,
    column_or_1d,
)
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from ._images import check_images

__all__ = ["ResNet18", "ResNet18Classifier", "resolve_device"]

_STEMS = ("cifar", "imagenet")


def load_torchvision_resnet18(module, path):
    """Load a torchvision ResNet-18 ``state_dict`` file into ``module`` (a :class:`ResNet18`
    with the ImageNet stem and width 64), all but the output layer ``fc``.

    Nothing is downloaded. For one input channel the first convolution's
    weights are summed over torchvision's three (the same as feeding the gray
    image to every channel).

    Raises
    ------
    ValueError
        If the file cannot be read as a state_dict or does not fit the network.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(
            f"weights={os.fspath(path)!r} could not be read as a saved state_dict: {exc}"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"weights={os.fspath(path)!r} holds a {type(state).__name__}, not a state_dict; "
            "save it with torch.save(model.state_dict(), path)."
        )
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    in_channels = module.conv1.weight.shape[1]
    if "conv1.weight" in state and in_channels != state["conv1.weight"].shape[1]:
        if in_channels != 1:
            raise ValueError(
                f"Pretrained weights take {state['conv1.weight'].shape[1]} input channels; "
                f"the images have {in_channels} (1 or 3 work)."
            )
        state["conv1.weight"] = state["conv1.weight"].sum(1, keepdim=True)
    own = module.state_dict()
    wrong = [
        k for k, v in state.items() if k not in own or own[k].shape != v.shape
    ] + [k for k in own if k not in state and not k.startswith("fc.")]
    if wrong:
        raise ValueError(
            f"weights={os.fspath(path)!r} is not a torchvision ResNet-18 state_dict: "
            f"{len(wrong)} entries are missing, unexpected or of another shape, e.g. {wrong[:3]}."
        )
    module.load_state_dict(state, strict=False)


def freeze_parameters(module, freeze):
    """Set ``requires_grad=False`` on the parameters named by ``freeze``.

    ``"backbone"``: every parameter outside ``fc``; a list of str: parameters
    whose name starts with one of these prefixes (``"layer1"`` matches
    ``layer1.*``).
    """
    names = [n for n, _ in module.named_parameters()]
    if isinstance(freeze, str) and freeze == "backbone":
        if not any(n.startswith("fc.") for n in names):
            raise ValueError("freeze='backbone' needs an output layer named 'fc'.")
        prefixes = sorted({n.split(".")[0] for n in names} - {"fc"})
    elif isinstance(freeze, (list, tuple)) and all(isinstance(p, str) for p in freeze):
        prefixes = list(freeze)
    else:
        raise ValueError(
            f"freeze must be None, 'backbone' or a list of parameter-name prefixes; "
            f"got {freeze!r}."
        )
    unmatched = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in names)]
    if unmatched:
        raise ValueError(f"freeze prefixes {unmatched} match no parameter of the network.")
    for name, p in module.named_parameters():
        if any(name == q or name.startswith(q + ".") for q in prefixes):
            p.requires_grad_(False)


def resolve_device(device):
    """Return ``"cuda"`` for ``device="auto"`` when CUDA is available, else ``"cpu"``.

    Any other value is returned unchanged.
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class ResNet18(nn.Module):
    """ResNet-18 built from torchvision's ``BasicBlock``; returns logits.

    Parameters
    ----------
    in_channels : int, default=3
        Number of input channels.
    n_classes : int, default=10
        Number of outputs of the output layer ``fc``.
    width : int, default=64
        Channels of the first stage; the stages use ``width * (1, 2, 4, 8)``.
        64 is torchvision's ResNet-18, 16 the FisherMask paper's narrow net.
    stem : {"cifar", "imagenet"}, default="cifar"
        ``"cifar"``: 3x3 stride-1 convolution, no max-pool (small images).
        ``"imagenet"``: 7x7 stride-2 convolution and a max-pool.

    Attributes
    ----------
    fc : torch.nn.Linear
        The bias-free output layer; Fisher code finds the output layer under
        this name.
    """

    def __init__(self, in_channels=3, n_classes=10, width=64, stem="cifar"):
        super().__init__()
        if stem not in _STEMS:
            raise ValueError(f"stem must be one of {_STEMS}; got {stem!r}.")
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self._inplanes = width
        self.layer1 = self._make_layer(width, 1)
        self.layer2 = self._make_layer(2 * width, 2)
        self.layer3 = self._make_layer(4 * width, 2)
        self.layer4 = self._make_layer(8 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width, n_classes, bias=False)
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self._inplanes != planes:
            downsample = nn.Sequential(
                conv1x1(self._inplanes, planes, stride), nn.BatchNorm2d(planes)
            )
        first = BasicBlock(self._inplanes, planes, stride, downsample)
        self._inplanes = planes
        return nn.Sequential(first, BasicBlock(planes, planes))

    def features(self, x):
        """Penultimate-layer features of shape (n, 8 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


class CosineLR(Callback):
    """Cosine decay of the learning rate from ``net.lr`` to 0 over ``net.max_epochs``."""

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        factor = 0.5 * (1.0 + np.cos(np.pi * epoch / max(net.max_epochs, 1)))
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * factor


_INIT_LOCK = threading.Lock()


class TrainAccuracy(Callback):
    """Record ``train_acc`` (accuracy of the training batches as they were
    trained on) every epoch, and stop once it reaches ``net.train_until``."""

    def on_epoch_begin(self, net, **kwargs):
        self.correct_, self.seen_ = 0, 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training and y_pred is not None:
            y = batch[1].to(y_pred.device)
            self.correct_ += int((y_pred.argmax(dim=1) == y).sum())
            self.seen_ += len(y)

    def on_epoch_end(self, net, **kwargs):
        accuracy = self.correct_ / max(self.seen_, 1)
        net.history.record("train_acc", accuracy)
        if net.train_until is not None and accuracy >= net.train_until:
            raise KeyboardInterrupt  # skorch's way to end training early


@contextlib.contextmanager
def _seeded_global_rng(seed, device):
    """Seed torch's global RNG inside the block only, one thread at a time.

    Layers initialise their weights from the global RNG; the lock keeps
    concurrent fits (threads) from seeding each other's initialisation, and
    the state is restored afterwards.
    """
    if seed is None:
        yield
        return
    cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
    devices = [torch.device(device).index or 0] if cuda else []
    with _INIT_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class ResNet18Classifier(NeuralNetClassifier):
    """A ResNet-18 image classifier with the scikit-learn API (a skorch net).

    Images may be given as ``(n, h, w)``, ``(n, c, h, w)`` or, with
    ``image_shape``, as flat rows ``(n, p)``; ``uint8`` input is scaled to
    [0, 1]. Channels, image size and classes are inferred at ``fit``; labels
    of any type (strings too) are predicted back as given.

    Parameters
    ----------
    module : type or torch.nn.Module, default=ResNet18
        The network. A class is built at fit with ``in_channels`` and
        ``n_classes`` from the data plus ``width``, ``stem`` and any
        ``module__*`` parameters; it must return logits.
    width : int, default=16
        First-stage channels: 16 is the FisherMask paper's narrow ResNet-18
        (701 456 parameters for 3 channels and 10 classes), 64 torchvision's
        ResNet-18.
    stem : {"cifar", "imagenet"}, default="cifar"
        Stem of the network, see :class:`ResNet18`.
    image_shape : tuple of int, default=None
        ``(h, w)`` or ``(c, h, w)`` to reshape flat input rows, e.g. ``(8, 8)``
        for scikit-learn's digits.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation and batch shuffling; a fixed value makes
        CPU fits reproducible, also when several fit in parallel threads.
        Shuffling uses a ``torch.Generator`` of its own; torch's global RNG is
        left as it was.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Loss on logits.
    optimizer : torch optimizer class, default=torch.optim.SGD
        With ``optimizer__momentum=0.9`` and ``optimizer__weight_decay=5e-4``
        unless given; the learning rate follows a cosine decay over
        ``max_epochs`` (callback ``"cosine_lr"``; ``callbacks__cosine_lr=None``
        turns it off).
    lr : float, default=0.05
    max_epochs : int, default=30
        Epochs, or the cap on them with ``train_until``.
    train_until : float in (0, 1], default=None
        Stop training once an epoch's training accuracy (over its batches, as
        trained on) reaches this, e.g. 0.99 as the FisherMask reference does.
    batch_size : int, default=32
    train_split : callable or None, default=None
        No internal validation split by default.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU. Reading
        ``net.device`` gives the resolved device; ``get_params`` keeps the
        value given.
    verbose : int, default=0
    weights : str or path-like, default=None
        A torchvision ResNet-18 ``state_dict`` file to start from (e.g.
        ImageNet weights saved with ``torch.save``; never downloaded). Every
        layer but the output layer is loaded at each fit; ``fc`` is built for
        the classes seen in ``fit``. Needs ``stem="imagenet"`` and
        ``width=64``; one-channel images use the summed first-layer filters.
        Scale inputs as the weights were trained (ImageNet mean and std).
    freeze : None, "backbone" or list of str, default=None
        Parameters not to train: ``"backbone"`` is all but ``fc``; a list
        gives name prefixes (``["conv1", "bn1", "layer1"]``). None trains
        everything. Frozen parameters are left out of the optimizer (and,
        by default, of :class:`~skfisher.FisherMask`'s mask); BatchNorm
        running statistics still adapt in training mode.
    **kwargs
        Any other :class:`skorch.NeuralNetClassifier` parameter, e.g.
        ``module__*``, ``optimizer__weight_decay`` or ``callbacks``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen at fit, sorted.
    n_features_in_ : int
        Values per input image (``c * h * w``).
    image_shape_ : tuple of int
        ``(c, h, w)`` of the training images.
    module_ : torch.nn.Module
        The trained network.
    init_seed_ : int or None
        Seed of the weight initialisation drawn from ``random_state``.
    shuffle_generator_ : torch.Generator or None
        Generator of the training batches' order.

    Examples
    --------
    >>> from skfisher import ResNet18Classifier
    >>> from skfisher.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = ResNet18Classifier(max_epochs=1, random_state=0, device="cpu")
    >>> net.fit(X[:64], y[:64]).predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        module=ResNet18,
        *,
        width=16,
        stem="cifar",
        image_shape=None,
        random_state=None,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=0.05,
        max_epochs=30,
        train_until=None,
        batch_size=32,
        train_split=None,
        device="auto",
        verbose=0,
        weights=None,
        freeze=None,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.width = width
        self.stem = stem
        self.image_shape = image_shape
        self.random_state = random_state
        self.train_until = train_until
        self.weights = weights
        self.freeze = freeze

    @property
    def _default_callbacks(self):
        return super()._default_callbacks + [
            ("cosine_lr", CosineLR()),
            ("train_acc", TrainAccuracy()),
        ]

    def initialize_optimizer(self, *args, **kwargs):
        named_parameters = [(n, p) for n, p in self.get_all_learnable_params() if p.requires_grad]
        args, kwargs = self.get_params_for_optimizer("optimizer", named_parameters)
        if self.optimizer is torch.optim.SGD:
            kwargs = {"momentum": 0.9, "weight_decay": 5e-4, **kwargs}
        self.optimizer_ = self.optimizer(*args, **kwargs)
        return self

    # ``device="auto"`` is stored verbatim; skorch reads ``self.device`` to move
    # tensors, so reading the attribute resolves it.
    @property
    def device(self):
        return resolve_device(self.__dict__["device"])

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__["device"]
        return params

    def _check_device(self, requested_device, map_device):
        return super()._check_device(resolve_device(requested_device), map_device)

    def __setstate__(self, state):
        requested = state["device"]
        state["device"] = resolve_device(requested)
        super().__setstate__(state)
        if isinstance(requested, str) and requested == "auto":
            self.__dict__["device"] = requested

    def _check_pretrained(self):
        if self.weights is None:
            return
        if self.module is not ResNet18 or self.width != 64 or self.stem != "imagenet":
            module = getattr(self.module, "__name__", self.module)
            raise ValueError(
                "weights= loads torchvision's ResNet-18: it needs module=ResNet18, "
                f"width=64 and stem='imagenet'; got module={module!r}, "
                f"width={self.width!r}, stem={self.stem!r}."
            )

    def initialize_module(self):
        self._check_pretrained()
        kwargs = self.get_params_for("module")
        if isinstance(self.module, type):
            kwargs = {"width": self.width, "stem": self.stem, **kwargs}
            if hasattr(self, "image_shape_"):
                kwargs["in_channels"] = self.image_shape_[0]
                kwargs["n_classes"] = len(self.classes_)
        with _seeded_global_rng(getattr(self, "init_seed_", None), self.device):
            self.module_ = self.initialized_instance(self.module, kwargs)
        if self.weights is not None:
            load_torchvision_resnet18(self.module_, self.weights)
        if self.freeze is not None:
            freeze_parameters(self.module_, self.freeze)
        return self

    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        generator = getattr(self, "shuffle_generator_", None)
        if prefix == "iterator_train" and generator is not None:
            params.setdefault("generator", generator)
        return params

    @property
    def classes_(self):
        return self.label_encoder_.classes_

    def _validate_X(self, X, *, reset):
        images = check_images(X, image_shape=self.image_shape)
        if not reset:
            check_is_fitted(self, "image_shape_")
            if images.shape[1:] != self.image_shape_:
                raise ValueError(
                    f"X has images of shape {images.shape[1:]}, but "
                    f"{type(self).__name__} was fitted on {self.image_shape_}."
                )
        return images

    def fit(self, X, y, **fit_params):
        """Train the network from scratch (``warm_start=False``) on images ``X``.

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)
            Training images; flat rows need ``image_shape``.
        y : array-like of shape (n,)
            Labels, at least two distinct values.
        **fit_params
            Passed to :meth:`skorch.NeuralNet.fit`.

        Returns
        -------
        self : ResNet18Classifier
        """
        if self.train_until is not None and not 0 < self.train_until <= 1:
            raise ValueError(f"train_until must be in (0, 1]; got {self.train_until!r}.")
        images = self._validate_X(X, reset=True)
        if y is None:
            raise ValueError("y is required: an array of shape (n_samples,).")
        y = column_or_1d(y, warn=True)
        check_consistent_length(images, y)
        check_classification_targets(y)
        encoder = LabelEncoder()
        if self.classes is not None:
            encoder.fit(np.asarray(self.classes))
            unknown = np.setdiff1d(np.unique(y), encoder.classes_)
            if unknown.size:
                raise ValueError(f"y has labels {unknown} not in classes.")
        else:
            encoder.fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                "y has a single class "
                f"({encoder.classes_[0]!r}); a classifier needs at least 2."
            )
        # all input checked: now change state
        self.label_encoder_ = encoder
        self.image_shape_ = images.shape[1:]
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.init_seed_ = self.shuffle_generator_ = None
        if self.random_state is not None:
            init_seed, shuffle_seed = check_random_state(self.random_state).randint(
                np.iinfo(np.int32).max, size=2
            )
            self.init_seed_ = int(init_seed)
            self.shuffle_generator_ = torch.Generator().manual_seed(int(shuffle_seed))
        y_enc = encoder.transform(y).astype(np.int64)
        return super().fit(images, y_enc, **fit_params)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)

        Returns
        -------
        proba : ndarray of shape (n, n_classes), dtype float32
        """
        images = self._validate_X(X, reset=False)
        return super().predict_proba(images)

    def predict(self, X):
        """Predicted labels, in the type given at fit.

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)

        Returns
        -------
        y_pred : ndarray of shape (n,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def transform_images(self, X):
        """Validate ``X`` like ``predict`` does and return float32 (n, c, h, w) images."""
        return self._validate_X(X, reset=False)

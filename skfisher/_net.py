"""ResNet-18 as a scikit-learn classifier, through skorch."""

import contextlib
import copy
import os
import threading
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    check_random_state,
    column_or_1d,
)
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EarlyStopping
from skorch.utils import is_dataset
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler
from torchvision.models.resnet import BasicBlock, conv1x1

from ._device import auto_device as resolve_device
from ._images import _check_image_shape, check_images

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
    """Cosine decay of the learning rate from ``net.lr`` to 0 over ``net.max_epochs``.

    The schedule restarts with every call that trains (``fit``, ``partial_fit``),
    so continued training (``warm_start=True``) decays over its own epochs.
    """

    def on_train_begin(self, net, **kwargs):
        self.first_epoch_ = len(net.history)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1 - getattr(self, "first_epoch_", 0)
        factor = 0.5 * (1.0 + np.cos(np.pi * epoch / max(net.max_epochs, 1)))
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * factor


_INIT_LOCK = threading.Lock()


class _StopTraining(Exception):
    """Raised by a callback to end training after this epoch: not an error."""


class _Interrupted(Exception):
    """Carries a KeyboardInterrupt past skorch's ``partial_fit``, which swallows it."""

    def __init__(self, interrupt):
        super().__init__()
        self.interrupt = interrupt


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
            raise _StopTraining


class _NoSingletonBatchSampler(BatchSampler):
    """``BatchSampler`` whose last batch, if it would hold one sample, joins the
    batch before it (that one then has ``batch_size + 1`` samples).

    BatchNorm cannot train on a batch of one image whose feature maps are 1x1
    (small images reach 1x1 in the last stage), and one sample gives no batch
    statistics at all. Merging keeps every sample in every epoch, unlike
    ``drop_last``.
    """

    def __iter__(self):
        batches = list(super().__iter__())
        if len(batches) > 1 and len(batches[-1]) == 1:
            last = batches.pop()
            batches[-1] = batches[-1] + last
        return iter(batches)

    def __len__(self):
        n_batches = super().__len__()
        if n_batches > 1 and len(self.sampler) % self.batch_size == 1:
            return n_batches - 1
        return n_batches


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
        for scikit-learn's digits. One entry may be -1 and is inferred from the
        row length, as in :func:`numpy.reshape`: ``(1, -1)`` makes each table
        row a one-pixel-high image.
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
        Positive and finite.
    max_epochs : int, default=30
        Epochs per ``fit`` (or ``partial_fit``) call, or the cap on them with
        ``train_until``; at least 1.
    train_until : float in (0, 1], default=None
        Stop training once an epoch's training accuracy (over its batches, as
        trained on) reaches this, e.g. 0.99 as the FisherMask reference does.
    batch_size : int, default=32
        Images per minibatch, or -1 for all. A last training batch of one
        image joins the batch before it (BatchNorm cannot train on one image),
        so any number of images (at least 2) fits.
    train_split : callable or None, default=None
        No internal validation split by default; e.g.
        ``skorch.dataset.ValidSplit(5)`` records ``valid_loss`` and
        ``valid_acc`` for callbacks such as ``EarlyStopping``.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU. Reading
        ``net.device`` gives the resolved device; ``get_params`` keeps the
        value given.
    verbose : int, default=0
    warm_start : bool, default=False
        When fitted, ``fit`` trains on from the current weights (keeping
        ``classes_`` and the image shape; new labels are refused) instead of
        starting afresh. This makes modAL's ``teach(X, y, only_new=True)``
        fine-tune on the new rows; without it, ``only_new=True`` retrains from
        scratch on the new rows alone and forgets all earlier ones.
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

    Notes
    -----
    Parameters are checked when ``fit`` starts, before any data are read.
    A ``fit`` or ``partial_fit`` that raises leaves every fitted attribute as
    it was. A KeyboardInterrupt (Ctrl-C) during training is raised out of
    ``fit`` (skorch alone would end training early and keep the half-trained
    net), while skorch's ``EarlyStopping`` and ``train_until`` end training
    normally.

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
        warm_start=False,
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
            warm_start=warm_start,
            **kwargs,
        )
        self.width = width
        self.stem = stem
        self.image_shape = image_shape
        self.random_state = random_state
        self.train_until = train_until
        self.weights = weights
        self.freeze = freeze

    _parameter_constraints = {
        "module": [callable],
        "width": [Options(Integral, {16, 64})],
        "stem": [StrOptions(set(_STEMS))],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
        "criterion": [callable],
        "optimizer": [callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "train_until": [Interval(Real, 0, 1, closed="right"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "train_split": [callable, None],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "weights": [str, os.PathLike, None],
        "freeze": [StrOptions({"backbone"}), list, tuple, None],
    }

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
        # skorch's bookkeeping, not a parameter (clone would pass it to __init__)
        params.pop("_params_to_validate", None)
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

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; training batches never hold a single sample.

        With the default ``DataLoader``, a last training batch of one sample
        joins the batch before it (see :class:`_NoSingletonBatchSampler`);
        a custom ``iterator_train``, ``batch_sampler`` or ``drop_last`` is
        used as given.
        """
        kwargs = self.get_params_for("iterator_train")
        if not training or self.iterator_train is not DataLoader or (
            {"batch_sampler", "drop_last"} & set(kwargs)
        ):
            return super().get_iterator(dataset, training=training)
        if len(dataset) < 2:
            raise ValueError(
                f"Training needs at least 2 samples (BatchNorm); got {len(dataset)} "
                "sample. Train on more rows, e.g. modAL's teach(only_new=False)."
            )
        batch_size = kwargs.pop("batch_size", self.batch_size)
        batch_size = len(dataset) if batch_size == -1 else batch_size
        sampler = kwargs.pop("sampler", None)
        if sampler is None:
            shuffle = kwargs.pop("shuffle", False)
            sampler = (
                RandomSampler(dataset, generator=kwargs.get("generator"))
                if shuffle else SequentialSampler(dataset)
            )
        batch_sampler = _NoSingletonBatchSampler(sampler, batch_size, drop_last=False)
        return DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)

    @property
    def classes_(self):
        return self.label_encoder_.classes_

    def __sklearn_is_fitted__(self):
        return hasattr(self, "label_encoder_")

    def _check_params(self):
        """Validate this class's own parameters (skorch checks its own names)."""
        params = self.get_params(deep=False)
        validate_parameter_constraints(
            self._parameter_constraints,
            {name: params[name] for name in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        if self.image_shape is not None:
            _check_image_shape(self.image_shape)
        _check_torch_device(params["device"])
        self._check_pretrained()

    def _validate_X(self, X, *, reset):
        if not reset:
            check_is_fitted(self, "image_shape_")
        images = check_images(X, image_shape=self.image_shape)
        if not reset:
            n_values = int(np.prod(images.shape[1:]))
            if n_values != self.n_features_in_:
                raise ValueError(
                    f"X has {n_values} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input: it was "
                    f"fitted on images of shape {self.image_shape_}, not "
                    f"{images.shape[1:]}."
                )
            if images.shape[1:] != self.image_shape_:
                raise ValueError(
                    f"X has images of shape {images.shape[1:]}, but "
                    f"{type(self).__name__} was fitted on {self.image_shape_}."
                )
        return images

    def _validate_y(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        check_classification_targets(y)
        return y

    def _new_label_encoder(self, y, classes):
        encoder = LabelEncoder()
        if classes is not None:
            encoder.fit(np.asarray(classes))
            unknown = np.setdiff1d(np.unique(y), encoder.classes_)
            if unknown.size:
                raise ValueError(f"y has labels {unknown} not in classes.")
        else:
            encoder.fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y has 1 class ({encoder.classes_[0]!r}); a classifier needs at "
                "least 2 (give all of them with classes=... to train on fewer)."
            )
        return encoder

    def _prepare(self, X, y, *, reset, classes=None):
        """Validate ``X`` and ``y``; return images, encoded labels and the fitted
        attributes to set (none when continuing). Changes nothing."""
        images = self._validate_X(X, reset=reset)
        y = self._validate_y(y, len(images))
        if not reset:
            encoder, state = self.label_encoder_, {}
            if classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), encoder.classes_
            ):
                raise ValueError(
                    f"classes={classes!r} differs from the classes "
                    f"{encoder.classes_!r} of the first fit."
                )
            unseen = np.setdiff1d(np.unique(y), encoder.classes_)
            if unseen.size:
                raise ValueError(
                    f"y has labels {unseen} unseen at the first fit (classes_ "
                    f"{encoder.classes_!r}); refit from scratch to add classes."
                )
        else:
            encoder = self._new_label_encoder(y, self.classes if classes is None else classes)
            state = {
                "label_encoder_": encoder,
                "image_shape_": images.shape[1:],
                "n_features_in_": int(np.prod(images.shape[1:])),
                "init_seed_": None,
                "shuffle_generator_": None,
            }
            if self.random_state is not None:
                init_seed, shuffle_seed = check_random_state(self.random_state).randint(
                    np.iinfo(np.int32).max, size=2
                )
                state["init_seed_"] = int(init_seed)
                state["shuffle_generator_"] = torch.Generator().manual_seed(int(shuffle_seed))
        return images, encoder.transform(y).astype(np.int64), state

    @contextlib.contextmanager
    def _transaction(self, state, *, continuing):
        """Set ``state``, initialise unless ``continuing``, and train inside the
        block; on any exception (a KeyboardInterrupt too) put every attribute
        back as it was and re-raise.

        Training changes the torch components and the history in place (a
        module given as an instance is reused, skorch clears the history),
        so copies of them are kept. Callback objects keep whatever state
        training gave them.
        """
        saved = self.__dict__.copy()
        names = [n + "_" for n in self._modules + self._criteria + self._optimizers]
        # one deepcopy, so that the optimizer's copy refers to the module's copy
        saved.update(copy.deepcopy({n: saved[n] for n in names + ["history_"] if n in saved}))
        generator = saved.get("shuffle_generator_")
        generator_state = None if generator is None else generator.get_state()
        try:
            for name, value in state.items():
                setattr(self, name, value)
            if not continuing:
                self.initialize()
            yield
        except BaseException as exc:
            self.__dict__.clear()
            self.__dict__.update(saved)
            if generator is not None:
                generator.set_state(generator_state)
            if isinstance(exc, _Interrupted):
                raise exc.interrupt from None
            raise

    def fit(self, X, y, **fit_params):
        """Train the network on images ``X``: from scratch, or on from its
        current weights with ``warm_start=True``.

        All input and parameters are checked before any work, and a fit that
        raises (a KeyboardInterrupt too) leaves the estimator as it was.

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)
            Training images; flat rows need ``image_shape``.
        y : array-like of shape (n,)
            Labels, at least two distinct values; once fitted with
            ``warm_start=True``, a subset of ``classes_``.
        **fit_params
            Passed to :meth:`skorch.NeuralNet.partial_fit`.

        Returns
        -------
        self : ResNet18Classifier
        """
        self._check_params()
        continuing = self.warm_start and self.__sklearn_is_fitted__()
        images, y_enc, state = self._prepare(X, y, reset=not continuing)
        with self._transaction(state, continuing=continuing):
            # skorch's fit would call our partial_fit on the encoded data
            super().partial_fit(images, y_enc, **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train ``max_epochs`` more epochs on ``X`` from the current weights.

        The first call validates and initialises like :meth:`fit`; later calls
        keep its image shape and label encoding and refuse labels it did not
        see. A call that raises leaves the estimator as it was.

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p)
        y : array-like of shape (n,)
        classes : array-like of shape (n_classes,), default=None
            All labels, needed at the first call when ``y`` lacks some (as
            for scikit-learn's incremental classifiers); later calls may
            repeat it.
        **fit_params
            Passed to :meth:`skorch.NeuralNet.partial_fit`.

        Returns
        -------
        self : ResNet18Classifier
        """
        self._check_params()
        continuing = self.__sklearn_is_fitted__()
        images, y_enc, state = self._prepare(X, y, reset=not continuing, classes=classes)
        with self._transaction(state, continuing=continuing):
            super().partial_fit(images, y_enc, **fit_params)
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch ends training on any KeyboardInterrupt; here only a stop
        # signal does, and a user's Ctrl-C leaves fit as an error.
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except _StopTraining:
            return self
        except KeyboardInterrupt as exc:
            raise _Interrupted(exc) from exc

    def notify(self, method_name, **cb_kwargs):
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            # skorch's EarlyStopping stops by raising KeyboardInterrupt
            if method_name == "on_epoch_end" and any(
                isinstance(cb, EarlyStopping) and cb.misses_ >= cb.patience
                for _, cb in self.callbacks_
            ):
                raise _StopTraining from None
            raise

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p), or Dataset
            A torch Dataset (as skorch's scoring callbacks pass) is used as it
            is, unvalidated.

        Returns
        -------
        proba : ndarray of shape (n, n_classes), dtype float32
        """
        if is_dataset(X):
            return super().predict_proba(X)
        return super().predict_proba(self._validate_X(X, reset=False))

    def predict(self, X):
        """Predicted labels, in the type given at fit.

        Parameters
        ----------
        X : array-like of shape (n, h, w), (n, c, h, w) or (n, p), or Dataset
            For a torch Dataset (as skorch's scoring callbacks pass, holding
            the encoded targets) the class indices ``0..n_classes-1`` are
            returned instead of labels.

        Returns
        -------
        y_pred : ndarray of shape (n,)
        """
        indices = self.predict_proba(X).argmax(axis=1)
        return indices if is_dataset(X) else self.classes_[indices]

    def transform_images(self, X):
        """Validate ``X`` like ``predict`` does and return float32 (n, c, h, w) images."""
        return self._validate_X(X, reset=False)


def _check_torch_device(device):
    """Raise ValueError unless ``device`` names a torch device that exists here."""
    resolved = resolve_device(device)
    if resolved is None:
        return
    try:
        torch_device = torch.device(resolved)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'."
        ) from None
    if torch_device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but CUDA is not available here (no GPU or no "
                "driver); use device='auto' or 'cpu'."
            )
        if (torch_device.index or 0) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but only {torch.cuda.device_count()} CUDA "
                "device(s) are available."
            )

"""ResNet-18 as a scikit-learn classifier, through skorch."""

import os
from numbers import Integral

import torch
from skorch import NeuralNetClassifier
from skorch.utils import is_dataset
from torch import nn

from ..utils._device import auto_device, check_torch_device
from ..utils._images import _check_image_shape
from ..utils._validation import Integers, Options, Reals, StrOptions, validate_parameter_constraints
from ._inputs import _InputMixin
from ._resnet import (
    _STEMS,
    ResNet18,
    check_pretrained,
    freeze_parameters,
    load_torchvision_resnet18,
)
from ._training import _seeded_global_rng, _TrainingMixin

__all__ = ["ResNet18", "ResNet18Classifier"]


class ResNet18Classifier(_InputMixin, _TrainingMixin, NeuralNetClassifier):
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
        Training batches are reshuffled every epoch (``iterator_train__shuffle=False``
        keeps the given order) with a ``torch.Generator`` of their own; torch's
        global RNG is left as it was.
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
        by default, of :class:`~skfisher.strategies.FisherMask`'s mask); BatchNorm
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
        "lr": [Reals(0, closed="neither")],
        "max_epochs": [Integers(1)],
        "train_until": [Reals(0, 1, closed="right"), None],
        "batch_size": [Integers(1), Options(Integral, {-1})],
        "train_split": [callable, None],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "weights": [str, os.PathLike, None],
        "freeze": [StrOptions({"backbone"}), list, tuple, None],
    }

    # ``device="auto"`` is stored verbatim; skorch reads ``self.device`` to move
    # tensors, so reading the attribute resolves it.
    @property
    def device(self):
        return auto_device(self.__dict__["device"])

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
        return super()._check_device(auto_device(requested_device), map_device)

    def __setstate__(self, state):
        requested = state["device"]
        state["device"] = auto_device(requested)
        super().__setstate__(state)
        if isinstance(requested, str) and requested == "auto":
            self.__dict__["device"] = requested

    def initialize_module(self):
        check_pretrained(self.weights, self.module, self.width, self.stem)
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
        check_torch_device(params["device"])
        check_pretrained(self.weights, self.module, self.width, self.stem)

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

"""Training machinery of :class:`~skfisher.nets.ResNet18Classifier`: callbacks,
the data iterator, seeded initialisation, and fits that undo themselves on error."""

import contextlib
import copy
import threading

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

__all__ = ["CosineLR", "TrainAccuracy"]


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


class _TrainingMixin:
    """The parts of skorch's ``NeuralNet`` that ResNet18Classifier changes for training:
    default callbacks, SGD defaults, seeded shuffling, no single-sample batches,
    stop signals, and attributes restored when training raises."""

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

    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        generator = getattr(self, "shuffle_generator_", None)
        if prefix == "iterator_train" and generator is not None:
            params.setdefault("generator", generator)
        return params

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; training batches never hold a single sample.

        With the default ``DataLoader``, training batches are reshuffled
        every epoch (with ``shuffle_generator_``; ``iterator_train__shuffle=False``
        keeps the order), and a last batch of one sample joins the batch
        before it (see :class:`_NoSingletonBatchSampler`); a custom
        ``iterator_train``, ``batch_sampler`` or ``drop_last`` is used as given.
        """
        kwargs = self.get_params_for("iterator_train")
        if (
            not training
            or self.iterator_train is not DataLoader
            or ({"batch_sampler", "drop_last"} & set(kwargs))
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
            shuffle = kwargs.pop("shuffle", True)
            sampler = (
                RandomSampler(dataset, generator=kwargs.get("generator"))
                if shuffle
                else SequentialSampler(dataset)
            )
        batch_sampler = _NoSingletonBatchSampler(sampler, batch_size, drop_last=False)
        return DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)

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

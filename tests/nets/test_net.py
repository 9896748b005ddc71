import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import make_net
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.callbacks import Callback, EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import ValidSplit
from torch.utils.data import SequentialSampler

from skfisher import ResNet18, ResNet18Classifier
from skfisher.nets._training import _NoSingletonBatchSampler
from skfisher.utils._device import auto_device


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_narrow_resnet18_has_the_papers_parameter_count():
    assert n_params(ResNet18(in_channels=3, n_classes=10, width=16)) == 701_456


def test_full_width_resnet18_matches_torchvision_without_fc_bias():
    # torchvision's resnet18 with a 3x3 stem has 11 173 962 parameters with fc bias
    assert n_params(ResNet18(3, 10, width=64)) == 11_173_962 - 10


def test_imagenet_stem_downsamples_and_fc_is_bias_free():
    m = ResNet18(3, 7, width=16, stem="imagenet")
    assert m.conv1.kernel_size == (7, 7) and isinstance(m.maxpool, torch.nn.MaxPool2d)
    assert m.fc.bias is None and m.fc.out_features == 7
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
    with pytest.raises(ValueError, match="stem"):
        ResNet18(stem="tiny")


def test_fit_infers_channels_classes_and_shape(digits):
    X, y, _, _ = digits
    net = make_net(max_epochs=1).fit(X[:60], y[:60])
    assert net.module_.conv1.in_channels == 1
    assert net.module_.fc.out_features == 10
    assert net.image_shape_ == (1, 8, 8) and net.n_features_in_ == 64
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    assert isinstance(net.criterion_, torch.nn.CrossEntropyLoss)
    assert net.train_split is None


def test_input_layouts_give_identical_predictions(digits):
    X, y = digits[0][:60], digits[1][:60]
    net = make_net(image_shape=(8, 8), max_epochs=3).fit(X.reshape(60, 64), y)
    p4 = net.predict_proba(X[:20])
    np.testing.assert_allclose(net.predict_proba(X[:20, 0]), p4)
    np.testing.assert_allclose(net.predict_proba(X[:20].reshape(20, 64)), p4)
    np.testing.assert_allclose(p4.sum(1), 1, rtol=1e-5)
    assert p4.shape == (20, 10) and p4.dtype == np.float32


def test_uint8_input_is_scaled_to_unit_range(fitted_net, digits):
    X = digits[0][:10]
    as_uint8 = np.round(X * 255).astype(np.uint8)
    np.testing.assert_allclose(
        fitted_net.predict_proba(as_uint8),
        fitted_net.predict_proba(as_uint8.astype(np.float32) / 255),
        rtol=1e-6,
    )


def test_string_labels_round_trip(digits):
    X, y, _, _ = digits
    names = np.array(list("abcdefghij"))[y[:80]]
    net = make_net(max_epochs=1).fit(X[:80], names)
    assert set(net.predict(X[:30])) <= set("abcdefghij")
    assert net.classes_.tolist() == list("abcdefghij")
    assert net.score(X[:80], names) >= 0


def test_random_state_reproduces_fit_and_leaves_global_rng_alone(digits):
    X, y, _, _ = digits
    before = torch.get_rng_state()
    net = make_net(max_epochs=2, random_state=3).fit(X[:80], y[:80])
    assert torch.equal(torch.get_rng_state(), before)
    a = net.predict_proba(X[:20])
    b = make_net(max_epochs=2, random_state=3).fit(X[:80], y[:80]).predict_proba(X[:20])
    c = make_net(max_epochs=2, random_state=4).fit(X[:80], y[:80]).predict_proba(X[:20])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_defaults_reach_95_percent_on_500_digits(digits):
    X, y, X_test, y_test = digits
    net = ResNet18Classifier(random_state=0, device="cpu").fit(X[:500], y[:500])
    assert net.score(X_test, y_test) >= 0.95


def test_params_clone_pickle_and_auto_device(fitted_net, digits):
    net = ResNet18Classifier(width=64, lr=0.1, module__stem="imagenet")
    params = net.get_params()
    assert params["device"] == "auto" and params["width"] == 64
    assert params["module__stem"] == "imagenet"
    assert net.device == auto_device("auto")
    cloned = clone(net)
    assert cloned.get_params()["device"] == "auto"
    assert cloned.set_params(lr=0.2).lr == 0.2
    restored = pickle.loads(pickle.dumps(fitted_net))
    np.testing.assert_array_equal(
        restored.predict_proba(digits[0][:5]), fitted_net.predict_proba(digits[0][:5])
    )


def test_pipeline_and_grid_search_on_flat_rows(digits):
    X, y, _, _ = digits
    flat = X[:120].reshape(120, 64)
    pipe = make_pipeline(
        FunctionTransformer(lambda Z: Z * 2.0), make_net(image_shape=(8, 8), max_epochs=1)
    )
    search = GridSearchCV(pipe, {"resnet18classifier__lr": [0.01, 0.05]}, cv=2)
    search.fit(flat, y[:120])
    assert set(search.cv_results_["param_resnet18classifier__lr"]) == {0.01, 0.05}
    assert search.predict(flat[:5]).shape == (5,)


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.full((4, 8, 8), np.nan, dtype=np.float32), [0, 1, 0, 1], "NaN"),
        (np.full((4, 8, 8), np.inf, dtype=np.float32), [0, 1, 0, 1], "infinity"),
        (np.zeros((4, 1, 1, 8, 8), dtype=np.float32), [0, 1, 0, 1], "dimensions"),
        (np.zeros((4, 64), dtype=np.float32), [0, 1, 0, 1], "image_shape"),
        (np.zeros((4, 8, 8), dtype=np.float32), [0, 1, 0], "inconsistent numbers"),
        (np.zeros((4, 8, 8), dtype=np.float32), [1, 1, 1, 1], "1 class"),
    ],
)
def test_bad_fit_input_raises_and_keeps_the_fitted_state(digits, X, y, message):
    net = make_net(max_epochs=1).fit(digits[0][:40], digits[1][:40])
    before = net.predict_proba(digits[0][:5])
    with pytest.raises(ValueError, match=message):
        net.fit(X, y)
    np.testing.assert_array_equal(net.predict_proba(digits[0][:5]), before)
    assert net.image_shape_ == (1, 8, 8)


def test_predict_before_fit_and_wrong_image_shape(fitted_net):
    with pytest.raises(NotFittedError):
        ResNet18Classifier().predict(np.zeros((2, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"fitted on images of shape \(1, 8, 8\)"):
        fitted_net.predict(np.zeros((2, 1, 9, 9), dtype=np.float32))
    with pytest.raises(ValueError, match="image_shape"):
        ResNet18Classifier(image_shape=(3, 0)).fit(np.zeros((2, 9)), [0, 1])


def test_train_until_stops_early_and_records_train_accuracy(digits):
    X, y, _, _ = digits
    full = make_net(max_epochs=12).fit(X[:200], y[:200])
    assert len(full.history) == 12
    accs = full.history[:, "train_acc"]
    assert all(0 <= a <= 1 for a in accs)
    threshold = accs[5]  # reached by epoch 6 at the latest (same seed, same run)
    early = make_net(max_epochs=12, train_until=threshold).fit(X[:200], y[:200])
    assert len(early.history) <= 6 and early.history[-1, "train_acc"] >= threshold
    with pytest.raises(ValueError, match="train_until"):
        make_net(train_until=1.5).fit(X[:20], y[:20])


# --- any training-set size ---------------------------------------------------


def test_a_last_batch_of_one_image_joins_the_batch_before():
    batches = lambda n, bs: list(_NoSingletonBatchSampler(SequentialSampler(range(n)), bs, False))
    assert [len(b) for b in batches(33, 32)] == [33]
    assert [len(b) for b in batches(65, 32)] == [32, 33]
    assert [len(b) for b in batches(66, 32)] == [32, 32, 2]
    assert sorted(sum(batches(65, 32), [])) == list(range(65))
    sampler = _NoSingletonBatchSampler(SequentialSampler(range(65)), 32, False)
    assert len(sampler) == 2 == len(list(sampler))


class _BatchOrder(Callback):
    """Records the (encoded) labels of every training batch, in order."""

    def initialize(self):
        self.batches_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.batches_.append(batch[1].tolist())


@pytest.mark.filterwarnings("ignore:The number of unique classes")
@pytest.mark.parametrize("shuffle", [None, False])
def test_training_batches_are_reshuffled_every_epoch_and_seeded(digits, shuffle):
    X, y = digits[0][:40], np.arange(40)  # one class per image: batches show the order
    params = {} if shuffle is None else {"iterator_train__shuffle": shuffle}

    def epochs(random_state):
        order = _BatchOrder()
        make_net(
            max_epochs=3,
            batch_size=16,
            random_state=random_state,
            callbacks=[("order", order)],
            **params,
        ).fit(X, y)
        batches = order.batches_
        return [sum(batches[i : i + 3], []) for i in range(0, len(batches), 3)]

    first = epochs(0)
    assert len(first) == 3 and all(sorted(e) == list(range(40)) for e in first)
    if shuffle is False:
        assert first == [list(range(40))] * 3
        return
    assert first[0] != list(range(40)) and first[0] != first[1] != first[2]
    assert epochs(0) == first and epochs(1) != first


@pytest.mark.parametrize("n", [33, 65, 129])
def test_any_training_set_size_fits_and_trains_on_every_image(digits, n):
    X, y, _, _ = digits
    net = make_net(max_epochs=1, batch_size=32).fit(X[:n], y[:n])
    assert sum(net.history[-1, "batches", :, "train_batch_size"]) == n
    assert min(net.history[-1, "batches", :, "train_batch_size"]) > 1


def test_training_on_a_single_image_is_refused_clearly(digits):
    X, y, _, _ = digits
    net = make_net(max_epochs=1).fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="at least 2 samples"):
        net.partial_fit(X[40:41], y[40:41])


# --- a failed fit changes nothing --------------------------------------------


class RaiseAt(Callback):
    """Raise ``exc`` (unless None) at the ``batch``-th training batch of a fit."""

    def __init__(self, exc, batch=2):
        self.exc, self.batch = exc, batch

    def on_train_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        self.seen_ += training
        if self.exc is not None and self.seen_ == self.batch:
            raise self.exc


def _snapshot(net, X):
    return (
        net.predict_proba(X),
        net.predict(X),
        net.classes_.copy(),
        net.image_shape_,
        len(net.history),
    )


def _assert_unchanged(net, X, before):
    after = _snapshot(net, X)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[2], before[2])
    assert after[3:] == before[3:]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("warm_start", [False, True])
def test_a_fit_that_raises_leaves_the_fitted_estimator_as_it_was(digits, exc, warm_start):
    X, y, _, _ = digits
    names = np.array(list("abcdefghij"))
    raise_at = RaiseAt(None)
    net = make_net(max_epochs=2, warm_start=warm_start, callbacks=[raise_at])
    net.fit(X[:64], names[y[:64]])
    before = _snapshot(net, X[:20])
    raise_at.exc = exc
    with pytest.raises(type(exc)):
        if warm_start:  # trains the same module in place
            net.fit(X[64:128], names[y[64:128]])
        else:  # new labels and image shape: a half-done fit would remap both
            net.fit(np.repeat(X[64:128], 3, axis=1), y[64:128] + 10)
    _assert_unchanged(net, X[:20], before)
    assert net.label_encoder_.transform(["c"]) == [2]


def test_a_first_fit_that_raises_leaves_the_estimator_unfitted(digits):
    X, y, _, _ = digits
    net = make_net(callbacks=[("raise", RaiseAt(RuntimeError("boom")))])
    with pytest.raises(RuntimeError, match="boom"):
        net.fit(X[:64], y[:64])
    with pytest.raises(NotFittedError):
        net.predict(X[:2])
    assert not hasattr(net, "image_shape_") and not net.initialized_


# --- Ctrl-C ------------------------------------------------------------------


def test_ctrl_c_during_training_propagates_out_of_fit_and_partial_fit(digits):
    X, y, _, _ = digits
    ctrl_c = RaiseAt(KeyboardInterrupt(), batch=3)
    net = make_net(max_epochs=3, callbacks=[ctrl_c])
    with pytest.raises(KeyboardInterrupt):  # skorch alone would return a half-trained net
        net.fit(X[:64], y[:64])
    assert not net.__sklearn_is_fitted__()
    ctrl_c.exc = None
    net.fit(X[:64], y[:64])
    before = _snapshot(net, X[:20])
    ctrl_c.exc, ctrl_c.batch = KeyboardInterrupt(), 1
    with pytest.raises(KeyboardInterrupt):
        net.partial_fit(X[64:128], y[64:128])
    _assert_unchanged(net, X[:20], before)


def test_early_stopping_ends_training_normally(digits):
    X, y, _, _ = digits
    # nothing counts as an improvement after the first epoch
    stop = EarlyStopping(
        monitor="train_loss", patience=2, threshold=1e9, threshold_mode="abs", sink=lambda *a: None
    )
    net = make_net(max_epochs=10, callbacks=[stop]).fit(X[:64], y[:64])
    assert len(net.history) == 3
    assert net.predict(X[:5]).shape == (5,)


# --- partial_fit ---------------------------------------------------------------


def test_partial_fit_validates_encodes_and_infers_like_fit(digits):
    X, y, _, _ = digits
    net = make_net(max_epochs=1).partial_fit(X[:64], y[:64] + 10)  # 1 channel, labels 10..19
    assert net.module_.conv1.in_channels == 1 and net.image_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(net.classes_, np.arange(10, 20))
    module = net.module_
    net.partial_fit(X[64:96], y[64:96] + 10)
    assert net.module_ is module and len(net.history) == 2  # trained on, not afresh
    assert set(net.predict(X[:30])) <= set(range(10, 20))
    with pytest.raises(ValueError, match=r"labels \[20\] unseen"):
        net.partial_fit(X[:4], [10, 11, 12, 20])
    with pytest.raises(ValueError, match="features"):
        net.partial_fit(X[:4, :, :6, :6], [10, 11, 12, 13])
    with pytest.raises(ValueError, match="differs from the classes"):
        net.partial_fit(X[:4], [10, 11, 12, 13], classes=[10, 11])


def test_first_partial_fit_takes_all_classes_from_classes(digits):
    X, y, _, _ = digits
    rows = np.flatnonzero(y[:200] < 2)[:20]
    net = make_net(max_epochs=1).partial_fit(X[rows], y[rows], classes=np.arange(10))
    assert net.module_.fc.out_features == 10
    with pytest.raises(ValueError, match="1 class"):
        make_net().partial_fit(X[:4], [3, 3, 3, 3])


# --- skorch's own features -----------------------------------------------------


def test_valid_split_scores_with_labels_of_any_type(digits):
    X, y, _, _ = digits
    names = np.array(list("abcdefghij"))[y[:100]]
    net = make_net(max_epochs=2, train_split=ValidSplit(5)).fit(X[:100], names)
    # skorch's 5-fold split validates on the first fifth; valid_acc is its accuracy
    assert net.history[-1, "valid_acc"] == pytest.approx(net.score(X[:20], names[:20]))
    assert np.isfinite(net.history[-1, "valid_loss"])


def test_epoch_scoring_on_train_matches_train_accuracy(digits):
    X, y, _, _ = digits
    names = np.array(list("abcdefghij"))[y[:96]]
    scoring = EpochScoring("accuracy", on_train=True, name="acc", lower_is_better=False)
    net = make_net(max_epochs=3, callbacks=[scoring]).fit(X[:96], names)
    np.testing.assert_allclose(net.history[:, "acc"], net.history[:, "train_acc"])


def test_lr_scheduler_sets_the_learning_rate(digits):
    X, y, _, _ = digits
    scheduler = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    net = make_net(max_epochs=3, lr=0.04, callbacks=[scheduler], callbacks__cosine_lr=None)
    net.fit(X[:64], y[:64])
    np.testing.assert_allclose(net.history[:, "event_lr"], [0.04, 0.02, 0.01])


def test_warm_start_trains_on_from_the_current_weights(digits):
    X, y, _, _ = digits
    net = make_net(max_epochs=2, warm_start=True).fit(X[:64], y[:64])
    module, first = net.module_, net.module_.fc.weight.detach().clone()
    rows = np.flatnonzero(y[64:200] < 3)[:20] + 64  # three classes only
    net.fit(X[rows], y[rows])
    assert net.module_ is module and len(net.history) == 4
    assert not torch.equal(net.module_.fc.weight, first)
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    with pytest.raises(ValueError, match="unseen"):
        make_net(warm_start=True).fit(X[:40], y[:40] % 5).fit(X[:40], y[:40])
    # without warm_start, fit starts afresh
    cold = make_net(max_epochs=2).fit(X[:64], y[:64])
    module = cold.module_
    cold.fit(X[:64], y[:64])
    assert cold.module_ is not module and len(cold.history) == 2


# --- parameters and inputs -------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"max_epochs": 0}, "'max_epochs' parameter"),
        ({"lr": float("nan")}, "'lr' parameter"),
        ({"lr": float("inf")}, "'lr' parameter"),
        ({"lr": -0.1}, "'lr' parameter"),
        ({"width": 32}, "'width' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"train_until": 1.5}, "'train_until' parameter"),
        ({"stem": "tiny"}, "'stem' parameter"),
        ({"image_shape": (8, 0)}, "image_shape must be"),
        ({"device": "gpu"}, "not a torch device"),
        pytest.param(
            {"device": "cuda"},
            "CUDA is not available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU"),
        ),
    ],
)
def test_bad_parameters_raise_before_any_work(params, message):
    net = make_net(**params)
    bad_X = np.zeros((4, 64), dtype=np.float32)  # would fail too, but later
    with pytest.raises(ValueError, match=message):
        net.fit(bad_X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        net.partial_fit(bad_X, [0, 1, 0, 1])
    assert not net.initialized_


def test_float_images_in_0_to_255_warn(fitted_net, digits):
    X = digits[0][:10]
    with pytest.warns(UserWarning, match="up to 255"):
        fitted_net.predict(np.round(X * 255))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted_net.predict(X)
        fitted_net.predict(np.round(X * 255).astype(np.uint8))
        fitted_net.predict(X - 0.5)  # standardised data: negative values


def test_image_shape_with_minus_one_reads_table_rows(digits):
    X, y, _, _ = digits
    net = make_net(max_epochs=1, image_shape=(1, -1)).fit(X[:40].reshape(40, 64), y[:40])
    assert net.image_shape_ == (1, 1, 64) and net.n_features_in_ == 64
    with pytest.raises(
        ValueError, match="X has 63 features, but ResNet18Classifier is expecting 64"
    ):
        net.predict(X[:2].reshape(2, 64)[:, :63])
    with pytest.raises(ValueError, match="cannot hold 64 values"):
        make_net(image_shape=(3, -1, 5)).fit(X[:40].reshape(40, 64), y[:40])

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skfisher import ResNet18, ResNet18Classifier
from skfisher._net import resolve_device

from conftest import make_net


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
    assert net.device == resolve_device("auto")
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

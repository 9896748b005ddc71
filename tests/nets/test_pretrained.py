"""ResNet18Classifier(weights=PATH): a torchvision ResNet-18 state_dict from a local file."""

import numpy as np
import pytest
import torch
import torchvision
from sklearn.base import clone

from skfisher import FisherMask, ResNet18Classifier
from skfisher.nets import ResNet18, load_torchvision_resnet18


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """torchvision's ResNet-18 (random weights, nothing downloaded), saved as a state_dict."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    for m in model.modules():  # non-trivial statistics, so loading them shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    X = rng.rand(24, 3, 32, 32).astype(np.float32)
    y = np.repeat(["cat", "dog", "eel"], 8)
    return X, y


def _pretrained(path, **params):
    defaults = dict(
        weights=path,
        width=64,
        stem="imagenet",
        max_epochs=1,
        batch_size=12,
        lr=0.01,
        random_state=0,
        device="cpu",
    )
    return ResNet18Classifier(**{**defaults, **params})


def test_weights_are_loaded_and_fc_is_rebuilt(weights_file, images):
    X, y = images
    state = torch.load(weights_file, weights_only=True)
    module = ResNet18(in_channels=3, n_classes=3, width=64, stem="imagenet")
    load_torchvision_resnet18(module, weights_file)
    for key, value in module.state_dict().items():
        if not key.startswith("fc."):
            torch.testing.assert_close(value, state[key])
    # through fit (one epoch at a negligible learning rate: the weights stay)
    net = _pretrained(weights_file, lr=1e-12).fit(X, y)
    got = net.module_.state_dict()
    assert got["fc.weight"].shape == (3, 512) and "fc.bias" not in got
    for key in ("conv1.weight", "layer4.0.downsample.0.weight"):
        torch.testing.assert_close(got[key], state[key])
    assert clone(net).get_params()["weights"] == weights_file


def test_frozen_backbone_trains_only_the_output_layer(weights_file, images):
    X, y = images
    state = torch.load(weights_file, weights_only=True)
    net = _pretrained(weights_file, freeze="backbone", max_epochs=2).fit(X, y)
    trainable = [n for n, p in net.module_.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight"]
    torch.testing.assert_close(net.module_.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])
    # fine-tuning everything moves the backbone
    tuned = _pretrained(weights_file, max_epochs=2).fit(X, y)
    assert not torch.allclose(tuned.module_.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])


def test_fisher_mask_is_restricted_to_trainable_parameters(weights_file, images):
    X, y = images
    net = _pretrained(weights_file, freeze=["conv1", "bn1", "layer1", "layer2", "layer3"])
    net.fit(X, y)
    strategy = FisherMask(sparsity=0.001, fisher_samples=8, random_state=0)
    idx, _ = strategy(net, X, n_instances=3)
    assert idx.shape == (3,)
    layers = strategy.last_query_["mask_layers"]
    assert all(name.startswith(("layer4", "fc")) for name in layers)
    n_trainable = sum(p.numel() for p in net.module_.parameters() if p.requires_grad)
    assert strategy.last_query_["mask_size"] == int(0.001 * n_trainable)
    # a frozen backbone leaves only the output layer: BAIT's mask
    frozen = _pretrained(weights_file, freeze="backbone").fit(X, y)
    with pytest.raises(ValueError, match="mask='output'"):
        FisherMask(sparsity=0.001, random_state=0)(frozen, X, n_instances=2)


def test_gray_images_use_summed_first_filters(weights_file, images):
    X, y = images
    gray = X[:, :1]
    net = ResNet18(in_channels=1, n_classes=3, width=64, stem="imagenet")
    color = ResNet18(in_channels=3, n_classes=3, width=64, stem="imagenet")
    load_torchvision_resnet18(net, weights_file)
    load_torchvision_resnet18(color, weights_file)
    with torch.no_grad():
        features = net.eval().features(torch.from_numpy(gray))
        expected = color.eval().features(torch.from_numpy(np.repeat(gray, 3, axis=1)))
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)
    assert _pretrained(weights_file).fit(gray, y).module_.conv1.weight.shape[1] == 1


@pytest.mark.parametrize(
    "params, match",
    [
        ({"width": 16}, "width=64 and stem='imagenet'"),
        ({"stem": "cifar"}, "width=64 and stem='imagenet'"),
        ({"freeze": "head"}, "The 'freeze' parameter of ResNet18Classifier must be"),
        ({"freeze": ["layer9"]}, r"\['layer9'\] match no parameter"),
    ],
)
def test_bad_parameters_are_named(weights_file, images, params, match):
    X, y = images
    with pytest.raises(ValueError, match=match):
        _pretrained(weights_file, **params).fit(X, y)


def test_bad_files_are_clear_errors(tmp_path, images):
    X, y = images
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read as a saved state_dict"):
        _pretrained(corrupt).fit(X, y)
    other = tmp_path / "resnet34.pt"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), other)
    with pytest.raises(ValueError, match="not a torchvision ResNet-18 state_dict"):
        _pretrained(other).fit(X, y)
    with pytest.raises(FileNotFoundError):
        _pretrained(tmp_path / "missing.pt").fit(X, y)
